//! The runner's audit (docs/OPS.md): who ran what on which hosts, and how each host ended.
//!
//! A connection of its own, apart from the hub's reader and the message writer, used only off
//! the async threads (`spawn_blocking`): a run's rows never wait behind the hub's lock, and
//! chat messages wait for an audit row at most as long as SQLite's write lock is held for one
//! small transaction.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use shared::ops::{HostResult, RunSummary};

use super::{StoreError, Sync, configure};

/// Runs kept; older ones are deleted as new ones start.
pub const KEPT_RUNS: usize = 1000;

/// A run as audited before anything runs.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run: String,
    pub by: String,
    pub addr: Option<String>,
    pub ts: u64,
    pub command: String,
    pub hosts: Vec<String>,
}

pub struct Audit {
    conn: Connection,
}

impl Audit {
    /// Opens the relay's database (already opened and migrated by [`super::Store::open`]) for
    /// the audit, and marks the runs that a previous relay left unfinished as done.
    ///
    /// # Errors
    /// The file cannot be opened or written.
    pub fn open(path: &Path, sync: Sync) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_error)?;
        configure(&conn, sync).map_err(open_error)?;
        let interrupted = conn
            .execute("UPDATE runs SET done = 1 WHERE done = 0", [])
            .map_err(open_error)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "runs left unfinished by the relay's last stop are marked done"
            );
        }
        Ok(Self { conn })
    }

    /// Records a run before it starts, and drops the oldest past [`KEPT_RUNS`].
    ///
    /// # Errors
    /// The database could not be written.
    pub fn started(&mut self, record: &RunRecord) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO runs (run, by_name, addr, ts, command, hosts, host_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                record.run,
                record.by,
                record.addr,
                record.ts as i64,
                record.command,
                record.hosts.join(","),
                record.hosts.len() as i64
            ],
        )?;
        let oldest_kept: Option<i64> = tx
            .query_row(
                "SELECT rowid FROM runs ORDER BY rowid DESC LIMIT 1 OFFSET ?1",
                [KEPT_RUNS as i64 - 1],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(oldest) = oldest_kept {
            tx.execute(
                "DELETE FROM run_hosts WHERE run IN (SELECT run FROM runs WHERE rowid < ?1)",
                [oldest],
            )?;
            tx.execute("DELETE FROM runs WHERE rowid < ?1", [oldest])?;
        }
        tx.commit()
    }

    /// Records how one host of `run` ended.
    ///
    /// # Errors
    /// The database could not be written.
    pub fn host(&mut self, run: &str, result: &HostResult) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO run_hosts
                 (run, host, status, exit, signal, message, ms, truncated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run,
                result.host,
                result.status.as_str(),
                result.exit,
                result.signal,
                result.message,
                result.ms as i64,
                result.truncated
            ],
        )?;
        let column = if result.status == shared::ops::HostStatus::Ok {
            "ok"
        } else {
            "failed"
        };
        tx.execute(
            &format!("UPDATE runs SET {column} = {column} + 1 WHERE run = ?1"),
            [run],
        )?;
        tx.commit()
    }

    /// Records that every host of `run` has ended.
    ///
    /// # Errors
    /// The database could not be written.
    pub fn done(&mut self, run: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("UPDATE runs SET done = 1 WHERE run = ?1", [run])?;
        Ok(())
    }

    /// The newest `limit` runs, newest first.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn recent(&mut self, limit: usize) -> rusqlite::Result<Vec<RunSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT run, by_name, ts, command, host_count, ok, failed, done
             FROM runs ORDER BY rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |row| {
            Ok(RunSummary {
                run: row.get(0)?,
                by: row.get(1)?,
                ts: row.get::<_, i64>(2)?.max(0) as u64,
                command: row.get(3)?,
                hosts: row.get::<_, i64>(4)?.max(0) as u32,
                ok: row.get::<_, i64>(5)?.max(0) as u32,
                failed: row.get::<_, i64>(6)?.max(0) as u32,
                done: row.get(7)?,
            })
        })?;
        rows.collect()
    }
}
