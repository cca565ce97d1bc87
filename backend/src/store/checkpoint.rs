//! Folding the write-ahead log back into the database file, on a thread of its own.
//!
//! A checkpoint copies the log's pages into the file and waits for the disk, which can take
//! tens of milliseconds. Left to SQLite it would run inside whichever commit filled the log,
//! on the writer's thread, and every message in that batch (and every batch queued behind it)
//! would wait for it. Here a passive checkpoint runs beside the writer instead: it never blocks
//! a commit, and the writer goes on appending to the log while it runs.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::metrics::Metrics;

/// At most one checkpoint this often, and only after something was committed.
const EVERY: Duration = Duration::from_millis(500);

/// If checkpoints here fall behind, SQLite's own checkpoint on the writer's thread steps in once
/// the log holds this many pages (about 40 MB); see `configure`.
pub const WRITER_FALLBACK_PAGES: u32 = 10_000;

/// The checkpointing thread; stopped by [`Checkpointer::stop`] or when dropped.
pub struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to `path`.
    ///
    /// # Errors
    /// The connection could not be opened, or the thread started.
    pub fn spawn(path: &Path, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(std::io::Error::other)?;
        let (nudge, nudged) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("courier-checkpoint".into())
            .spawn(move || run(&conn, &nudged, &metrics))?;
        Ok(Self {
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// Something was committed: a checkpoint is due within [`EVERY`]. Never blocks.
    pub fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            match nudge.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => {
                    tracing::warn!("the checkpoint thread has stopped");
                }
            }
        }
    }

    /// Stops the thread, after the checkpoint under way (if any).
    pub fn stop(&mut self) {
        self.nudge = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the checkpoint thread panicked");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &Connection, nudged: &Receiver<()>, metrics: &Metrics) {
    let mut last = Instant::now() - EVERY;
    // One checkpoint per wake-up: nudges that come meanwhile, or while one runs, are folded
    // into the next. (Every commit nudges: waking on the next nudge instead of at `due` made
    // it a checkpoint per commit, 18 % of the relay's CPU under load.)
    while nudged.recv().is_ok() {
        let due = last + EVERY;
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            match nudged.recv_timeout(due - now) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        last = Instant::now();
        Metrics::inc(&metrics.checkpoints);
        // PASSIVE: copies what no reader still needs, waits for no lock, blocks no writer.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        }) {
            Ok((log, done)) => tracing::trace!(log, done, "checkpoint"),
            Err(e) => tracing::warn!("cannot checkpoint the database: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every commit nudges; a burst of nudges makes one checkpoint at once and at most one more
    /// per `EVERY`, not one per nudge.
    #[test]
    fn nudges_within_the_interval_fold_into_one_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        let metrics = Arc::new(Metrics::default());
        let mut checkpoints = Checkpointer::spawn(&path, metrics.clone()).unwrap();
        let started = Instant::now();
        for _ in 0..50 {
            checkpoints.nudge();
            std::thread::sleep(Duration::from_millis(2));
        }
        // Well inside one interval (50 nudges take about 100 ms): the first checkpoint runs at
        // once, the next is not due yet. Before, each nudge ended the wait: about 25.
        if started.elapsed() < EVERY {
            assert!(
                metrics.checkpoints.get() <= 1,
                "{}",
                metrics.checkpoints.get()
            );
        }
        checkpoints.stop();
        assert!(metrics.checkpoints.get() <= 2);
    }
}
