//! The SQLite side of the changes extension (engine/change.rs): a message's extension columns
//! read and written, a reply's quote looked up, and a change applied inside the writer's
//! transaction (read, decided, written, the conversation's revision bumped, all at once).

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use shared::validate::name_key;
use shared::{ChatMessage, Ext, Quote, Target};

use crate::engine::Committed;
use crate::engine::change::{self, Change, ChangeJob, Place};

/// A stored message's columns, in the order [`message`] reads them; a query may add its own
/// after them (from [`COLS_LEN`] on).
pub(super) const COLS: &str = "seq, sender, text, ts, cid, mid, \
     reply_seq, reply_from, reply_text, edited, deleted, reactions, rev";

/// How many columns [`COLS`] names.
pub(super) const COLS_LEN: usize = 13;

/// Reads a message from the first [`COLS_LEN`] columns of `row`.
pub(super) fn message(row: &Row<'_>, target: Target) -> rusqlite::Result<ChatMessage> {
    let reply = match (row.get::<_, Option<i64>>(6)?, row.get(7)?, row.get(8)?) {
        (Some(seq), Some(from), Some(text)) => Some(Quote {
            seq: seq as u64,
            from,
            text,
        }),
        _ => None,
    };
    let reactions = match row.get::<_, Option<String>>(11)? {
        // Written by `write` below; a damaged value loses the reactions, not the message.
        Some(json) => serde_json::from_str(&json).unwrap_or_default(),
        None => Vec::new(),
    };
    let rev: i64 = row.get(12)?;
    Ok(ChatMessage {
        target,
        seq: row.get::<_, i64>(0)? as u64,
        from: row.get(1)?,
        text: row.get(2)?,
        ts: row.get::<_, i64>(3)? as u64,
        cid: row.get(4)?,
        mid: row.get(5)?,
        ext: Ext {
            reply,
            edited: row.get::<_, Option<i64>>(9)?.map(|t| t as u64),
            deleted: row.get::<_, i64>(10)? != 0,
            reactions,
            rev: (rev > 0).then_some(rev as u64),
        },
    })
}

/// The quote a reply to message `seq` of `place` carries, if that message is there and not
/// deleted.
pub(super) fn quote(
    tx: &Transaction<'_>,
    place: &Place,
    seq: u64,
) -> rusqlite::Result<Option<Quote>> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let row = |row: &Row<'_>| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?));
    let found = match place {
        Place::Room(room) => tx
            .prepare_cached(
                "SELECT sender, text FROM room_messages
                 WHERE room = ?1 AND seq = ?2 AND deleted = 0",
            )?
            .query_row(params![room, seq], row)
            .optional()?,
        Place::Pair(low, high) => tx
            .prepare_cached(
                "SELECT sender, text FROM direct_messages
                 WHERE low = ?1 AND high = ?2 AND seq = ?3 AND deleted = 0",
            )?
            .query_row(params![low, high, seq], row)
            .optional()?,
    };
    Ok(found.map(|(from, text)| Quote {
        seq: seq as u64,
        from,
        text: shared::quote_text(&text),
    }))
}

/// The reply columns' values for a message's quote.
pub(super) fn reply_params(q: Option<&Quote>) -> (Option<i64>, Option<&str>, Option<&str>) {
    (
        q.map(|q| q.seq as i64),
        q.map(|q| q.from.as_str()),
        q.map(|q| q.text.as_str()),
    )
}

/// Where a stored message is: its room, or its pair of users (their keys, in order).
#[derive(Clone, Copy)]
pub(super) enum At<'a> {
    Room(&'a str),
    Pair(&'a str, &'a str),
}

impl<'a> From<&'a Place> for At<'a> {
    fn from(place: &'a Place) -> Self {
        match place {
            Place::Room(room) => Self::Room(room),
            Place::Pair(low, high) => Self::Pair(low, high),
        }
    }
}

/// Message `seq` at `at` as it is stored now, and its sender's name key; `None` if it is not
/// kept (never sent, or dropped by retention).
pub(super) fn stored(
    conn: &Connection,
    at: At<'_>,
    seq: i64,
) -> rusqlite::Result<Option<(ChatMessage, String)>> {
    match at {
        At::Room(room) => conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM room_messages WHERE room = ?1 AND seq = ?2"
            ))?
            .query_row(params![room, seq], |row| {
                let msg = message(
                    row,
                    Target::Room {
                        room: room.to_owned(),
                    },
                )?;
                let author = name_key(&msg.from);
                Ok((msg, author))
            })
            .optional(),
        At::Pair(low, high) => conn
            .prepare_cached(&format!(
                "SELECT {COLS}, recipient, sender_key FROM direct_messages
                 WHERE low = ?1 AND high = ?2 AND seq = ?3"
            ))?
            .query_row(params![low, high, seq], |row| {
                let msg = message(
                    row,
                    Target::User {
                        to: row.get(COLS_LEN)?,
                    },
                )?;
                Ok((msg, row.get(COLS_LEN + 1)?))
            })
            .optional(),
    }
}

/// Applies a change inside the writer's transaction: `None` when nothing changes (nothing is
/// written and nobody is told), else the message's new state or the refusal.
pub(super) fn apply(tx: &Transaction<'_>, job: &ChangeJob) -> rusqlite::Result<Option<Committed>> {
    let seq = i64::try_from(job.seq).unwrap_or(i64::MAX);
    let found = stored(tx, At::from(&job.place), seq)?;
    let refused = |(code, message): change::Refused| {
        Ok(Some(Committed::Refused {
            from_key: job.by_key.clone(),
            origin: job.origin,
            cid: job.cid.clone(),
            code,
            message,
        }))
    };
    let Some((mut msg, author)) = found else {
        return refused(change::unknown(job.seq));
    };
    // Only an edit or delete asks whose the message is; a reaction is anyone's.
    let since: i64 = if matches!(job.change, Change::React { .. }) {
        0
    } else {
        tx.prepare_cached("SELECT since FROM users WHERE key = ?1")?
            .query_row([&job.by_key], |row| row.get(0))
            .optional()?
            .unwrap_or(0)
    };
    let by = change::Requester {
        key: &job.by_key,
        name: &job.by_name,
        since: since as u64,
    };
    match change::apply(&mut msg, &author, by, &job.change) {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(why) => return refused(why),
    }
    let rev: i64 = match &job.place {
        Place::Room(room) => tx
            .prepare_cached(
                "UPDATE rooms SET last_rev = last_rev + 1 WHERE room = ?1 RETURNING last_rev",
            )?
            .query_row([room], |row| row.get(0))?,
        Place::Pair(low, high) => tx
            .prepare_cached(
                "UPDATE pairs SET last_rev = last_rev + 1
                 WHERE low = ?1 AND high = ?2 RETURNING last_rev",
            )?
            .query_row([low, high], |row| row.get(0))?,
    };
    msg.ext.rev = Some(rev as u64);
    let reactions = if msg.ext.reactions.is_empty() {
        None
    } else {
        serde_json::to_string(&msg.ext.reactions).ok()
    };
    let (reply_seq, reply_from, reply_text) = reply_params(msg.ext.reply.as_ref());
    let values = params![
        msg.text,
        msg.ext.edited.map(|t| t as i64),
        msg.ext.deleted,
        reactions,
        rev,
        reply_seq,
        reply_from,
        reply_text,
        seq,
    ];
    match &job.place {
        Place::Room(room) => tx
            .prepare_cached(
                "UPDATE room_messages SET text = ?1, edited = ?2, deleted = ?3, reactions = ?4,
                     rev = ?5, reply_seq = ?6, reply_from = ?7, reply_text = ?8
                 WHERE seq = ?9 AND room = ?10",
            )?
            .execute(rusqlite::params_from_iter(
                values.iter().copied().chain([room as &dyn rusqlite::ToSql]),
            ))?,
        Place::Pair(low, high) => tx
            .prepare_cached(
                "UPDATE direct_messages SET text = ?1, edited = ?2, deleted = ?3, reactions = ?4,
                     rev = ?5, reply_seq = ?6, reply_from = ?7, reply_text = ?8
                 WHERE seq = ?9 AND low = ?10 AND high = ?11",
            )?
            .execute(rusqlite::params_from_iter(values.iter().copied().chain([
                low as &dyn rusqlite::ToSql,
                high as &dyn rusqlite::ToSql,
            ])))?,
    };
    // Every copy of a change carries the requester's cid on their connection alone (the fan-out
    // sets it); the stored cid is the original sender's.
    msg.cid = None;
    Ok(Some(Committed::Changed {
        place: job.place.clone(),
        msg,
        by_key: job.by_key.clone(),
        origin: job.origin,
        cid: job.cid.clone(),
    }))
}
