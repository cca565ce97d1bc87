//! The engine: where the chat's messages, known users and mailboxes are kept, behind one
//! interface that the hub is given (`server.rs` picks and starts it).
//!
//! Data flows one way through it. The hub hands it [`Job`]s ([`Engine::submit`], which never
//! blocks); the engine numbers and stores them, and sends each stored batch, in the order
//! stored, down the [`Sink`] it was started with. Whoever holds the sink's other end (the
//! fan-out, `hub/fanout.rs`) sends the messages on. The engine never calls the hub.
//!
//! Reads ([`Engine::room_page`], [`Engine::direct_page`], [`Engine::mailbox`],
//! [`Engine::user`]) are answered at once, under the hub's lock: each is bounded in rows and
//! in bytes.
//!
//! The one engine today is SQLite (`store::Sqlite`): a single relay on one file.

mod job;
mod read;

use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

pub use job::{Busy, Committed, Draft, EngineLimits, Job, Retention, mail_cost, pair};
pub use read::{Mail, Page, User};

/// Where an engine sends each stored batch, in the order stored.
pub type Sink = Sender<Vec<Committed>>;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
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

    /// The newest `limit` messages of `room` with `after < seq < before` (`before` absent: no
    /// upper bound), and the room's last seq, read together. The page stops early, saying
    /// `more`, once its messages reach `max_bytes` (as [`mail_cost`] counts them; at least one
    /// message).
    ///
    /// # Errors
    /// The store could not be read.
    fn room_page(
        &mut self,
        room: &str,
        after: u64,
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Result<Page, ReadError>;

    /// The same for the private conversation of the pair `(low, high)` (see [`pair`]).
    ///
    /// # Errors
    /// The store could not be read.
    fn direct_page(
        &mut self,
        pair: (&str, &str),
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Result<Page, ReadError>;

    /// Every private message `key` has not received yet, in the order they came in.
    ///
    /// # Errors
    /// The store could not be read.
    fn mailbox(&mut self, key: &str) -> Result<Vec<Mail>, ReadError>;

    /// The user `key` as stored now, if known (a password set by `courier passwd` while the
    /// relay runs shows here).
    ///
    /// # Errors
    /// The store could not be read.
    fn user(&mut self, key: &str) -> Result<Option<User>, ReadError>;

    /// Stops taking jobs. Every job already taken is still stored and sent down the sink;
    /// [`Closed::wait`] waits for that.
    fn close(&mut self) -> Closed;
}

/// An engine that is finishing what it took; see [`Engine::close`].
#[must_use = "wait for the engine to finish"]
pub struct Closed(Option<JoinHandle<()>>);

impl Closed {
    /// What `thread` finishing means that the engine has finished.
    pub fn thread(thread: Option<JoinHandle<()>>) -> Self {
        Self(thread)
    }

    /// Blocks until the engine has stored and handed on everything it took.
    pub fn wait(self) {
        if let Some(thread) = self.0
            && thread.join().is_err()
        {
            tracing::error!("the engine's thread panicked");
        }
    }
}
