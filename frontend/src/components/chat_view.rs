//! The open conversation: its header, messages, who is typing, the composer, and for a room
//! its members.

use std::rc::Rc;

use yew::prelude::*;

use super::composer::Composer;
use super::member_list::MemberList;
use super::message_list::MessageList;
use crate::state::Conversation;

#[derive(Properties, PartialEq)]
pub struct ChatViewProps {
    /// A stable id of the conversation (the composer starts empty in another one).
    pub id: AttrValue,
    pub conversation: Rc<Conversation>,
    /// A room (with members and a leave button) or a private conversation.
    pub is_room: bool,
    /// Private conversations: whether the correspondent is online.
    pub correspondent_online: bool,
    pub me: AttrValue,
    /// "bob is typing…", or empty.
    pub typing: AttrValue,
    /// The composer takes messages (signed in and in the conversation).
    pub can_send: bool,
    /// Messages go at once; otherwise they wait for the reconnect (see `State::ready`).
    pub live: bool,
    pub on_send: Callback<String>,
    pub on_typing: Callback<()>,
    pub on_leave: Callback<()>,
    pub on_open_dm: Callback<String>,
    /// "Load older messages" was clicked.
    pub on_load_older: Callback<()>,
}

#[component]
pub fn ChatView(props: &ChatViewProps) -> Html {
    let show_members = use_state(|| false);
    let conv = &props.conversation;
    let toggle_members = {
        let show_members = show_members.clone();
        Callback::from(move |_: MouseEvent| show_members.set(!*show_members))
    };
    // Escape closes the members overlay (phone-sized windows), back to its toggle.
    let onkeydown = {
        let show_members = show_members.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" && *show_members {
                show_members.set(false);
                crate::hooks::focus("members-toggle");
            }
        })
    };
    let subtitle = if props.is_room {
        match conv.member_total() {
            1 => "1 member".to_owned(),
            n => format!("{n} members"),
        }
    } else if props.correspondent_online {
        "online".to_owned()
    } else {
        "offline: they get your messages when they are back".to_owned()
    };
    let placeholder = match (props.live, props.is_room) {
        (false, _) => "Reconnecting… what you write now is sent when you are back".to_owned(),
        (true, true) => format!("Message #{}", conv.title),
        (true, false) => format!("Message {}", conv.title),
    };
    let members: Vec<AttrValue> = conv
        .members
        .iter()
        .map(|m| AttrValue::from(m.clone()))
        .collect();
    html! {
        <div class={classes!("chat", props.is_room.then_some("is-room"), show_members.then_some("members-open"))} {onkeydown}>
            <header class="chat-header">
                <div class="chat-heading">
                    <h2 id="conversation-title">
                        if props.is_room {
                            <span class="entry-mark" aria-hidden="true">{ "#" }</span>
                        } else {
                            <span class={classes!("presence", props.correspondent_online.then_some("online"))} aria-hidden="true"></span>
                        }
                        <span class="title-text" dir="auto">{ conv.title.clone() }</span>
                    </h2>
                    <span class="chat-subtitle">{ subtitle }</span>
                </div>
                if props.is_room {
                    <button id="members-toggle" type="button" class="ghost" onclick={toggle_members}
                            aria-expanded={show_members.to_string()} aria-controls="members">
                        { format!("Members ({})", conv.member_total()) }
                    </button>
                    <button id="leave-room" type="button" class="ghost danger"
                            onclick={props.on_leave.reform(|_: MouseEvent| ())}>{ "Leave" }</button>
                }
            </header>
            <div class="chat-body">
                <div class="chat-main">
                    <MessageList conversation={conv.clone()} me={props.me.clone()}
                                 on_load_older={props.on_load_older.clone()} />
                    <div id="typing" class="typing" aria-live="polite">{ props.typing.clone() }</div>
                    <Composer key={props.id.to_string()} disabled={!props.can_send}
                              placeholder={AttrValue::from(placeholder)}
                              on_send={props.on_send.clone()} on_typing={props.on_typing.clone()} />
                </div>
                if props.is_room {
                    <aside class="members-panel" aria-label="Members">
                        <h3>{ "Members" }</h3>
                        <MemberList members={members} total={conv.member_total()} me={props.me.clone()} on_open_dm={props.on_open_dm.clone()} />
                    </aside>
                }
            </div>
        </div>
    }
}
