//! The changes extension on Redis (engine/change.rs): a change run by `lua/change.lua`, the
//! `changes` read, a reply's quote, and what the feed reads from a published change.

use ::redis::Value;
use serde::{Deserialize, Serialize};
use shared::validate::name_key;
use shared::{ChatMessage, ErrorCode, Quote};

use super::{RedisLog, RedisLogError};
use crate::engine::change::{self, Change, ChangeJob, Place};
use crate::engine::{Committed, Page};

/// Who asked for a change, published with it (`r`), so that the relay it was asked on gives
/// the requester's connection its `cid`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Asker {
    /// The relay's node id.
    pub(super) n: String,
    /// The connection there.
    pub(super) o: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) c: Option<String>,
    /// The requester's name key.
    pub(super) b: String,
    /// A pair's two keys in order; absent for a room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) h: Option<String>,
}

/// A change as `change.lua` publishes it.
#[derive(Deserialize)]
pub(super) struct Published {
    /// [`Asker`] as JSON.
    r: String,
    /// The message's new state as JSON.
    m: String,
}

/// A published change (the text after `c `) as the fan-out takes it, for relay `node`.
pub(super) fn committed(payload: &str, node: &str) -> Result<Committed, RedisLogError> {
    let published: Published = serde_json::from_str(payload)?;
    let asker: Asker = serde_json::from_str(&published.r)?;
    let msg: ChatMessage = serde_json::from_str(&published.m)?;
    let place = match (asker.l, asker.h, &msg.target) {
        (Some(l), Some(h), _) => Place::Pair(l, h),
        (_, _, shared::Target::Room { room }) => Place::Room(room.clone()),
        _ => return Err(RedisLogError::Invalid("a private change without its pair")),
    };
    let here = asker.n == node;
    Ok(Committed::Changed {
        place,
        msg,
        by_key: asker.b,
        origin: if here { asker.o } else { u64::MAX },
        cid: if here { asker.c } else { None },
    })
}

impl RedisLog {
    /// The message at `seq` of `place`, as stored now.
    async fn entry(&self, place: &Place, seq: u64) -> Result<Option<ChatMessage>, RedisLogError> {
        let found: Vec<String> = ::redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.log_of(place))
            .arg(seq)
            .arg(seq)
            .query_async(&mut self.conn.clone())
            .await?;
        found
            .first()
            .map(|json| serde_json::from_str(json))
            .transpose()
            .map_err(RedisLogError::from)
    }

    /// The quote of message `seq` of `place` for a reply, if it is there and not deleted.
    /// Read before the reply is stored: a deletion in between leaves the quote (a snapshot).
    ///
    /// # Errors
    /// Redis could not be read.
    pub async fn quote(&self, place: &Place, seq: u64) -> Result<Option<Quote>, RedisLogError> {
        Ok(self
            .entry(place, seq)
            .await?
            .filter(|m| !m.ext.deleted)
            .map(|m| Quote {
                seq,
                from: m.from,
                text: shared::quote_text(&m.text),
            }))
    }

    /// Runs a change for the session `(node, generation)` (or none to check): `None` when it
    /// was stored (the feed brings it) or changed nothing, else what the requester is told.
    ///
    /// # Errors
    /// Redis did not answer, or answered what `change.lua` does not.
    pub async fn change(
        &self,
        job: &ChangeJob,
        (node, generation): (&str, u64),
    ) -> Result<Option<Committed>, RedisLogError> {
        let refused = |(code, message): change::Refused| {
            Some(Committed::Refused {
                from_key: job.by_key.clone(),
                origin: job.origin,
                cid: job.cid.clone(),
                code,
                message,
            })
        };
        // The author first: `from` never changes, so the script need only check it is the same.
        let Some(stored) = self.entry(&job.place, job.seq).await? else {
            return Ok(refused(change::unknown(job.seq)));
        };
        let (op, author, arg, at) = match &job.change {
            Change::Edit { text, at } => ("edit", stored.from.as_str(), text.as_str(), *at),
            Change::Delete => ("delete", stored.from.as_str(), "", 0),
            Change::React { emoji, remove } => {
                let op = if *remove { "unreact" } else { "react" };
                (op, "", emoji.as_str(), 0)
            }
        };
        // A reaction is the person's whatever the spelling of their latest hello: the name as
        // already stored with this emoji, if it is there, so that the script's comparison of
        // names as spelled finds it (`Ext::react` compares by key). A reaction of theirs from
        // another spelling between this read and the script is the one case it misses.
        let name = match &job.change {
            Change::React { emoji, .. } => stored
                .ext
                .reactions
                .iter()
                .find(|r| &r.emoji == emoji)
                .and_then(|r| r.names.iter().find(|n| name_key(n) == job.by_key))
                .map_or(job.by_name.as_str(), String::as_str),
            _ => job.by_name.as_str(),
        };
        // Whose it is, checked here: the script checks `from` again, and the requester's
        // `since` cannot change while they are online (only an offline name is forgotten).
        if !author.is_empty() {
            let by = change::Requester {
                key: &job.by_key,
                name: &job.by_name,
                since: self.since(&job.by_key).await?,
            };
            let mut probe = stored.clone();
            if let Err(why) = change::apply(&mut probe, &name_key(author), by, &job.change) {
                return Ok(refused(why));
            }
        }
        let (pair, channels) = match &job.place {
            Place::Room(room) => (None, (self.keys.room_channel(room), String::new())),
            Place::Pair(low, high) => (
                Some((low.clone(), high.clone())),
                (self.keys.user_channel(low), self.keys.user_channel(high)),
            ),
        };
        let asker = Asker {
            n: node.to_owned(),
            o: job.origin,
            c: job.cid.clone(),
            b: job.by_key.clone(),
            l: pair.as_ref().map(|p| p.0.clone()),
            h: pair.map(|p| p.1),
        };
        let mut call = self.change.prepare_invoke();
        call.key(self.keys.log_of(&job.place))
            .key(self.keys.rev(&job.place))
            .key(self.keys.changed(&job.place))
            .key(self.keys.session(&job.by_key))
            .arg(job.seq)
            .arg(op)
            .arg(author)
            .arg(name)
            .arg(arg)
            .arg(at)
            .arg(shared::limits::MAX_EMOJIS)
            .arg(shared::limits::MAX_REACTIONS)
            .arg(self.config.retention)
            .arg(serde_json::to_string(&asker)?)
            .arg(&channels.0)
            .arg(&channels.1);
        if generation > 0 {
            call.arg(node).arg(generation);
        } else {
            call.arg("").arg(0);
        }
        let reply: Value = call.invoke_async(&mut self.conn.clone()).await?;
        let word = match &reply {
            Value::Array(items) => match items.first() {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::SimpleString(s)) => s.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        Ok(match word.as_str() {
            "changed" | "same" => None,
            "unknown" => refused(change::unknown(job.seq)),
            "forbidden" => refused((
                ErrorCode::Forbidden,
                "only its author may edit or delete a message".into(),
            )),
            "too_many" => refused((
                ErrorCode::TooMany,
                format!(
                    "a message has at most {} kinds of reaction and {} in all",
                    shared::limits::MAX_EMOJIS,
                    shared::limits::MAX_REACTIONS
                ),
            )),
            "moved" => Some(Committed::Cluster(crate::engine::Event::Moved {
                key: job.by_key.clone(),
                generation: job.generation + 1,
            })),
            _ => {
                return Err(RedisLogError::Reply {
                    what: "a change",
                    detail: format!("{reply:?}"),
                });
            }
        })
    }

    /// The messages of `place` changed after `rev`, in their state now, by revision: at most
    /// `limit`, and whether there were more. A message trimmed from the log meanwhile is left
    /// out.
    ///
    /// # Errors
    /// Redis could not be read, or holds something that is not a message.
    pub async fn changes(
        &self,
        place: &Place,
        rev: u64,
        limit: usize,
    ) -> Result<Page, RedisLogError> {
        let seqs: Vec<u64> = ::redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.changed(place))
            .arg(format!("({rev}"))
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut self.conn.clone())
            .await?;
        let more = seqs.len() > limit;
        if seqs.is_empty() {
            return Ok(Page::default()); // an empty pipeline is no query
        }
        let mut pipe = ::redis::pipe();
        let log = self.keys.log_of(place);
        for &seq in seqs.iter().take(limit) {
            pipe.cmd("ZRANGEBYSCORE").arg(&log).arg(seq).arg(seq);
        }
        let found: Vec<Vec<String>> = pipe.query_async(&mut self.conn.clone()).await?;
        let mut messages = Vec::with_capacity(found.len());
        for json in found.iter().filter_map(|f| f.first()) {
            messages.push(serde_json::from_str::<ChatMessage>(json)?);
        }
        messages.sort_by_key(|m| m.ext.rev);
        Ok(Page {
            messages,
            more,
            last_seq: 0,
        })
    }
}
