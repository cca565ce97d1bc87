//! Idempotent sends: a `say` or `dm` sent again with the `mid` of a message its sender sent in
//! the last day is not stored again; its sender gets the original back instead.
//!
//! Each message with a `mid` leaves a row in `mids` (sender, mid → conversation, seq, ts) in
//! the transaction that stores it, so a repeat in the same batch is found too. The rows are
//! dropped a day after their message ([`WINDOW_MS`]), and with their sender's name.

use rusqlite::{OptionalExtension, Transaction, params};
use shared::{ChatMessage, Ext};

use super::changes::stored;
use crate::engine::Draft;

/// How long a message's `mid` is remembered: longer than any reconnect (a token's grace is
/// minutes; a page kept open over a weekend's outage retries on its next start, and the
/// catch-up it gets then confirms what was stored).
pub const WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

pub(super) use super::changes::At as Place;

/// The original of `draft` if its sender stored a message with the same `mid` already, with
/// the repeat's `cid`. If the original has been dropped since (retention), the repeat's own
/// text stands in for it, with the original's seq and time.
pub(super) fn original(
    tx: &Transaction<'_>,
    from_key: &str,
    draft: &Draft,
) -> rusqlite::Result<Option<ChatMessage>> {
    let Some(mid) = &draft.mid else {
        return Ok(None);
    };
    type Row = (Option<String>, Option<String>, Option<String>, i64, i64);
    let found: Option<Row> = tx
        .prepare_cached(
            "SELECT room, low, high, seq, ts FROM mids WHERE sender_key = ?1 AND mid = ?2",
        )?
        .query_row([from_key, mid], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .optional()?;
    let Some((room, low, high, seq, ts)) = found else {
        return Ok(None);
    };
    // The original as it is now (its edits, deletion, reactions and reply quote too), while
    // it is kept.
    let at = match (&room, &low, &high) {
        (Some(room), _, _) => Some(Place::Room(room)),
        (None, Some(low), Some(high)) => Some(Place::Pair(low, high)),
        _ => None,
    };
    let stored = match at {
        Some(at) => stored(tx, at, seq)?.map(|(msg, _)| msg),
        None => None,
    };
    let (target, from, text, ext) = match stored {
        Some(m) => (m.target, m.from, m.text, m.ext),
        None => {
            let d = draft.clone();
            (d.target, d.from, d.text, Ext::default())
        }
    };
    Ok(Some(ChatMessage {
        target,
        seq: seq as u64,
        from,
        text,
        ts: ts as u64,
        cid: draft.cid.clone(),
        mid: Some(mid.clone()),
        ext,
    }))
}

/// Remembers `draft`'s `mid`, if it has one, for the message just stored at `place`, `seq`.
pub(super) fn remember(
    tx: &Transaction<'_>,
    from_key: &str,
    draft: &Draft,
    place: Place<'_>,
    seq: i64,
) -> rusqlite::Result<()> {
    let Some(mid) = &draft.mid else {
        return Ok(());
    };
    let (room, low, high) = match place {
        Place::Room(room) => (Some(room), None, None),
        Place::Pair(low, high) => (None, Some(low), Some(high)),
    };
    tx.prepare_cached(
        "INSERT INTO mids (sender_key, mid, room, low, high, seq, ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        from_key,
        mid,
        room,
        low,
        high,
        seq,
        draft.ts as i64
    ])?;
    Ok(())
}
