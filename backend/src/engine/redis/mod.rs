//! The Redis engine (`--redis URL`, [`RedisEngine`]) and its message log ([`RedisLog`]):
//! messages numbered and stored by Redis, history pages, mailboxes and acks, the known users,
//! what Redis's persistence settings promise, and what several relays on one Redis share to
//! act as one chat (sessions, room members, leases: `cluster.rs`; pub/sub: `feed/`;
//! docs/CLUSTER.md).
//!
//! Every message is stored by one Lua script (`lua/store.lua`), run with `EVALSHA`: it checks
//! its arguments before its first write, then increments the conversation's counter, appends
//! the message to the conversation's log, puts a private message in its recipient's mailbox,
//! remembers the sender's `mid`, trims the log and publishes the message, all atomically. Its
//! reply is the message's seq: the sender's acknowledgement waits for it, so with
//! `appendfsync always` an acknowledged message has been written and fsynced to the AOF
//! ([`RedisLog::durability`]).
//!
//! A command lost on a dropped connection, or not answered within the response timeout, comes
//! back as an error ([`RedisLogError::Redis`]) and is never resent by this module or by
//! redis-rs's `ConnectionManager` (which only reconnects, in the background). Such a message
//! may or may not have been stored: the client retries it with the same `mid`, and the
//! script answers a repeat with the original's seq without storing it again.
//!
//! # Keys
//!
//! All under a prefix ([`RedisLogConfig::prefix`], `courier:` by default). ROOM is a room's
//! name; USER, SENDER and the two users of PAIR are name keys (`validate::name_key`); PAIR is
//! `LEN:LOW:HIGH`, the two name keys in order with LOW's length in bytes (`keys.rs` says why).
//!
//! | key | type | holds | written by |
//! |---|---|---|---|
//! | `room-seq:ROOM` | string | the room's last seq | `store.lua` (INCR) |
//! | `room-log:ROOM` | sorted set | the room's messages: member the message's JSON (a `ChatMessage`, with its reply's quote, edit, deletion, reactions and `rev` once changed), score its seq; the newest [`RedisLogConfig::retention`] kept | `store.lua` (ZADD, trim); `change.lua` (rewrites an entry) |
//! | `pair-seq:PAIR` | string | the private conversation's last seq | `store.lua` (INCR) |
//! | `pair-log:PAIR` | sorted set | its messages, as for a room | `store.lua` (ZADD, trim) |
//! | `room-rev:ROOM`, `pair-rev:PAIR` | string | the conversation's last revision (edits, deletions, reactions; counted apart from seq) | `change.lua` (INCR) |
//! | `room-changes:ROOM`, `pair-changes:PAIR` | sorted set | the seqs of the conversation's changed messages, score the revision of each one's latest change (what `changes` reads); the newest [`RedisLogConfig::retention`] kept | `change.lua` (ZADD, trim); `users.rs` (DEL, with the pair's log) |
//! | `mail:USER` | sorted set | the private messages waiting for USER: score the mail id (arrival order), member a JSON object `{k: sender key, a: sender address or "", c: cost in bytes, q: seq, m: the message's JSON}` (a copy, so trimming the log never loses mail) | `store.lua` (ZADD); `ack.lua` (ZREM) |
//! | `mail-size:USER` | hash | `id`: the last mail id; `n`, `b`: the messages and bytes in the mailbox; `n:s:SENDER`, `b:s:SENDER` and `n:a:ADDR`, `b:a:ADDR`: the part of them from one sender by name and by address | `store.lua` (HINCRBY); `ack.lua` (HINCRBY, HDEL) |
//! | `node:ID` | string, expires 9 s after its last renewal | relay ID's lease (its process id) | `node.rs` (SET PX, PEXPIRE every second); `cluster.lua` (reap) |
//! | `nodes` | set | the ids of the relays that joined and were not reaped | `node.rs` (SADD); `cluster.lua` (SREM when reaped) |
//! | `session:USER` | hash | USER's live session: `node` (the id of the relay that claimed it, or of another holder once that one let go; `""` once its last relay was reaped), `gen` (its generation), `token`, `name`, `c:ID:HOLDER` for each connection of it (HOLDER: the connection's id on relay ID and its claim; several with `hello` … `attach`), and `n:ID` for each relay ID holding connections of it (how many, kept in step with the `c:` fields); expires 60 s after its last relay was reaped | `cluster.lua` (claim, release, reap) |
//! | `node-sessions:ID` | set | the users whose sessions relay ID holds | `cluster.lua` |
//! | `online` | hash | each user with a session → `NODE NAME` (for `users`) | `cluster.lua` |
//! | `members:ROOM` | hash | the room's members: user → `NODES NAME`, NODES the relays the person is in the room from, comma-separated (for `joined.members`; the person is a member while there is one) | `cluster.lua` (enter, exit, reap) |
//! | `user-rooms:USER` | set | the rooms USER is a member of (what a connection attached on another relay enters) | `cluster.lua` (enter, exit, reap) |
//! | `node-members:ID` | set | `USER\nROOM` for each membership relay ID holds, for reaping | `cluster.lua` |
//! | `rooms` | hash | each room with members → how many | `cluster.lua` |
//! | `pairs:USER` | set | the name keys of everyone USER has had a private conversation with (USER's own for notes to self): what forgetting USER clears | `store.lua` (SADD); `users.rs` (DEL) |
//! | `users` | set | every known user's name key | `users.rs` (SADD, SREM) |
//! | `user:USER` | hash | a known user: `name` (as last said), `last_seen` (ms), `since` (ms, when the name's holder first said hello: engine/change.rs), and for a protected name `password` (an Argon2id hash), `password_at` (ms), `password_outside` | `users.rs` (HSET, DEL) |
//! | `mid:LEN:SENDER:MID` | string, expires after [`RedisLogConfig::dedup_window`] | `SEQ TS LOGKEY` of the message SENDER (LEN: its length in bytes) sent with this `mid` | `store.lua` (SET EX) |
//!
//! | channel | carries | published by |
//! |---|---|---|
//! | `room:ROOM` | each stored room message's JSON; `c {r, m}` for each change to one of its messages (who asked, as JSON: relay, connection, cid, key; the message's new state as JSON); `p NODE {presence}` when a member enters or leaves on relay NODE; `t NODE {typing}` | `store.lua`; `change.lua`; `cluster.lua`; `feed/` |
//! | `user:USER` | `{f, t, i, m}` for each stored private message USER sends or receives (sender, recipient, mail id, the message's JSON); `t NODE {typing}` to USER; what a connection of USER's on relay NODE did, for USER's connections elsewhere: `j NODE/GEN ROOM` (joined), `l NODE/GEN ROOM` (left), `r NODE/GEN {read}`, GEN the session's generation there (an older relay's say `NODE` alone); `c {r, m}` for each change to a message of USER's private conversations (as for a room, with the pair's keys in `r`) | `store.lua`; `change.lua`; `feed/` |
//! | `node:ID` | `moved GEN USER`: USER's session was taken over elsewhere, with generation GEN | `cluster.lua` (claim) |
//! | `user-changes` | `KEY` of a user protected, forgotten or claimed while protected (read it); `KEY\nNAME\nMS` of an unprotected user's claim | `users.rs` (protect, forget); `cluster.lua` (claim) |
//!
//! The dedup window is 24 hours by default ([`RedisLogConfig::dedup_window`]): far longer than
//! a client's reconnect (seconds to minutes) or a Redis outage it retries through, so a retry
//! with the same `mid` is always caught. It costs memory: a `mid` key took about 220 bytes
//! (measured with a 36-character mid, expiry included), so Redis holds 24 h of them: at an
//! average of 100 messages a second with a `mid`, about 1.9 GB. A repeat within the window is
//! answered from the `mid` key alone, even after the message has been trimmed from its log.
//!
//! A log is a sorted set scored by seq rather than a stream: a page by seq (`before`, `after`)
//! is one ZREVRANGEBYSCORE and trimming one ZREMRANGEBYSCORE, while a stream's entry IDs are
//! times, so paging by seq would need a second index from seq to ID.
//!
//! One script touches keys of several conversations and users, so the engine needs one Redis
//! (with replicas if wanted), not Redis Cluster, whose slots would need hash tags.

mod audit;
pub(super) mod change;
mod cluster;
mod committer;
mod durability;
mod engine;
mod feed;
mod keys;
mod node;
mod read;
mod retain;
mod search;
mod send;
mod users;

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, Script};

pub use audit::RedisAudit;
pub use durability::{Durability, Persistence};
pub use engine::RedisEngine;
pub use node::Node;
pub use read::Mail;
pub use send::Sent;

use keys::Keys;

/// Hands `batch` to the fan-out, waiting (a millisecond at a time) while it is behind; gives
/// up once nobody listens (the relay is stopping). The committer, the feed and the lease all
/// send this way: an async task must not block on the bounded sink.
pub(super) async fn send_down(
    sink: &crate::engine::Sink,
    mut batch: Vec<crate::engine::Committed>,
) {
    loop {
        match sink.try_send(batch) {
            Ok(()) | Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return,
            Err(std::sync::mpsc::TrySendError::Full(back)) => {
                batch = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// The prefix of every key and channel, unless configured otherwise.
pub const PREFIX: &str = "courier:";

/// The script that stores one message.
const STORE_LUA: &str = include_str!("lua/store.lua");
/// The script that removes acknowledged or received mail.
const ACK_LUA: &str = include_str!("lua/ack.lua");
const CHANGE_LUA: &str = include_str!("lua/change.lua");
/// The script that keeps the cluster's sessions and rooms.
const CLUSTER_LUA: &str = include_str!("lua/cluster.lua");

/// The mailbox limits, the same rules as the SQLite store's (`engine::EngineLimits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// A private message is refused when its recipient's mailbox holds this many messages.
    pub messages: usize,
    /// Or when it would take the mailbox past this many bytes (as `engine::mail_cost`).
    pub bytes: usize,
    /// Or when the mail from its sender (by name, and by address) holds this many messages.
    pub share_messages: usize,
    /// Or would take that share past this many bytes.
    pub share_bytes: usize,
}

impl Default for MailboxLimits {
    /// The relay's defaults (`--mailbox 1000`, `--mailbox-share 100`, 1 MiB and 100 KiB).
    fn default() -> Self {
        Self {
            messages: 1000,
            bytes: 1 << 20,
            share_messages: 100,
            share_bytes: 100 << 10,
        }
    }
}

/// Where Redis is and how the log is kept there.
#[derive(Debug, Clone)]
pub struct RedisLogConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Put before every key and channel name.
    pub prefix: String,
    /// A command not answered within this fails (the connection stays; the answer, if it comes,
    /// is dropped).
    pub response_timeout: Duration,
    /// Each connection attempt fails after this.
    pub connection_timeout: Duration,
    /// How long a `mid` is remembered (at least a second).
    pub dedup_window: Duration,
    /// The newest this many messages of each room and pair are kept; 0 keeps all.
    pub retention: u64,
    /// Messages older than this many milliseconds are dropped (`retain.rs`); 0 keeps them.
    pub max_age_ms: u64,
    pub mailbox: MailboxLimits,
}

impl RedisLogConfig {
    /// The defaults for `url`: prefix `courier:`, 2 s response and connection timeouts, a 24 h
    /// dedup window, every message kept, the relay's default mailbox limits.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: PREFIX.into(),
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(2),
            dedup_window: Duration::from_secs(24 * 60 * 60),
            retention: 0,
            max_age_ms: 0,
            mailbox: MailboxLimits::default(),
        }
    }
}

/// Why the log could not do something.
#[derive(Debug, thiserror::Error)]
pub enum RedisLogError {
    #[error("cannot connect to Redis at {url}: {source}")]
    Connect { url: String, source: RedisError },
    /// Redis did not answer in time, the connection dropped, or Redis refused the command. A
    /// message being stored may or may not have been: retry it with the same `mid`.
    #[error("Redis: {0}")]
    Redis(#[from] RedisError),
    #[error("Redis answered {what} with something unexpected: {detail}")]
    Reply { what: &'static str, detail: String },
    #[error("a message kept in Redis is not a valid message: {0}")]
    Stored(#[from] serde_json::Error),
    #[error("the message cannot be stored: {0}")]
    Invalid(&'static str),
    /// The pub/sub connection failed, or did not answer in time.
    #[error("Redis's pub/sub: {0}")]
    PubSub(&'static str),
    /// The sender used this `mid` for a message to another conversation within the window.
    #[error("the message id {mid:?} was already used for another conversation")]
    MidReused { mid: String },
}

impl RedisLogError {
    /// Redis could not be reached or did not answer in time (as opposed to a refusal): the
    /// relay says `internal` and the client may retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::PubSub(_) => true,
            Self::Redis(e) => e.is_io_error() || e.is_timeout() || e.is_connection_dropped(),
            _ => false,
        }
    }
}

/// The Redis engine's message log: a reconnecting connection and the scripts. Cheap to clone;
/// clones share the connection.
#[derive(Clone)]
pub struct RedisLog {
    conn: ConnectionManager,
    /// Opens the feed's pub/sub connections.
    client: ::redis::Client,
    keys: Keys,
    store: Script,
    ack: Script,
    change: Script,
    cluster: Script,
    config: RedisLogConfig,
}

impl std::fmt::Debug for RedisLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLog")
            .field("url", &self.config.url)
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLog {
    /// Connects to Redis. The connection manager then reconnects by itself, with exponential
    /// backoff, whenever the connection drops; commands sent meanwhile fail.
    ///
    /// # Errors
    /// [`RedisLogError::Connect`] when the URL is bad or Redis cannot be reached now.
    pub async fn connect(config: RedisLogConfig) -> Result<Self, RedisLogError> {
        let connect_error = |source| RedisLogError::Connect {
            url: config.url.clone(),
            source,
        };
        let client = ::redis::Client::open(config.url.as_str()).map_err(connect_error)?;
        let manager = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.response_timeout))
            .set_connection_timeout(Some(config.connection_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(5);
        let conn = ConnectionManager::new_with_config(client.clone(), manager)
            .await
            .map_err(connect_error)?;
        Ok(Self {
            conn,
            client,
            keys: Keys::new(&config.prefix),
            store: Script::new(STORE_LUA),
            ack: Script::new(ACK_LUA),
            change: Script::new(CHANGE_LUA),
            cluster: Script::new(CLUSTER_LUA),
            config,
        })
    }

    /// A new pub/sub connection (the feed's), within the connection timeout.
    ///
    /// # Errors
    /// Redis cannot be reached.
    async fn pubsub(&self) -> Result<::redis::aio::PubSub, RedisLogError> {
        self.in_time(self.client.get_async_pubsub()).await
    }

    /// `command` (on a pub/sub connection, which has no timeout of its own), failing unless
    /// answered within the response timeout.
    ///
    /// # Errors
    /// It failed or took too long.
    async fn in_time<T>(
        &self,
        command: impl std::future::Future<Output = ::redis::RedisResult<T>>,
    ) -> Result<T, RedisLogError> {
        match tokio::time::timeout(self.config.response_timeout, command).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(RedisLogError::PubSub("no answer in time")),
        }
    }

    /// What Redis's persistence settings promise for an acknowledged message.
    ///
    /// # Errors
    /// Redis could not be asked, or answered `CONFIG GET` oddly.
    pub async fn durability(&self) -> Result<Durability, RedisLogError> {
        durability::read(&mut self.conn.clone()).await
    }
}
