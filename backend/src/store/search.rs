//! Search on SQLite (docs/PROTOCOL.md, "Search (extension)"), on the read-only connection.
//!
//! Every message has a row in `search_rows` (its conversation and seq, keyed by an integer
//! `id` in the order stored) and, once indexed, its text in `search_text`, a contentless FTS5
//! table with the `trigram` tokenizer whose rowid is that `id` (schema migrations 9 and 10).
//! Triggers on `room_messages` and `direct_messages` make the rows and keep the index in step
//! with every change of `text` and delete, whoever makes it; the writer indexes new rows when
//! it has nothing to commit (`indexer.rs`). `room_messages` and `direct_messages` are WITHOUT
//! ROWID tables, hence `search_rows`: it maps their keys to an FTS rowid.
//!
//! A query of three characters or more is a phrase of trigrams: a case-insensitive substring
//! match. The rows not indexed yet are matched one by one, then the index's matches are read
//! newest stored first, and only those in the person's [`Scope`]
//! are kept, up to [`SEARCH_LEN`]; at most [`FTS_CANDIDATES`] matches are looked at. Shorter
//! queries cannot use trigrams (nor can one with a NUL): they scan the newest messages of each conversation in scope
//! (`engine::search`'s bounds).

use std::collections::HashSet;

use rusqlite::{Connection, params};
use shared::limits::SEARCH_LEN;
use shared::{ChatMessage, Target};

use super::changes::{At, COLS, COLS_LEN, message, stored};
use super::indexer::MAX_LAG;
use crate::engine::search::{Needle, SCAN_PER_CONVERSATION, ScanBudget, Scope, newest_first};

/// An indexed search looks at this many matches at most, newest stored first, in every
/// conversation (those out of scope are skipped): a word common elsewhere may leave older
/// matches of the person's own conversations unseen.
pub const FTS_CANDIDATES: usize = 50_000;

/// The messages in `scope` whose text contains `query` (trimmed, not empty), newest first, at
/// most [`SEARCH_LEN`], read in one transaction.
///
/// # Errors
/// The database could not be read.
pub(super) fn search(
    conn: &mut Connection,
    scope: &Scope,
    query: &str,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let tx = conn.transaction()?;
    // FTS5 reads a query only up to a NUL: such a query is scanned instead.
    let found = if query.chars().count() >= 3 && !query.contains('\0') {
        let mut found = unindexed(&tx, scope, &Needle::new(query))?;
        found.extend(indexed(&tx, scope, query)?);
        found
    } else {
        scanned(&tx, scope, &Needle::new(query))?
    };
    tx.finish()?;
    Ok(newest_first(found))
}

/// `query` as an FTS5 phrase: in double quotes, its own doubled, so that nothing in it is
/// FTS5 syntax (`OR`, `NEAR(`, `*`, `-`, `:` are text).
pub(super) fn phrase(query: &str) -> String {
    format!("\"{}\"", query.replace('"', "\"\""))
}

/// Where a match is: a room's message or a pair's.
enum Place {
    Room(String, i64),
    Pair(String, String, i64),
}

/// The matches of a phrase, newest stored first, with where each is.
const INDEXED: &str = "SELECT m.room, m.low, m.high, m.seq FROM search_text f
     JOIN search_rows m ON m.id = f.rowid
     WHERE search_text MATCH ?1 ORDER BY f.rowid DESC LIMIT ?2";

fn indexed(tx: &Connection, scope: &Scope, query: &str) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut stmt = tx.prepare_cached(INDEXED)?;
    let rows = stmt.query(params![phrase(query), FTS_CANDIDATES as i64])?;
    let mut found = Vec::new();
    for place in in_scope(rows, scope, SEARCH_LEN)? {
        // Read in the same transaction: the row is there (unless retention took it since).
        if let Some(msg) = read(tx, &place)? {
            found.push(msg);
        }
    }
    Ok(found)
}

/// The rows stored after the index's mark (`indexer.rs`), newest first, at most this many:
/// the writer keeps the index within [`MAX_LAG`] of the newest row after each commit, and
/// a commit adds at most a batch.
const UNINDEXED: i64 = MAX_LAG + 1_024;

/// The messages in `scope` that match `needle` among those not indexed yet, read one by one.
fn unindexed(
    tx: &Connection,
    scope: &Scope,
    needle: &Needle,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut stmt = tx.prepare_cached(
        "SELECT s.room, s.low, s.high, s.seq FROM search_rows s, search_indexed i
         WHERE s.id > i.last ORDER BY s.id DESC LIMIT ?1",
    )?;
    let rows = stmt.query([UNINDEXED])?;
    let mut found = Vec::new();
    for place in in_scope(rows, scope, usize::MAX)? {
        match read(tx, &place)? {
            Some(msg) if needle.found_in(&msg.text) => found.push(msg),
            _ => continue,
        }
        if found.len() == SEARCH_LEN {
            break;
        }
    }
    Ok(found)
}

/// The places of `rows` (room, low, high, seq) that are in `scope`, at most `limit`.
fn in_scope(
    mut rows: rusqlite::Rows<'_>,
    scope: &Scope,
    limit: usize,
) -> rusqlite::Result<Vec<Place>> {
    let rooms: HashSet<&str> = scope.rooms.iter().map(String::as_str).collect();
    let mut places = Vec::new();
    while places.len() < limit {
        let Some(row) = rows.next()? else { break };
        let room: Option<String> = row.get(0)?;
        let (low, high): (Option<String>, Option<String>) = (row.get(1)?, row.get(2)?);
        let seq: i64 = row.get(3)?;
        match (room, low, high) {
            (Some(room), _, _) if rooms.contains(room.as_str()) => {
                places.push(Place::Room(room, seq));
            }
            (None, Some(low), Some(high)) if scope.has_pair(&low, &high) => {
                places.push(Place::Pair(low, high, seq));
            }
            _ => {}
        }
    }
    Ok(places)
}

/// The message at `place` as it is now, if it is still there.
fn read(tx: &Connection, place: &Place) -> rusqlite::Result<Option<ChatMessage>> {
    let (at, seq) = match place {
        Place::Room(room, seq) => (At::Room(room), *seq),
        Place::Pair(low, high, seq) => (At::Pair(low, high), *seq),
    };
    Ok(stored(tx, at, seq)?.map(|(msg, _)| msg))
}

/// The newest [`SCAN_PER_CONVERSATION`] messages of each conversation in `scope`, within the
/// scan's bytes, matched one by one.
fn scanned(tx: &Connection, scope: &Scope, needle: &Needle) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut budget = ScanBudget::default();
    let mut found = Vec::new();
    let limit = SCAN_PER_CONVERSATION as i64;
    let mut rooms = tx.prepare_cached(&format!(
        "SELECT {COLS} FROM room_messages WHERE room = ?1 ORDER BY seq DESC LIMIT ?2"
    ))?;
    for room in &scope.rooms {
        let rows = rooms.query_map(params![room, limit], |row| {
            message(row, Target::Room { room: room.clone() })
        })?;
        if !take(rows, needle, &mut budget, &mut found)? {
            return Ok(found);
        }
    }
    let pairs: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT low, high FROM pairs WHERE low = ?1
             UNION SELECT low, high FROM pairs WHERE high = ?1",
        )?
        .query_map([&scope.key], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut direct = tx.prepare_cached(&format!(
        "SELECT {COLS}, recipient FROM direct_messages
         WHERE low = ?1 AND high = ?2 ORDER BY seq DESC LIMIT ?3"
    ))?;
    for (low, high) in pairs {
        let rows = direct.query_map(params![low, high, limit], |row| {
            message(
                row,
                Target::User {
                    to: row.get(COLS_LEN)?,
                },
            )
        })?;
        if !take(rows, needle, &mut budget, &mut found)? {
            break;
        }
    }
    Ok(found)
}

/// Keeps the rows that match (at most [`SEARCH_LEN`] of one conversation: they come newest
/// first); false once the scan's bytes are spent.
fn take(
    rows: impl Iterator<Item = rusqlite::Result<ChatMessage>>,
    needle: &Needle,
    budget: &mut ScanBudget,
    found: &mut Vec<ChatMessage>,
) -> rusqlite::Result<bool> {
    let mut here = 0;
    for row in rows {
        let msg = row?;
        if !budget.take(&msg.text) {
            return Ok(false);
        }
        if needle.found_in(&msg.text) {
            found.push(msg);
            here += 1;
            if here == SEARCH_LEN {
                break;
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{MIGRATIONS, migrated_in_memory as db};

    fn say(conn: &Connection, room: &str, seq: i64, text: &str) {
        conn.execute(
            "INSERT INTO room_messages (room, seq, sender, text, ts) VALUES (?1, ?2, 'bob', ?3, ?2)",
            params![room, seq, text],
        )
        .unwrap();
    }

    fn scope(rooms: &[&str], key: &str) -> Scope {
        Scope {
            rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
            key: key.into(),
        }
    }

    fn texts(found: &[ChatMessage]) -> Vec<&str> {
        found.iter().map(|m| m.text.as_str()).collect()
    }

    #[test]
    fn the_index_follows_inserts_updates_and_deletes() {
        let mut conn = db();
        say(&conn, "lobby", 1, "Deploying now");
        say(&conn, "lobby", 2, "lunch?");
        let lobby = scope(&["lobby"], "alice");
        assert_eq!(
            texts(&search(&mut conn, &lobby, "deploy").unwrap()),
            ["Deploying now"]
        );
        conn.execute(
            "UPDATE room_messages SET text = 'rollback' WHERE room = 'lobby' AND seq = 1",
            [],
        )
        .unwrap();
        assert!(search(&mut conn, &lobby, "deploy").unwrap().is_empty());
        assert_eq!(
            texts(&search(&mut conn, &lobby, "rollback").unwrap()),
            ["rollback"]
        );
        conn.execute("DELETE FROM room_messages WHERE seq = 1", [])
            .unwrap();
        assert!(search(&mut conn, &lobby, "rollback").unwrap().is_empty());
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM search_rows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn matches_are_read_newest_first_without_sorting_them() {
        let conn = db();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {INDEXED}"))
            .unwrap()
            .query_map(params!["\"abc\"", 10], |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        eprintln!("{plan:?}");
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }

    /// The triggers' cost on the write path: messages stored in transactions of 50 into a
    /// file, without search (migration 8), indexed in the commit (9), and with only their
    /// rows made in the commit (10; the writer indexes them later, off this path).
    /// `cargo test -p courier --lib write_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn write_cost() {
        let dir = tempfile::tempdir().unwrap();
        let variants = [
            ("no search", 8),
            ("indexed in the commit", 9),
            ("rows only in the commit", 10),
        ];
        for (name, migrations) in variants.into_iter().chain(variants) {
            let path = dir
                .path()
                .join(format!("{migrations}-{}.db", rand_suffix()));
            let mut conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                .unwrap();
            for sql in &MIGRATIONS[..migrations] {
                conn.execute_batch(sql).unwrap();
            }
            let start = std::time::Instant::now();
            let (batches, per_batch) = (1_000, 50);
            for b in 0..batches {
                let tx = conn.transaction().unwrap();
                for i in 0..per_batch {
                    let seq = b * per_batch + i;
                    tx.prepare_cached(
                        "INSERT INTO room_messages (room, seq, sender, text, ts)
                         VALUES (?1, ?2, 'bench-7', ?3, ?2)",
                    )
                    .unwrap()
                    .execute(params![
                        format!("bench-{}", seq % 100),
                        seq,
                        format!(
                            "t={} s={} n={seq}",
                            1_000_000_007u64 * seq as u64,
                            seq % 100
                        )
                    ])
                    .unwrap();
                }
                tx.commit().unwrap();
            }
            let per = start.elapsed() / (batches * per_batch) as u32;
            eprintln!("{name}: {per:?} per message");
        }
    }

    fn rand_suffix() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    #[test]
    fn fts_syntax_is_text() {
        let mut conn = db();
        say(&conn, "lobby", 1, r#"say "hi" OR NEAR(x) -y *z"#);
        let lobby = scope(&["lobby"], "alice");
        for q in [
            r#""hi""#, "OR NEAR(", "-y *", "\"", "NEAR(", "a:b", "*z", "a\0bc", "\0\0\0",
            "\u{1}x\n",
        ] {
            let found = search(&mut conn, &lobby, q);
            assert!(found.is_ok(), "{q}: {found:?}");
        }
        assert_eq!(search(&mut conn, &lobby, "OR NEAR(").unwrap().len(), 1);
        assert_eq!(search(&mut conn, &lobby, r#""hi""#).unwrap().len(), 1);
    }

    #[test]
    fn only_the_scope_is_searched() {
        let mut conn = db();
        say(&conn, "lobby", 1, "secret plan");
        conn.execute(
            "INSERT INTO direct_messages (low, high, seq, sender_key, sender, recipient, text, ts)
             VALUES ('alice', 'bob', 1, 'alice', 'alice', 'bob', 'secret plan', 2)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO pairs (low, high, last_seq) VALUES ('alice', 'bob', 1)",
            [],
        )
        .unwrap();
        for q in ["secret", "se"] {
            assert!(
                search(&mut conn, &scope(&[], "carol"), q)
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(search(&mut conn, &scope(&[], "bob"), q).unwrap().len(), 1);
            assert_eq!(
                search(&mut conn, &scope(&["lobby"], "alice"), q)
                    .unwrap()
                    .len(),
                2
            );
        }
    }

    #[test]
    fn messages_stored_before_the_index_are_found() {
        let mut conn = Connection::open_in_memory().unwrap();
        let (before, after) = MIGRATIONS.split_at(8);
        for sql in before {
            conn.execute_batch(sql).unwrap();
        }
        say(&conn, "lobby", 1, "older deploy");
        say(&conn, "lobby", 2, "你好世界");
        conn.execute(
            "INSERT INTO direct_messages (low, high, seq, sender_key, sender, recipient, text, ts)
             VALUES ('alice', 'bob', 1, 'alice', 'alice', 'bob', 'deploy too', 3)",
            [],
        )
        .unwrap();
        for sql in after {
            conn.execute_batch(sql).unwrap();
        }
        let alice = scope(&["lobby"], "alice");
        assert_eq!(
            texts(&search(&mut conn, &alice, "DEPLOY").unwrap()),
            ["deploy too", "older deploy"]
        );
        assert_eq!(
            texts(&search(&mut conn, &alice, "你好世").unwrap()),
            ["你好世界"]
        );
        // Stored later, after the older ones: ids keep the order.
        say(&conn, "lobby", 3, "deploy again");
        assert_eq!(
            texts(&search(&mut conn, &alice, "deploy").unwrap()),
            ["deploy again", "deploy too", "older deploy"]
        );
    }
}
