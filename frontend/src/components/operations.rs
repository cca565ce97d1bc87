//! The Operations view (operators only): the live dashboard above the runner.

use std::rc::Rc;

use yew::prelude::*;

use super::dashboard::Dashboard;
use super::runner::Runner;
use crate::state::Ops;

#[derive(Properties, PartialEq)]
pub struct OperationsProps {
    pub ops: Rc<Ops>,
    pub on_run: Callback<(String, String)>,
    pub on_cancel: Callback<()>,
    pub on_retry: Callback<()>,
}

#[component]
pub fn Operations(props: &OperationsProps) -> Html {
    html! {
        <div id="operations" class="operations">
            <h2 class="ops-title">{ "Operations" }</h2>
            <Dashboard ops={props.ops.clone()} />
            <Runner ops={props.ops.clone()} on_run={props.on_run.clone()}
                    on_cancel={props.on_cancel.clone()} on_retry={props.on_retry.clone()} />
        </div>
    }
}
