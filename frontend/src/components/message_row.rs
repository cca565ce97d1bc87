//! One message of the list. A component of its own with comparable props, so that yew skips
//! a row whose message did not change: a new message costs one row, not the whole list.

use std::rc::Rc;

use yew::prelude::*;

use crate::i18n::{self, fill};
use crate::markup::{Piece, Style, pieces};
use crate::services::browser::{full_time, time_of_day};
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
    let lang = i18n::current();
    let t = lang.texts();
    let pending = m.delivery == Delivery::Pending;
    let failed = match &m.delivery {
        Delivery::Failed(why) => Some(why.clone()),
        _ => None,
    };
    let time = match m.ts {
        Some(ts) => html! {
            <time class="message-time" title={full_time(ts, lang.code())}>{ time_of_day(ts, lang.code()) }</time>
        },
        None if pending => html! { <span class="message-time sending">{ t.sending }</span> },
        None => html! { <span class="message-time">{ t.not_sent }</span> },
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
                    if m.edited && !m.deleted {
                        <span class="edited">{ t.edited }</span>
                    }
                </div>
                if m.deleted {
                    <div class="message-text deleted">{ t.deleted }</div>
                } else {
                    <div class="message-text" dir="auto">{ rich(&m.text) }</div>
                }
                if let Some(why) = failed {
                    <div class="message-error" role="alert">{ fill(t.not_delivered, &[&why]) }</div>
                }
            </div>
        </li>
    }
}

/// The text with its links and light formatting, as elements (see `crate::markup`).
fn rich(text: &str) -> Html {
    let pieces = pieces(text);
    if let [Piece::Text(plain, Style::Plain)] = pieces.as_slice() {
        return html! { { *plain } };
    }
    pieces
        .into_iter()
        .map(|piece| {
            let (inner, style) = match piece {
                Piece::Code(code) => return html! { <code>{ code }</code> },
                Piece::Block(code) => return html! { <pre><code>{ code }</code></pre> },
                Piece::Text(text, style) => (html! { { text } }, style),
                Piece::Link(url, style) => (
                    html! { <a href={url.to_owned()} target="_blank" rel="noopener noreferrer">{ url }</a> },
                    style,
                ),
            };
            match style {
                Style::Plain => inner,
                Style::Strong => html! { <strong>{ inner }</strong> },
                Style::Emphasis => html! { <em>{ inner }</em> },
            }
        })
        .collect()
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
