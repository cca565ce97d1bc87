//! `search` (docs/PROTOCOL.md, "Search (extension)"): the messages of the person's rooms and
//! of their own private conversations that contain a text, newest first.
//!
//! The handler checks the query and decides the scope under the lock: the rooms the person is
//! in here (every connection of a person is a member of the person's rooms, `person.rs`) and
//! the pairs with the person's name key. The engine reads, off the lock, only within that
//! scope ([`Reads::search`], `engine/search.rs`), like a `history` page, and [`State::found`]
//! answers. A connection handles its next frame only once this one is answered, so it has at
//! most one search under way; the frame counts against its rate like any other, and at most
//! [`SEARCHES`] run at once on the relay (others wait their turn).
//!
//! On a cluster the rooms are this relay's view of the person's: a leave here counts at once,
//! whereas Redis's `user-rooms:USER` learns of it only when the exit reaches it.
//!
//! [`Reads::search`]: crate::engine::Reads::search

use shared::limits::MAX_QUERY_CHARS;
use shared::{ChatMessage, ErrorCode, ServerMsg, Target};

use super::slow::SlowTask;
use super::{Handled, Slow, State, read_failed, refuse};
use crate::engine::{ReadError, Scope, mail_cost, pair};
use crate::outbox::ConnId;

/// Searches running at once on one relay, at most: each reads up to thousands of messages.
pub(super) const SEARCHES: usize = 2;

impl State {
    pub(super) fn search(&mut self, id: ConnId, q: String) -> Handled {
        let query = q.trim();
        if query.is_empty() {
            return refuse(ErrorCode::BadRequest, "a search needs some text");
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return refuse(
                ErrorCode::TooLong,
                format!("a search has at most {MAX_QUERY_CHARS} characters"),
            );
        }
        let session = self.session(id)?;
        let scope = Scope {
            rooms: session.rooms.iter().cloned().collect(),
            key: session.key.clone(),
        };
        let query = query.to_owned();
        self.slow = Some(Slow {
            task: SlowTask::Search { q, query, scope },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    /// Answers a search with what the engine found, less the private messages of a forgotten
    /// name's earlier holder (see `UserEntry::since`), within `--page-kib` (at least one).
    pub(super) fn found(
        &self,
        id: ConnId,
        q: String,
        found: Result<Vec<ChatMessage>, ReadError>,
    ) -> Handled {
        let found = found.map_err(|e| read_failed(&e))?;
        let key = &self.session(id)?.key;
        let mut messages = Vec::with_capacity(found.len());
        let mut bytes = 0;
        for msg in found {
            if let Target::User { to } = &msg.target {
                let other = if key_of(to) == *key {
                    key_of(&msg.from)
                } else {
                    key_of(to)
                };
                let (low, high) = pair(key, &other);
                let since = [&low, &high]
                    .iter()
                    .filter_map(|k| Some(self.users.get(k.as_str())?.since))
                    .max()
                    .unwrap_or(0);
                if msg.ts < since {
                    continue;
                }
            }
            let cost = mail_cost(&msg.text);
            if !messages.is_empty() && bytes + cost > self.limits.page_bytes {
                break;
            }
            bytes += cost;
            messages.push(msg);
        }
        self.send(id, &ServerMsg::Found { q, messages });
        Ok(())
    }
}

/// A name's key, as the pairs are keyed.
fn key_of(name: &str) -> String {
    shared::validate::name_key(name.trim())
}
