//! The login screen: pick a nickname, and give its password if it is protected.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::lang_switch::LangSwitch;
use crate::i18n::Lang;

#[derive(Properties, PartialEq)]
pub struct LoginProps {
    /// The name to pre-fill (the last one used).
    pub initial_name: AttrValue,
    /// Why the name was refused, or why we are back here.
    pub error: Option<AttrValue>,
    /// The relay asked for the name's password: the password field takes the focus.
    #[prop_or_default]
    pub password_required: bool,
    /// The name is in use elsewhere: offer to sign in here too, as one more connection.
    #[prop_or_default]
    pub offer_attach: bool,
    pub on_attach: Callback<()>,
    /// A sign-in is under way: the form waits.
    pub busy: bool,
    /// The name and the password as typed (empty: none); the root checks and trims the name.
    pub on_login: Callback<(String, String)>,
    /// Gives up a sign-in under way.
    pub on_cancel: Callback<()>,
    /// The connection status while signing in.
    pub children: Html,
    pub lang: Lang,
    pub on_lang: Callback<Lang>,
}

#[component]
pub fn Login(props: &LoginProps) -> Html {
    let input = use_node_ref();
    let password = use_node_ref();
    let t = props.lang.texts();
    {
        // Asked for the password (again): focus it, with what was typed selected. A refused
        // name: back to the name field, likewise.
        let password = password.clone();
        let input = input.clone();
        use_effect_with(
            (props.password_required, props.error.clone()),
            move |(required, error)| {
                let field = if *required {
                    password.cast::<HtmlInputElement>()
                } else if error.is_some() {
                    input.cast::<HtmlInputElement>()
                } else {
                    None
                };
                if let Some(field) = field {
                    let _ = field.focus();
                    field.select();
                }
            },
        );
    }
    let onsubmit = {
        let input = input.clone();
        let password = password.clone();
        let on_login = props.on_login.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(input) = input.cast::<HtmlInputElement>() {
                let typed = password
                    .cast::<HtmlInputElement>()
                    .map(|p| p.value())
                    .unwrap_or_default();
                on_login.emit((input.value(), typed));
            }
        })
    };
    let cancel = props.on_cancel.reform(|_: MouseEvent| ());
    html! {
        <main class="login">
            <form class="login-card" {onsubmit} novalidate=true>
                <h1 class="brand-big">{ "Courier" }</h1>
                <p class="tagline">{ t.tagline }</p>
                <label for="name">{ t.pick_nickname }</label>
                <input id="name" ref={input} type="text" autocomplete="nickname"
                       maxlength={shared::limits::MAX_NAME_CHARS.to_string()} dir="auto"
                       placeholder={t.name_example} value={props.initial_name.clone()}
                       disabled={props.busy} autofocus={!props.password_required}
                       aria-describedby="login-error" aria-invalid={props.error.is_some().to_string()} />
                <label for="password">
                    { t.password }{ " " }
                    <span class="optional">{ t.password_optional }</span>
                </label>
                <input id="password" ref={password} type="password" autocomplete="current-password"
                       maxlength={shared::limits::MAX_PASSWORD_CHARS.to_string()}
                       disabled={props.busy} autofocus={props.password_required}
                       aria-describedby="login-error"
                       aria-invalid={props.password_required.to_string()} />
                <p id="login-error" class="form-error" role="alert">
                    { props.error.clone().unwrap_or_default() }
                </p>
                if props.offer_attach && !props.busy {
                    <button id="attach" type="button" onclick={props.on_attach.reform(|_: MouseEvent| ())}>
                        { t.use_here_too }
                    </button>
                }
                if props.busy {
                    <div class="login-busy">
                        { props.children.clone() }
                        <button type="button" class="link-button" onclick={cancel}>{ t.cancel }</button>
                    </div>
                }
                <button id="login" type="submit" class="primary" disabled={props.busy}>
                    { if props.busy { t.signing_in } else { t.start_chatting } }
                </button>
                <LangSwitch lang={props.lang} on_change={props.on_lang.clone()} />
            </form>
        </main>
    }
}
