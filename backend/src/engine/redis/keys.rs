//! The names of the engine's keys and channels, all under one prefix (the table in the
//! module's doc comment).
//!
//! Names and mids are the users' own text and may hold `:`, so the part a user chose always
//! comes last, after a fixed kind (`room-log:`, `mail:` …): no key of one kind can be spelled
//! as a key of another. A pair's two name keys are joined as `LEN:LOW:HIGH`, LEN being LOW's
//! length in bytes, so that no two pairs share a spelling either.

/// Makes key and channel names under a prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `room-seq:ROOM`: the room's last seq (a string, INCR).
    pub(super) fn room_seq(&self, room: &str) -> String {
        format!("{}room-seq:{room}", self.prefix)
    }

    /// `room-log:ROOM`: the room's messages (a sorted set, score = seq).
    pub(super) fn room_log(&self, room: &str) -> String {
        format!("{}room-log:{room}", self.prefix)
    }

    /// `room:ROOM`: the channel the room's messages are published on.
    pub(super) fn room_channel(&self, room: &str) -> String {
        format!("{}room:{room}", self.prefix)
    }

    /// `pair-seq:PAIR`: the private conversation's last seq.
    pub(super) fn pair_seq(&self, a_key: &str, b_key: &str) -> String {
        format!("{}pair-seq:{}", self.prefix, pair(a_key, b_key))
    }

    /// `pair-log:PAIR`: the private conversation's messages.
    pub(super) fn pair_log(&self, a_key: &str, b_key: &str) -> String {
        format!("{}pair-log:{}", self.prefix, pair(a_key, b_key))
    }

    /// `room-rev:ROOM` or `pair-rev:PAIR`: the conversation's last revision (changes).
    pub(super) fn rev(&self, place: &crate::engine::Place) -> String {
        match place {
            crate::engine::Place::Room(room) => format!("{}room-rev:{room}", self.prefix),
            crate::engine::Place::Pair(a, b) => format!("{}pair-rev:{}", self.prefix, pair(a, b)),
        }
    }

    /// `room-changes:ROOM` or `pair-changes:PAIR`: the changed seqs by revision.
    pub(super) fn changed(&self, place: &crate::engine::Place) -> String {
        match place {
            crate::engine::Place::Room(room) => format!("{}room-changes:{room}", self.prefix),
            crate::engine::Place::Pair(a, b) => {
                format!("{}pair-changes:{}", self.prefix, pair(a, b))
            }
        }
    }

    /// The log of a conversation.
    pub(super) fn log_of(&self, place: &crate::engine::Place) -> String {
        match place {
            crate::engine::Place::Room(room) => self.room_log(room),
            crate::engine::Place::Pair(a, b) => self.pair_log(a, b),
        }
    }

    /// `user:USER`: the channel of the private messages USER sends and receives.
    pub(super) fn user_channel(&self, user_key: &str) -> String {
        format!("{}user:{user_key}", self.prefix)
    }

    /// The room a `room:ROOM` channel is of, or the user a `user:USER` channel is of.
    pub(super) fn topic_of(&self, channel: &str) -> Option<crate::engine::Topic> {
        let rest = channel.strip_prefix(&self.prefix)?;
        if let Some(room) = rest.strip_prefix("room:") {
            Some(crate::engine::Topic::Room(room.to_owned()))
        } else {
            rest.strip_prefix("user:")
                .map(|user| crate::engine::Topic::User(user.to_owned()))
        }
    }

    /// The channel of `topic`.
    pub(super) fn channel(&self, topic: &crate::engine::Topic) -> String {
        match topic {
            crate::engine::Topic::Room(room) => self.room_channel(room),
            crate::engine::Topic::User(user) => self.user_channel(user),
        }
    }

    /// `mail:USER`: the private messages waiting for a user (a sorted set, score = mail id).
    pub(super) fn mailbox(&self, user_key: &str) -> String {
        format!("{}mail:{user_key}", self.prefix)
    }

    /// `mail-size:USER`: the mailbox's last mail id and what it holds (a hash).
    pub(super) fn mail_size(&self, user_key: &str) -> String {
        format!("{}mail-size:{user_key}", self.prefix)
    }

    /// `node:ID`: the lease of relay ID (a string with an expiry).
    pub(super) fn node(&self, id: &str) -> String {
        format!("{}node:{id}", self.prefix)
    }

    /// `nodes`: the ids of the relays that joined and have not left (a set).
    pub(super) fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// SCAN patterns matching every room's and every pair's log.
    pub(super) fn log_patterns(&self) -> [String; 2] {
        let prefix: String = self
            .prefix
            .chars()
            .flat_map(|c| {
                let escape = matches!(c, '*' | '?' | '[' | ']' | '\\');
                escape.then_some('\\').into_iter().chain([c])
            })
            .collect();
        [format!("{prefix}room-log:*"), format!("{prefix}pair-log:*")]
    }

    /// `session:USER`: the live session of USER (a hash: `node`, `gen`, `token`, `name`).
    pub(super) fn session(&self, user_key: &str) -> String {
        format!("{}session:{user_key}", self.prefix)
    }

    /// `rooms`: each room with members across the cluster → how many (a hash).
    pub(super) fn rooms(&self) -> String {
        format!("{}rooms", self.prefix)
    }

    /// `online`: each user key with a session → `NODE NAME` (a hash).
    pub(super) fn online(&self) -> String {
        format!("{}online", self.prefix)
    }

    /// `node:ID`, the channel: what other relays tell relay ID (a session that moved).
    pub(super) fn node_channel(&self, id: &str) -> String {
        format!("{}node:{id}", self.prefix)
    }

    /// `user-changes`, the channel: the key of every user protected, forgotten or claimed while
    /// protected, and the key, name and time of every unprotected user's claim.
    pub(super) fn user_changes(&self) -> String {
        format!("{}user-changes", self.prefix)
    }

    /// `pairs:USER`: the name keys of everyone USER has had a private conversation with (a
    /// set), so that forgetting USER finds their conversations.
    pub(super) fn correspondents(&self, user_key: &str) -> String {
        format!("{}pairs:{user_key}", self.prefix)
    }

    /// `users`: every known user's name key (a set).
    pub(super) fn users(&self) -> String {
        format!("{}users", self.prefix)
    }

    /// `user:USER`: a known user (a hash: `name`, `last_seen`, `password`, `password_at`,
    /// `password_outside`).
    pub(super) fn user(&self, user_key: &str) -> String {
        format!("{}user:{user_key}", self.prefix)
    }

    /// `mid:LEN:SENDER:MID`: a message id a sender used, for the dedup window.
    pub(super) fn mid(&self, sender_key: &str, mid: &str) -> String {
        format!("{}mid:{}:{sender_key}:{mid}", self.prefix, sender_key.len())
    }
}

/// A pair of name keys, in order (as `store::pair` orders them), with the first one's length.
fn pair(a: &str, b: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{}:{low}:{high}", low.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_the_same_both_ways_and_unambiguous() {
        let keys = Keys::new("courier:");
        assert_eq!(
            keys.pair_log("bob", "alice"),
            "courier:pair-log:5:alice:bob"
        );
        assert_eq!(keys.pair_log("alice", "bob"), keys.pair_log("bob", "alice"));
        // "a:b" + "c" and "a" + "b:c" would both read "a:b:c" without the length.
        assert_ne!(keys.pair_log("a:b", "c"), keys.pair_log("a", "b:c"));
        assert_ne!(keys.mid("a:b", "c"), keys.mid("a", "b:c"));
    }
}
