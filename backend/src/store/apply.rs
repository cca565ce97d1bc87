//! What each writer job does inside the writer's transaction: the SQL of storing a user, a
//! room or private message (numbered by its counter row, checked against the mailbox limits and
//! the sender's share), an acknowledgement, a name forgotten. The writer thread
//! (`writer.rs`) owns the transaction and the order; this file owns the statements.

use rusqlite::{Transaction, params};
use shared::Target;

use super::changes;
use super::mail_counts::MailCounts;
use super::repeats::{self, Place};
use crate::engine::{
    Committed, Draft, EngineLimits, Job, Place as Conversation, Retention, mail_cost, pair,
};

/// A room (or pair) is trimmed to its retained count each time its seq passes a multiple of
/// this, so trimming costs one range delete per this many messages.
const TRIM_EVERY: u64 = 64;

/// Applies one job inside `tx`; a message job yields its [`Committed`].
pub(super) fn apply_one(
    tx: &Transaction<'_>,
    job: &Job,
    (retention, limits): (Retention, &EngineLimits),
    counts: &mut MailCounts,
) -> rusqlite::Result<Option<Committed>> {
    match job {
        Job::User { key, name, seen } => {
            tx.prepare_cached(
                "INSERT INTO users (key, name, last_seen, since) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (key) DO UPDATE SET name = excluded.name,
                                                 last_seen = excluded.last_seen",
            )?
            .execute(rusqlite::params![key, name, *seen as i64])?;
            Ok(None)
        }
        Job::Seen { key, at } => {
            tx.prepare_cached("UPDATE users SET last_seen = ?2 WHERE key = ?1")?
                .execute(rusqlite::params![key, *at as i64])?;
            Ok(None)
        }
        Job::Forget { key } => {
            tx.prepare_cached(
                "DELETE FROM direct_messages WHERE (low, high) IN
                   (SELECT low, high FROM pairs WHERE low = ?1 OR high = ?1)",
            )?
            .execute([key])?;
            tx.prepare_cached("DELETE FROM mailbox WHERE low = ?1 OR high = ?1")?
                .execute([key])?;
            tx.prepare_cached("DELETE FROM users WHERE key = ?1")?
                .execute([key])?;
            tx.prepare_cached("DELETE FROM mids WHERE sender_key = ?1")?
                .execute([key])?;
            // Mail to and from the name left many mailboxes: count them again as needed.
            counts.forget_all();
            Ok(None)
        }
        Job::Protect { key, hash, at } => {
            tx.prepare_cached(
                "UPDATE users SET password = ?2, password_at = ?3, password_outside = 0
                 WHERE key = ?1 AND password_at <= ?3",
            )?
            .execute(rusqlite::params![key, hash, *at as i64])?;
            Ok(None)
        }
        Job::Room { from_key, draft } => {
            let Target::Room { room } = &draft.target else {
                return Err(rusqlite::Error::InvalidParameterName(
                    "a room job without a room".into(),
                ));
            };
            if let Some(msg) = repeats::original(tx, from_key, draft)? {
                let from_key = from_key.clone();
                let origin = draft.origin;
                return Ok(Some(Committed::Repeat {
                    from_key,
                    origin,
                    msg,
                }));
            }
            let quote = match replied(tx, from_key, draft, &Conversation::Room(room.clone()))? {
                Ok(quote) => quote,
                Err(refused) => return Ok(Some(refused)),
            };
            let (reply_seq, reply_from, reply_text) = changes::reply_params(quote.as_ref());
            let seq: i64 = tx
                .prepare_cached(
                    "INSERT INTO rooms (room, last_seq) VALUES (?1, 1)
                     ON CONFLICT (room) DO UPDATE SET last_seq = last_seq + 1
                     RETURNING last_seq",
                )?
                .query_row([room], |row| row.get(0))?;
            tx.prepare_cached(
                "INSERT INTO room_messages
                     (room, seq, sender, text, ts, cid, mid, reply_seq, reply_from, reply_text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                room,
                seq,
                draft.from,
                draft.text,
                draft.ts as i64,
                draft.cid,
                draft.mid,
                reply_seq,
                reply_from,
                reply_text
            ])?;
            repeats::remember(tx, from_key, draft, Place::Room(room), seq)?;
            if retention.messages > 0 && (seq as u64).is_multiple_of(TRIM_EVERY) {
                tx.prepare_cached("DELETE FROM room_messages WHERE room = ?1 AND seq <= ?2")?
                    .execute(params![room, seq - retention.messages as i64])?;
            }
            let mut msg = draft.clone().numbered(seq as u64);
            msg.ext.reply = quote;
            Ok(Some(Committed::Room {
                msg,
                accepted: draft.accepted,
            }))
        }
        Job::Direct {
            from_key,
            from_addr,
            to_key,
            draft,
        } => {
            let Target::User { to } = &draft.target else {
                return Err(rusqlite::Error::InvalidParameterName(
                    "a private job without a recipient".into(),
                ));
            };
            if let Some(msg) = repeats::original(tx, from_key, draft)? {
                let from_key = from_key.clone();
                let origin = draft.origin;
                return Ok(Some(Committed::Repeat {
                    from_key,
                    origin,
                    msg,
                }));
            }
            // Counted by the writer as it adds and removes mail (`mail_counts.rs`), so that
            // messages still on their way to the database count and none is counted twice:
            // the whole mailbox, then the sender's share of it by name and by address.
            let cost = mail_cost(&draft.text);
            let (held, from_sender, from_address) =
                counts.held(tx, to_key, from_key, from_addr.as_deref())?;
            let share =
                |held| EngineLimits::fits(held, cost, limits.share_messages, limits.share_bytes);
            let fits =
                EngineLimits::fits(held, cost, limits.mailbox_messages, limits.mailbox_bytes)
                    && share(from_sender)
                    && from_address.is_none_or(share);
            if !fits {
                return Ok(Some(Committed::MailboxFull {
                    from_key: from_key.clone(),
                    origin: draft.origin,
                    to: to.clone(),
                    cid: draft.cid.clone(),
                }));
            }
            let (low, high) = pair(from_key, to_key);
            let place = Conversation::Pair(low.clone(), high.clone());
            let quote = match replied(tx, from_key, draft, &place)? {
                Ok(quote) => quote,
                Err(refused) => return Ok(Some(refused)),
            };
            let (reply_seq, reply_from, reply_text) = changes::reply_params(quote.as_ref());
            let seq: i64 = tx
                .prepare_cached(
                    "INSERT INTO pairs (low, high, last_seq) VALUES (?1, ?2, 1)
                     ON CONFLICT (low, high) DO UPDATE SET last_seq = last_seq + 1
                     RETURNING last_seq",
                )?
                .query_row([&low, &high], |row| row.get(0))?;
            tx.prepare_cached(
                "INSERT INTO direct_messages
                     (low, high, seq, sender_key, sender, recipient, text, ts, cid, mid,
                      reply_seq, reply_from, reply_text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                low,
                high,
                seq,
                from_key,
                draft.from,
                to,
                draft.text,
                draft.ts as i64,
                draft.cid,
                draft.mid,
                reply_seq,
                reply_from,
                reply_text
            ])?;
            repeats::remember(tx, from_key, draft, Place::Pair(&low, &high), seq)?;
            tx.prepare_cached(
                "INSERT INTO mailbox (recipient_key, sender_key, low, high, seq, cost, sender_addr)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                to_key,
                from_key,
                low,
                high,
                seq,
                cost as i64,
                from_addr
            ])?;
            let mail_id = tx.last_insert_rowid();
            counts.added(to_key, from_key, from_addr.as_deref(), cost as i64);
            if retention.messages > 0 && (seq as u64).is_multiple_of(TRIM_EVERY) {
                tx.prepare_cached(
                    "DELETE FROM direct_messages
                     WHERE low = ?1 AND high = ?2 AND seq <= ?3 AND NOT EXISTS (
                         SELECT 1 FROM mailbox b
                         WHERE b.low = ?1 AND b.high = ?2 AND b.seq = direct_messages.seq)",
                )?
                .execute(params![low, high, seq - retention.messages as i64])?;
            }
            let mut msg = draft.clone().numbered(seq as u64);
            msg.ext.reply = quote;
            Ok(Some(Committed::Direct {
                from_key: from_key.clone(),
                to_key: to_key.clone(),
                mail_id,
                msg,
                accepted: draft.accepted,
            }))
        }
        Job::Ack {
            user_key,
            correspondent_key,
            seq,
        } => {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM mailbox WHERE recipient_key = ?1 AND sender_key = ?2 AND seq <= ?3
                 RETURNING sender_addr, cost",
            )?;
            let upto = i64::try_from(*seq).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![user_key, correspondent_key, upto])?;
            while let Some(row) = rows.next()? {
                let (addr, cost): (Option<String>, i64) = (row.get(0)?, row.get(1)?);
                counts.removed(user_key, correspondent_key, addr.as_deref(), cost);
            }
            Ok(Some(Committed::Acked {
                user_key: user_key.clone(),
                correspondent_key: correspondent_key.clone(),
                seq: *seq,
            }))
        }
        Job::Change(change) => changes::apply(tx, change),
        Job::Received { user_key, ids } => {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM mailbox WHERE id = ?1 RETURNING sender_key, sender_addr, cost",
            )?;
            for id in ids {
                let mut rows = stmt.query([id])?;
                while let Some(row) = rows.next()? {
                    let (sender, addr, cost): (String, Option<String>, i64) =
                        (row.get(0)?, row.get(1)?, row.get(2)?);
                    counts.removed(user_key, &sender, addr.as_deref(), cost);
                }
            }
            Ok(Some(Committed::Removed {
                user_key: user_key.clone(),
                ids: ids.clone(),
            }))
        }
    }
}

/// The quote of the message `draft` replies to, if it replies; the refusal to send its sender
/// if that message is not in `place` (never sent, trimmed, or deleted).
fn replied(
    tx: &Transaction<'_>,
    from_key: &str,
    draft: &Draft,
    place: &Conversation,
) -> rusqlite::Result<Result<Option<shared::Quote>, Committed>> {
    let Some(seq) = draft.reply else {
        return Ok(Ok(None));
    };
    if let Some(quote) = changes::quote(tx, place, seq)? {
        return Ok(Ok(Some(quote)));
    }
    let (code, message) = crate::engine::change::unknown(seq);
    Ok(Err(Committed::Refused {
        from_key: from_key.to_owned(),
        origin: draft.origin,
        cid: draft.cid.clone(),
        code,
        message,
    }))
}
