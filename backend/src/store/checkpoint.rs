//! Folding the write-ahead log back into the database file, on a thread of its own.
//!
//! A checkpoint copies the log's pages into the file and waits for the disk, which can take
//! tens of milliseconds. Left to SQLite it would run inside whichever commit filled the log,
//! on the writer's thread, and every message in that batch (and every batch queued behind it)
//! would wait for it. Here a passive checkpoint runs beside the writer instead: it never blocks
//! a commit, and the writer goes on appending to the log while it runs.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

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
    pub fn spawn(path: &Path) -> std::io::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(std::io::Error::other)?;
        let (nudge, nudged) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("courier-checkpoint".into())
            .spawn(move || run(&conn, &nudged))?;
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

fn run(conn: &Connection, nudged: &Receiver<()>) {
    let mut last = Instant::now() - EVERY;
    // One checkpoint per wake-up: nudges that come while one runs are folded into the next.
    while nudged.recv().is_ok() {
        let due = last + EVERY;
        let now = Instant::now();
        if due > now {
            match nudged.recv_timeout(due - now) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        last = Instant::now();
        // PASSIVE: copies what no reader still needs, waits for no lock, blocks no writer.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        }) {
            Ok((log, done)) => tracing::trace!(log, done, "checkpoint"),
            Err(e) => tracing::warn!("cannot checkpoint the database: {e}"),
        }
    }
}
