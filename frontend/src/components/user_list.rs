//! People: who is online, and the private conversations we have. Clicking someone opens the
//! private conversation with them.

use yew::prelude::*;

use crate::i18n::{fill, texts};

/// One person in the list.
#[derive(Clone, PartialEq)]
pub struct PersonEntry {
    pub name: AttrValue,
    pub online: bool,
    /// Unread messages in our private conversation with them.
    pub unread: usize,
    /// Their private conversation is the one open.
    pub active: bool,
}

#[derive(Properties, PartialEq)]
pub struct UserListProps {
    pub people: Vec<PersonEntry>,
    /// Open the private conversation with this user.
    pub on_open: Callback<String>,
}

#[component]
pub fn UserList(props: &UserListProps) -> Html {
    let online = props.people.iter().filter(|p| p.online).count();
    let t = texts();
    html! {
        <section class="side-section" aria-labelledby="people-heading">
            <h2 id="people-heading">{ t.people }<span class="heading-count">{ fill(t.online_count, &[&online.to_string()]) }</span></h2>
            if props.people.is_empty() {
                <p class="hint">{ t.nobody_online }</p>
            }
            <ul class="entries">
                for person in props.people.iter() {
                    <li key={person.name.to_string()}>
                        <button type="button" data-user={person.name.clone()}
                                class={classes!(
                                    "entry",
                                    if person.online { "user-entry" } else { "dm-entry" },
                                    person.active.then_some("active"),
                                )}
                                aria-current={person.active.then_some("page")}
                                title={fill(if person.online { t.message_person } else { t.message_person_offline }, &[&person.name])}
                                onclick={{
                                    let name = person.name.to_string();
                                    props.on_open.reform(move |_: MouseEvent| name.clone())
                                }}>
                            <span class={classes!("presence", person.online.then_some("online"))}
                                  aria-label={if person.online { t.online } else { t.offline }}></span>
                            <span class="entry-name" dir="auto">{ person.name.clone() }</span>
                            if person.unread > 0 {
                                <span class="unread" aria-label={fill(t.unread, &[&person.unread.to_string()])}>{ person.unread }</span>
                            }
                        </button>
                    </li>
                }
            </ul>
        </section>
    }
}
