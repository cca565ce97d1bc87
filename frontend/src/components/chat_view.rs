//! The open conversation: its header, messages, who is typing, the composer, and for a room
//! its members.

use std::rc::Rc;

use yew::prelude::*;

use crate::i18n::{count, fill, texts};

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
    /// Connected: who is online is known (otherwise nobody is shown as online).
    pub presence_known: bool,
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
    let t = texts();
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
        count(t.member_one, t.member_many, conv.member_total())
    } else if props.correspondent_online {
        t.online.to_owned()
    } else if !props.presence_known {
        String::new()
    } else {
        t.correspondent_offline.to_owned()
    };
    let placeholder = match (props.live, props.is_room) {
        (false, _) => t.composer_offline.to_owned(),
        (true, true) => fill(t.composer_room, &[&conv.title]),
        (true, false) => fill(t.composer_person, &[&conv.title]),
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
                        { fill(t.members_button, &[&conv.member_total().to_string()]) }
                    </button>
                    <button id="leave-room" type="button" class="ghost danger"
                            onclick={props.on_leave.reform(|_: MouseEvent| ())}>{ t.leave }</button>
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
                    <aside class="members-panel" aria-label={t.members}>
                        <h3>{ t.members }</h3>
                        <MemberList members={members} total={conv.member_total()} known={props.presence_known} me={props.me.clone()} on_open_dm={props.on_open_dm.clone()} />
                    </aside>
                }
            </div>
        </div>
    }
}
