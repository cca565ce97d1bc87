//! The message composer: Enter sends, Shift+Enter starts a new line.

use shared::limits::MAX_TEXT_CHARS;
use shared::validate::{self, TextError};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::i18n::{fill, texts};

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// Sending is not possible now (offline, or the room is being re-joined).
    pub disabled: bool,
    pub placeholder: AttrValue,
    /// A message to send (not empty, not too long).
    pub on_send: Callback<String>,
    /// The user typed something.
    pub on_typing: Callback<()>,
}

#[component]
pub fn Composer(props: &ComposerProps) -> Html {
    let text = use_state(String::new);
    let t = texts();
    let error = use_state(|| None::<String>);

    let send = {
        let text = text.clone();
        let error = error.clone();
        let on_send = props.on_send.clone();
        let disabled = props.disabled;
        Callback::from(move |()| {
            if disabled || text.trim().is_empty() {
                return;
            }
            match validate::text(&text) {
                Ok(()) => {
                    on_send.emit((*text).clone());
                    text.set(String::new());
                    error.set(None);
                }
                Err(TextError::TooLong) => {
                    error.set(Some(fill(t.too_long, &[&MAX_TEXT_CHARS.to_string()])));
                }
                Err(TextError::Empty) => {}
            }
        })
    };
    let oninput = {
        let text = text.clone();
        let on_typing = props.on_typing.clone();
        Callback::from(move |e: InputEvent| {
            let value = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            if !value.is_empty() {
                on_typing.emit(());
            }
            text.set(value);
        })
    };
    // Keeps the draft in step when the text area changes without an `input` event (a form
    // reset, some automation tools).
    let onchange = {
        let text = text.clone();
        Callback::from(move |e: Event| {
            text.set(e.target_unchecked_into::<HtmlTextAreaElement>().value());
        })
    };
    let onkeydown = {
        let send = send.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                send.emit(());
            }
        })
    };
    let onsubmit = {
        let send = send.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            send.emit(());
        })
    };
    let chars = text.chars().count();
    let rows = text.lines().count().clamp(1, 6).to_string();
    html! {
        <form class="composer" {onsubmit}>
            <textarea id="composer" dir="auto" rows={rows} value={(*text).clone()} {oninput} {onchange} {onkeydown}
                      placeholder={props.placeholder.clone()} aria-label={t.message} />
            <button id="send" type="submit" class="primary"
                    disabled={props.disabled || text.trim().is_empty()}>{ t.send }</button>
            if chars > MAX_TEXT_CHARS - 500 {
                <span class={classes!("char-count", (chars > MAX_TEXT_CHARS).then_some("over"))}>
                    { format!("{chars}/{MAX_TEXT_CHARS}") }
                </span>
            }
            if let Some(error) = (*error).clone() {
                <p class="form-error composer-error" role="alert">{ error }</p>
            }
        </form>
    }
}
