//! The runner's results: the run on screen with one row per host (failures first), its status,
//! time and output (expandable, coloured from SGR, as text nodes only), and the recent runs.

use shared::ops::{HostResult, HostStatus};
use yew::prelude::*;

use crate::i18n::{fill, texts};
use crate::state::sgr::{Style, spans};
use crate::state::{HostRow, Ops};

/// The run on screen: its header with Cancel or "run again", and its rows.
pub fn run_view(ops: &Ops, on_cancel: &Callback<()>, on_retry: &Callback<()>) -> Html {
    let Some(run) = &ops.run else {
        return Html::default();
    };
    let t = texts();
    let summary = match run.done {
        Some((ok, failed, ms)) => fill(
            t.run_done,
            &[&ms.to_string(), &ok.to_string(), &failed.to_string()],
        ),
        None => {
            let ended = run.hosts.iter().filter(|r| r.result.is_some()).count();
            let all = run.hosts.len().to_string();
            fill(t.run_running, &[&ended.to_string(), &all])
        }
    };
    let action = if run.done.is_none() {
        html! {
            <button id="run-cancel" type="button" class="ghost" onclick={on_cancel.reform(|_: MouseEvent| ())}>
                { t.cancel_run }
            </button>
        }
    } else if !run.failed_hosts().is_empty() {
        html! {
            <button id="run-retry" type="button" class="ghost" disabled={ops.pending.is_some()}
                    onclick={on_retry.reform(|_: MouseEvent| ())}>
                { t.run_again_failed }
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
        .map(|r| fill(texts().ms, &[&r.ms.to_string()]))
        .unwrap_or_default();
    let output = spans(&row.output).into_iter().map(|(style, text)| {
        if style == Style::default() {
            html! { { text } }
        } else {
            let [bold, colour] = style.classes();
            html! { <span class={classes!(bold, colour)}>{ text }</span> }
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
                    <span class={classes!("host-status", status)}>{ texts().host_status(status) }{ detail }</span>
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
            detail.push_str(&fill(texts().exit_code, &[&exit.to_string()]));
        }
        if let Some(signal) = &r.signal {
            detail.push_str(&format!(" (SIG{signal})"));
        }
        if let Some(message) = &r.message {
            detail.push_str(&format!(": {message}"));
        }
    }
    if r.truncated {
        detail.push_str(texts().output_truncated);
    }
    detail
}

/// The newest runs, as `runs` listed them.
pub fn recent(ops: &Ops) -> Html {
    if ops.runs.is_empty() {
        return Html::default();
    }
    let t = texts();
    let rows = ops.runs.iter().map(|r| {
        let state = if r.done { t.done } else { t.running };
        let line = fill(
            t.recent_run,
            &[
                &r.by,
                &r.hosts.to_string(),
                &r.ok.to_string(),
                &r.failed.to_string(),
                state,
            ],
        );
        html! {
            <li class="recent-run" data-run={r.run.clone()}>
                <code>{ r.command.clone() }</code>
                <span>{ " " }{ line }</span>
            </li>
        }
    });
    html! {
        <div class="recent-runs">
            <h3>{ t.recent_runs }</h3>
            <ul id="recent-runs">{ for rows }</ul>
        </div>
    }
}
