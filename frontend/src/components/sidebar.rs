//! The room list: the rooms we are in, the other rooms with members, and a form to join or
//! create one by name.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::i18n::{count, fill, texts};

/// One room in the list.
#[derive(Clone, PartialEq)]
pub struct RoomEntry {
    pub name: AttrValue,
    /// Members now: live for a joined room, from the last `rooms` listing otherwise.
    pub members: usize,
    pub unread: usize,
    pub joined: bool,
}

#[derive(Properties, PartialEq)]
pub struct RoomListProps {
    pub rooms: Vec<RoomEntry>,
    /// The open room.
    pub active: Option<AttrValue>,
    /// Why the room name typed was refused.
    pub error: Option<AttrValue>,
    /// Open a joined room.
    pub on_open: Callback<String>,
    /// Join (or create) a room by name, as typed.
    pub on_join: Callback<String>,
}

#[component]
pub fn RoomList(props: &RoomListProps) -> Html {
    let input = use_node_ref();
    let t = texts();
    let onsubmit = {
        let input = input.clone();
        let on_join = props.on_join.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(input) = input.cast::<HtmlInputElement>() {
                let room = input.value();
                if shared::validate::room(&room).is_ok() {
                    input.set_value("");
                }
                on_join.emit(room);
            }
        })
    };
    let (joined, others): (Vec<_>, Vec<_>) = props.rooms.iter().partition(|r| r.joined);
    let entry = |room: &RoomEntry| {
        let name = room.name.to_string();
        let onclick = if room.joined {
            props.on_open.reform(move |_: MouseEvent| name.clone())
        } else {
            props.on_join.reform(move |_: MouseEvent| name.clone())
        };
        let active = props.active.as_ref() == Some(&room.name);
        let members = count(t.member_one, t.member_many, room.members);
        html! {
            <li key={room.name.to_string()}>
                <button type="button" data-room={room.name.clone()} {onclick}
                        class={classes!("room-entry", "entry", room.joined.then_some("joined"), active.then_some("active"))}
                        aria-current={active.then_some("page")}
                        title={fill(if room.joined { t.open_room } else { t.join_room }, &[&room.name])}>
                    <span class="entry-mark" aria-hidden="true">{ "#" }</span>
                    <span class="entry-name" dir="auto">{ room.name.clone() }</span>
                    if room.unread > 0 {
                        <span class="unread" aria-label={fill(t.unread, &[&room.unread.to_string()])}>{ room.unread }</span>
                    }
                    <span class="count" title={members}>{ room.members }</span>
                </button>
            </li>
        }
    };
    html! {
        <section class="side-section" aria-labelledby="rooms-heading">
            <h2 id="rooms-heading">{ t.rooms }</h2>
            if joined.is_empty() {
                <p class="hint">{ t.no_room_yet }</p>
            }
            <ul class="entries">
                for room in joined.iter().copied() { { entry(room) } }
            </ul>
            if !others.is_empty() {
                <h3>{ t.other_rooms }</h3>
                <ul class="entries">
                    for room in others.iter().copied() { { entry(room) } }
                </ul>
            }
            <form class="join-form" {onsubmit}>
                <input id="room-name" ref={input} type="text" placeholder={t.room_name}
                       aria-label={t.room_name} maxlength="64" autocomplete="off"
                       aria-describedby="room-error" />
                <button id="join-room" type="submit">{ t.join }</button>
            </form>
            <p id="room-error" class="form-error" role="alert">{ props.error.clone().unwrap_or_default() }</p>
        </section>
    }
}
