//! The read side of the store: history pages, mailboxes and users, on a read-only connection
//! (the SQLite engine's `Reads`, made off the hub's lock; `Engine::user` under it).
//!
//! Every query is a bounded range scan on a primary key or index (at most a page of rows, or
//! one user's mailbox, which the mailbox limits bound), so each is short.

use super::changes::message;
use rusqlite::{Connection, OptionalExtension, Row, params};
use shared::{ChatMessage, Target};

use super::changes::{COLS, COLS_LEN};
use crate::engine::search::Scope;
use crate::engine::{Mail, Page, Place, User, mail_cost};

/// The read-only connection.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    pub(super) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    pub(super) fn users(&mut self) -> rusqlite::Result<Vec<User>> {
        let mut stmt = self.conn.prepare(
            "SELECT key, name, password, last_seen, password_at, password_outside FROM users",
        )?;
        let rows = stmt.query_map([], user_row)?;
        rows.collect()
    }

    /// The user `key` as stored now, if remembered: the relay reads it at each hello, for a
    /// password set by `courier passwd` while it runs.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn user(&mut self, key: &str) -> rusqlite::Result<Option<User>> {
        self.conn
            .prepare_cached(
                "SELECT key, name, password, last_seen, password_at, password_outside FROM users WHERE key = ?1",
            )?
            .query_row([key], user_row)
            .optional()
    }

    /// The newest `limit` messages of `room` with `after < seq < before` (`before` absent:
    /// no upper bound), and the room's last seq, read together. The page stops early, saying
    /// `more`, once its messages reach `max_bytes` (as [`mail_cost`] counts them; at least one
    /// message): a small request cannot ask for a large reply.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn room_page(
        &mut self,
        room: &str,
        after: u64,
        before: Option<u64>,
        (limit, max_bytes): (usize, usize),
    ) -> rusqlite::Result<Page> {
        let tx = self.conn.transaction()?;
        let last_seq: Option<i64> = tx
            .prepare_cached("SELECT last_seq FROM rooms WHERE room = ?1")?
            .query_row([room], |row| row.get(0))
            .optional()?;
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {COLS} FROM room_messages
             WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![room, to_sql(after), upper(before), limit as i64 + 1],
            |row| {
                message(
                    row,
                    Target::Room {
                        room: room.to_owned(),
                    },
                )
            },
        )?;
        let (newest_first, more) = take_page(rows, limit, max_bytes)?;
        drop(stmt);
        tx.finish()?;
        Ok(page(newest_first, more, last_seq.unwrap_or(0) as u64))
    }

    /// The same for the private conversation of the pair `(low, high)`.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn direct_page(
        &mut self,
        (low, high): (&str, &str),
        before: Option<u64>,
        (limit, max_bytes): (usize, usize),
    ) -> rusqlite::Result<Page> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLS}, recipient FROM direct_messages
             WHERE low = ?1 AND high = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(params![low, high, upper(before), limit as i64 + 1], |row| {
            message(
                row,
                Target::User {
                    to: row.get(COLS_LEN)?,
                },
            )
        })?;
        let (newest_first, more) = take_page(rows, limit, max_bytes)?;
        Ok(page(newest_first, more, 0))
    }

    /// Every private message `key` has not received yet, in the order they came in.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn mailbox(&mut self, key: &str) -> rusqlite::Result<Vec<Mail>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.seq, d.sender, d.text, d.ts, d.cid, d.mid, d.reply_seq, d.reply_from,
                    d.reply_text, d.edited, d.deleted, d.reactions, d.rev,
                    d.recipient, b.id, b.sender_key
             FROM mailbox b JOIN direct_messages d
               ON d.low = b.low AND d.high = b.high AND d.seq = b.seq
             WHERE b.recipient_key = ?1 ORDER BY b.id",
        )?;
        let rows = stmt.query_map([key], |row| {
            Ok(Mail {
                msg: message(
                    row,
                    Target::User {
                        to: row.get(COLS_LEN)?,
                    },
                )?,
                id: row.get(COLS_LEN + 1)?,
                sender_key: row.get(COLS_LEN + 2)?,
            })
        })?;
        rows.collect()
    }

    /// The messages in `scope` whose text contains `query` (trimmed, not empty), newest
    /// first, at most `SEARCH_LEN` (`store/search.rs`).
    ///
    /// # Errors
    /// The database could not be read.
    pub fn search(&mut self, scope: &Scope, query: &str) -> rusqlite::Result<Vec<ChatMessage>> {
        super::search::search(&mut self.conn, scope, query)
    }

    /// The messages of `place` changed after revision `rev`, in their state now, by revision
    /// ascending: at most `limit`, and whether there were more. A range scan on the partial
    /// index of changed messages.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn changes(&mut self, place: &Place, rev: u64, limit: usize) -> rusqlite::Result<Page> {
        let (rev, rows) = (to_sql(rev), limit as i64 + 1);
        let mut taken = match place {
            Place::Room(room) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLS} FROM room_messages
                     WHERE room = ?1 AND rev > 0 AND rev > ?2 ORDER BY rev LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![room, rev, rows], |row| {
                    message(row, Target::Room { room: room.clone() })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            }
            Place::Pair(low, high) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLS}, recipient FROM direct_messages
                     WHERE low = ?1 AND high = ?2 AND rev > 0 AND rev > ?3 ORDER BY rev LIMIT ?4"
                ))?;
                let rows = stmt.query_map(params![low, high, rev, rows], |row| {
                    message(
                        row,
                        Target::User {
                            to: row.get(COLS_LEN)?,
                        },
                    )
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            }
        };
        let more = taken.len() > limit;
        taken.truncate(limit);
        Ok(Page {
            messages: taken,
            more,
            last_seq: 0,
        })
    }
}

/// Takes rows, newest first, while they fit `limit` messages and `max_bytes` (at least one):
/// the rows taken, and whether older ones were left out. The query asks for one more row than
/// `limit`, so that a row left over says `more`; rows past the bytes are never read.
fn take_page(
    rows: impl Iterator<Item = rusqlite::Result<ChatMessage>>,
    limit: usize,
    max_bytes: usize,
) -> rusqlite::Result<(Vec<ChatMessage>, bool)> {
    let mut taken = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let msg = row?;
        let cost = mail_cost(&msg.text);
        if taken.len() == limit || (!taken.is_empty() && bytes + cost > max_bytes) {
            return Ok((taken, true));
        }
        bytes += cost;
        taken.push(msg);
    }
    Ok((taken, false))
}

/// Rows taken newest first: the page, oldest first.
fn page(mut newest_first: Vec<ChatMessage>, more: bool, last_seq: u64) -> Page {
    newest_first.reverse();
    Page {
        messages: newest_first,
        more,
        last_seq,
    }
}

/// SQLite integers are signed: a seq past `i64::MAX` cannot exist, so clamp.
fn to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn upper(before: Option<u64>) -> i64 {
    before.map_or(i64::MAX, to_sql)
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        key: row.get(0)?,
        name: row.get(1)?,
        password: row.get(2)?,
        last_seen: row.get::<_, i64>(3)?.max(0) as u64,
        password_at: row.get::<_, i64>(4)?.max(0) as u64,
        password_outside: row.get::<_, i64>(5)? != 0,
    })
}
