//! The "protect my name" form: a password, typed twice. The root checks it (length, match)
//! in the reducer and sends `protect`.

use shared::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::i18n::{fill, texts};

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
    let t = texts();
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
    let max = MAX_PASSWORD_CHARS.to_string();
    html! {
        <form id="protect-form" class="protect-form" {onsubmit} novalidate=true
              aria-labelledby="protect-title">
            <p id="protect-title" class="protect-title">
                { fill(t.protect_heading, &[&props.name]) }
            </p>
            <p class="hint">
                { fill(t.protect_hint, &[&MIN_PASSWORD_CHARS.to_string(), &MAX_PASSWORD_CHARS.to_string()]) }
            </p>
            <div class="protect-fields">
                <input id="protect-password" ref={password} type="password" autocomplete="new-password"
                       placeholder={t.new_password} aria-label={t.new_password} maxlength={max.clone()}
                       disabled={props.busy} aria-describedby="protect-error" />
                <input id="protect-confirm" ref={confirm} type="password" autocomplete="new-password"
                       placeholder={t.type_again} aria-label={t.confirm_password} maxlength={max}
                       disabled={props.busy} aria-describedby="protect-error" />
                <button id="protect-submit" type="submit" class="primary" disabled={props.busy}>
                    { if props.busy { t.protecting } else { t.protect } }
                </button>
                <button id="protect-cancel" type="button" class="ghost"
                        onclick={props.on_cancel.reform(|_: MouseEvent| ())}>{ t.cancel }</button>
            </div>
            <p id="protect-error" class="form-error" role="alert">
                { props.error.clone().unwrap_or_default() }
            </p>
        </form>
    }
}
