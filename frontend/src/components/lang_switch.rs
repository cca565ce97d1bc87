//! The language switch: each language under its own name.

use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::i18n::Lang;

#[derive(Properties, PartialEq)]
pub struct LangSwitchProps {
    pub lang: Lang,
    pub on_change: Callback<Lang>,
}

#[component]
pub fn LangSwitch(props: &LangSwitchProps) -> Html {
    let onchange = {
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            let code = e.target_unchecked_into::<HtmlSelectElement>().value();
            if let Some(lang) = Lang::from_code(&code) {
                on_change.emit(lang);
            }
        })
    };
    html! {
        <label class="lang-switch">
            <span class="lang-label">{ props.lang.texts().language }</span>
            <select id="language" {onchange}>
                for lang in Lang::ALL {
                    <option value={lang.code()} lang={lang.code()} selected={lang == props.lang}>
                        { lang.texts().native_name }
                    </option>
                }
            </select>
        </label>
    }
}
