//! Hooks that reach past the component tree: keys pressed anywhere on the page, the browser's
//! own `online`/`offline` events, and moving the keyboard focus to an element by id.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::prelude::*;

/// Calls `on_event` (as of the latest render) for each `event` (e.g. `keydown`) on the
/// window, for as long as the component lives. (Not generic over the event's type: each
/// instance would cost the bundle its own copy.)
#[hook]
pub fn use_window_event(event: &'static str, on_event: Callback<web_sys::Event>) {
    let latest = use_mut_ref(|| on_event.clone());
    *latest.borrow_mut() = on_event;
    use_effect_with(event, move |&event| {
        let listener = window_listener(event, latest);
        move || drop(listener)
    });
}

/// A listener on the window that is removed when dropped.
struct Listener {
    event: &'static str,
    closure: Closure<dyn Fn(web_sys::Event)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            let _ = window.remove_event_listener_with_callback(
                self.event,
                self.closure.as_ref().unchecked_ref(),
            );
        }
    }
}

fn window_listener(
    event: &'static str,
    latest: Rc<RefCell<Callback<web_sys::Event>>>,
) -> Option<Listener> {
    let window = web_sys::window()?;
    let closure = Closure::<dyn Fn(web_sys::Event)>::new(move |e: web_sys::Event| {
        latest.borrow().emit(e);
    });
    window
        .add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())
        .ok()?;
    Some(Listener { event, closure })
}

/// Whether the focus is in a field the person types in other than the message box and the
/// room field (the protect form, the Operations view's): a conversation opened or closed
/// meanwhile, by another of their connections, must not take it from there.
pub fn typing_elsewhere() -> bool {
    let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
    else {
        return false;
    };
    matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        && !matches!(element.id().as_str(), "composer" | "room-name")
}

/// Focuses the element with this id, if there is one and it takes the focus (not disabled);
/// whether it did.
pub fn focus(id: &str) -> bool {
    let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return false;
    };
    if element.has_attribute("disabled") {
        return false;
    }
    let _ = element.focus();
    true
}
