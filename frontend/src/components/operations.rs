//! The Operations view (operators only): the live dashboard above the host-range runner's
//! form, with a confirmation that says how many hosts the range expands to. One component
//! (the dashboard and the run's rows are plain functions): each component type costs the
//! bundle its own copy of yew's lifecycle code.

use std::rc::Rc;

use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::dashboard::dashboard;
use super::runner::{recent, run_view};
use crate::i18n::{count, fill, texts};
use crate::state::Ops;
use crate::state::hosts::count_hosts;

#[derive(Properties, PartialEq)]
pub struct OperationsProps {
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
    count: u64,
}

#[component]
pub fn Operations(props: &OperationsProps) -> Html {
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
                form_error.set(Some(texts().type_command.to_owned()));
                return;
            }
            match count_hosts(&hosts) {
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
    let t = texts();
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
        let hosts = usize::try_from(c.count).unwrap_or(usize::MAX);
        let many = count(t.host_one, t.host_many, hosts);
        html! {
            <div id="run-confirmation" class="run-confirmation" role="alertdialog" data-hosts={c.count.to_string()}>
                <p>{ fill(t.run_confirm, &[&c.command, &many]) }</p>
                <button id="run-confirm" type="button" class="primary" onclick={go}>{ fill(t.run_on, &[&many]) }</button>
                <button id="run-back" type="button" class="ghost" onclick={back}>{ t.back }</button>
            </div>
        }
    });
    let error = (*form_error).clone().or_else(|| ops.error.clone());
    html! {
        <div id="operations" class="operations">
        <h2 class="ops-title">{ t.ops_title }</h2>
        { dashboard(ops) }
        <section id="runner" class="runner" aria-label={t.runner}>
            <form class="run-form" {onsubmit}>
                <input id="run-hosts" ref={hosts_ref} type="text" placeholder={t.hosts_placeholder}
                       aria-label={t.hosts} autocomplete="off" spellcheck="false" />
                <input id="run-command" ref={command_ref} type="text" placeholder={t.command_placeholder}
                       aria-label={t.command} autocomplete="off" spellcheck="false" maxlength="4000" />
                <button id="run-submit" type="submit" class="primary" disabled={busy}>
                    { if busy { t.starting } else { t.run } }
                </button>
            </form>
            <p id="run-error" class="form-error" role="alert">{ error.unwrap_or_default() }</p>
            { confirmation.unwrap_or_default() }
            { run_view(ops, &props.on_cancel, &props.on_retry) }
            { recent(ops) }
        </section>
        </div>
    }
}
