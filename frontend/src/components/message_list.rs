//! The messages of the open conversation, oldest first, kept scrolled to the newest unless the
//! reader scrolled up; at the top, "Load older messages" when older ones are held or the relay
//! has them. Older messages coming in above keep what the reader is looking at in place.
//!
//! Only a window of the list is in the DOM, so that a new message costs the same however long
//! the history is: the newest [`TAIL_ROWS`] while following the newest; once the reader scrolls
//! up, the window stops moving and grows upwards as they read back ([`PAGE_ROWS`] at a time,
//! from what is held before asking the relay), up to [`MAX_ROWS`], with "Show newer messages"
//! at the bottom when newer ones are left out. Back at the bottom, it follows again.

use std::rc::Rc;

use shared::validate::name_key;
use web_sys::Element;
use yew::prelude::*;

use super::message_row::{MessageRow, continues, row_key};
use crate::state::{Conversation, Message};

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub conversation: Rc<Conversation>,
    pub me: AttrValue,
    /// "Load older messages" was clicked with every held message shown.
    pub on_load_older: Callback<()>,
}

/// Within this many pixels of the bottom counts as "at the bottom".
const STICK_PX: i32 = 80;
/// Within this many pixels of the top, older held messages are added above.
const TOP_PX: i32 = 200;
/// Rows shown while following the newest messages.
pub const TAIL_ROWS: usize = 100;
/// Rows added above at a time when reading back.
pub const PAGE_ROWS: usize = 100;
/// At most this many rows in the DOM.
pub const MAX_ROWS: usize = 600;

/// The rows `[start, end)` of `messages` to render. `from`: `None` follows the newest;
/// `Some(seq)` starts at the first message with that `seq` or a later one (`Some(0)`: the
/// oldest held).
pub fn window(messages: &[Rc<Message>], from: Option<u64>) -> (usize, usize) {
    let n = messages.len();
    match from {
        None => (n.saturating_sub(TAIL_ROWS), n),
        Some(seq) => {
            // Confirmed messages come first, in `seq` order.
            let start = messages.partition_point(|m| m.seq.is_some_and(|s| s < seq));
            (start, n.min(start + MAX_ROWS))
        }
    }
}

#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    // Whether to follow new messages: true unless the reader scrolled up.
    let stick = use_mut_ref(|| true);
    let from = use_state_eq(|| None::<u64>);
    {
        // Another conversation starts at its newest message.
        let stick = stick.clone();
        let from = from.clone();
        use_effect_with(props.conversation.title.clone(), move |_| {
            *stick.borrow_mut() = true;
            from.set(None);
        });
    }
    let conv = &props.conversation;
    let messages = &conv.messages;
    let n = messages.len();
    let (start, end) = window(messages, *from);
    let first_shown = messages.get(start).and_then(|m| m.seq);
    // The first row shown and the list's height as of the last render, to tell rows that came
    // in above (scrollback) from those that came in below.
    let shown = use_mut_ref(|| (String::new(), None::<u64>, 0));
    {
        let list = list.clone();
        let stick = stick.clone();
        use_effect_with(
            (conv.title.clone(), n, first_shown, start, end),
            move |(title, _, first, _, _)| {
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
    // `from` for showing `PAGE_ROWS` more held messages above.
    let earlier = messages
        .get(start.saturating_sub(PAGE_ROWS))
        .and_then(|m| m.seq)
        .unwrap_or(0);
    let onscroll = {
        let list = list.clone();
        let stick = stick.clone();
        let from = from.clone();
        Callback::from(move |_: Event| {
            let Some(el) = list.cast::<Element>() else {
                return;
            };
            let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
            let at_bottom = from_bottom < STICK_PX;
            *stick.borrow_mut() = at_bottom;
            if start > 0 && el.scroll_top() < TOP_PX {
                from.set(Some(earlier));
            } else if at_bottom && end == n {
                from.set(None);
            } else if !at_bottom && from.is_none() {
                // Reading: new messages no longer push the window along.
                from.set(Some(first_shown.unwrap_or(u64::MAX)));
            }
        })
    };
    let on_load_older = {
        let from = from.clone();
        let load = props.on_load_older.clone();
        Callback::from(move |_: MouseEvent| {
            if start > 0 {
                from.set(Some(earlier));
            } else {
                from.set(Some(0));
                load.emit(());
            }
        })
    };
    let on_show_newer = {
        let from = from.clone();
        Callback::from(move |_: MouseEvent| {
            *stick.borrow_mut() = true;
            from.set(None);
        })
    };
    let me = name_key(&props.me);
    let loading = conv.loading_older();
    html! {
        <ol id="messages" class="messages" ref={list} {onscroll} aria-live="polite" aria-label="Messages">
            if start > 0 || conv.has_older() || loading {
                <li class="load-older-row">
                    <button id="load-older" type="button" class="link-button load-older"
                            disabled={loading} data-loading={loading.to_string()}
                            onclick={on_load_older}>
                        { if loading { "Loading older messages…" } else { "Load older messages" } }
                    </button>
                </li>
            }
            if messages.is_empty() && !conv.has_older() {
                <li class="empty-history">{ "No messages yet. Say hello!" }</li>
            }
            for i in start..end {
                <MessageRow key={row_key(&messages[i])} message={messages[i].clone()}
                            mine={name_key(&messages[i].from) == me}
                            continued={i > start && continues(Some(&messages[i - 1]), &messages[i])} />
            }
            if end < n {
                <li class="load-older-row">
                    <button id="show-newer" type="button" class="link-button load-older"
                            onclick={on_show_newer}>{ "Show newer messages" }</button>
                </li>
            }
        </ol>
    }
}
