//! The write side of the store: one thread that numbers and commits every message, many to a
//! transaction, before any copy of them is sent.
//!
//! [`Job`]s come in through a [`CommitQueue`] (never blocking: the hub holds its lock while it
//! submits). The thread takes whatever has queued up, applies it in one transaction, commits,
//! and sends the results down the engine's sink in order ([`Committed`]). While one
//! transaction commits the next batch gathers, so under load each commit (and each wait for
//! the disk) carries many messages: group commit.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::WriterConn;
use super::apply::apply_one;
use super::checkpoint::Checkpointer;
use super::indexer::{self, Indexer};
use super::mail_counts::MailCounts;
use crate::clock::Clock;
use crate::engine::{Backlog, Busy, Committed, EngineLimits, Job, Retention, Sink};
use crate::metrics::Metrics;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 1024;

/// How often messages past their age are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The handle on the writer thread.
pub struct CommitQueue {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    backlog: Arc<Backlog>,
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
    sink: Sink,
    limits: EngineLimits,
) -> std::io::Result<CommitQueue> {
    let (tx, rx) = mpsc::channel();
    let backlog = Arc::new(Backlog::new(limits.queue_messages, limits.queue_bytes));
    let index = Indexer::open(&writer.conn).map_err(std::io::Error::other)?;
    let writer = Writer {
        checkpoints: Checkpointer::spawn(&writer.path, metrics.clone())?,
        index,
        conn: writer.conn,
        _lock: writer.lock,
        retention,
        clock,
        metrics,
        backlog: backlog.clone(),
        limits,
        counts: MailCounts::default(),
    };
    let thread = std::thread::Builder::new()
        .name("courier-store".into())
        .spawn(move || writer.run(&rx, &sink))?;
    Ok(CommitQueue {
        tx: Some(tx),
        thread: Some(thread),
        backlog,
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
        self.backlog.admit(&job)?;
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
    /// The search index, written when there is nothing to commit.
    index: Indexer,
    conn: Connection,
    _lock: std::fs::File,
    retention: Retention,
    clock: Clock,
    metrics: Arc<Metrics>,
    backlog: Arc<Backlog>,
    limits: EngineLimits,
    /// What each mailbox holds, kept as the writer changes it.
    counts: MailCounts,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Job>, sink: &Sink) {
        let mut last_prune = Instant::now() - PRUNE_EVERY;
        loop {
            if last_prune.elapsed() >= PRUNE_EVERY {
                self.prune_by_age();
                last_prune = Instant::now();
            }
            // Commits first; the search index when nothing waits to be committed: a whole
            // chunk at once, less than that after a moment idle (indexer.rs).
            let first = if self.index.behind() {
                let idle = if self.index.chunk_behind() {
                    Duration::ZERO
                } else {
                    indexer::IDLE
                };
                match rx.recv_timeout(idle) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.index.catch_up(&mut self.conn);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv_timeout(PRUNE_EVERY) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let weight = Backlog::weigh(&jobs);
            let started = Instant::now();
            let committed = self.commit(jobs);
            let took = started.elapsed();
            self.metrics.commit_micros.inc_by(took.as_micros() as u64);
            self.metrics.commit_seconds.observe(took.as_secs_f64());
            self.backlog.release(weight);
            self.checkpoints.nudge();
            // Nobody listening any more (the relay is stopping) is no reason to stop storing.
            if !committed.is_empty() {
                let _ = sink.send(committed);
            }
            self.index.committed(&self.conn);
            while self.index.far_behind() {
                self.index.catch_up(&mut self.conn);
            }
        }
        while self.index.behind() {
            self.index.catch_up(&mut self.conn);
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
                    let reason = format!("the message could not be stored ({e}); it was not sent");
                    if let Some(failed) = job.failed(reason) {
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
        let result = self.apply_in_one(jobs);
        if result.is_err() {
            // The mailbox counts followed the changes that were rolled back.
            self.counts.forget_all();
        }
        result
    }

    fn apply_in_one(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Committed>> {
        let (retention, limits) = (self.retention, self.limits);
        let tx = self.conn.transaction()?;
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            if let Some(c) = apply_one(&tx, job, (retention, &limits), &mut self.counts)? {
                done.push(c);
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Drops the message ids past their window, and messages older than the retained age (but
    /// no private message still waiting in a mailbox).
    fn prune_by_age(&mut self) {
        let window = (self.clock)().saturating_sub(super::repeats::WINDOW_MS) as i64;
        if let Err(e) = self
            .conn
            .execute("DELETE FROM mids WHERE ts < ?1", [window])
        {
            tracing::warn!("cannot drop old message ids: {e}");
        }
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
