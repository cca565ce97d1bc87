//! What goes into an engine's commit path and what comes out of it: [`Job`]s in, batches of
//! [`Committed`] out, in the order they were stored.

use std::time::Instant;

use shared::{ChatMessage, ErrorCode, Target};

use super::change::{ChangeJob, Place};

/// Something for the engine to store.
#[derive(Debug)]
pub enum Job {
    /// Remember a user (or a new spelling of their name), seen at `seen` (ms).
    User {
        key: String,
        name: String,
        seen: u64,
    },
    /// A user's session ended at `at` (ms): the name was in use until then.
    Seen { key: String, at: u64 },
    /// Forget a user: their name, its protection, their mailbox and their private
    /// conversations (the pairs' counters stay, so that numbering never goes back).
    Forget { key: String },
    /// Protect a user's name with this Argon2id hash (the user is remembered already).
    Protect { key: String, hash: String, at: u64 },
    /// Number and store a room message.
    Room { from_key: String, draft: Draft },
    /// Number and store a private message, and put it in the recipient's mailbox.
    Direct {
        from_key: String,
        /// The sender's address as the per-address limits count it, if known: its share of
        /// the recipient's mailbox is counted by address as well as by name.
        from_addr: Option<String>,
        to_key: String,
        draft: Draft,
    },
    /// `user` has received every message from `correspondent` up to `seq`.
    Ack {
        user_key: String,
        correspondent_key: String,
        seq: u64,
    },
    /// These mail ids of `user_key`'s mailbox were delivered to a client that does not
    /// acknowledge.
    Received { user_key: String, ids: Vec<i64> },
    /// Edit, delete or react to a stored message (`change.rs`).
    Change(ChangeJob),
}

impl Job {
    /// What tells a message's sender that it was not stored, for `reason`; nothing for the
    /// other jobs, which have nobody to tell.
    pub fn failed(self, reason: String) -> Option<Committed> {
        match self {
            Job::Room { from_key, draft }
            | Job::Direct {
                from_key, draft, ..
            } => Some(Committed::Failed {
                from_key,
                origin: draft.origin,
                cid: draft.cid,
                reason,
            }),
            Job::Change(job) => Some(Committed::Failed {
                from_key: job.by_key,
                origin: job.origin,
                cid: job.cid,
                reason,
            }),
            _ => None,
        }
    }

    /// The refusal of a change that could not be stored.
    pub fn into_failed(self) -> Option<Committed> {
        self.failed("the change could not be stored; try again".into())
    }

    /// What a message or change job counts against the queue's byte bound (0: not counted).
    pub fn cost(&self) -> usize {
        match self {
            Self::Room { draft, .. } | Self::Direct { draft, .. } => mail_cost(&draft.text),
            // Every change counts as a message, so that a flood of them fills the queue (and
            // gets `rate_limited`) instead of memory.
            Self::Change(job) => match &job.change {
                super::Change::Edit { text, .. } => mail_cost(text),
                super::Change::React { emoji, .. } => mail_cost(emoji),
                super::Change::Delete => mail_cost(""),
            },
            _ => 0,
        }
    }
}

/// The result of a job, handed on (to the fan-out) once it is stored, in the order stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    Room {
        msg: ChatMessage,
        /// When the hub took it ([`Draft::accepted`]).
        accepted: Instant,
    },
    Direct {
        from_key: String,
        to_key: String,
        /// Its mailbox row.
        mail_id: i64,
        msg: ChatMessage,
        /// When the hub took it ([`Draft::accepted`]).
        accepted: Instant,
    },
    /// An `Ack` job is stored.
    Acked {
        user_key: String,
        correspondent_key: String,
        seq: u64,
    },
    /// A `Received` job is stored.
    Removed { user_key: String, ids: Vec<i64> },
    /// A message was sent again with the `mid` of one stored already: nothing was stored, and
    /// `msg` is the original (with the repeat's `cid`), for its sender alone.
    Repeat {
        from_key: String,
        /// The connection that sent it ([`Draft::origin`]).
        origin: u64,
        msg: ChatMessage,
    },
    /// A private message was not stored because the recipient's mailbox is full; it was not
    /// numbered.
    MailboxFull {
        from_key: String,
        /// The connection that sent it ([`Draft::origin`]).
        origin: u64,
        /// The recipient as the sender spelled them.
        to: String,
        cid: Option<String>,
    },
    /// A stored message changed (`change.rs`): `msg` is its whole new state, with the
    /// conversation's new `rev`, for every member of the room or both people of the pair.
    Changed {
        place: Place,
        msg: ChatMessage,
        /// Who asked, and on which connection: their copy there carries `cid`.
        by_key: String,
        origin: u64,
        cid: Option<String>,
    },
    /// The engine refused a job for a reason its sender should hear (a reply to a message
    /// that is not there, a change to someone else's message, too many reactions): nothing
    /// was stored or numbered.
    Refused {
        from_key: String,
        /// The connection that sent it.
        origin: u64,
        cid: Option<String>,
        code: ErrorCode,
        message: String,
    },
    /// The message could not be stored, and was not numbered.
    Failed {
        from_key: String,
        /// The connection that sent it ([`Draft::origin`]).
        origin: u64,
        cid: Option<String>,
        reason: String,
    },
    /// What another relay of the cluster tells this one.
    Cluster(super::Event),
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The queue holds as many messages (or bytes) as it may.
    Full,
    /// The engine has stopped (shutdown).
    Stopped,
}

/// What an engine holds to: the commit queue and the mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    /// At most this many messages wait to be committed; past that, [`Engine::submit`](super::Engine::submit)
    /// refuses messages. Other jobs are never refused.
    pub queue_messages: usize,
    /// And at most this many bytes of them (as [`mail_cost`]).
    pub queue_bytes: usize,
    /// A private message is refused ([`Committed::MailboxFull`]) when its recipient's mailbox
    /// holds this many messages.
    pub mailbox_messages: usize,
    /// Or when it would take the mailbox past this many bytes (as [`mail_cost`]).
    pub mailbox_bytes: usize,
    /// One sender's share of a mailbox: a private message is refused too when the mail from
    /// its sender (by name, and by address) waiting in the recipient's mailbox holds this many
    /// messages, so that one sender cannot fill a mailbox for everybody else.
    pub share_messages: usize,
    /// And this many bytes.
    pub share_bytes: usize,
}

impl EngineLimits {
    /// Whether `held` messages of `held_bytes` leave room for one more of `cost` bytes.
    pub fn fits(held: (i64, i64), cost: usize, messages: usize, bytes: usize) -> bool {
        (held.0 as usize) < messages && held.1 as usize + cost <= bytes
    }
}

/// What old messages are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest this many messages of each room and each pair are kept; 0 keeps all.
    pub messages: u64,
    /// Messages older than this many milliseconds are dropped; 0 keeps them.
    pub max_age_ms: u64,
}

/// A message not yet numbered: the relay fills in who, where, what and when; the engine
/// assigns `seq`.
#[derive(Debug, Clone)]
pub struct Draft {
    pub target: Target,
    pub from: String,
    pub text: String,
    pub ts: u64,
    pub cid: Option<String>,
    /// The sender's id for the message (`mid`): a repeat of it is stored once.
    pub mid: Option<String>,
    /// When the hub took it: the start of the fan-out time (`courier_fanout_seconds`).
    pub accepted: Instant,
    /// The sender's session generation (`cluster.rs`): a clustered engine stores it only if
    /// that is still the session's. 0 on one relay.
    pub generation: u64,
    /// The connection that sent it (the hub's `ConnId`): what concerns the sender alone (a
    /// repeat, a full mailbox, a failure) goes back to it, not to the person's other
    /// connections.
    pub origin: u64,
    /// Extension (replies): the `seq` of the message of the same conversation this one
    /// answers; the engine stores its quote with it, or refuses it (`unknown_message`).
    pub reply: Option<u64>,
}

impl Draft {
    pub fn numbered(self, seq: u64) -> ChatMessage {
        ChatMessage {
            target: self.target,
            seq,
            from: self.from,
            text: self.text,
            ts: self.ts,
            cid: self.cid,
            mid: self.mid,
            ext: Default::default(),
        }
    }
}

/// What a kept message is counted as, against the mailbox bounds: its text as it goes out in
/// JSON (escapes included, so that the count matches the bytes queued) and about what the rest
/// of it (names, seq, ts, cid) and its frame take.
pub fn mail_cost(text: &str) -> usize {
    let escaped: usize = text
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum();
    escaped + 256
}

/// The two keys of a pair of users in order: how a pair is found.
pub fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}
