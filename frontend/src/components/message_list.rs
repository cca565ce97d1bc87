//! The messages of the open conversation, oldest first, kept scrolled to the newest unless the
//! reader scrolled up; at the top, "Load older messages" when the relay has older ones. Older
//! messages coming in above keep what the reader is looking at in place.

use std::rc::Rc;

use shared::validate::name_key;
use web_sys::Element;
use yew::prelude::*;

use crate::services::browser::{full_time, hh_mm};
use crate::state::{Conversation, Delivery, Message};

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub conversation: Rc<Conversation>,
    pub me: AttrValue,
    /// "Load older messages" was clicked.
    pub on_load_older: Callback<()>,
}

/// Within this many pixels of the bottom counts as "at the bottom".
const STICK_PX: i32 = 80;

#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    // Whether to follow new messages: true unless the reader scrolled up.
    let stick = use_mut_ref(|| true);
    {
        // Another conversation starts at its newest message.
        let stick = stick.clone();
        use_effect_with(props.conversation.title.clone(), move |_| {
            *stick.borrow_mut() = true;
        });
    }
    // The oldest message and the list's height as of the last render, to tell messages that
    // came in above (scrollback) from those that came in below.
    let shown = use_mut_ref(|| (String::new(), None::<u64>, 0));
    {
        let list = list.clone();
        let stick = stick.clone();
        let conv = &props.conversation;
        let count = conv.messages.len();
        let first = conv.first_seq();
        use_effect_with(
            (conv.title.clone(), count, first),
            move |(title, _, first)| {
                let Some(el) = list.cast::<Element>() else {
                    return;
                };
                let height = el.scroll_height();
                let (was_title, was_first, was_height) = shown.borrow().clone();
                let above = *title == was_title
                    && first.is_some()
                    && was_first.is_some_and(|w| *first < Some(w));
                if above {
                    // Older messages came in above: what was on screen stays where it was.
                    el.set_scroll_top(el.scroll_top() + height - was_height);
                } else if *stick.borrow() {
                    el.set_scroll_top(height);
                }
                *shown.borrow_mut() = (title.to_string(), *first, height);
            },
        );
    }
    let onscroll = {
        let list = list.clone();
        Callback::from(move |_: Event| {
            if let Some(el) = list.cast::<Element>() {
                let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
                *stick.borrow_mut() = from_bottom < STICK_PX;
            }
        })
    };
    let me = name_key(&props.me);
    let conv = &props.conversation;
    let messages = &conv.messages;
    let loading = conv.loading_older();
    html! {
        <ol id="messages" class="messages" ref={list} {onscroll} aria-live="polite" aria-label="Messages">
            if conv.has_older() || loading {
                <li class="load-older-row">
                    <button id="load-older" type="button" class="link-button load-older"
                            disabled={loading} data-loading={loading.to_string()}
                            onclick={props.on_load_older.reform(|_: MouseEvent| ())}>
                        { if loading { "Loading older messages…" } else { "Load older messages" } }
                    </button>
                </li>
            }
            if messages.is_empty() && !conv.has_older() {
                <li class="empty-history">{ "No messages yet. Say hello!" }</li>
            }
            for (i, m) in messages.iter().enumerate() {
                { message(m, i.checked_sub(1).map(|p| &messages[p]), name_key(&m.from) == me) }
            }
        </ol>
    }
}

/// One message. `previous` lets a run of messages from one sender share one header.
fn message(m: &Message, previous: Option<&Message>, mine: bool) -> Html {
    let key = match (&m.seq, &m.cid) {
        (Some(seq), _) => format!("s{seq}"),
        (None, Some(cid)) => format!("c{cid}"),
        (None, None) => String::new(),
    };
    let continued = previous.is_some_and(|p| {
        p.from == m.from
            && match (p.ts, m.ts) {
                (Some(a), Some(b)) => b.saturating_sub(a) < 5 * 60_000,
                _ => m.ts.is_none(),
            }
    });
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
        <li key={key}
            class={classes!(
                "message",
                mine.then_some("mine"),
                continued.then_some("continued"),
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
                    <span class="message-from">{ m.from.clone() }</span>
                    { time }
                </div>
                <div class="message-text">{ m.text.clone() }</div>
                if let Some(why) = failed {
                    <div class="message-error" role="alert">{ format!("Not delivered: {why}") }</div>
                }
            </div>
        </li>
    }
}

/// A stable colour for a name.
fn hue(name: &str) -> u32 {
    name_key(name)
        .chars()
        .fold(7u32, |h, c| h.wrapping_mul(31).wrapping_add(c as u32))
        % 360
}
