//! What other relays of a cluster tell this one (`engine::Event`, down the sink with the
//! stored messages): someone entered or left a room there, a session moved there, a user's
//! record changed, or this relay was reaped. Called on the fan-out's thread.

use shared::limits::close;

use super::State;
use crate::engine::{Event, Topic, User};
use crate::outbox::Frame;

impl State {
    pub(super) fn cluster_event(&mut self, event: Event, now: u64) {
        match event {
            Event::Presence {
                room,
                name,
                online,
                count,
            } => {
                // Never to the one it is about (their own entering comes back this way too).
                let key = shared::validate::name_key(&name);
                let Some(known) = self.rooms.get(&room).map(|r| r.count) else {
                    return;
                };
                let count = count.unwrap_or(if online {
                    known + 1
                } else {
                    known.saturating_sub(1)
                });
                self.came_or_went(&room, (&name, online), count, Some(&key));
            }
            Event::Moved { key, generation } => {
                // Every connection of the person here.
                for conn in self.online.get(&key).cloned().unwrap_or_default() {
                    let older = self
                        .conns
                        .get(&conn)
                        .and_then(|c| c.session.as_ref())
                        .is_some_and(|s| s.generation < generation);
                    if older {
                        tracing::info!(conn, %key, "session taken over on another relay");
                        self.end_session(conn, now);
                        if let Some(c) = self.conns.get(&conn) {
                            c.handle.close(close::NORMAL);
                        }
                    }
                }
            }
            Event::User { key, user } => self.user_changed(key, user),
            Event::Seen { key, name, at } => self.user_seen(key, name, at),
            Event::Typing { topic, frame } => match topic {
                Topic::Room(room) => {
                    // Not to the typist's own connections here (a person with several).
                    let typist = serde_json::from_str::<serde_json::Value>(&frame)
                        .ok()
                        .and_then(|v| Some(shared::validate::name_key(v["name"].as_str()?)));
                    self.broadcast_frame(&room, &Frame::from(frame), typist.as_deref());
                }
                Topic::User(key) => {
                    let frame = Frame::from(frame);
                    for conn in self.online.get(&key).cloned().unwrap_or_default() {
                        self.send_frame(conn, frame.clone());
                    }
                }
            },
            Event::Person {
                key,
                generation,
                news,
            } => {
                if let Some(join) = self.person_news(&key, generation, news) {
                    self.news_joins.push(join);
                }
            }
            Event::Evicted => {
                let sessions: Vec<_> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.session.is_some())
                    .map(|(&id, _)| id)
                    .collect();
                tracing::warn!(
                    sessions = sessions.len(),
                    "ending every session: this relay was reaped"
                );
                for id in sessions {
                    self.end_session(id, now);
                    if let Some(c) = self.conns.get(&id) {
                        c.handle.close(close::TRY_AGAIN_LATER);
                    }
                }
            }
        }
    }

    /// An unprotected user claimed their name on some relay (this one included) at `at`:
    /// known here from now on, last seen then. A password known here stays: the claim says
    /// none was in Redis then, which a protection on its way there does not contradict.
    pub(super) fn user_seen(&mut self, key: String, name: String, at: u64) {
        if self.forgotten.get(&key).is_some_and(|&forgot| at <= forgot) {
            return; // claimed before this relay's forgetting of the name: stale
        }
        let entry = self.users.entry(key).or_default();
        entry.name = name;
        entry.last_seen = entry.last_seen.max(at);
    }

    /// A claim found `key` protected with `hash` since `at` (by `courier passwd` if
    /// `outside`), ahead of the news of it (`user_changed`). A newer password known here stays.
    ///
    /// A user this relay had not heard of at all counts as seen `now`: with no time seen, the
    /// hello that follows would find the name idle past `--name-idle-days`, forget it, and
    /// let the claim take it without its password.
    pub(super) fn learn_password(
        &mut self,
        key: &str,
        name: &str,
        (hash, at): (String, u64),
        outside: bool,
        now: u64,
    ) {
        let entry = self.users.entry(key.to_owned()).or_default();
        if entry.name.is_empty() {
            name.clone_into(&mut entry.name);
        }
        if entry.last_seen == 0 {
            entry.last_seen = now;
        }
        if entry.password.is_none() || entry.password_at < at {
            entry.password = Some(hash);
            entry.password_at = at;
            entry.password_outside = outside;
        }
    }

    /// A user's record as the cluster has it now: remembered, protected or forgotten on some
    /// relay (this one included).
    pub(super) fn user_changed(&mut self, key: String, user: Option<User>) {
        let Some(user) = user else {
            if !self.online.contains_key(&key) {
                self.users.remove(&key);
            }
            return;
        };
        if let Some(&at) = self.forgotten.get(&key)
            && user.last_seen <= at
            && user.password_at <= at
        {
            // Read before this relay's forgetting of the name reached Redis: stale.
            return;
        }
        let entry = self.users.entry(key).or_default();
        entry.name = user.name;
        entry.password = user.password;
        entry.password_at = user.password_at;
        entry.password_outside = user.password_outside;
        entry.last_seen = entry.last_seen.max(user.last_seen);
    }
}
