//! One message of the list. A component of its own with comparable props, so that yew skips
//! a row whose message did not change: a new message costs one row, not the whole list.

use std::rc::Rc;

use yew::prelude::*;

use crate::services::browser::{full_time, hh_mm};
use crate::state::{Delivery, Message};

#[derive(Properties, PartialEq)]
pub struct MessageRowProps {
    /// Compared by pointer first: an unchanged message is the same `Rc`.
    pub message: Rc<Message>,
    /// The signed-in user sent it.
    pub mine: bool,
    /// It follows a message from the same sender within minutes: no header of its own.
    pub continued: bool,
}

#[component]
pub fn MessageRow(props: &MessageRowProps) -> Html {
    let m = &props.message;
    let pending = m.delivery == Delivery::Pending;
    let failed = match &m.delivery {
        Delivery::Failed(why) => Some(why.clone()),
        _ => None,
    };
    let time = match m.ts {
        Some(ts) => html! { <time class="message-time" title={full_time(ts)}>{ hh_mm(ts) }</time> },
        None if pending => html! { <span class="message-time sending">{ "sending…" }</span> },
        None => html! { <span class="message-time">{ "not sent" }</span> },
    };
    html! {
        <li class={classes!(
                "message",
                props.mine.then_some("mine"),
                props.continued.then_some("continued"),
                pending.then_some("pending"),
                failed.is_some().then_some("failed"),
            )}
            data-seq={m.seq.map(|s| AttrValue::from(s.to_string()))}
            data-from={m.from.clone()}>
            <span class="avatar" style={format!("--hue: {}", hue(&m.from))} aria-hidden="true">
                { m.from.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default() }
            </span>
            <div class="message-body">
                <div class="message-meta">
                    <span class="message-from" dir="auto">{ m.from.clone() }</span>
                    { time }
                </div>
                <div class="message-text" dir="auto">{ m.text.clone() }</div>
                if let Some(why) = failed {
                    <div class="message-error" role="alert">{ format!("Not delivered: {why}") }</div>
                }
            </div>
        </li>
    }
}

/// Whether `m` continues a run of messages from one sender started by `previous`, so that the
/// run shares one header.
pub fn continues(previous: Option<&Message>, m: &Message) -> bool {
    previous.is_some_and(|p| {
        p.from == m.from
            && match (p.ts, m.ts) {
                (Some(a), Some(b)) => b.saturating_sub(a) < 5 * 60_000,
                _ => m.ts.is_none(),
            }
    })
}

/// The row's key: the `seq`, or for our unconfirmed message its `cid`.
pub fn row_key(m: &Message) -> String {
    match (&m.seq, &m.cid) {
        (Some(seq), _) => format!("s{seq}"),
        (None, Some(cid)) => format!("c{cid}"),
        (None, None) => String::new(),
    }
}

/// A stable colour for a name.
fn hue(name: &str) -> u32 {
    shared::validate::name_key(name)
        .chars()
        .fold(7u32, |h, c| h.wrapping_mul(31).wrapping_add(c as u32))
        % 360
}
