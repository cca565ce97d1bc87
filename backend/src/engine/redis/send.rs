//! Storing a message: the arguments of `lua/store.lua` and what its reply means.

use ::redis::Value;
use shared::validate::{self, name_key};
use shared::{ChatMessage, Target};

use super::{RedisLog, RedisLogError};
use crate::engine::mail_cost;

/// What became of a message given to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The sender's session is no longer the one that asked (`engine::cluster`: it moved to
    /// another relay, or this relay's lease lapsed). Nothing was stored.
    Moved,
    /// Stored now, with this seq (and the `ts` it was given); a private message's place in
    /// its recipient's mailbox is `mail_id` (0 for a room message).
    Stored { seq: u64, ts: u64, mail_id: u64 },
    /// Its sender had already sent a message with this `mid` to this conversation within the
    /// dedup window: that one's seq and ts. Nothing was stored.
    Repeat { seq: u64, ts: u64 },
    /// The recipient's mailbox, or the sender's share of it, is full. Nothing was stored and no
    /// seq was used.
    MailboxFull,
}

impl Sent {
    /// The seq and ts to acknowledge, unless the mailbox was full.
    pub fn seq_ts(self) -> Option<(u64, u64)> {
        match self {
            Self::Stored { seq, ts, .. } | Self::Repeat { seq, ts } => Some((seq, ts)),
            Self::MailboxFull | Self::Moved => None,
        }
    }
}

impl RedisLog {
    /// Stores a room message (`target` a room; its `seq` is ignored: Redis assigns it),
    /// publishes it on the room's channel, and says its seq. The caller has checked the room,
    /// name and text (`shared::validate`); the `mid` is checked here.
    ///
    /// # Errors
    /// [`RedisLogError::Redis`] when Redis did not answer (the message may have been stored:
    /// retry with the same `mid`); [`RedisLogError::Invalid`] for a message that is not a room
    /// message or has a bad `mid`; [`RedisLogError::MidReused`].
    pub async fn store_room(&self, msg: &ChatMessage) -> Result<Sent, RedisLogError> {
        self.store_room_as(msg, None).await
    }

    /// [`RedisLog::store_room`] for the session `(node, generation)` of its sender: stored only
    /// if that is still the session's (`engine::cluster`), else [`Sent::Moved`].
    ///
    /// # Errors
    /// As [`RedisLog::store_room`].
    pub async fn store_room_as(
        &self,
        msg: &ChatMessage,
        session: Option<(&str, u64)>,
    ) -> Result<Sent, RedisLogError> {
        let Target::Room { room } = &msg.target else {
            return Err(RedisLogError::Invalid("a room message needs a room"));
        };
        let sender = name_key(&msg.from);
        let (head, tail) = split_at_seq(msg)?;
        let mid = mid_of(msg)?;
        let log = self.keys.room_log(room);
        let mut call = self.store.prepare_invoke();
        call.key(self.keys.room_seq(room))
            .key(&log)
            .key(self.keys.mid(&sender, mid))
            .key(self.keys.session(&sender))
            .arg(head)
            .arg(tail)
            .arg(msg.ts)
            .arg(mid)
            .arg(self.config.dedup_window.as_secs().max(1))
            .arg(self.config.retention)
            .arg(self.keys.room_channel(room))
            .arg("room");
        fence(&mut call, session);
        let reply: Value = call.invoke_async(&mut self.conn.clone()).await?;
        outcome(reply, &log, mid)
    }

    /// Stores a private message (`target` its recipient) from `from_addr` (the sender's
    /// address, for its share of the mailbox; `None` counts by name only): in the pair's log
    /// and in the recipient's mailbox, if the mailbox has room; publishes it on the sender's
    /// and the recipient's channels.
    ///
    /// # Errors
    /// As [`RedisLog::store_room`].
    pub async fn store_direct(
        &self,
        msg: &ChatMessage,
        from_addr: Option<&str>,
    ) -> Result<Sent, RedisLogError> {
        self.store_direct_as(msg, from_addr, None).await
    }

    /// [`RedisLog::store_direct`] for the session `(node, generation)` of its sender, as
    /// [`RedisLog::store_room_as`].
    ///
    /// # Errors
    /// As [`RedisLog::store_room`].
    pub async fn store_direct_as(
        &self,
        msg: &ChatMessage,
        from_addr: Option<&str>,
        session: Option<(&str, u64)>,
    ) -> Result<Sent, RedisLogError> {
        let Target::User { to } = &msg.target else {
            return Err(RedisLogError::Invalid(
                "a private message needs a recipient",
            ));
        };
        let (sender, recipient) = (name_key(&msg.from), name_key(to));
        let (head, tail) = split_at_seq(msg)?;
        let mid = mid_of(msg)?;
        let log = self.keys.pair_log(&sender, &recipient);
        let limits = self.config.mailbox;
        let mut call = self.store.prepare_invoke();
        call.key(self.keys.pair_seq(&sender, &recipient))
            .key(&log)
            .key(self.keys.mid(&sender, mid))
            .key(self.keys.mailbox(&recipient))
            .key(self.keys.mail_size(&recipient))
            .key(self.keys.correspondents(&sender))
            .key(self.keys.correspondents(&recipient))
            .key(self.keys.session(&sender))
            .arg(head)
            .arg(tail)
            .arg(msg.ts)
            .arg(mid)
            .arg(self.config.dedup_window.as_secs().max(1))
            .arg(self.config.retention)
            .arg(self.keys.user_channel(&sender))
            .arg("direct")
            .arg(&sender)
            .arg(from_addr.unwrap_or(""))
            .arg(mail_cost(&msg.text))
            .arg(limits.messages)
            .arg(limits.bytes)
            .arg(limits.share_messages)
            .arg(limits.share_bytes)
            .arg(&recipient)
            .arg(self.keys.user_channel(&recipient));
        fence(&mut call, session);
        let reply: Value = call.invoke_async(&mut self.conn.clone()).await?;
        outcome(reply, &log, mid)
    }
}

impl RedisLog {
    /// Whether Redis answers.
    ///
    /// # Errors
    /// It does not, within the response timeout.
    pub async fn ping(&self) -> Result<(), RedisLogError> {
        let _: String = ::redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// The seq and ts of the message `sender` (a name or name key) stored with this `mid`
    /// within the dedup window, if any.
    ///
    /// # Errors
    /// Redis did not answer, or the key is not what `store.lua` writes.
    pub async fn stored_mid(
        &self,
        sender: &str,
        mid: &str,
    ) -> Result<Option<(u64, u64)>, RedisLogError> {
        let seen: Option<String> = ::redis::cmd("GET")
            .arg(self.keys.mid(&name_key(sender), mid))
            .query_async(&mut self.conn.clone())
            .await?;
        let Some(seen) = seen else { return Ok(None) };
        let mut parts = seen.splitn(3, ' ');
        match (
            parts.next().and_then(|s| s.parse().ok()),
            parts.next().and_then(|s| s.parse().ok()),
        ) {
            (Some(seq), Some(ts)) => Ok(Some((seq, ts))),
            _ => Err(RedisLogError::Reply {
                what: "a message id",
                detail: seen,
            }),
        }
    }
}

/// The last two arguments of `store.lua`: the sender's session, or none to check.
fn fence(call: &mut ::redis::ScriptInvocation<'_>, session: Option<(&str, u64)>) {
    let (node, generation) = session.unwrap_or(("", 0));
    call.arg(node).arg(generation);
}

/// The message's `mid`, checked (`""` for none: the script's "no mid").
fn mid_of(msg: &ChatMessage) -> Result<&str, RedisLogError> {
    match msg.mid.as_deref() {
        None => Ok(""),
        Some(mid) if validate::mid(mid) => Ok(mid),
        Some(_) => Err(RedisLogError::Invalid("a mid has 1 to 64 characters")),
    }
}

/// The message's JSON cut around its seq: the script puts the seq it assigns between the two.
/// The target's fields come first and are strings (a `"` in them is escaped), so the first
/// `"seq":0` is the field.
fn split_at_seq(msg: &ChatMessage) -> Result<(String, String), RedisLogError> {
    let json = serde_json::to_string(&ChatMessage {
        seq: 0,
        ..msg.clone()
    })?;
    const FIELD: &str = "\"seq\":0";
    let at = json.find(FIELD).ok_or(RedisLogError::Reply {
        what: "serialising a message",
        detail: "no seq field".into(),
    })?;
    let cut = at + FIELD.len() - 1;
    Ok((json[..cut].to_owned(), json[cut + 1..].to_owned()))
}

/// Reads the script's reply: `["stored", seq, ts, mail id]`, `["repeat", seq, ts, log]`,
/// `["full"]` or `["moved"]`.
fn outcome(reply: Value, log: &str, mid: &str) -> Result<Sent, RedisLogError> {
    let bad = |detail: String| RedisLogError::Reply {
        what: "storing a message",
        detail,
    };
    let Value::Array(items) = &reply else {
        return Err(bad(format!("{reply:?}")));
    };
    let text = |i: usize| match items.get(i) {
        Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    let number = |i: usize| match items.get(i) {
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    match (text(0).as_deref(), number(1), number(2)) {
        (Some("stored"), Some(seq), Some(ts)) => Ok(Sent::Stored {
            seq,
            ts,
            mail_id: number(3).unwrap_or(0),
        }),
        (Some("repeat"), Some(seq), Some(ts)) => {
            if text(3).as_deref() == Some(log) {
                Ok(Sent::Repeat { seq, ts })
            } else {
                Err(RedisLogError::MidReused {
                    mid: mid.to_owned(),
                })
            }
        }
        (Some("full"), None, None) => Ok(Sent::MailboxFull),
        (Some("moved"), None, None) => Ok(Sent::Moved),
        _ => Err(bad(format!("{reply:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seq_goes_between_the_two_halves() {
        let msg = ChatMessage {
            target: Target::Room {
                room: "lobby".into(),
            },
            seq: 7,
            from: "\"seq\":0 alice".into(),
            text: "\"seq\":0,".into(),
            ts: 1_700_000_000_000,
            cid: Some("c1".into()),
            mid: Some("m1".into()),
            ext: Default::default(),
        };
        let (head, tail) = split_at_seq(&msg).unwrap();
        let stored: ChatMessage = serde_json::from_str(&format!("{head}42{tail}")).unwrap();
        assert_eq!(stored, ChatMessage { seq: 42, ..msg });
    }
}
