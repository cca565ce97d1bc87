//! Where messages, sequence numbers, known users and mailboxes are kept: one SQLite file.
//!
//! [`Store::open`] opens (or creates) the file, checks it and brings its schema up to date. It
//! yields two connections to it:
//! - a [`Reader`], which the hub queries under its lock (history, mailboxes). In WAL mode a
//!   reader never waits for the writer.
//! - the writer, which [`writer::spawn`] moves to a thread of its own. Every message goes
//!   through it: it numbers the message and commits it, many to a transaction (group
//!   commit), and only then hands the batch back to the hub to be sent. So a copy of a message
//!   always means the message is stored, and seqs are assigned in the transaction that stores
//!   them.

mod apply;
pub mod audit;
mod changes;
mod checkpoint;
mod engine;
mod indexer;
mod mail_counts;
mod outside;
mod reader;
mod repeats;
mod schema;
mod search;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::engine::User;
pub use engine::Sqlite;
pub use outside::{OutsideUsers, set_password};
use reader::Reader;

/// How hard each commit tries to reach the disk (SQLite's `synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sync {
    /// Every commit is on disk before its messages are sent: nothing acknowledged is lost
    /// even if the machine loses power.
    Full,
    /// Commits survive the relay crashing or being killed, but the last ones may be lost if
    /// the machine itself goes down.
    Normal,
    /// No waiting for the disk at all; for benchmarks.
    Off,
}

/// Why the store cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {path} for the database: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database {path} is damaged: {detail}; restore it from a backup, or move it away to start afresh"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} is in use by another relay (it holds {lock}); stop that relay, or \
         give this one another --db"
    )]
    InUse { path: PathBuf, lock: PathBuf },
    #[error("cannot lock the database {path} through {lock}: {source}")]
    Lock {
        path: PathBuf,
        lock: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database {path} has schema version {found}, which this relay does not know (it \
         knows 0 to {known}); use the relay that wrote it, or another --db"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
}

/// An opened, migrated database: its reader and its (not yet started) writer.
pub struct Store {
    pub path: PathBuf,
    reader: Reader,
    /// A second read-only connection, for searches alone: a search reads far more than a page,
    /// and must not hold up the reads (and the hellos) that take turns on `reader`.
    searcher: Reader,
    writer: Connection,
    /// Held until the writer's thread ends; see [`lock`].
    lock: std::fs::File,
    /// Every user who completed a hello, read at open.
    users: Vec<User>,
}

/// The writing connection, for [`writer::spawn`] only, with the lock that keeps other relays
/// off the file for as long as it is open.
pub struct WriterConn {
    conn: Connection,
    lock: std::fs::File,
    path: PathBuf,
}

impl Store {
    /// Opens the database at `path`, creating it (and its directory) if missing.
    ///
    /// # Errors
    /// [`StoreError`] when the directory cannot be created, the file is not a database or is
    /// damaged, cannot be written, or comes from a newer relay.
    pub fn open(path: &Path, sync: Sync) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let lock = lock(&path)?;
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(open_error)?;
        configure(&writer, sync).map_err(open_error)?;
        migrate(&mut writer, &path)?;
        let read_only = || {
            Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .and_then(|conn| {
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(conn)
            })
            .map(Reader::new)
            .map_err(open_error)
        };
        let mut reader = read_only()?;
        let searcher = read_only()?;
        check_integrity(&writer, &path)?;
        let users = reader.users().map_err(open_error)?;
        Ok(Self {
            path,
            reader,
            searcher,
            writer,
            lock,
            users,
        })
    }

    /// The parts: the reader and the searcher for the hub, the writer for [`writer::spawn`].
    pub fn split(self) -> (Reader, Reader, WriterConn) {
        let writer = WriterConn {
            conn: self.writer,
            lock: self.lock,
            path: self.path,
        };
        (self.reader, self.searcher, writer)
    }

    /// The users who ever completed a hello, as read at open.
    pub fn take_users(&mut self) -> Vec<User> {
        std::mem::take(&mut self.users)
    }
}

/// Takes `<path>.lock`, so that a second relay on the same file stops at start-up instead of
/// numbering messages that this one numbers too. The lock (flock) belongs to the open file and
/// goes away with it, so a killed relay leaves nothing to clean up.
fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock = PathBuf::from(name);
    let error = |source| StoreError::Lock {
        path: path.to_path_buf(),
        lock: lock.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: path.to_path_buf(),
            lock,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(error(source)),
    }
}

/// WAL (readers and the writer do not block each other), the chosen durability, and a wait
/// rather than an error if another connection holds a lock for a moment.
fn configure(conn: &Connection, sync: Sync) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Reading the journal mode is the first read of the file: a file that is not a database
    // fails here, with SQLite's own "file is not a database".
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "the database is not in WAL mode; readers may wait for writes");
    }
    let level = match sync {
        Sync::Full => "FULL",
        Sync::Normal => "NORMAL",
        Sync::Off => "OFF",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {level};"))?;
    // Checkpoints run on a thread of their own (`checkpoint.rs`); SQLite's own, inside a
    // commit, only if that thread falls far behind. The log is cut back to 64 MiB after one.
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
        checkpoint::WRITER_FALLBACK_PAGES,
        64 * 1024 * 1024
    ))?;
    Ok(())
}

/// SQLite's `quick_check`: every page of the file is read and its structure checked, so a
/// damaged file stops the relay now, naming it, instead of failing requests later. It reads
/// the whole file once (about a second per GB).
fn check_integrity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let damaged = |detail: String| StoreError::Damaged {
        path: path.to_path_buf(),
        detail,
    };
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| damaged(e.to_string()))?;
    let problems: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| damaged(e.to_string()))?;
    if problems == ["ok"] {
        Ok(())
    } else {
        Err(damaged(problems.join("; ")))
    }
}

/// Applies the migrations the file has not had yet. The write transaction is taken even when
/// there is nothing to do, so a file that cannot be written is found now, not at the first
/// message.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_error)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(open_error)?;
    let known = schema::MIGRATIONS.len();
    if version < 0 || version as usize > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(open_error)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(open_error)?;
        tracing::info!(path = %path.display(), version = i + 1, "database migrated");
    }
    // Written even when unchanged: a read-only file or directory fails here.
    tx.pragma_update(None, "user_version", known as i64)
        .map_err(open_error)?;
    tx.commit().map_err(open_error)
}
