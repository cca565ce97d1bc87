//! The search index, kept in step off the commit path (schema migration 10).
//!
//! Storing a message makes its row in `search_rows`; the writer thread puts its text into the
//! FTS5 table later, in chunks of [`CHUNK`] rows in order of id, whenever it has nothing to
//! commit, and records the last id indexed in `search_indexed`. So a burst of messages is
//! committed (and sent) without waiting for their trigrams: tokenizing a long text costs
//! far more than storing it. Searches read the index up to that mark and scan the rows after
//! it (`search.rs`), so they find every message committed, indexed yet or not.
//!
//! A whole chunk is indexed as soon as the writer is idle; less than a chunk only once it has
//! been idle for [`IDLE`]. Under a steady trickle of messages the writer is idle between most
//! of them, and indexing each alone made a transaction (a sync to disk) and an FTS5 segment
//! per message. Under a load that never leaves the writer idle the index still keeps up: past
//! [`MAX_LAG`] rows behind, the writer indexes a chunk after each commit.

use std::time::Duration;

use rusqlite::{Connection, params};

/// Rows indexed in one transaction: short enough that a commit waiting behind it waits
/// little, long enough that FTS5 writes few segments.
pub const CHUNK: i64 = 64;

/// How long the writer is idle before it indexes less than a chunk.
pub const IDLE: Duration = Duration::from_millis(50);

/// How far the index may fall behind the newest row before the writer indexes between
/// commits too; what a search may scan unindexed is this and one batch of commits more.
pub const MAX_LAG: i64 = 2_048;

/// Where the index stands against the rows.
#[derive(Debug)]
pub struct Indexer {
    /// The last id indexed (`search_indexed.last`).
    indexed: i64,
    /// The newest id in `search_rows` when last looked.
    newest: i64,
}

impl Indexer {
    /// Reads where the index stands.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn open(conn: &Connection) -> rusqlite::Result<Self> {
        let indexed = conn.query_row("SELECT last FROM search_indexed", [], |r| r.get(0))?;
        let newest = newest(conn)?;
        Ok(Self { indexed, newest })
    }

    /// Whether rows wait to be indexed.
    pub fn behind(&self) -> bool {
        self.newest > self.indexed
    }

    /// Whether a whole chunk waits to be indexed.
    pub fn chunk_behind(&self) -> bool {
        self.newest - self.indexed >= CHUNK
    }

    /// Whether so many rows wait that the index is to catch up between commits.
    pub fn far_behind(&self) -> bool {
        self.newest - self.indexed > MAX_LAG
    }

    /// Something was committed: looks at the newest row again.
    pub fn committed(&mut self, conn: &Connection) {
        match newest(conn) {
            Ok(id) => self.newest = id,
            Err(e) => tracing::warn!("cannot read the search rows: {e}"),
        }
    }

    /// Indexes the next [`CHUNK`] rows in a transaction of their own. On failure (logged) it
    /// tries again only after the next commit, rather than at once and forever.
    pub fn catch_up(&mut self, conn: &mut Connection) {
        match index_chunk(conn, self.indexed) {
            Ok(Some(last)) => self.indexed = last,
            // The rows after the mark were deleted before they were indexed.
            Ok(None) => self.newest = self.indexed,
            Err(e) => {
                tracing::warn!("cannot index messages for search: {e}");
                self.newest = self.indexed;
            }
        }
    }
}

fn newest(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM search_rows")?
        .query_row([], |r| r.get(0))
}

/// Indexes the rows after `after`, at most [`CHUNK`], with their texts as they are now, and
/// moves the mark; the last id indexed, or `None` if there were none.
fn index_chunk(conn: &mut Connection, after: i64) -> rusqlite::Result<Option<i64>> {
    let tx = conn.transaction()?;
    let last: Option<i64> = tx
        .prepare_cached(
            "SELECT max(id) FROM (SELECT id FROM search_rows WHERE id > ?1 ORDER BY id LIMIT ?2)",
        )?
        .query_row(params![after, CHUNK], |r| r.get(0))?;
    let Some(last) = last else {
        return Ok(None);
    };
    tx.prepare_cached(
        "INSERT INTO search_text (rowid, text)
         SELECT s.id, m.text FROM search_rows s
         JOIN room_messages m ON m.room = s.room AND m.seq = s.seq
         WHERE s.id > ?1 AND s.id <= ?2 AND s.room IS NOT NULL",
    )?
    .execute(params![after, last])?;
    tx.prepare_cached(
        "INSERT INTO search_text (rowid, text)
         SELECT s.id, d.text FROM search_rows s
         JOIN direct_messages d ON d.low = s.low AND d.high = s.high AND d.seq = s.seq
         WHERE s.id > ?1 AND s.id <= ?2 AND s.low IS NOT NULL",
    )?
    .execute(params![after, last])?;
    tx.prepare_cached("UPDATE search_indexed SET last = ?1")?
        .execute([last])?;
    tx.commit()?;
    Ok(Some(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::migrated_in_memory as db;

    fn say(conn: &Connection, seq: i64, text: &str) {
        conn.execute(
            "INSERT INTO room_messages (room, seq, sender, text, ts) VALUES ('r', ?1, 'bob', ?2, ?1)",
            params![seq, text],
        )
        .unwrap();
    }

    fn indexed(conn: &Connection, phrase: &str) -> Vec<i64> {
        conn.prepare("SELECT rowid FROM search_text WHERE search_text MATCH ?1 ORDER BY rowid")
            .unwrap()
            .query_map([phrase], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn rows_are_indexed_in_chunks_with_their_text_as_it_is_then() {
        let mut conn = db();
        let count = CHUNK + 10;
        for seq in 1..=count {
            say(&conn, seq, &format!("deploy {seq}"));
        }
        // Changed and deleted before they were indexed.
        conn.execute(
            "UPDATE room_messages SET text = 'rollback' WHERE seq = 1",
            [],
        )
        .unwrap();
        conn.execute("DELETE FROM room_messages WHERE seq = 2", [])
            .unwrap();
        let mut indexer = Indexer::open(&conn).unwrap();
        assert!(indexed(&conn, "deploy").is_empty(), "nothing yet");
        assert!(indexer.behind() && indexer.chunk_behind() && !indexer.far_behind());
        indexer.catch_up(&mut conn);
        // The first chunk: ids 1 and 3 to 257 (2 was deleted), 1 now reads "rollback".
        assert_eq!(indexed(&conn, "deploy").len() as i64, CHUNK - 1);
        assert!(indexer.behind() && !indexer.chunk_behind());
        indexer.catch_up(&mut conn);
        assert!(!indexer.behind());
        assert_eq!(indexed(&conn, "deploy").len() as i64, count - 2);
        assert_eq!(indexed(&conn, "rollback"), [1]);
        // Once indexed, the triggers keep the index in step.
        conn.execute("UPDATE room_messages SET text = 'fixed' WHERE seq = 1", [])
            .unwrap();
        assert!(indexed(&conn, "rollback").is_empty());
        assert_eq!(indexed(&conn, "fixed"), [1]);
        conn.execute("DELETE FROM room_messages WHERE seq = 1", [])
            .unwrap();
        assert!(indexed(&conn, "fixed").is_empty());
    }

    #[test]
    fn an_id_made_again_below_the_mark_is_indexed_at_once() {
        let mut conn = db();
        say(&conn, 1, "first");
        say(&conn, 2, "second");
        let mut indexer = Indexer::open(&conn).unwrap();
        indexer.catch_up(&mut conn);
        // The newest row goes, and the next insert takes its id again.
        conn.execute("DELETE FROM room_messages WHERE seq = 2", [])
            .unwrap();
        say(&conn, 3, "third");
        assert_eq!(indexed(&conn, "third"), [2]);
        indexer.committed(&conn);
        assert!(!indexer.behind());
    }
}
