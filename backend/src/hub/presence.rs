//! Who is in a room, as its members hear it. In a room of up to `--presence-limit` members,
//! each coming and going is a `presence` to the others, as the core protocol has it. Past the
//! limit that would cost a frame per member per join (filling a room of N costs N²/2 frames),
//! so a bigger room counts them instead, and [`State::tell_counts`] tells its members the count
//! at most once a second (`members`). A room that shrinks back under the limit on one relay
//! sends every name with the count, and announces each coming and going again. On a cluster
//! this relay knows only its own members' names, so such a room stays counted here until it
//! empties.
//!
//! A joiner of a big room gets a few names in its `joined` ([`SAMPLE`], this relay's
//! members), then the count.

use std::sync::Arc;
use std::time::Duration;

use shared::ServerMsg;
use tokio_util::sync::CancellationToken;

use super::{Hub, State, deliver, encode};
use crate::outbox::ConnId;

/// Names in a big room's `joined`: a sample to show, not the list (it would cost every joiner
/// a frame of `--presence-limit` names, and keep their connections' buffers that large).
pub const SAMPLE: usize = 20;

/// How often the members of a big room may be told its count.
pub const COUNT_EVERY: Duration = Duration::from_secs(1);

impl Hub {
    /// Tells big rooms' members their counts every [`COUNT_EVERY`], until `stop`.
    pub async fn tell_counts(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(COUNT_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => self.lock().tell_counts(),
            }
        }
    }
}

impl State {
    /// `name` came into (`online`) or left `room`, which has `count` members since (on every
    /// relay; a person with several connections counts once): a `presence` to its members
    /// but the connections of the person `except` (a name key), or, past the limit, a count
    /// later.
    pub(super) fn came_or_went(
        &mut self,
        room: &str,
        (name, online): (&str, bool),
        count: usize,
        except: Option<&str>,
    ) {
        let limit = self.limits.presence_limit;
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        let before = std::mem::replace(&mut entry.count, count);
        if entry.counted || entry.changed || before > limit || count > limit {
            entry.changed = true;
            return;
        }
        let presence = ServerMsg::Presence {
            room: room.to_owned(),
            name: name.to_owned(),
            online,
        };
        self.broadcast(room, &presence, except);
    }

    /// Tells the members of every room whose comings and goings were counted since the last
    /// call how many members it has now (with every name if it is small again, on one relay).
    pub(super) fn tell_counts(&mut self) {
        let limit = self.limits.presence_limit;
        let clustered = self.engine.clustered();
        for (name, room) in &mut self.rooms {
            if !std::mem::take(&mut room.changed) {
                continue;
            }
            let names = (room.count <= limit && !clustered).then(|| {
                let mut names: Vec<String> =
                    room.members.values().map(|m| m.name.clone()).collect();
                names.sort_unstable();
                names.dedup();
                names
            });
            room.counted = names.is_none();
            let frame = encode(&ServerMsg::Members {
                room: name.clone(),
                count: room.count,
                members: names,
            });
            // A member still catching up hears the count after its `joined`.
            for member in room.members.values() {
                if member.catching_up.is_none() {
                    deliver(&self.metrics, &member.handle, frame.clone());
                }
            }
        }
    }

    /// What joiner `id` of `room` is told of its members: their names, sorted, from this
    /// relay's members and `elsewhere`'s; in a big room [`SAMPLE`] of this relay's, the
    /// joiner first, and then the room's count (a `members` after the `joined`).
    pub(super) fn members_for_joiner(
        &mut self,
        id: ConnId,
        room: &str,
        elsewhere: Option<(usize, Vec<String>)>,
    ) -> (Vec<String>, Option<ServerMsg>) {
        let limit = self.limits.presence_limit;
        let Some(entry) = self.rooms.get_mut(room) else {
            return (Vec::new(), None);
        };
        let (from_count, more) = elsewhere.unwrap_or_default();
        // Until this relay hears the room's comings and goings (its own entering among
        // them), the count read when entering is the best it has.
        if entry.count == 0 {
            entry.count = from_count;
        }
        let count = entry.count.max(entry.people.len());
        if entry.counted || count > limit {
            // Not every name: that would cost each joiner of a room of N a walk over N.
            let joiner = entry.members.get(&id).map(|m| &m.name);
            let others = entry.members.values().map(|m| &m.name);
            // A person's connections share its name: each name once.
            let mut names: Vec<String> = Vec::with_capacity(SAMPLE);
            for name in joiner.into_iter().chain(others) {
                if names.len() == SAMPLE {
                    break;
                }
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            names.sort_unstable();
            let told = ServerMsg::Members {
                room: room.to_owned(),
                count,
                members: None,
            };
            return (names, Some(told));
        }
        let mut names: Vec<String> = entry.members.values().map(|m| m.name.clone()).collect();
        names.extend(more);
        names.sort_unstable();
        names.dedup();
        (names, None)
    }
}
