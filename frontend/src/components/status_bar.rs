//! The connection status: a coloured dot and a few words.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusBarProps {
    /// `connected`, `connecting` or `reconnecting`.
    pub state: AttrValue,
    /// What to say, e.g. "reconnecting in 4 s".
    pub text: AttrValue,
}

#[component]
pub fn StatusBar(props: &StatusBarProps) -> Html {
    html! {
        <span id="status" class={classes!("status", props.state.to_string())}
              data-state={props.state.clone()} role="status" aria-live="polite">
            <span class="status-dot" aria-hidden="true"></span>
            { props.text.clone() }
        </span>
    }
}
