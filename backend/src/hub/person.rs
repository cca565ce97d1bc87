//! One person, several connections (docs/PROTOCOL.md, "One person, several connections"): a
//! `hello` with `attach` joins a live session instead of taking it over, and from then on the
//! person's connections share its rooms, its private messages and its read state.
//!
//! Every connection keeps a `Session` of its own (the same name, key, token and generation);
//! `State::online` lists them per name key. What belongs to the person:
//!
//! - Rooms: a join by any connection makes every connection of the person a member (each gets
//!   the same `joined`); a leave takes them all out (the others get `left`); an attached
//!   connection enters every room the person is in, its pages read with its mailbox.
//! - Presence: `Room::people` counts each person once, so the room hears `presence` when the
//!   person first comes and when its last connection goes.
//! - Private messages go to every connection of the sender and of the recipient
//!   (`fanout.rs`); what concerns the sending connection alone (a repeat, an error) goes back
//!   to it (`Draft::origin`).
//! - `read` is passed on to the person's other connections, never stored.
//!
//! On a cluster the person's connections may be on several relays: the claim counts them
//! across the cluster (`cluster.lua`), and joins, leaves and reads are told to the person's
//! other relays through the engine (`Engine::tell_person`), which brings theirs here as
//! `Event::Person`.

use shared::limits::HISTORY_LEN;
use shared::{ConversationId, ErrorCode, ServerMsg, validate};

use super::slow::JoinRead;
use super::{Attached, Handled, Refusal, State, encode, refuse};
use crate::engine::PersonNews;
use crate::outbox::ConnId;

/// The refusal of one connection too many for a person.
pub(super) fn too_many_connections(name: &str, most: usize) -> Refusal {
    Refusal {
        code: ErrorCode::Forbidden,
        message: format!(
            "'{name}' has {most} connections already, the most one person may have: close one \
             first"
        ),
    }
}

impl State {
    /// Refuses an attach past `--connections-per-name` (on one relay; a cluster's claim
    /// counts them everywhere).
    pub(super) fn within_connection_cap(&self, key: &str, name: &str) -> Handled {
        let most = self.limits.connections_per_name;
        if self.online.get(key).is_some_and(|c| c.len() >= most) {
            return Err(too_many_connections(name, most));
        }
        Ok(())
    }

    /// What an attach to the session of `holders` (this relay's connections of the person)
    /// joins: its name as held, its rooms, and how many connections it will have.
    pub(super) fn attached_here(&self, holders: &[ConnId]) -> Attached {
        let sessions = holders
            .iter()
            .filter_map(|h| self.conns.get(h)?.session.as_ref());
        let mut name = String::new();
        let mut rooms: Vec<String> = Vec::new();
        for session in sessions {
            if name.is_empty() {
                name.clone_from(&session.name);
            }
            rooms.extend(session.rooms.iter().cloned());
        }
        rooms.sort_unstable();
        rooms.dedup();
        Attached {
            connections: holders.len() + 1,
            name,
            rooms,
        }
    }

    /// An attached connection `id` enters each of its person's `rooms` (and those its
    /// siblings here are in): a member at once, catching up until its `joined`, whose pages
    /// are read with the mailbox (what this returns).
    pub(super) fn enter_rooms(&mut self, id: ConnId, mut rooms: Vec<String>) -> Vec<JoinRead> {
        let Some(session) = self.conns.get(&id).and_then(|c| c.session.as_ref()) else {
            return Vec::new();
        };
        let member = (
            session.key.clone(),
            session.name.clone(),
            session.generation,
        );
        for sibling in self.online.get(&member.0).into_iter().flatten() {
            if let Some(s) = self.conns.get(sibling).and_then(|c| c.session.as_ref()) {
                rooms.extend(s.rooms.iter().cloned());
            }
        }
        rooms.sort_unstable();
        rooms.dedup();
        rooms.retain(|r| validate::room(r).is_ok());
        rooms.truncate(self.limits.rooms_per_conn);
        let mut joins = Vec::with_capacity(rooms.len());
        for room in rooms {
            if !self.rooms.contains_key(&room) && self.rooms.len() >= self.limits.max_rooms {
                continue; // this relay has its limit of rooms
            }
            if !self.add_member(id, &room) {
                break;
            }
            joins.push(JoinRead {
                room,
                after: 0,
                bounds: (HISTORY_LEN, self.limits.page_bytes),
                member: member.clone(),
                names: self.limits.presence_limit,
            });
        }
        joins
    }

    /// Connection `id` just became a member of `room`: its person's other connections here
    /// become members too (they get the same `joined`, see `State::joined`). Returns those
    /// that became members. Its other relays are told once the join succeeded
    /// (`State::join_settled`).
    pub(super) fn join_siblings(&mut self, id: ConnId, room: &str) -> Vec<ConnId> {
        let Some(key) = self.key_of(id) else {
            return Vec::new();
        };
        let cap = self.limits.rooms_per_conn;
        let mut joined = Vec::new();
        for sibling in self.siblings(id, &key) {
            let fits = self
                .conns
                .get(&sibling)
                .and_then(|c| c.session.as_ref())
                .is_some_and(|s| !s.rooms.contains(room) && s.rooms.len() < cap);
            if fits && self.add_member(sibling, room) {
                joined.push(sibling);
            }
        }
        joined
    }

    /// A join's reads of `room` for person `key` are done (its `joined` sent, or its failure
    /// told). If the person has no connection in the room here any more (a leave, here or
    /// from another relay, came while it was being entered across the cluster, and its exit
    /// may have reached Redis before the enter), the room is left across the cluster again;
    /// else, for a join that succeeded (`tell`), the person's other relays are told.
    pub(super) fn join_settled(&mut self, room: &str, key: &str, tell: bool) {
        let here = self
            .rooms
            .get(room)
            .is_some_and(|r| r.people.contains_key(key));
        if !here {
            self.engine.exit(room, key);
        } else if tell && let Some(generation) = self.generation_here(key) {
            self.engine
                .tell_person(key, generation, PersonNews::Joined(room.to_owned()));
        }
    }

    /// Connection `id` of person `key` left `room`: so do its other connections here, each
    /// told with `left`, and its other relays are told.
    pub(super) fn leave_siblings(&mut self, id: ConnId, key: &str, room: &str) {
        self.leave_here(key, room, Some(id), None);
        if let Some(generation) = self.generation_here(key) {
            self.engine
                .tell_person(key, generation, PersonNews::Left(room.to_owned()));
        }
    }

    /// Person `key`'s connections here (but `except`; of `generation` only, if given) leave
    /// `room`, each told with `left`.
    pub(super) fn leave_here(
        &mut self,
        key: &str,
        room: &str,
        except: Option<ConnId>,
        generation: Option<u64>,
    ) {
        let left = encode(&ServerMsg::Left {
            room: room.to_owned(),
        });
        for conn in self.conns_of(key, generation) {
            if Some(conn) == except {
                continue;
            }
            let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.as_mut()) else {
                continue;
            };
            if session.rooms.remove(room) {
                self.remove_member(conn, room);
                self.send_frame(conn, left.clone());
            }
        }
    }

    /// `read`: passed on to the person's other connections (here, and on a cluster on its
    /// other relays); not stored, not answered.
    pub(super) fn read(
        &mut self,
        id: ConnId,
        (room, with): (Option<String>, Option<String>),
        seq: u64,
    ) -> Handled {
        let conversation = match (room, with) {
            (Some(room), None) => {
                validate::room(&room).or_else(|why| refuse(ErrorCode::InvalidRoom, why))?;
                ConversationId::Room { room }
            }
            (None, Some(with)) => {
                let with = validate::name(&with)
                    .or_else(|why| refuse(ErrorCode::InvalidName, why))?
                    .to_owned();
                ConversationId::With { with }
            }
            _ => return refuse(ErrorCode::BadRequest, "read needs either a room or a with"),
        };
        let session = self.session(id)?;
        let (key, generation) = (session.key.clone(), session.generation);
        let frame = encode(&ServerMsg::Read { conversation, seq });
        for sibling in self.siblings(id, &key) {
            self.send_frame(sibling, frame.clone());
        }
        self.engine
            .tell_person(&key, generation, PersonNews::Read(frame.to_string()));
        Ok(())
    }

    /// What another relay tells of person `key` (its session's `generation` there, if said):
    /// a connection of theirs there joined or left a room, or read something. Their
    /// connections here of that generation follow.
    pub(super) fn person_news(
        &mut self,
        key: &str,
        generation: Option<u64>,
        news: PersonNews,
    ) -> Option<JoinNews> {
        match news {
            PersonNews::Joined(room) => {
                if !self.rooms.contains_key(&room) && self.rooms.len() >= self.limits.max_rooms {
                    return None; // this relay has its limit of rooms: they stay out of it
                }
                let conns = self.conns_of(key, generation);
                let cap = self.limits.rooms_per_conn;
                let mut joined = Vec::new();
                for conn in conns {
                    let fits = self
                        .conns
                        .get(&conn)
                        .and_then(|c| c.session.as_ref())
                        .is_some_and(|s| !s.rooms.contains(&room) && s.rooms.len() < cap);
                    if fits && self.add_member(conn, &room) {
                        joined.push(conn);
                    }
                }
                let first = *joined.first()?;
                let session = self.conns.get(&first)?.session.as_ref()?;
                Some(JoinNews {
                    conns: joined,
                    read: JoinRead {
                        room,
                        after: 0,
                        bounds: (HISTORY_LEN, self.limits.page_bytes),
                        member: (
                            session.key.clone(),
                            session.name.clone(),
                            session.generation,
                        ),
                        names: self.limits.presence_limit,
                    },
                })
            }
            PersonNews::Left(room) => {
                self.leave_here(key, &room, None, generation);
                None
            }
            PersonNews::Read(frame) => {
                let frame = crate::outbox::Frame::from(frame);
                for conn in self.conns_of(key, generation) {
                    self.send_frame(conn, frame.clone());
                }
                None
            }
        }
    }

    /// Where what concerns a message's sender alone goes: the connection that sent it, if it
    /// still holds the name, else any connection of the sender's.
    pub(super) fn origin(&self, from_key: &str, origin: ConnId) -> Option<ConnId> {
        let conns = self.online.get(from_key)?;
        if conns.contains(&origin) {
            return Some(origin);
        }
        conns.first().copied()
    }

    /// Person `key`'s connections here, of session generation `generation` only if given.
    fn conns_of(&self, key: &str, generation: Option<u64>) -> Vec<ConnId> {
        let mut conns = self.online.get(key).cloned().unwrap_or_default();
        if let Some(generation) = generation {
            conns.retain(|c| {
                self.conns
                    .get(c)
                    .and_then(|c| c.session.as_ref())
                    .is_some_and(|s| s.generation == generation)
            });
        }
        conns
    }

    /// The generation of person `key`'s session here (its connections here share one).
    fn generation_here(&self, key: &str) -> Option<u64> {
        let conn = *self.online.get(key)?.first()?;
        Some(self.conns.get(&conn)?.session.as_ref()?.generation)
    }

    /// The name key of welcomed connection `id`.
    fn key_of(&self, id: ConnId) -> Option<String> {
        Some(self.conns.get(&id)?.session.as_ref()?.key.clone())
    }

    /// Person `key`'s connections here but `id`.
    fn siblings(&self, id: ConnId, key: &str) -> Vec<ConnId> {
        self.online
            .get(key)
            .map(|conns| conns.iter().copied().filter(|&c| c != id).collect())
            .unwrap_or_default()
    }
}

/// Connections here that entered a room because their person joined it on another relay:
/// their `joined` is read (`JoinRead`) by the hub's task for such reads.
pub(super) struct JoinNews {
    pub(super) conns: Vec<ConnId>,
    pub(super) read: JoinRead,
}

impl super::Hub {
    /// Reads the `joined` of connections that entered a room for their person's join on
    /// another relay ([`JoinNews`]), off the lock on the hub's runtime, then sends it to them.
    pub(super) fn read_news_join(self: &std::sync::Arc<Self>, join: JoinNews) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let hub = self.clone();
        runtime.spawn(async move {
            let JoinNews { conns, read } = join;
            let key = read.member.0.clone();
            let (room, page, members) = hub.read_join(read).await;
            let mut state = hub.lock();
            // The first of them still a member answers for all.
            let Some(first) = conns.iter().copied().find(|c| {
                state
                    .rooms
                    .get(&room)
                    .is_some_and(|r| r.members.contains_key(c))
            }) else {
                // All gone meanwhile: out of the room across the cluster too.
                state.join_settled(&room, &key, false);
                return;
            };
            let rest: Vec<ConnId> = conns.into_iter().filter(|&c| c != first).collect();
            let done = state.joined(first, (room.clone(), false), page, members, &rest);
            if let Err(refusal) = done {
                for conn in std::iter::once(first).chain(rest) {
                    state.error(conn, refusal.code, refusal.message.clone(), None);
                }
            }
            state.join_settled(&room, &key, false);
        });
    }
}
