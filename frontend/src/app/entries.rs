//! The sidebar's lists, made from the state.

use shared::validate::name_key;
use yew::prelude::*;

use crate::components::sidebar::RoomEntry;
use crate::components::user_list::PersonEntry;
use crate::state::{ConvKey, State};

/// Joined rooms with their live member counts, then the other rooms of the last listing.
pub(super) fn room_entries(state: &State) -> Vec<RoomEntry> {
    let mut rooms: Vec<RoomEntry> = state
        .conversations
        .iter()
        .filter_map(|(key, conv)| {
            Some(RoomEntry {
                name: AttrValue::from(key.room()?.to_owned()),
                members: conv.members.len(),
                unread: conv.unread,
                joined: true,
            })
        })
        .collect();
    for info in &state.rooms {
        if !state
            .conversations
            .contains_key(&ConvKey::Room(info.room.clone()))
        {
            rooms.push(RoomEntry {
                name: AttrValue::from(info.room.clone()),
                members: info.members,
                unread: 0,
                joined: false,
            });
        }
    }
    rooms
}

/// Everyone online, and the people we have private conversations with; each once, sorted.
pub(super) fn person_entries(state: &State) -> Vec<PersonEntry> {
    let mut people: Vec<PersonEntry> = state
        .online
        .iter()
        // Cut off from the relay, we cannot know who is online: nobody is shown as online.
        .map(|name| entry(state, name, state.online_now()))
        .collect();
    for (key, conv) in &state.conversations {
        if let ConvKey::Dm(correspondent) = key
            && !state.online.iter().any(|n| name_key(n) == *correspondent)
        {
            people.push(entry(state, &conv.title, false));
        }
    }
    people.sort_unstable_by_key(|p| (!p.online, name_key(&p.name), p.name.clone()));
    people
}

fn entry(state: &State, name: &str, online: bool) -> PersonEntry {
    let key = ConvKey::dm(name);
    PersonEntry {
        name: AttrValue::from(name.to_owned()),
        online,
        unread: state.conversations.get(&key).map_or(0, |c| c.unread),
        active: state.open.as_ref() == Some(&key),
    }
}
