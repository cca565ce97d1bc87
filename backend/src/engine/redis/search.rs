//! Search on Redis, without modules (docs/CLUSTER.md, "Search"): the newest entries of each
//! conversation in the person's scope, read in chunks, decoded as pages are (so a message is
//! seen as its log entry has it now), and matched in Rust.
//!
//! Limits: only the newest [`SCAN_PER_CONVERSATION`] messages of each room and pair are
//! searched, and at most [`SCAN_BYTES`] in all; the cost grows with the number of
//! conversations (one `ZREVRANGE` per chunk of [`CHUNK`]).
//!
//! [`SCAN_BYTES`]: crate::engine::search::SCAN_BYTES

use shared::ChatMessage;
use shared::limits::SEARCH_LEN;

use super::read::decode;
use super::{RedisLog, RedisLogError};
use crate::engine::search::{Needle, SCAN_PER_CONVERSATION, ScanBudget, Scope, newest_first};

/// Entries read from a log at a time, so that the bytes read stay near [`SCAN_BYTES`].
///
/// [`SCAN_BYTES`]: crate::engine::search::SCAN_BYTES
const CHUNK: usize = 250;

impl RedisLog {
    /// The messages in `scope` whose text contains `query` (trimmed, not empty), newest
    /// first, at most [`SEARCH_LEN`].
    ///
    /// # Errors
    /// Redis could not be read, or holds something that is not a message.
    pub async fn search(
        &self,
        scope: &Scope,
        query: &str,
    ) -> Result<Vec<ChatMessage>, RedisLogError> {
        let needle = Needle::new(query);
        let mut logs: Vec<String> = scope.rooms.iter().map(|r| self.keys.room_log(r)).collect();
        let mut correspondents: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(self.keys.correspondents(&scope.key))
            .query_async(&mut self.conn.clone())
            .await?;
        correspondents.sort_unstable();
        logs.extend(
            correspondents
                .iter()
                .map(|other| self.keys.pair_log(&scope.key, other)),
        );
        let mut budget = ScanBudget::default();
        let mut found = Vec::new();
        'logs: for log in &logs {
            let mut here = 0;
            let mut start = 0;
            while start < SCAN_PER_CONVERSATION {
                let stop = (start + CHUNK).min(SCAN_PER_CONVERSATION) - 1;
                let entries: Vec<String> = ::redis::cmd("ZREVRANGE")
                    .arg(log)
                    .arg(start)
                    .arg(stop)
                    .query_async(&mut self.conn.clone())
                    .await?;
                let last = entries.len() < stop + 1 - start;
                for entry in &entries {
                    if !budget.take(entry) {
                        break 'logs;
                    }
                    let msg = decode(entry)?;
                    if needle.found_in(&msg.text) {
                        found.push(msg);
                        here += 1;
                        if here == SEARCH_LEN {
                            continue 'logs;
                        }
                    }
                }
                if last {
                    break;
                }
                start = stop + 1;
            }
        }
        Ok(newest_first(found))
    }
}
