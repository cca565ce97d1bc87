//! The write side of the store: one thread that numbers and commits every message, many to a
//! transaction, before the hub sends any copy of them.
//!
//! The hub submits [`Job`]s through a [`CommitQueue`] (never blocking: the hub holds its lock
//! while it submits). The thread takes whatever has queued up, applies it in one transaction,
//! commits, and hands the results to the hub in order ([`Committed`]). While one transaction
//! commits the next batch gathers, so under load each commit (and each wait for the disk)
//! carries many messages: group commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use shared::ChatMessage;

use super::apply::apply_one;
use super::checkpoint::Checkpointer;
use super::{Draft, Retention, WriterConn, mail_cost};
use crate::clock::Clock;
use crate::metrics::Metrics;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 1024;

/// How often messages past their age are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Something for the writer to do.
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
    /// These mailbox rows were delivered to a client that does not acknowledge.
    Received { ids: Vec<i64> },
}

impl Job {
    /// What a message job counts against the queue's byte bound.
    fn cost(&self) -> usize {
        match self {
            Self::Room { draft, .. } | Self::Direct { draft, .. } => mail_cost(&draft.text),
            _ => 0,
        }
    }
}

/// The result of a message job, handed to the hub after its transaction committed.
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
    Removed { ids: Vec<i64> },
    /// A private message was not stored because the recipient's mailbox is full; it was not
    /// numbered.
    MailboxFull {
        from_key: String,
        /// The recipient as the sender spelled them.
        to: String,
        cid: Option<String>,
    },
    /// The message could not be stored, and was not numbered.
    Failed {
        from_key: String,
        cid: Option<String>,
        reason: String,
    },
}

/// Called on the writer thread with each committed batch, in commit order: the hub fans it out.
pub type OnCommit = Box<dyn FnMut(Vec<Committed>) + Send>;

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The queue holds as many messages (or bytes) as it may.
    Full,
    /// The writer has stopped (shutdown).
    Stopped,
}

/// The hub's handle on the writer thread.
pub struct CommitQueue {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    pending: Arc<Pending>,
    max_messages: usize,
    max_bytes: usize,
}

/// Messages submitted and not yet committed.
#[derive(Default)]
struct Pending {
    messages: AtomicUsize,
    bytes: AtomicUsize,
}

/// What the writer holds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterLimits {
    /// At most this many messages wait to be committed; past that, [`CommitQueue::submit`]
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

impl WriterLimits {
    /// Whether `held` messages of `held_bytes` leave room for one more of `cost` bytes.
    pub(super) fn fits(held: (i64, i64), cost: usize, messages: usize, bytes: usize) -> bool {
        (held.0 as usize) < messages && held.1 as usize + cost <= bytes
    }
}

/// Starts the writer thread on the store's writing connection.
///
/// # Errors
/// The thread could not be started.
pub fn spawn(
    writer: WriterConn,
    retention: Retention,
    clock: Clock,
    metrics: Arc<Metrics>,
    on_commit: OnCommit,
    limits: WriterLimits,
) -> std::io::Result<CommitQueue> {
    let (tx, rx) = mpsc::channel();
    let pending = Arc::new(Pending::default());
    let writer = Writer {
        checkpoints: Checkpointer::spawn(&writer.path)?,
        conn: writer.conn,
        _lock: writer.lock,
        retention,
        clock,
        metrics,
        pending: pending.clone(),
        limits,
    };
    let thread = std::thread::Builder::new()
        .name("courier-store".into())
        .spawn(move || writer.run(&rx, on_commit))?;
    Ok(CommitQueue {
        tx: Some(tx),
        thread: Some(thread),
        pending,
        max_messages: limits.queue_messages,
        max_bytes: limits.queue_bytes,
    })
}

impl CommitQueue {
    /// Queues `job` for the next transaction.
    ///
    /// # Errors
    /// [`Busy`] when a message would pass the queue's limits, or the writer has stopped.
    pub fn submit(&self, job: Job) -> Result<(), Busy> {
        let Some(tx) = &self.tx else {
            return Err(Busy::Stopped);
        };
        let cost = job.cost();
        if cost > 0 {
            let bytes = self.pending.bytes.load(Ordering::Relaxed);
            if self.pending.messages.load(Ordering::Relaxed) >= self.max_messages
                || bytes + cost > self.max_bytes
            {
                return Err(Busy::Full);
            }
            self.pending.messages.fetch_add(1, Ordering::Relaxed);
            self.pending.bytes.fetch_add(cost, Ordering::Relaxed);
        }
        tx.send(job).map_err(|_| Busy::Stopped)
    }

    /// Stops taking jobs; the writer commits what was queued and stops. Join the thread
    /// returned to wait for that.
    pub fn close(&mut self) -> Option<JoinHandle<()>> {
        self.tx = None;
        self.thread.take()
    }
}

/// The thread's state.
struct Writer {
    /// Fields drop in order: the checkpoints stop, then `conn` closes, then the lock goes.
    checkpoints: Checkpointer,
    conn: Connection,
    _lock: std::fs::File,
    retention: Retention,
    clock: Clock,
    metrics: Arc<Metrics>,
    pending: Arc<Pending>,
    limits: WriterLimits,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Job>, mut on_commit: OnCommit) {
        let mut last_prune = Instant::now() - PRUNE_EVERY;
        loop {
            if last_prune.elapsed() >= PRUNE_EVERY {
                self.prune_by_age();
                last_prune = Instant::now();
            }
            let first = match rx.recv_timeout(PRUNE_EVERY) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let (messages, cost) = jobs
                .iter()
                .map(Job::cost)
                .filter(|&c| c > 0)
                .fold((0, 0), |(n, bytes), c| (n + 1, bytes + c));
            let started = Instant::now();
            let committed = self.commit(jobs);
            let took = started.elapsed();
            self.metrics.commit_micros.inc_by(took.as_micros() as u64);
            self.metrics.commit_seconds.observe(took.as_secs_f64());
            self.pending.messages.fetch_sub(messages, Ordering::Relaxed);
            self.pending.bytes.fetch_sub(cost, Ordering::Relaxed);
            self.checkpoints.nudge();
            if !committed.is_empty() {
                on_commit(committed);
            }
        }
        self.checkpoints.stop();
        // Fold the log into the main file, so that the file alone is a complete copy.
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!("cannot checkpoint the database at shutdown: {e}");
        }
        tracing::debug!("the store's writer has committed everything and stopped");
    }

    /// Applies `jobs` in one transaction. If that fails, each is tried in a transaction of its
    /// own, so that one bad job fails alone.
    fn commit(&mut self, jobs: Vec<Job>) -> Vec<Committed> {
        match self.apply(&jobs) {
            Ok(done) => {
                Metrics::inc(&self.metrics.commits);
                self.count(&done);
                return done;
            }
            Err(e) => tracing::warn!(
                "a batch of {} failed to commit ({e}); retrying one by one",
                jobs.len()
            ),
        }
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            match self.apply(std::slice::from_ref(&job)) {
                Ok(mut one) => {
                    Metrics::inc(&self.metrics.commits);
                    self.count(&one);
                    done.append(&mut one);
                }
                Err(e) => {
                    tracing::error!("cannot store a message: {e}");
                    Metrics::inc(&self.metrics.commit_failures);
                    if let Some(failed) = failed(job, &e) {
                        done.push(failed);
                    }
                }
            }
        }
        done
    }

    fn count(&self, done: &[Committed]) {
        let n = done
            .iter()
            .filter(|c| matches!(c, Committed::Room { .. } | Committed::Direct { .. }))
            .count();
        self.metrics.messages_committed.inc_by(n as u64);
    }

    fn apply(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Committed>> {
        let (retention, limits) = (self.retention, self.limits);
        let tx = self.conn.transaction()?;
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            if let Some(c) = apply_one(&tx, job, retention, &limits)? {
                done.push(c);
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Drops messages older than the retained age (but no private message still waiting in
    /// a mailbox).
    fn prune_by_age(&mut self) {
        if self.retention.max_age_ms == 0 {
            return;
        }
        let cutoff = (self.clock)().saturating_sub(self.retention.max_age_ms) as i64;
        let result = self
            .conn
            .execute("DELETE FROM room_messages WHERE ts < ?1", [cutoff])
            .and_then(|rooms| {
                let direct = self.conn.execute(
                    "DELETE FROM direct_messages WHERE ts < ?1 AND NOT EXISTS (
                     SELECT 1 FROM mailbox b
                     WHERE b.low = direct_messages.low AND b.high = direct_messages.high
                       AND b.seq = direct_messages.seq)",
                    [cutoff],
                )?;
                Ok(rooms + direct)
            });
        match result {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "dropped messages past their retention age"),
            Err(e) => tracing::warn!("cannot drop old messages: {e}"),
        }
    }
}

/// The [`Committed::Failed`] that tells a message's sender it was not stored.
fn failed(job: Job, error: &rusqlite::Error) -> Option<Committed> {
    let reason = format!("the message could not be stored ({error}); it was not sent");
    match job {
        Job::Room { from_key, draft }
        | Job::Direct {
            from_key, draft, ..
        } => Some(Committed::Failed {
            from_key,
            cid: draft.cid,
            reason,
        }),
        _ => None,
    }
}
