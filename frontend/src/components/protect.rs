//! The "protect my name" form: a password, typed twice. The root checks it (length, match)
//! in the reducer and sends `protect`.

use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ProtectProps {
    /// Our name.
    pub name: AttrValue,
    /// Why the password was not taken.
    pub error: Option<AttrValue>,
    /// A `protect` waits for the relay's answer.
    pub busy: bool,
    /// The password and its confirmation, as typed.
    pub on_submit: Callback<(String, String)>,
    pub on_cancel: Callback<()>,
}

#[component]
pub fn ProtectForm(props: &ProtectProps) -> Html {
    let password = use_node_ref();
    let confirm = use_node_ref();
    {
        let password = password.clone();
        use_effect_with((), move |()| {
            if let Some(field) = password.cast::<HtmlInputElement>() {
                let _ = field.focus();
            }
        });
    }
    let onsubmit = {
        let (password, confirm) = (password.clone(), confirm.clone());
        let on_submit = props.on_submit.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            on_submit.emit((value(&password), value(&confirm)));
        })
    };
    let max = shared::limits::MAX_PASSWORD_CHARS.to_string();
    html! {
        <form id="protect-form" class="protect-form" {onsubmit} novalidate=true
              aria-labelledby="protect-title">
            <p id="protect-title" class="protect-title">
                { format!("Protect \u{201c}{}\u{201d} with a password", props.name) }
            </p>
            <p class="hint">
                { "Signing in with this name will then need the password (from 8 to 128 characters)." }
            </p>
            <div class="protect-fields">
                <input id="protect-password" ref={password} type="password" autocomplete="new-password"
                       placeholder="New password" aria-label="New password" maxlength={max.clone()}
                       disabled={props.busy} aria-describedby="protect-error" />
                <input id="protect-confirm" ref={confirm} type="password" autocomplete="new-password"
                       placeholder="Type it again" aria-label="Confirm the password" maxlength={max}
                       disabled={props.busy} aria-describedby="protect-error" />
                <button id="protect-submit" type="submit" class="primary" disabled={props.busy}>
                    { if props.busy { "Protecting…" } else { "Protect" } }
                </button>
                <button id="protect-cancel" type="button" class="ghost"
                        onclick={props.on_cancel.reform(|_: MouseEvent| ())}>{ "Cancel" }</button>
            </div>
            <p id="protect-error" class="form-error" role="alert">
                { props.error.clone().unwrap_or_default() }
            </p>
        </form>
    }
}
