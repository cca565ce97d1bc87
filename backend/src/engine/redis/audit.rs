//! The runner's audit in Redis (docs/OPS.md), shared by every relay of a cluster: `runs` (a
//! list of run ids, newest first, the newest [`KEPT_RUNS`] kept), `run:RUN` (a hash: `by`,
//! `addr`, `ts`, `command`, `hosts` (comma-separated), `host_count`, `ok`, `failed`, `done`)
//! and `run-hosts:RUN` (each host → its result as JSON). The same facts as the SQLite audit's tables.
//!
//! Used from a blocking thread, like the SQLite audit, on a connection of its own (redis-rs's
//! blocking one), made again after an error. A run that its relay's death interrupted stays
//! "not done" here: another relay cannot tell it from one still running.

use std::time::Duration;

use ::redis::{Commands, Connection, RedisResult};
use shared::ops::{HostResult, HostStatus, RunSummary};

use crate::store::audit::{KEPT_RUNS, RunRecord};

/// How long a command may take.
const TIMEOUT: Duration = Duration::from_secs(2);

pub struct RedisAudit {
    client: ::redis::Client,
    conn: Option<Connection>,
    prefix: String,
}

impl RedisAudit {
    /// The audit on the Redis at `url`, under `prefix`.
    ///
    /// # Errors
    /// The URL is not one.
    pub fn open(url: &str, prefix: &str) -> RedisResult<Self> {
        Ok(Self {
            client: ::redis::Client::open(url)?,
            conn: None,
            prefix: prefix.to_owned(),
        })
    }

    /// Runs `work` on the connection, connecting first if need be; an error drops the
    /// connection, so that the next call connects again.
    fn with<T>(
        &mut self,
        work: impl FnOnce(&mut Connection, &str) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let conn = self.client.get_connection_with_timeout(TIMEOUT)?;
                conn.set_read_timeout(Some(TIMEOUT))?;
                conn.set_write_timeout(Some(TIMEOUT))?;
                conn
            }
        };
        let result = work(&mut conn, &self.prefix);
        if result.is_ok() {
            self.conn = Some(conn);
        }
        result
    }

    /// Records a run before it starts, and drops the oldest past [`KEPT_RUNS`].
    ///
    /// # Errors
    /// Redis did not answer.
    pub fn started(&mut self, record: &RunRecord) -> RedisResult<()> {
        self.with(|conn, p| {
            let run = format!("{p}run:{}", record.run);
            let fields = [
                ("by", record.by.clone()),
                ("addr", record.addr.clone().unwrap_or_default()),
                ("ts", record.ts.to_string()),
                ("command", record.command.clone()),
                ("hosts", record.hosts.join(",")),
                ("host_count", record.hosts.len().to_string()),
                ("ok", "0".into()),
                ("failed", "0".into()),
                ("done", "0".into()),
            ];
            let () = ::redis::pipe()
                .atomic()
                .hset_multiple(&run, &fields)
                .ignore()
                .lpush(format!("{p}runs"), &record.run)
                .ignore()
                .query(conn)?;
            let old: Vec<String> = conn.lrange(format!("{p}runs"), KEPT_RUNS as isize, -1)?;
            if !old.is_empty() {
                let mut pipe = ::redis::pipe();
                for id in &old {
                    pipe.del(format!("{p}run:{id}"))
                        .ignore()
                        .del(format!("{p}run-hosts:{id}"))
                        .ignore();
                }
                pipe.ltrim(format!("{p}runs"), 0, KEPT_RUNS as isize - 1)
                    .ignore();
                let () = pipe.query(conn)?;
            }
            Ok(())
        })
    }

    /// Records how one host of `run` ended.
    ///
    /// # Errors
    /// Redis did not answer.
    pub fn host(&mut self, run: &str, result: &HostResult) -> RedisResult<()> {
        let json = serde_json::to_string(result).unwrap_or_default();
        let counter = if result.status == HostStatus::Ok {
            "ok"
        } else {
            "failed"
        };
        self.with(|conn, p| {
            ::redis::pipe()
                .atomic()
                .hset(format!("{p}run-hosts:{run}"), &result.host, json)
                .ignore()
                .hincr(format!("{p}run:{run}"), counter, 1)
                .ignore()
                .query(conn)
        })
    }

    /// Records that every host of `run` has ended.
    ///
    /// # Errors
    /// Redis did not answer.
    pub fn done(&mut self, run: &str) -> RedisResult<()> {
        self.with(|conn, p| conn.hset(format!("{p}run:{run}"), "done", 1))
    }

    /// The newest `limit` runs, newest first.
    ///
    /// # Errors
    /// Redis did not answer.
    pub fn recent(&mut self, limit: usize) -> RedisResult<Vec<RunSummary>> {
        self.with(|conn, p| {
            let ids: Vec<String> = conn.lrange(format!("{p}runs"), 0, limit as isize - 1)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut pipe = ::redis::pipe();
            for id in &ids {
                pipe.hgetall(format!("{p}run:{id}"));
            }
            let rows: Vec<std::collections::HashMap<String, String>> = pipe.query(conn)?;
            Ok(ids
                .into_iter()
                .zip(rows)
                .filter(|(_, row)| !row.is_empty())
                .map(|(run, row)| {
                    let number = |f: &str| row.get(f).and_then(|v| v.parse().ok()).unwrap_or(0);
                    RunSummary {
                        run,
                        by: row.get("by").cloned().unwrap_or_default(),
                        ts: number("ts"),
                        command: row.get("command").cloned().unwrap_or_default(),
                        hosts: number("host_count") as u32,
                        ok: number("ok") as u32,
                        failed: number("failed") as u32,
                        done: number("done") != 0,
                    }
                })
                .collect())
        })
    }
}
