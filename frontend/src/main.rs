//! The browser entry point (trunk builds this bin; see `index.html`).

fn main() {
    yew::Renderer::<courier_web::App>::new().render();
}
