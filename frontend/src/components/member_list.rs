//! The members of the open room. Everyone listed is in the room now.

use shared::validate::name_key;
use yew::prelude::*;

use crate::i18n::{fill, texts};

#[derive(Properties, PartialEq)]
pub struct MemberListProps {
    pub members: Vec<AttrValue>,
    /// How many members the room has: more than `members` in a room too big to list.
    pub total: usize,
    pub me: AttrValue,
    /// Whether presence is known now (connected); otherwise nobody is shown as online.
    pub known: bool,
    /// Open the private conversation with a member.
    pub on_open_dm: Callback<String>,
}

#[component]
pub fn MemberList(props: &MemberListProps) -> Html {
    let me = name_key(&props.me);
    let t = texts();
    html! {
        <ul id="members" class="members" aria-label={t.members}>
            for member in props.members.iter() {
                <li key={member.to_string()} class="member" data-member={member.clone()}>
                    if name_key(member) == me {
                        <span class={classes!("presence", props.known.then_some("online"))} aria-hidden="true"></span>
                        <span class="member-name" dir="auto">{ member.clone() }</span>
                        <span class="you">{ t.you }</span>
                    } else {
                        <button type="button" class="member-button" title={fill(t.message_person, &[member])}
                                onclick={{
                                    let name = member.to_string();
                                    props.on_open_dm.reform(move |_: MouseEvent| name.clone())
                                }}>
                            <span class={classes!("presence", props.known.then_some("online"))} aria-hidden="true"></span>
                            <span class="member-name" dir="auto">{ member.clone() }</span>
                        </button>
                    }
                </li>
            }
            if props.total > props.members.len() {
                <li class="member more">{ fill(t.and_more, &[&(props.total - props.members.len()).to_string()]) }</li>
            }
        </ul>
    }
}
