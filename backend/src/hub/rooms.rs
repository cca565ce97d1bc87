//! Rooms: join, leave, say, the room list and typing in a room.

use shared::{ErrorCode, RoomInfo, ServerMsg, Target, limits::HISTORY_LEN, validate};

use super::{Handled, Member, Refusal, State, encode, refuse};
use crate::metrics::Metrics;
use crate::peer::ConnId;
use crate::store::Draft;

fn check_room(room: &str) -> Result<(), Refusal> {
    validate::room(room).or_else(|why| refuse(ErrorCode::InvalidRoom, why))
}

impl State {
    pub(super) fn join(&mut self, id: ConnId, room: String) -> Handled {
        check_room(&room)?;
        let session = self.session(id)?;
        let name = session.name.clone();
        if !session.rooms.contains(&room) {
            self.make_room_for(&room)?;
            let Some(peer) = self.conns.get(&id).map(|c| c.peer.clone()) else {
                return Ok(()); // the connection went away meanwhile
            };
            self.tick += 1;
            let entry = self.rooms.entry(room.clone()).or_default();
            entry.last_used = self.tick;
            entry.members.insert(
                id,
                Member {
                    name: name.clone(),
                    peer,
                },
            );
            if let Some(session) = self.conns.get_mut(&id).and_then(|c| c.session.as_mut()) {
                session.rooms.insert(room.clone());
            }
            let presence = ServerMsg::Presence {
                room: room.clone(),
                name,
                online: true,
            };
            self.broadcast(&room, &presence, Some(id));
        }
        let mut members: Vec<String> = self
            .rooms
            .get(&room)
            .map(|r| r.members.values().map(|m| m.name.clone()).collect())
            .unwrap_or_default();
        members.sort_unstable();
        let history = self.store.room_history(&room, HISTORY_LEN);
        self.send(
            id,
            &ServerMsg::Joined {
                room,
                members,
                history,
                more: false,
            },
        );
        Ok(())
    }

    /// Makes sure a room can be created: forgets the longest-unused empty room when the relay
    /// is at its limit, and refuses when every room kept has members.
    fn make_room_for(&mut self, room: &str) -> Handled {
        if self.rooms.contains_key(room) || self.rooms.len() < self.limits.max_rooms {
            return Ok(());
        }
        let oldest_empty = self
            .rooms
            .iter()
            .filter(|(_, r)| r.members.is_empty())
            .min_by_key(|(_, r)| r.last_used)
            .map(|(name, _)| name.clone());
        match oldest_empty {
            Some(old) => {
                tracing::info!(room = %old, "forgetting the longest-unused empty room");
                self.rooms.remove(&old);
                self.store.forget_room(&old);
                Ok(())
            }
            None => refuse(
                ErrorCode::Forbidden,
                format!(
                    "this relay holds its limit of {} rooms",
                    self.limits.max_rooms
                ),
            ),
        }
    }

    pub(super) fn leave(&mut self, id: ConnId, room: &str) -> Handled {
        check_room(room)?;
        let Some(session) = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.session.as_mut())
            .filter(|s| s.rooms.contains(room))
        else {
            return refuse(ErrorCode::NotMember, format!("you are not in '{room}'"));
        };
        session.rooms.remove(room);
        let name = session.name.clone();
        self.remove_member(id, room, &name);
        Ok(())
    }

    /// Takes connection `id` out of `room` and tells the members left.
    pub(super) fn remove_member(&mut self, id: ConnId, room: &str, name: &str) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        if entry.members.remove(&id).is_some() {
            let presence = ServerMsg::Presence {
                room: room.to_owned(),
                name: name.to_owned(),
                online: false,
            };
            self.broadcast(room, &presence, None);
        }
    }

    pub(super) fn say(
        &mut self,
        id: ConnId,
        room: String,
        text: String,
        cid: Option<String>,
        now: u64,
    ) -> Handled {
        let from = self.member_name(id, &room)?;
        check_text(&text)?;
        let draft = Draft {
            target: Target::Room { room: room.clone() },
            from,
            text,
            ts: now,
            cid,
        };
        let msg = self.store.append_room(&room, draft);
        Metrics::inc(&self.metrics.messages_accepted);
        self.tick += 1;
        if let Some(entry) = self.rooms.get_mut(&room) {
            entry.last_used = self.tick;
        }
        self.broadcast(&room, &ServerMsg::Message(msg), None);
        Ok(())
    }

    pub(super) fn list_rooms(&self, id: ConnId) -> Handled {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .iter()
            .filter(|(_, r)| !r.members.is_empty())
            .map(|(name, r)| RoomInfo {
                room: name.clone(),
                members: r.members.len(),
            })
            .collect();
        rooms.sort_unstable_by(|a, b| a.room.cmp(&b.room));
        self.send(id, &ServerMsg::Rooms { rooms });
        Ok(())
    }

    pub(super) fn typing_in_room(&self, id: ConnId, room: String) -> Handled {
        let name = self.member_name(id, &room)?;
        let typing = ServerMsg::Typing {
            target: Target::Room { room: room.clone() },
            name,
        };
        self.broadcast(&room, &typing, Some(id));
        Ok(())
    }

    /// The session name of connection `id` if it is a member of `room`.
    fn member_name(&self, id: ConnId, room: &str) -> Result<String, Refusal> {
        check_room(room)?;
        let session = self.session(id)?;
        if !session.rooms.contains(room) {
            return refuse(ErrorCode::NotMember, format!("join '{room}' first"));
        }
        Ok(session.name.clone())
    }

    /// Sends `msg` to every member of `room` but `except`, serialised once.
    fn broadcast(&self, room: &str, msg: &ServerMsg, except: Option<ConnId>) {
        let Some(entry) = self.rooms.get(room) else {
            return;
        };
        let frame = encode(msg);
        for (member, m) in &entry.members {
            if Some(*member) != except {
                self.deliver(&m.peer, frame.clone());
            }
        }
    }
}

/// Checks the text of a `say` or `dm`.
pub(super) fn check_text(text: &str) -> Handled {
    match validate::text(text) {
        Ok(()) => Ok(()),
        Err(validate::TextError::TooLong) => refuse(
            ErrorCode::TooLong,
            format!(
                "a message has at most {} characters",
                shared::limits::MAX_TEXT_CHARS
            ),
        ),
        Err(validate::TextError::Empty) => {
            refuse(ErrorCode::BadRequest, "a message needs some text")
        }
    }
}
