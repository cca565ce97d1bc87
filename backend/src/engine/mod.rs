//! The engine: where the chat's messages, known users and mailboxes are kept, behind one
//! interface that the hub is given (`server.rs` picks and starts it).
//!
//! Data flows one way through it. The hub hands it [`Job`]s ([`Engine::submit`], which never
//! blocks); the engine numbers and stores them, and sends each stored batch, in the order
//! stored, down the [`Sink`] it was started with. Whoever holds the sink's other end (the
//! fan-out, `hub/fanout.rs`) sends the messages on. The engine never calls the hub.
//!
//! History pages and mailboxes are read through [`Reads`] ([`Engine::reads`]), off the hub's
//! lock: the connection that asked awaits the read, and the hub finishes the frame with its
//! answer (`hub/slow.rs`). Only [`Engine::user`] is answered under the lock.
//!
//! Two engines implement it: SQLite (`store::Sqlite`, the default: one relay on one file) and
//! Redis (`redis::RedisEngine`, `--redis URL`: for now also one relay, see docs/CLUSTER.md).

mod backlog;
pub mod change;
pub mod cluster;
mod job;
mod read;
pub mod redis;
pub mod search;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

pub use backlog::Backlog;
pub use change::{Change, ChangeJob, Place};
pub use cluster::{Claim, ClaimMode, Claimed, Entered, Event, NodeView, PersonNews};
pub use job::{Busy, Committed, Draft, EngineLimits, Job, Retention, mail_cost, pair};
pub use read::{Mail, Page, User};
pub use search::Scope;
use shared::ChatMessage;

/// Where an engine sends each stored batch, in the order stored. Bounded ([`SINK_BATCHES`]):
/// an engine that stores faster than the fan-out sends waits for it, so the messages taken and
/// not yet sent stay bounded, and senders get `rate_limited` when the queue is full.
pub type Sink = SyncSender<Vec<Committed>>;

/// How many stored batches may wait for the fan-out.
pub const SINK_BATCHES: usize = 64;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot read from Redis: {0}")]
    Redis(#[from] redis::RedisLogError),
    /// The read's own thread ended without an answer (it panicked).
    #[error("the read stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// Where the chat is kept: the commit path and the reads. See the module's doc.
pub trait Engine: Send {
    /// The users who ever completed a hello, as known at start; asked once, by the hub.
    fn take_users(&mut self) -> Vec<User>;

    /// Queues `job` to be stored; its result comes down the sink. Never blocks.
    ///
    /// # Errors
    /// [`Busy`] when a message would pass the queue's limits, or the engine has stopped.
    fn submit(&self, job: Job) -> Result<(), Busy>;

    /// The engine's read side, for reads done off the hub's lock.
    fn reads(&self) -> Arc<dyn Reads>;

    /// The user `key` as stored now, if known (a password set by `courier passwd` while the
    /// relay runs shows here).
    ///
    /// # Errors
    /// The store could not be read.
    fn user(&mut self, key: &str) -> Result<Option<User>, ReadError>;

    /// Several relays share this engine as one chat: names are claimed, rooms entered and
    /// listed through it (`cluster.rs`). False on one relay, where the hub alone knows.
    fn clustered(&self) -> bool {
        false
    }

    /// The engine stores replies, edits, deletions and reactions (the changes extension).
    fn keeps_changes(&self) -> bool {
        true
    }

    /// The connection `holder` ([`Claim::holder`]) of the session of `key` ended here, or its
    /// claim failed (clustered engines only).
    fn release(&self, _key: &str, _holder: &str) {}

    /// The session of `key` left `room` here (clustered engines only).
    fn exit(&self, _room: &str, _key: &str) {}

    /// Why the engine cannot store messages now (Redis gone), for `/healthz`; `None` when it
    /// can.
    fn trouble(&self) -> Option<String> {
        None
    }

    /// This relay as a node of a cluster (clustered engines only), for /healthz and /metrics.
    fn node(&self) -> Option<NodeView> {
        None
    }

    /// Tells the other relays' members of `topic` that someone here is typing (`frame`, the
    /// `typing` frame as sent); never stored (clustered engines only).
    fn typing(&self, _topic: Topic, _frame: String) {}

    /// Tells the other relays with connections of person `key` what one of its connections
    /// here did (clustered engines only: on one relay the hub knows them all).
    fn tell_person(&self, _key: &str, _generation: u64, _news: PersonNews) {}

    /// This relay no longer has anyone in `topic` (a room emptied, a session ended): what is
    /// stored there need not come down the sink any more. The SQLite engine sends everything
    /// it stores, so it ignores this.
    fn unfollow(&self, _topic: Topic) {}

    /// Stops taking jobs. Every job already taken is still stored and sent down the sink;
    /// [`Closed::wait`] waits for that.
    fn close(&mut self) -> Closed;
}

/// A read's answer, to be awaited off the hub's lock.
pub type Reading<'a, T> = Pin<Box<dyn Future<Output = Result<T, ReadError>> + Send + 'a>>;

/// What an engine reads back: history pages and mailboxes. Each read is bounded in rows and in
/// bytes; none is made under the hub's lock (see `hub/slow.rs`).
pub trait Reads: Send + Sync {
    /// The newest `limit` messages of `room` with `after < seq < before` (`before` absent: no
    /// upper bound), and the room's last seq, read together. The page stops early, saying
    /// `more`, once its messages reach `max_bytes` (as [`mail_cost`] counts them; at least one
    /// message).
    fn room_page<'a>(
        &'a self,
        room: &'a str,
        after: u64,
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Reading<'a, Page>;

    /// The same for the private conversation of the pair `(low, high)` (see [`pair`]).
    fn direct_page<'a>(
        &'a self,
        pair: (&'a str, &'a str),
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Reading<'a, Page>;

    /// The messages of `place` changed after revision `rev` (edited, deleted, reacted to), in
    /// their state now, by revision ascending: at most `limit`, and whether there were more.
    fn changes<'a>(&'a self, place: &'a Place, rev: u64, limit: usize) -> Reading<'a, Page>;

    /// Every private message `key` has not received yet, in the order they came in.
    fn mailbox<'a>(&'a self, key: &'a str) -> Reading<'a, Vec<Mail>>;

    /// The messages in `scope` whose text contains `query` (trimmed, 1 to `MAX_QUERY_CHARS`
    /// characters), newest first, at most `SEARCH_LEN`, as `history` gives them
    /// (`search.rs`). Never a message outside `scope`.
    fn search<'a>(&'a self, scope: &'a Scope, query: &'a str) -> Reading<'a, Vec<ChatMessage>>;

    /// Makes sure that every message stored in `topic` from now on comes down the sink,
    /// whichever relay stored it; called before a join's page or a session's mailbox is read,
    /// so that what the read misses the fan-out brings. Ready at once where the sink gets
    /// everything anyway (SQLite: one relay).
    fn follow(&self, _topic: Topic) -> Reading<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Claims a name across the cluster (clustered engines only).
    fn claim(&self, _claim: Claim) -> Reading<'_, Claimed> {
        Box::pin(std::future::ready(Ok(Claimed::Ok {
            generation: 0,
            by_token: false,
        })))
    }

    /// Enters the session `(key, name, generation)` in `room` across the cluster, and says
    /// how many members the room has there, and all their names if there are at most `most`
    /// (`None` when not clustered, or when the session moved meanwhile).
    fn enter<'a>(
        &'a self,
        _room: &'a str,
        _member: (&'a str, &'a str, u64),
        _most: usize,
    ) -> Reading<'a, Option<Entered>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The user `key` as the cluster knows them (clustered engines only: one relay knows
    /// its users already).
    fn known(&self, _key: &str) -> Reading<'_, Option<User>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The rooms with members across the cluster, and how many (clustered engines only).
    fn rooms(&self) -> Reading<'_, Vec<(String, usize)>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// The names online across the cluster (clustered engines only).
    fn online(&self) -> Reading<'_, Vec<String>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
}

/// Where a relay has someone, and so wants what is stored: a room with members here, or a
/// user (by name key) with a session here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    Room(String),
    User(String),
}

/// An engine that is finishing what it took; see [`Engine::close`].
#[must_use = "wait for the engine to finish"]
pub struct Closed(Finishing);

enum Finishing {
    Thread(Option<JoinHandle<()>>),
    /// Says (or drops its sender) when the engine has finished.
    Signal(std::sync::mpsc::Receiver<()>),
}

impl Closed {
    /// What `thread` finishing means that the engine has finished.
    pub fn thread(thread: Option<JoinHandle<()>>) -> Self {
        Self(Finishing::Thread(thread))
    }

    /// The engine has finished when `done` says so, or its sender is dropped.
    pub fn signal(done: std::sync::mpsc::Receiver<()>) -> Self {
        Self(Finishing::Signal(done))
    }

    /// Blocks until the engine has stored and handed on everything it took.
    pub fn wait(self) {
        match self.0 {
            Finishing::Thread(Some(thread)) => {
                if thread.join().is_err() {
                    tracing::error!("the engine's thread panicked");
                }
            }
            Finishing::Thread(None) => {}
            Finishing::Signal(done) => {
                let _ = done.recv();
            }
        }
    }
}
