//! Rooms: join, leave, say, the room list and typing in a room.

use std::time::Instant;

use shared::limits::{HISTORY_LEN, REPLAY_LEN};
use shared::{ConversationId, ErrorCode, RoomInfo, ServerMsg, Target, validate};

use super::slow::{JoinRead, Place, SlowTask};
use super::{Handled, Member, Refusal, Slow, State, deliver, encode, read_failed, refuse};
use crate::engine::{Draft, Job, Page, ReadError, Topic};
use crate::metrics::Metrics;
use crate::outbox::{ConnId, Frame};

pub(super) fn check_room(room: &str) -> Result<(), Refusal> {
    validate::room(room).or_else(|why| refuse(ErrorCode::InvalidRoom, why))
}

impl State {
    /// `join`: the connection becomes a member at once, catching up (`Member::catching_up`)
    /// while its page of history is read off the lock; [`State::joined`] then answers. The
    /// person's other connections become members with it (`person.rs`).
    pub(super) fn join(&mut self, id: ConnId, room: String, after: Option<u64>) -> Handled {
        check_room(&room)?;
        let session = self.session(id)?;
        let member = (
            session.key.clone(),
            session.name.clone(),
            session.generation,
        );
        let (after, limit) = match after {
            Some(after) => (after, REPLAY_LEN),
            None => (0, HISTORY_LEN),
        };
        let bounds = (limit, self.limits.page_bytes);
        let mut siblings = Vec::new();
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
            if !self.add_member(id, &room) {
                return Ok(()); // the connection went away meanwhile
            }
            siblings = self.join_siblings(id, &room);
            false
        };
        // Read after becoming a member: what the page has not, the fan-out brings, and the
        // page's last seq says where one ends and the other begins.
        self.slow = Some(Slow {
            task: SlowTask::Join {
                read: JoinRead {
                    room,
                    after,
                    bounds,
                    member,
                    names: self.limits.presence_limit,
                },
                again,
                siblings,
            },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    /// Makes welcomed connection `id` a member of `room`, catching up until its `joined`, and
    /// tells the others if its person is new there. False if the connection is gone.
    pub(super) fn add_member(&mut self, id: ConnId, room: &str) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        let Some(session) = conn.session.as_mut() else {
            return false;
        };
        session.rooms.insert(room.to_owned());
        let (key, name) = (session.key.clone(), session.name.clone());
        let handle = conn.handle.clone();
        let entry = self.rooms.entry(room.to_owned()).or_default();
        let member = Member {
            name: name.clone(),
            key: key.clone(),
            handle,
            seen: 0,
            catching_up: Some(Vec::new()),
        };
        if entry.members.insert(id, member).is_some() {
            return true;
        }
        let here = entry.people.entry(key.clone()).or_default();
        *here += 1;
        let first = *here == 1;
        let count = entry.people.len();
        if first && !self.engine.clustered() {
            // On a cluster, entering the room there says so to everyone (`Reads::enter`).
            self.came_or_went(room, (&name, true), count, Some(&key));
        }
        true
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
        siblings: &[ConnId],
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
                // It may have entered the room across the cluster before the read failed;
                // the siblings that came in with it go too.
                for &conn in std::iter::once(&id).chain(siblings) {
                    if let Some(session) =
                        self.conns.get_mut(&conn).and_then(|c| c.session.as_mut())
                    {
                        session.rooms.remove(&room);
                    }
                    self.remove_member(conn, &room);
                }
                return Err(read_failed(&e));
            }
        };
        // Across the cluster: everybody there when this member entered, and whoever entered
        // here since (the others' later comings and goings come as presence).
        let (members, count) = self.members_for_joiner(id, &room, elsewhere);
        let joined = encode(&ServerMsg::Joined {
            room: room.clone(),
            members,
            history: page.messages,
            more: page.more,
        });
        let count = count.map(|c| encode(&c));
        for &conn in std::iter::once(&id).chain(siblings) {
            let Some(member) = self
                .rooms
                .get_mut(&room)
                .and_then(|r| r.members.get_mut(&conn))
            else {
                continue; // gone meanwhile
            };
            member.seen = member.seen.max(page.last_seq);
            let held = member.catching_up.take().unwrap_or_default();
            deliver(&self.metrics, &member.handle, joined.clone());
            if let Some(count) = &count {
                deliver(&self.metrics, &member.handle, count.clone());
            }
            release_held(&self.metrics, member, held);
        }
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
        let key = session.key.clone();
        self.remove_member(id, room);
        // The room is the person's: its other connections leave it too.
        self.leave_siblings(id, &key, room);
        Ok(())
    }

    /// Takes connection `id` out of `room`. When that was its person's last connection
    /// there, the person leaves the room: the members left are told (on a cluster, leaving
    /// the room there does, `Engine::exit`). A room left empty is forgotten (its history and
    /// counter stay in the store).
    pub(super) fn remove_member(&mut self, id: ConnId, room: &str) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(member) = entry.members.remove(&id) else {
            return;
        };
        let gone = match entry.people.get_mut(&member.key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                entry.people.remove(&member.key);
                true
            }
        };
        let count = entry.people.len();
        if gone {
            self.engine.exit(room, &member.key);
        }
        if entry.members.is_empty() {
            self.rooms.remove(room);
            self.engine.unfollow(Topic::Room(room.to_owned()));
        } else if gone && !self.engine.clustered() {
            self.came_or_went(room, (&member.name, false), count, None);
        }
    }

    pub(super) fn say(
        &mut self,
        id: ConnId,
        room: String,
        text: String,
        (cid, mid, reply): (Option<String>, Option<String>, Option<u64>),
        now: u64,
    ) -> Handled {
        let from = self.member_name(id, &room)?;
        self.replies(reply)?;
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
            origin: id,
            reply,
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
                members: r.people.len(),
            })
            .collect();
        rooms.sort_unstable_by(|a, b| a.room.cmp(&b.room));
        self.send(id, &ServerMsg::Rooms { rooms });
        Ok(())
    }

    pub(super) fn typing_in_room(&self, id: ConnId, room: String) -> Handled {
        let name = self.member_name(id, &room)?;
        let key = self.session(id)?.key.clone();
        let typing = ServerMsg::Typing {
            target: Target::Room { room: room.clone() },
            name,
        };
        let frame = encode(&typing);
        self.broadcast_frame(&room, &frame, Some(&key));
        self.engine.typing(Topic::Room(room), frame.to_string());
        Ok(())
    }

    /// The session name of connection `id` if it is a member of `room`.
    pub(super) fn member_name(&self, id: ConnId, room: &str) -> Result<String, Refusal> {
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

    /// Sends `msg` to every member of `room` but the connections of the person `except` (a
    /// name key), serialised once.
    pub(super) fn broadcast(&self, room: &str, msg: &ServerMsg, except: Option<&str>) {
        if self.rooms.contains_key(room) {
            self.broadcast_frame(room, &encode(msg), except);
        }
    }

    /// Sends `frame` to every member of `room` but the connections of the person `except`.
    pub(super) fn broadcast_frame(&self, room: &str, frame: &Frame, except: Option<&str>) {
        let Some(entry) = self.rooms.get(room) else {
            return;
        };
        // A member still catching up learns who is there from its `joined`, read later.
        for m in entry.members.values() {
            if Some(m.key.as_str()) != except && m.catching_up.is_none() {
                self.deliver(&m.handle, frame.clone());
            }
        }
    }
}

/// Sends a member what the fan-out held for it while its page was read, but what it has.
fn release_held(metrics: &Metrics, member: &mut Member, held: Vec<(Option<u64>, Frame)>) {
    for (seq, frame) in held {
        match seq {
            Some(seq) if seq > member.seen => {
                member.seen = seq;
                deliver(metrics, &member.handle, frame);
            }
            Some(_) => {}
            // A change: the page may have had it already, but it may as well not.
            None => deliver(metrics, &member.handle, frame),
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
