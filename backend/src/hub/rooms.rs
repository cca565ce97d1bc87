//! Rooms: join, leave, say, the room list and typing in a room.

use std::time::Instant;

use shared::limits::{HISTORY_LEN, REPLAY_LEN};
use shared::{ConversationId, ErrorCode, RoomInfo, ServerMsg, Target, validate};

use super::slow::{Place, SlowTask};
use super::{Handled, Member, Refusal, Slow, State, deliver, encode, read_failed, refuse};
use crate::engine::{Draft, Job, Page, ReadError, Topic};
use crate::metrics::Metrics;
use crate::outbox::{ConnId, Frame};

fn check_room(room: &str) -> Result<(), Refusal> {
    validate::room(room).or_else(|why| refuse(ErrorCode::InvalidRoom, why))
}

impl State {
    /// `join`: the connection becomes a member at once, catching up (`Member::catching_up`)
    /// while its page of history is read off the lock; [`State::joined`] then answers.
    pub(super) fn join(&mut self, id: ConnId, room: String, after: Option<u64>) -> Handled {
        check_room(&room)?;
        let session = self.session(id)?;
        let member = (
            session.key.clone(),
            session.name.clone(),
            session.generation,
        );
        let name = session.name.clone();
        let (after, limit) = match after {
            Some(after) => (after, REPLAY_LEN),
            None => (0, HISTORY_LEN),
        };
        let bounds = (limit, self.limits.page_bytes);
        let again = if let Some(member) = self
            .rooms
            .get_mut(&room)
            .and_then(|r| r.members.get_mut(&id))
        {
            // Joined again: answered like a first join, from what is read now.
            member.catching_up.get_or_insert_default();
            true
        } else {
            if !self.rooms.contains_key(&room) && self.rooms.len() >= self.limits.max_rooms {
                return refuse(
                    ErrorCode::Forbidden,
                    format!(
                        "this relay has its limit of {} rooms with members",
                        self.limits.max_rooms
                    ),
                );
            }
            let Some(handle) = self.conns.get(&id).map(|c| c.handle.clone()) else {
                return Ok(()); // the connection went away meanwhile
            };
            let members = &mut self.rooms.entry(room.clone()).or_default().members;
            members.insert(
                id,
                Member {
                    name: name.clone(),
                    handle,
                    seen: 0,
                    catching_up: Some(Vec::new()),
                },
            );
            let count = members.len();
            if !self.engine.clustered() {
                // On a cluster, entering the room there says so to everyone (`Reads::enter`).
                self.came_or_went(&room, (&name, true), count, Some(id));
            }
            if let Some(session) = self.conns.get_mut(&id).and_then(|c| c.session.as_mut()) {
                session.rooms.insert(room.clone());
            }
            false
        };
        // Read after becoming a member: what the page has not, the fan-out brings, and the
        // page's last seq says where one ends and the other begins.
        self.slow = Some(Slow {
            task: SlowTask::Join {
                room,
                after,
                bounds,
                again,
                member,
                names: self.limits.presence_limit,
            },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    /// A `join`'s page is read: the `joined`, then what the fan-out brought meanwhile that
    /// the page does not have. If the read failed, the client is told the join failed: a first
    /// join leaves the room again; a member that joined again stays, and gets what was held.
    pub(super) fn joined(
        &mut self,
        id: ConnId,
        (room, again): (String, bool),
        page: Result<Page, ReadError>,
        elsewhere: Option<(usize, Vec<String>)>,
    ) -> Handled {
        let Some(member) = self
            .rooms
            .get_mut(&room)
            .and_then(|r| r.members.get_mut(&id))
        else {
            return Ok(()); // the connection went away meanwhile
        };
        let page = match page {
            Ok(page) => page,
            Err(e) if again => {
                let held = member.catching_up.take().unwrap_or_default();
                release_held(&self.metrics, member, held);
                return Err(read_failed(&e));
            }
            Err(e) => {
                let name = member.name.clone();
                if let Some(session) = self.conns.get_mut(&id).and_then(|c| c.session.as_mut()) {
                    session.rooms.remove(&room);
                    // It may have entered the room across the cluster before the read failed.
                    let key = session.key.clone();
                    self.engine.exit(&room, &key);
                }
                self.remove_member(id, &room, &name);
                return Err(read_failed(&e));
            }
        };
        member.seen = member.seen.max(page.last_seq);
        let held = member.catching_up.take().unwrap_or_default();
        // Across the cluster: everybody there when this member entered, and whoever entered
        // here since (the others' later comings and goings come as presence).
        let (members, count) = self.members_for_joiner(id, &room, elsewhere);
        self.send(
            id,
            &ServerMsg::Joined {
                room: room.clone(),
                members,
                history: page.messages,
                more: page.more,
            },
        );
        if let Some(count) = count {
            self.send(id, &count);
        }
        let Some(member) = self
            .rooms
            .get_mut(&room)
            .and_then(|r| r.members.get_mut(&id))
        else {
            return Ok(());
        };
        release_held(&self.metrics, member, held);
        Ok(())
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
        let (name, key) = (session.name.clone(), session.key.clone());
        self.engine.exit(room, &key);
        self.remove_member(id, room, &name);
        Ok(())
    }

    /// Takes connection `id` out of `room` and tells the members left. A room left empty is
    /// forgotten (its history and counter stay in the store).
    pub(super) fn remove_member(&mut self, id: ConnId, room: &str, name: &str) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        let removed = entry.members.remove(&id).is_some();
        let count = entry.members.len();
        if count == 0 {
            self.rooms.remove(room);
            self.engine.unfollow(Topic::Room(room.to_owned()));
        } else if removed && !self.engine.clustered() {
            // On a cluster, leaving the room there says so to everyone (`Engine::exit`), once
            // the member is really gone from it (not taken over on another relay meanwhile).
            self.came_or_went(room, (name, false), count, None);
        }
    }

    pub(super) fn say(
        &mut self,
        id: ConnId,
        room: String,
        text: String,
        (cid, mid): (Option<String>, Option<String>),
        now: u64,
    ) -> Handled {
        let from = self.member_name(id, &room)?;
        check_text(&text)?;
        check_mid(mid.as_deref())?;
        let session = self.session(id)?;
        let (from_key, generation) = (session.key.clone(), session.generation);
        let draft = Draft {
            target: Target::Room { room },
            from,
            text,
            ts: now,
            cid,
            mid,
            accepted: Instant::now(),
            generation,
        };
        self.submit(Job::Room { from_key, draft })?;
        Metrics::inc(&self.metrics.messages_accepted);
        Ok(())
    }

    /// Scrollback in a room (joined or not).
    pub(super) fn room_history(
        &mut self,
        room: String,
        before: Option<u64>,
        limit: usize,
    ) -> Handled {
        check_room(&room)?;
        self.slow = Some(Slow {
            task: SlowTask::History {
                conversation: ConversationId::Room { room: room.clone() },
                place: Place::Room(room),
                before,
                bounds: (limit, self.limits.page_bytes),
                since: 0,
            },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    pub(super) fn list_rooms(&mut self, id: ConnId) -> Handled {
        if self.engine.clustered() {
            // Counted across the cluster, off the lock.
            self.slow = Some(Slow {
                task: SlowTask::Rooms,
                cid: None,
                addr: None,
            });
            return Ok(());
        }
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .iter()
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
        let frame = encode(&typing);
        self.broadcast_frame(&room, &frame, Some(id));
        self.engine.typing(Topic::Room(room), frame.to_string());
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

    /// The rooms across the cluster are read.
    pub(super) fn send_rooms(
        &mut self,
        id: ConnId,
        rooms: Result<Vec<(String, usize)>, ReadError>,
    ) -> Handled {
        let mut rooms: Vec<RoomInfo> = rooms
            .map_err(|e| read_failed(&e))?
            .into_iter()
            .map(|(room, members)| RoomInfo { room, members })
            .collect();
        rooms.sort_unstable_by(|a, b| a.room.cmp(&b.room));
        self.send(id, &ServerMsg::Rooms { rooms });
        Ok(())
    }

    /// Sends `msg` to every member of `room` but `except`, serialised once.
    pub(super) fn broadcast(&self, room: &str, msg: &ServerMsg, except: Option<ConnId>) {
        if self.rooms.contains_key(room) {
            self.broadcast_frame(room, &encode(msg), except);
        }
    }

    /// Sends `frame` to every member of `room` but `except`.
    pub(super) fn broadcast_frame(&self, room: &str, frame: &Frame, except: Option<ConnId>) {
        let Some(entry) = self.rooms.get(room) else {
            return;
        };
        // A member still catching up learns who is there from its `joined`, read later.
        for (member, m) in &entry.members {
            if Some(*member) != except && m.catching_up.is_none() {
                self.deliver(&m.handle, frame.clone());
            }
        }
    }
}

/// Sends a member what the fan-out held for it while its page was read, but what it has.
fn release_held(metrics: &Metrics, member: &mut Member, held: Vec<(u64, Frame)>) {
    for (seq, frame) in held {
        if seq > member.seen {
            member.seen = seq;
            deliver(metrics, &member.handle, frame);
        }
    }
}

/// A `say`'s or `dm`'s `mid`, if it has one: 1 to 64 characters.
pub(super) fn check_mid(mid: Option<&str>) -> Handled {
    match mid {
        Some(mid) if !validate::mid(mid) => {
            refuse(ErrorCode::BadRequest, "a mid has 1 to 64 characters")
        }
        _ => Ok(()),
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
