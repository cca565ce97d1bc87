//! The messages of the open conversation, oldest first, kept scrolled to the newest unless the
//! reader scrolled up; at the top, "Load older messages" when older ones are held or the relay
//! has them. Older messages coming in above keep what the reader is looking at in place.
//!
//! Only a window of the list is in the DOM, so that a new message costs the same however long
//! the history is: the newest [`TAIL_ROWS`] while following the newest; once the reader scrolls
//! up, the window stops moving and grows upwards as they read back ([`PAGE_ROWS`] at a time,
//! from what is held before asking the relay), up to [`MAX_ROWS`], with "Show newer messages"
//! at the bottom when newer ones are left out. Back at the bottom, it follows again.
//!
//! Scrolled up, "N new messages ↓" counts what arrived meanwhile and goes back down; sending a
//! message goes down to it. Reaching the top asks for older messages, as the button does.
//! Rows are grouped by day ("Today", "Yesterday", a date), and "New messages" marks where the
//! reader stopped when they come back to the conversation.

use std::rc::Rc;

use shared::validate::name_key;
use web_sys::Element;
use yew::prelude::*;

use super::message_row::{MessageRow, continues, row_key};
use crate::i18n::{self, count};
use crate::services::browser::{local_day, long_date, now_ms};
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
    let lang = i18n::current();
    let t = lang.texts();
    let list = use_node_ref();
    // Whether to follow new messages: true unless the reader scrolled up.
    let stick = use_mut_ref(|| true);
    let from = use_state_eq(|| None::<u64>);
    // While the reader is scrolled up: the newest `seq` they had at the bottom before; the
    // messages after it are new to them ("N new messages ↓").
    let away = use_state_eq(|| None::<u64>);
    {
        // Another conversation starts at its newest message.
        let stick = stick.clone();
        let from = from.clone();
        let away = away.clone();
        use_effect_with(props.conversation.title.clone(), move |_| {
            *stick.borrow_mut() = true;
            from.set(None);
            away.set(None);
        });
    }
    let conv = &props.conversation;
    let messages = &conv.messages;
    let n = messages.len();
    let me = name_key(&props.me);
    let (start, end) = window(messages, *from);
    let first_shown = messages.get(start).and_then(|m| m.seq);
    // Our newest message while it is being sent: when it is new, the list goes to it.
    let sending = messages
        .last()
        .filter(|m| m.seq.is_none() && name_key(&m.from) == me)
        .map(|m| row_key(m));
    // The first row shown and the list's height as of the last render, to tell rows that came
    // in above (scrollback) from those that came in below; and the message being sent then.
    let shown = use_mut_ref(|| (String::new(), None::<u64>, 0, None::<String>));
    {
        let list = list.clone();
        let stick = stick.clone();
        let from = from.clone();
        let away = away.clone();
        use_effect_with(
            (conv.title.clone(), n, first_shown, start, end, sending),
            move |(title, _, first, _, _, sending)| {
                let Some(el) = list.cast::<Element>() else {
                    return;
                };
                let height = el.scroll_height();
                let (was_title, was_first, was_height, was_sending) = shown.borrow().clone();
                let above = *title == was_title
                    && first.is_some()
                    && was_first.is_some_and(|w| *first < Some(w));
                if sending.is_some() && *sending != was_sending {
                    // We just sent this: show it, wherever the reader was.
                    *stick.borrow_mut() = true;
                    from.set(None);
                    away.set(None);
                    el.set_scroll_top(height);
                } else if above {
                    // Older messages came in above: what was on screen stays where it was.
                    el.set_scroll_top(el.scroll_top() + height - was_height);
                } else if *stick.borrow() {
                    el.set_scroll_top(height);
                }
                *shown.borrow_mut() = (title.to_string(), *first, height, sending.clone());
            },
        );
    }
    // `from` for showing `PAGE_ROWS` more held messages above.
    let earlier = messages
        .get(start.saturating_sub(PAGE_ROWS))
        .and_then(|m| m.seq)
        .unwrap_or(0);
    let newest_seq = conv.last_seq();
    let loading = conv.loading_older();
    let has_older = conv.has_older();
    let onscroll = {
        let list = list.clone();
        let stick = stick.clone();
        let from = from.clone();
        let away = away.clone();
        let load = props.on_load_older.clone();
        Callback::from(move |_: Event| {
            let Some(el) = list.cast::<Element>() else {
                return;
            };
            let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
            let at_bottom = from_bottom < STICK_PX;
            *stick.borrow_mut() = at_bottom;
            if at_bottom {
                away.set(None);
            } else if away.is_none() {
                away.set(Some(newest_seq));
            }
            if el.scroll_top() < TOP_PX && start > 0 {
                from.set(Some(earlier));
            } else if el.scroll_top() < TOP_PX && has_older && !loading {
                // At the top of what is held: ask the relay for older ones.
                from.set(Some(0));
                load.emit(());
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
    let to_newest = {
        let list = list.clone();
        let from = from.clone();
        let away = away.clone();
        Callback::from(move |_: MouseEvent| {
            *stick.borrow_mut() = true;
            from.set(None);
            away.set(None);
            if let Some(el) = list.cast::<Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        })
    };
    // Messages newer than what the reader had at the bottom before scrolling up.
    let fresh = away.map_or(0, |away| {
        messages
            .iter()
            .rev()
            .skip_while(|m| m.seq.is_none())
            .take_while(|m| m.seq.is_some_and(|s| s > away))
            .count()
    });
    // "New messages" goes before the first message after the one read last.
    let divider_at = conv
        .divider
        .map(|read| messages.partition_point(|m| m.seq.is_some_and(|s| s <= read)))
        .filter(|&i| messages.get(i).is_some_and(|m| m.seq.is_some()));
    let today = local_day(now_ms());
    let mut rows = Vec::with_capacity(end - start + 4);
    for i in start..end {
        let m = &messages[i];
        let day = m.ts.map(local_day);
        let new_day = day.is_some() && (i == start || messages[i - 1].ts.map(local_day) != day);
        if divider_at == Some(i) {
            rows.push(html! {
                <li key="divider" id="unread-divider" class="unread-divider">
                    <span>{ t.new_messages_divider }</span>
                </li>
            });
        }
        if let (true, Some(day), Some(ts)) = (new_day, day, m.ts) {
            let label = match today.saturating_sub(day) {
                0 => t.today.to_owned(),
                1 => t.yesterday.to_owned(),
                _ => long_date(ts, lang.code()),
            };
            rows.push(html! {
                <li key={format!("d{day}")} class="day-separator" data-day={day.to_string()}>
                    <span>{ label }</span>
                </li>
            });
        }
        rows.push(html! {
            <MessageRow key={row_key(m)} message={m.clone()}
                        mine={name_key(&m.from) == me}
                        continued={i > start && !new_day && continues(Some(&messages[i - 1]), m)} />
        });
    }
    html! {
        <div class="message-pane">
            <ol id="messages" class="messages" ref={list} {onscroll} aria-live="polite" aria-label={t.messages}>
                if start > 0 || has_older || loading {
                    <li class="load-older-row">
                        <button id="load-older" type="button" class="link-button load-older"
                                disabled={loading} data-loading={loading.to_string()}
                                onclick={on_load_older}>
                            { if loading { t.loading_older } else { t.load_older } }
                        </button>
                    </li>
                }
                if messages.is_empty() && !has_older {
                    <li class="empty-history">{ t.no_messages }</li>
                }
                { for rows }
                if end < n {
                    <li class="load-older-row">
                        <button id="show-newer" type="button" class="link-button load-older"
                                onclick={to_newest.clone()}>{ t.show_newer }</button>
                    </li>
                }
            </ol>
            if fresh > 0 {
                <button id="new-messages" type="button" class="new-messages primary" onclick={to_newest}
                        data-count={fresh.to_string()}>
                    { count(t.new_message_one, t.new_message_many, fresh) }
                </button>
            }
        </div>
    }
}
