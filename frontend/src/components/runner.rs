//! The host-range runner: a range and a command, a confirmation that says how many hosts the
//! range expands to, then one row per host (failures first) with its status, its time and its
//! output (expandable, coloured from SGR, as text nodes only), and the recent runs.

use std::rc::Rc;

use shared::ops::{HostResult, HostStatus};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::state::hosts::count_hosts;
use crate::state::sgr::spans;
use crate::state::{HostRow, Ops};

/// The most hosts the confirmation counts exactly (the relay's default cap is 256).
const COUNT_CAP: usize = 65_536;

#[derive(Properties, PartialEq)]
pub struct RunnerProps {
    pub ops: Rc<Ops>,
    /// Run a command (hosts, command), once confirmed.
    pub on_run: Callback<(String, String)>,
    pub on_cancel: Callback<()>,
    /// Run the command again on the failed hosts.
    pub on_retry: Callback<()>,
}

/// What the confirmation asks about: hosts, command and how many hosts.
#[derive(Clone, PartialEq)]
struct Confirm {
    hosts: String,
    command: String,
    count: usize,
}

#[component]
pub fn Runner(props: &RunnerProps) -> Html {
    let hosts_ref = use_node_ref();
    let command_ref = use_node_ref();
    let confirm = use_state(|| None::<Confirm>);
    let form_error = use_state(|| None::<String>);
    let onsubmit = {
        let (hosts_ref, command_ref) = (hosts_ref.clone(), command_ref.clone());
        let (confirm, form_error) = (confirm.clone(), form_error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let (hosts, command) = (value(&hosts_ref), value(&command_ref));
            if command.trim().is_empty() {
                form_error.set(Some("Type a command.".to_owned()));
                return;
            }
            match count_hosts(&hosts, COUNT_CAP) {
                Ok(count) => {
                    form_error.set(None);
                    confirm.set(Some(Confirm {
                        hosts,
                        command,
                        count,
                    }));
                }
                Err(why) => form_error.set(Some(why)),
            }
        })
    };
    let ops = &props.ops;
    let busy = ops.pending.is_some();
    let confirmation = (*confirm).clone().map(|c| {
        let go = {
            let (confirm, on_run) = (confirm.clone(), props.on_run.clone());
            let (hosts, command) = (c.hosts.clone(), c.command.clone());
            Callback::from(move |_: MouseEvent| {
                confirm.set(None);
                on_run.emit((hosts.clone(), command.clone()));
            })
        };
        let back = {
            let confirm = confirm.clone();
            Callback::from(move |_: MouseEvent| confirm.set(None))
        };
        let many = if c.count > COUNT_CAP {
            format!("more than {COUNT_CAP} hosts")
        } else if c.count == 1 {
            "1 host".to_owned()
        } else {
            format!("{} hosts", c.count)
        };
        html! {
            <div id="run-confirmation" class="run-confirmation" role="alertdialog" data-hosts={c.count.to_string()}>
                <p>{ "Run " }<code>{ c.command.clone() }</code>{ format!(" on {many}?") }</p>
                <button id="run-confirm" type="button" class="primary" onclick={go}>{ format!("Run on {many}") }</button>
                <button id="run-back" type="button" class="ghost" onclick={back}>{ "Back" }</button>
            </div>
        }
    });
    let error = (*form_error).clone().or_else(|| ops.error.clone());
    html! {
        <section id="runner" class="runner" aria-label="Runner">
            <form class="run-form" {onsubmit}>
                <input id="run-hosts" ref={hosts_ref} type="text" placeholder="Hosts, e.g. 10.0.0.1-20,10.0.1.0/29"
                       aria-label="Hosts" autocomplete="off" spellcheck="false" />
                <input id="run-command" ref={command_ref} type="text" placeholder="Command, e.g. uptime"
                       aria-label="Command" autocomplete="off" spellcheck="false" maxlength="4000" />
                <button id="run-submit" type="submit" class="primary" disabled={busy}>
                    { if busy { "Starting…" } else { "Run…" } }
                </button>
            </form>
            <p id="run-error" class="form-error" role="alert">{ error.unwrap_or_default() }</p>
            { confirmation.unwrap_or_default() }
            { run_view(props) }
            { recent(ops) }
        </section>
    }
}

/// The run on screen: its header with Cancel or "run again", and its rows.
fn run_view(props: &RunnerProps) -> Html {
    let Some(run) = &props.ops.run else {
        return Html::default();
    };
    let summary = match run.done {
        Some((ok, failed, ms)) => format!("done in {ms} ms: {ok} ok, {failed} failed"),
        None => {
            let ended = run.hosts.iter().filter(|r| r.result.is_some()).count();
            format!("running: {ended} of {} hosts ended", run.hosts.len())
        }
    };
    let action = if run.done.is_none() {
        html! {
            <button id="run-cancel" type="button" class="ghost" onclick={props.on_cancel.reform(|_: MouseEvent| ())}>
                { "Cancel run" }
            </button>
        }
    } else if !run.failed_hosts().is_empty() {
        html! {
            <button id="run-retry" type="button" class="ghost" disabled={props.ops.pending.is_some()}
                    onclick={props.on_retry.reform(|_: MouseEvent| ())}>
                { "Run again on failed hosts" }
            </button>
        }
    } else {
        Html::default()
    };
    let rows = run.rows_failures_first().into_iter().map(host_row);
    html! {
        <div id="run" class="run" data-run={run.id.clone()} data-done={run.done.is_some().to_string()}>
            <div class="run-header">
                <code class="run-command">{ run.command.clone() }</code>
                <span id="run-summary" class="run-summary">{ summary }</span>
                { action }
            </div>
            <ul class="host-rows">{ for rows }</ul>
        </div>
    }
}

/// One host: status, time, and its output behind a disclosure.
fn host_row(row: &HostRow) -> Html {
    let status = match &row.result {
        Some(r) => r.status.as_str(),
        None if row.started => "running",
        None => "queued",
    };
    let detail = row.result.as_ref().map(detail).unwrap_or_default();
    let ms = row
        .result
        .as_ref()
        .map(|r| format!("{} ms", r.ms))
        .unwrap_or_default();
    let output = spans(&row.output).into_iter().map(|(style, text)| {
        let class = style.class();
        if class.is_empty() {
            html! { { text } }
        } else {
            html! { <span class={class}>{ text }</span> }
        }
    });
    let failed = row
        .result
        .as_ref()
        .is_some_and(|r| r.status != HostStatus::Ok);
    html! {
        <li class={classes!("host-row", failed.then_some("failed"))} data-host={row.host.clone()} data-status={status}>
            <details open={failed}>
                <summary>
                    <span class="host-name">{ row.host.clone() }</span>
                    <span class={classes!("host-status", status)}>{ status }{ detail }</span>
                    <span class="host-ms">{ ms }</span>
                </summary>
                <pre class="host-output">{ for output }</pre>
            </details>
        </li>
    }
}

/// What a status does not say by itself: the exit code, the signal, the message.
fn detail(r: &HostResult) -> String {
    let mut detail = String::new();
    if r.status != HostStatus::Ok {
        if let Some(exit) = r.exit {
            detail.push_str(&format!(" (exit {exit})"));
        }
        if let Some(signal) = &r.signal {
            detail.push_str(&format!(" (SIG{signal})"));
        }
        if let Some(message) = &r.message {
            detail.push_str(&format!(": {message}"));
        }
    }
    if r.truncated {
        detail.push_str(" (output truncated)");
    }
    detail
}

/// The newest runs, as `runs` listed them.
fn recent(ops: &Ops) -> Html {
    if ops.runs.is_empty() {
        return Html::default();
    }
    let rows = ops.runs.iter().map(|r| {
        let state = if r.done { "done" } else { "running" };
        html! {
            <li class="recent-run" data-run={r.run.clone()}>
                <code>{ r.command.clone() }</code>
                <span>{ format!(" {} · {} hosts · {} ok · {} failed · {state}", r.by, r.hosts, r.ok, r.failed) }</span>
            </li>
        }
    });
    html! {
        <div class="recent-runs">
            <h3>{ "Recent runs" }</h3>
            <ul id="recent-runs">{ for rows }</ul>
        </div>
    }
}
