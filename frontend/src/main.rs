//! The browser entry point (trunk builds this bin; see `index.html`).

fn main() {
    yew::Renderer::<courier_web::App>::new().render();
    courier_web::services::browser::mark_time("ready");
}
