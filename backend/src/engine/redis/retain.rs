//! `--retain-days` on Redis: every minute, the messages older than the retained age are
//! dropped from the head of each room's and pair's log. A log is ordered by seq, and seqs by
//! time, so only its oldest entries are read; a private message still waiting in a mailbox is
//! not lost (the mailbox holds a copy). Every relay of a cluster does it: the work is the same
//! whoever does it, and a log already pruned costs one read of its head.

use std::time::Duration;

use serde::Deserialize;

use super::{RedisLog, RedisLogError};

/// How often the logs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The log entries read at once from a log's head.
const HEAD: isize = 100;

/// The one field of a stored message that pruning reads.
#[derive(Deserialize)]
struct Ts {
    ts: u64,
}

impl RedisLog {
    /// Drops every message older than `cutoff_ms` (ms since the Unix epoch) from the logs.
    /// Says how many were dropped.
    ///
    /// # Errors
    /// Redis did not answer; what was dropped stays dropped.
    pub async fn prune_older_than(&self, cutoff_ms: u64) -> Result<u64, RedisLogError> {
        let mut conn = self.conn.clone();
        let mut dropped = 0;
        for pattern in self.keys.log_patterns() {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await?;
                for key in keys {
                    dropped += self.prune_log(&key, cutoff_ms).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(dropped)
    }

    /// Drops the messages older than `cutoff_ms` from the head of the log `key`.
    async fn prune_log(&self, key: &str, cutoff_ms: u64) -> Result<u64, RedisLogError> {
        let mut conn = self.conn.clone();
        let mut dropped = 0;
        loop {
            let head: Vec<String> = ::redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(HEAD - 1)
                .query_async(&mut conn)
                .await?;
            let old = head
                .iter()
                .take_while(|json| serde_json::from_str::<Ts>(json).is_ok_and(|m| m.ts < cutoff_ms))
                .count();
            if old > 0 {
                let () = ::redis::cmd("ZREMRANGEBYRANK")
                    .arg(key)
                    .arg(0)
                    .arg(old - 1)
                    .query_async(&mut conn)
                    .await?;
                dropped += old as u64;
            }
            if old < head.len() || head.len() < HEAD as usize {
                return Ok(dropped);
            }
        }
    }
}

/// Prunes the logs every [`PRUNE_EVERY`] by `max_age_ms`, until aborted.
pub(super) async fn keep_pruning(log: RedisLog, max_age_ms: u64) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        match log.prune_older_than(now.saturating_sub(max_age_ms)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "dropped messages past their retention age"),
            Err(e) => tracing::warn!("cannot drop old messages: {e}"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}
