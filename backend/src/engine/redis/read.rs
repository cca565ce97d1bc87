//! The read side, and removing mail: history pages of a room or pair by seq, a user's
//! mailbox, acks.
//!
//! A page is one ZREVRANGEBYSCORE of at most `limit + 1` entries and the conversation's counter,
//! read in one MULTI so that they agree. A mailbox is bounded by the mailbox limits.

use serde::Deserialize;
use shared::ChatMessage;
use shared::validate::name_key;

use super::{RedisLog, RedisLogError};
use crate::engine::{Page, mail_cost};

/// A private message waiting in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Its place in the mailbox (arrival order): what [`RedisLog::received`] removes.
    pub id: u64,
    /// The sender's name key.
    pub sender_key: String,
    pub msg: ChatMessage,
}

/// A mailbox entry as `store.lua` writes it.
#[derive(Deserialize)]
struct Entry {
    /// The sender's key.
    k: String,
    /// The message's JSON.
    m: String,
}

/// A log entry (a member of `room-log:ROOM` or `pair-log:PAIR`) as the message it is: what
/// pages, gaps and search read.
///
/// # Errors
/// The entry is not a message.
pub(super) fn decode(entry: &str) -> Result<ChatMessage, RedisLogError> {
    Ok(serde_json::from_str(entry)?)
}

impl RedisLog {
    /// The newest `limit` messages of `room` with `after < seq < before` (`before` absent: no
    /// upper bound), and the room's last seq. The page stops early, saying `more`, once its
    /// messages reach `max_bytes` (as `engine::mail_cost` counts them; at least one message).
    ///
    /// # Errors
    /// Redis could not be read, or holds something that is not a message.
    pub async fn room_page(
        &self,
        room: &str,
        after: u64,
        before: Option<u64>,
        (limit, max_bytes): (usize, usize),
    ) -> Result<Page, RedisLogError> {
        let (seq, log) = (self.keys.room_seq(room), self.keys.room_log(room));
        self.page(&seq, &log, after, before, (limit, max_bytes))
            .await
    }

    /// The same for the private conversation of two users (their names or name keys, in
    /// either order).
    ///
    /// # Errors
    /// As [`RedisLog::room_page`].
    pub async fn direct_page(
        &self,
        (a, b): (&str, &str),
        after: u64,
        before: Option<u64>,
        (limit, max_bytes): (usize, usize),
    ) -> Result<Page, RedisLogError> {
        let (a, b) = (name_key(a), name_key(b));
        let (seq, log) = (self.keys.pair_seq(&a, &b), self.keys.pair_log(&a, &b));
        self.page(&seq, &log, after, before, (limit, max_bytes))
            .await
    }

    async fn page(
        &self,
        seq_key: &str,
        log_key: &str,
        after: u64,
        before: Option<u64>,
        (limit, max_bytes): (usize, usize),
    ) -> Result<Page, RedisLogError> {
        let upper = before.map_or_else(|| "+inf".to_owned(), |b| format!("({b}"));
        let (last_seq, newest_first): (Option<u64>, Vec<String>) = ::redis::pipe()
            .atomic()
            .get(seq_key)
            .cmd("ZREVRANGEBYSCORE")
            .arg(log_key)
            .arg(upper)
            .arg(format!("({after}"))
            .arg("LIMIT")
            .arg(0)
            .arg(limit.saturating_add(1))
            .query_async(&mut self.conn.clone())
            .await?;
        let mut messages = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for json in newest_first {
            let msg = decode(&json)?;
            let cost = mail_cost(&msg.text);
            if messages.len() == limit || (!messages.is_empty() && bytes + cost > max_bytes) {
                more = true;
                break;
            }
            bytes += cost;
            messages.push(msg);
        }
        messages.reverse();
        Ok(Page {
            messages,
            more,
            last_seq: last_seq.unwrap_or(0),
        })
    }

    /// The room's last seq and its last revision (0 before its first message, its first
    /// change), in one read.
    ///
    /// # Errors
    /// As [`RedisLog::room_page`].
    pub async fn room_last(&self, room: &str) -> Result<(u64, u64), RedisLogError> {
        let place = crate::engine::Place::Room(room.to_owned());
        let (last, rev): (Option<u64>, Option<u64>) = ::redis::cmd("MGET")
            .arg(self.keys.room_seq(room))
            .arg(self.keys.rev(&place))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok((last.unwrap_or(0), rev.unwrap_or(0)))
    }

    /// The oldest `limit` messages of `room` with `after < seq <= until`, oldest first: what
    /// fills a gap in what pub/sub brought.
    ///
    /// # Errors
    /// As [`RedisLog::room_page`].
    pub async fn room_since(
        &self,
        room: &str,
        after: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, RedisLogError> {
        let entries: Vec<String> = ::redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.room_log(room))
            .arg(format!("({after}"))
            .arg(until)
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await?;
        entries.iter().map(|json| decode(json)).collect()
    }

    /// Every private message `user` (a name or name key) has not received yet, in the order
    /// they came in.
    ///
    /// # Errors
    /// As [`RedisLog::room_page`].
    pub async fn mailbox(&self, user: &str) -> Result<Vec<Mail>, RedisLogError> {
        let entries: Vec<(String, u64)> = ::redis::cmd("ZRANGE")
            .arg(self.keys.mailbox(&name_key(user)))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut self.conn.clone())
            .await?;
        let user = name_key(user);
        let mut mail = entries
            .into_iter()
            .map(|(member, id)| {
                let entry: Entry = serde_json::from_str(&member)?;
                Ok(Mail {
                    id,
                    sender_key: entry.k,
                    msg: serde_json::from_str(&entry.m)?,
                })
            })
            .collect::<Result<Vec<Mail>, RedisLogError>>()?;
        // The mailbox keeps a copy of each message as sent; the log has its state now (an
        // edit, a deletion, reactions), while it keeps it.
        if mail.is_empty() {
            return Ok(mail);
        }
        let mut pipe = ::redis::pipe();
        for m in &mail {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(self.keys.pair_log(&m.sender_key, &user))
                .arg(m.msg.seq)
                .arg(m.msg.seq);
        }
        let now: Vec<Vec<String>> = pipe.query_async(&mut self.conn.clone()).await?;
        for (m, now) in mail.iter_mut().zip(now) {
            if let Some(json) = now.first() {
                let current: ChatMessage = serde_json::from_str(json)?;
                if current.ext.rev.is_some() {
                    m.msg = ChatMessage {
                        cid: m.msg.cid.take(),
                        ..current
                    };
                }
            }
        }
        Ok(mail)
    }

    /// `user` has received every private message from `correspondent` up to and including
    /// `seq` (an `ack`): removes them from `user`'s mailbox. Says how many were removed.
    ///
    /// # Errors
    /// Redis could not be reached, or did not answer in time (the ack may have been applied;
    /// applying it again is harmless).
    pub async fn ack(
        &self,
        user: &str,
        correspondent: &str,
        seq: u64,
    ) -> Result<u64, RedisLogError> {
        let user = name_key(user);
        let mut call = self.ack.prepare_invoke();
        call.key(self.keys.mailbox(&user))
            .key(self.keys.mail_size(&user))
            .arg("ack")
            .arg(name_key(correspondent))
            .arg(seq);
        Ok(call.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Removes the mail with these ids from `user`'s mailbox: mail counted as received once
    /// queued on the connection of a client that does not ack. Says how many were removed.
    ///
    /// # Errors
    /// As [`RedisLog::ack`].
    pub async fn received(&self, user: &str, ids: &[u64]) -> Result<u64, RedisLogError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let user = name_key(user);
        let mut call = self.ack.prepare_invoke();
        call.key(self.keys.mailbox(&user))
            .key(self.keys.mail_size(&user))
            .arg("ids")
            .arg(ids);
        Ok(call.invoke_async(&mut self.conn.clone()).await?)
    }

    /// The mailbox's sizes as `store.lua` counts them: messages and bytes in all, and from
    /// `sender` (a name or name key). For tests and metrics.
    ///
    /// # Errors
    /// As [`RedisLog::room_page`].
    pub async fn mailbox_size(&self, user: &str, sender: &str) -> Result<[u64; 4], RedisLogError> {
        let sender = name_key(sender);
        let held: Vec<Option<u64>> = ::redis::cmd("HMGET")
            .arg(self.keys.mail_size(&name_key(user)))
            .arg("n")
            .arg("b")
            .arg(format!("n:s:{sender}"))
            .arg(format!("b:s:{sender}"))
            .query_async(&mut self.conn.clone())
            .await?;
        let mut sizes = [0; 4];
        for (size, held) in sizes.iter_mut().zip(held) {
            *size = held.unwrap_or(0);
        }
        Ok(sizes)
    }
}
