//! Where messages, sequence numbers, known users and offline mail are kept.
//!
//! The hub talks to storage only through [`Store`], so a durable store can take the place of
//! [`MemoryStore`] without touching the routing. Everything a `Store` keeps is bounded: the
//! hub enforces the number of rooms and users, the store the length of history and mailboxes.

use std::collections::{HashMap, VecDeque};

use shared::{ChatMessage, Target, limits::HISTORY_LEN};

/// A message not yet numbered: the relay fills in who, where, what and when; the store
/// assigns `seq`.
#[derive(Debug, Clone)]
pub struct Draft {
    pub target: Target,
    pub from: String,
    pub text: String,
    pub ts: u64,
    pub cid: Option<String>,
}

impl Draft {
    fn numbered(self, seq: u64) -> ChatMessage {
        ChatMessage {
            target: self.target,
            seq,
            from: self.from,
            text: self.text,
            ts: self.ts,
            cid: self.cid,
        }
    }
}

/// What a kept message of `text_len` bytes is counted as, against the mailbox bounds: its text
/// and about what the rest of it (names, seq, ts, cid) and its frame take.
pub fn mail_cost(text_len: usize) -> usize {
    text_len + 256
}

/// The storage seam. Names are passed as keys (`shared::validate::name_key`) where they
/// identify a user, and as spoken where they are shown.
pub trait Store: Send {
    /// Records that `name` (key `key`) completed a hello, or updates how it is spelled.
    fn remember_user(&mut self, key: &str, name: &str);

    /// The spelling of a known user's name, if the user ever completed a hello.
    fn known_user(&self, key: &str) -> Option<&str>;

    /// How many users are known.
    fn known_users(&self) -> usize;

    /// Numbers a room message (the room's next `seq`) and keeps it.
    fn append_room(&mut self, room: &str, draft: Draft) -> ChatMessage;

    /// The room's most recent messages (at most `limit`), oldest first.
    fn room_history(&self, room: &str, limit: usize) -> Vec<ChatMessage>;

    /// Forgets a room and its history.
    fn forget_room(&mut self, room: &str);

    /// Numbers a private message between two users (keys) and keeps it.
    fn append_direct(&mut self, a: &str, b: &str, draft: Draft) -> ChatMessage;

    /// How many messages wait for `key` in its offline mailbox, and their [`mail_cost`].
    fn mailbox_usage(&self, key: &str) -> (usize, usize);

    /// The [`mail_cost`] of every offline mailbox together.
    fn mailbox_bytes(&self) -> usize;

    /// Keeps a private message for an offline user.
    fn mailbox_push(&mut self, key: &str, msg: ChatMessage);

    /// Takes every message waiting for `key`, oldest first.
    fn mailbox_take(&mut self, key: &str) -> Vec<ChatMessage>;
}

/// A [`Store`] in memory: lost when the relay stops.
#[derive(Debug, Default)]
pub struct MemoryStore {
    users: HashMap<String, String>,
    rooms: HashMap<String, RoomLog>,
    /// The last `seq` of each pair of users, keyed by the two keys in order.
    pairs: HashMap<(String, String), u64>,
    mailboxes: HashMap<String, VecDeque<ChatMessage>>,
    /// The [`mail_cost`] of every message in every mailbox.
    mailbox_bytes: usize,
}

#[derive(Debug, Default)]
struct RoomLog {
    last_seq: u64,
    /// The newest [`HISTORY_LEN`] messages.
    recent: VecDeque<ChatMessage>,
}

fn pair_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl Store for MemoryStore {
    fn remember_user(&mut self, key: &str, name: &str) {
        match self.users.get_mut(key) {
            Some(spelling) if spelling == name => {}
            Some(spelling) => name.clone_into(spelling),
            None => {
                self.users.insert(key.to_owned(), name.to_owned());
            }
        }
    }

    fn known_user(&self, key: &str) -> Option<&str> {
        self.users.get(key).map(String::as_str)
    }

    fn known_users(&self) -> usize {
        self.users.len()
    }

    fn append_room(&mut self, room: &str, draft: Draft) -> ChatMessage {
        let log = self.rooms.entry(room.to_owned()).or_default();
        log.last_seq += 1;
        let msg = draft.numbered(log.last_seq);
        if log.recent.len() == HISTORY_LEN {
            log.recent.pop_front();
        }
        log.recent.push_back(msg.clone());
        msg
    }

    fn room_history(&self, room: &str, limit: usize) -> Vec<ChatMessage> {
        let Some(log) = self.rooms.get(room) else {
            return Vec::new();
        };
        let skip = log.recent.len().saturating_sub(limit);
        log.recent.iter().skip(skip).cloned().collect()
    }

    fn forget_room(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    fn append_direct(&mut self, a: &str, b: &str, draft: Draft) -> ChatMessage {
        let last = self.pairs.entry(pair_key(a, b)).or_default();
        *last += 1;
        draft.numbered(*last)
    }

    fn mailbox_usage(&self, key: &str) -> (usize, usize) {
        self.mailboxes.get(key).map_or((0, 0), |mail| {
            (
                mail.len(),
                mail.iter().map(|m| mail_cost(m.text.len())).sum(),
            )
        })
    }

    fn mailbox_bytes(&self) -> usize {
        self.mailbox_bytes
    }

    fn mailbox_push(&mut self, key: &str, msg: ChatMessage) {
        self.mailbox_bytes += mail_cost(msg.text.len());
        self.mailboxes
            .entry(key.to_owned())
            .or_default()
            .push_back(msg);
    }

    fn mailbox_take(&mut self, key: &str) -> Vec<ChatMessage> {
        let taken: Vec<ChatMessage> = self
            .mailboxes
            .remove(key)
            .map(Vec::from)
            .unwrap_or_default();
        self.mailbox_bytes -= taken.iter().map(|m| mail_cost(m.text.len())).sum::<usize>();
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(text: &str) -> Draft {
        Draft {
            target: Target::Room { room: "r".into() },
            from: "a".into(),
            text: text.into(),
            ts: 1,
            cid: None,
        }
    }

    #[test]
    fn room_seqs_count_from_one_and_history_keeps_the_newest() {
        let mut store = MemoryStore::default();
        for i in 1..=60 {
            assert_eq!(store.append_room("r", draft(&i.to_string())).seq, i);
        }
        let history = store.room_history("r", HISTORY_LEN);
        assert_eq!(history.len(), HISTORY_LEN);
        assert_eq!(history.first().unwrap().seq, 11);
        assert_eq!(history.last().unwrap().seq, 60);
        assert_eq!(store.room_history("r", 2).first().unwrap().seq, 59);
        assert!(store.room_history("other", 50).is_empty());
    }

    #[test]
    fn a_pair_shares_one_counter_in_both_directions() {
        let mut store = MemoryStore::default();
        assert_eq!(store.append_direct("a", "b", draft("1")).seq, 1);
        assert_eq!(store.append_direct("b", "a", draft("2")).seq, 2);
        assert_eq!(store.append_direct("a", "c", draft("3")).seq, 1);
    }

    #[test]
    fn mailboxes_are_taken_once_in_order() {
        let mut store = MemoryStore::default();
        let m1 = store.append_direct("a", "b", draft("1"));
        let m2 = store.append_direct("a", "b", draft("2"));
        store.mailbox_push("b", m1);
        store.mailbox_push("b", m2);
        assert_eq!(store.mailbox_usage("b"), (2, 2 * mail_cost(1)));
        assert_eq!(store.mailbox_bytes(), 2 * mail_cost(1));
        let got: Vec<u64> = store.mailbox_take("b").iter().map(|m| m.seq).collect();
        assert_eq!(got, [1, 2]);
        assert!(store.mailbox_take("b").is_empty());
        assert_eq!(store.mailbox_bytes(), 0);
    }

    #[test]
    fn a_user_keeps_the_latest_spelling() {
        let mut store = MemoryStore::default();
        store.remember_user("alice", "Alice");
        store.remember_user("alice", "ALICE");
        assert_eq!(store.known_user("alice"), Some("ALICE"));
        assert_eq!(store.known_users(), 1);
    }
}
