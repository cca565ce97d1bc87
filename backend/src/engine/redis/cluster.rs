//! The cluster's shared state in Redis (`lua/cluster.lua`): claiming and releasing names,
//! entering and leaving rooms, the rooms and names online across every relay, and clearing
//! the part of a relay that died. See `engine/cluster.rs` for what it means.

use ::redis::Value;

use super::{RedisLog, RedisLogError};
use crate::engine::{Claim, ClaimMode, Claimed, Entered};

impl RedisLog {
    fn cluster_call(&self, node: &str, op: &str) -> ::redis::ScriptInvocation<'_> {
        let mut call = self.cluster.prepare_invoke();
        call.arg(&self.config.prefix).arg(op).arg(node);
        call
    }

    /// Claims a name for relay `node`.
    ///
    /// # Errors
    /// Redis did not answer, or answered oddly.
    pub async fn claim(&self, node: &str, claim: &Claim) -> Result<Claimed, RedisLogError> {
        let mode = match claim.mode {
            ClaimMode::Token => "token",
            ClaimMode::TokenRequired => "required",
            ClaimMode::Proven => "proven",
        };
        let mut call = self.cluster_call(node, "claim");
        call.arg(&claim.key)
            .arg(&claim.name)
            .arg(&claim.token)
            .arg(claim.given.as_deref().unwrap_or(""))
            .arg(mode)
            .arg(claim.forgotten_at)
            .arg(if claim.attach { "1" } else { "0" })
            .arg(claim.most)
            .arg(&claim.holder);
        let reply: Value = call.invoke_async(&mut self.conn.clone()).await?;
        let items = array(&reply, "a claim")?;
        match (text(items.first()).as_deref(), items.get(1), items.get(2)) {
            (Some("ok"), Some(Value::Int(generation)), Some(Value::Int(by_token))) => {
                Ok(Claimed::Ok {
                    generation: u64::try_from(*generation).unwrap_or(0),
                    by_token: *by_token == 1,
                })
            }
            (Some("attached"), Some(Value::Int(generation)), Some(token)) => {
                let (Some(token), Some(name), Some(&Value::Int(connections))) =
                    (text(Some(token)), text(items.get(3)), items.get(4))
                else {
                    return Err(odd("a claim", &reply));
                };
                Ok(Claimed::Attached {
                    generation: u64::try_from(*generation).unwrap_or(0),
                    token,
                    name,
                    connections: usize::try_from(connections).unwrap_or(0),
                    rooms: items[5..].iter().filter_map(|v| text(Some(v))).collect(),
                })
            }
            (Some("full"), None, None) => Ok(Claimed::Full),
            (Some("taken"), None, None) => Ok(Claimed::Taken),
            (Some("refused"), None, None) => Ok(Claimed::TokenRefused),
            (Some("protected"), Some(hash), Some(&Value::Int(at))) => {
                let (Some(password), Some(&Value::Int(outside))) = (text(Some(hash)), items.get(3))
                else {
                    return Err(odd("a claim", &reply));
                };
                Ok(Claimed::Protected {
                    password,
                    at: u64::try_from(at).unwrap_or(0),
                    outside: outside == 1,
                })
            }
            _ => Err(odd("a claim", &reply)),
        }
    }

    /// Releases the connection `holder` (its [`Claim::holder`]) of relay `node` from `key`'s
    /// session, if it still holds it: the session ends with its last connection. Safe to
    /// repeat.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn release(&self, node: &str, key: &str, holder: &str) -> Result<(), RedisLogError> {
        let mut call = self.cluster_call(node, "release");
        call.arg(key).arg(holder);
        let _: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Enters the session `(key, name, generation)` of relay `node` in `room`: the room's
    /// count and, if at most `most`, its members' names; or `None` if the session is no
    /// longer this relay's.
    ///
    /// # Errors
    /// Redis did not answer, or answered oddly.
    pub async fn enter(
        &self,
        node: &str,
        room: &str,
        (key, name, generation): (&str, &str, u64),
        most: usize,
    ) -> Result<Option<Entered>, RedisLogError> {
        let mut call = self.cluster_call(node, "enter");
        call.arg(room).arg(key).arg(name).arg(generation).arg(most);
        let reply: Value = call.invoke_async(&mut self.conn.clone()).await?;
        let items = array(&reply, "entering a room")?;
        match (text(items.first()).as_deref(), items.get(1)) {
            (Some("ok"), Some(&Value::Int(count))) => Ok(Some(Entered {
                count: usize::try_from(count).unwrap_or(0),
                names: items[2..].iter().filter_map(|v| text(Some(v))).collect(),
            })),
            (Some("moved"), _) => Ok(None),
            _ => Err(odd("entering a room", &reply)),
        }
    }

    /// Whether relay `node` holds `key`'s session (is its node, or holds connections of
    /// it), and the session's generation, if there is a session.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn session_holder(
        &self,
        node: &str,
        key: &str,
    ) -> Result<Option<(bool, u64)>, RedisLogError> {
        let (held, generation, here): (Option<String>, Option<u64>, Option<i64>) =
            ::redis::cmd("HMGET")
                .arg(self.keys.session(key))
                .arg("node")
                .arg("gen")
                .arg(format!("n:{node}"))
                .query_async(&mut self.conn.clone())
                .await?;
        let holds = held.as_deref() == Some(node) || here.is_some_and(|n| n > 0);
        Ok(held
            .zip(generation)
            .map(|(_, generation)| (holds, generation)))
    }

    /// Takes relay `node`'s session of `key` out of `room`.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn exit(&self, node: &str, room: &str, key: &str) -> Result<(), RedisLogError> {
        let mut call = self.cluster_call(node, "exit");
        call.arg(room).arg(key);
        let _: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Clears the part of relay `dead` (asked by relay `node`): it leaves its rooms (their
    /// members hear it), its names are free, and its sessions' tokens stay good for
    /// `grace_ms`. True if this call did it (only one relay does).
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn reap(&self, node: &str, dead: &str, grace_ms: u64) -> Result<bool, RedisLogError> {
        let mut call = self.cluster_call(node, "reap");
        call.arg(dead).arg(grace_ms);
        let reaped: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(reaped == 1)
    }

    /// The relays that joined and have not been reaped, and which of them hold a lease.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn nodes(&self) -> Result<Vec<(String, bool)>, RedisLogError> {
        let ids: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(self.keys.nodes())
            .query_async(&mut self.conn.clone())
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.exists(self.keys.node(id));
        }
        let alive: Vec<bool> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(ids.into_iter().zip(alive).collect())
    }

    /// Every room with members across the cluster, and how many.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn rooms(&self) -> Result<Vec<(String, usize)>, RedisLogError> {
        let rooms: Vec<(String, i64)> = ::redis::cmd("HGETALL")
            .arg(self.keys.rooms())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(rooms
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(room, n)| (room, usize::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// The names online across the cluster.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn online(&self) -> Result<Vec<String>, RedisLogError> {
        let values: Vec<String> = ::redis::cmd("HVALS")
            .arg(self.keys.online())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(values
            .into_iter()
            .filter_map(|v| v.split_once(' ').map(|(_, name)| name.to_owned()))
            .collect())
    }
}

fn array<'a>(reply: &'a Value, what: &'static str) -> Result<&'a [Value], RedisLogError> {
    match reply {
        Value::Array(items) => Ok(items),
        _ => Err(odd(what, reply)),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    }
}

fn odd(what: &'static str, reply: &Value) -> RedisLogError {
    RedisLogError::Reply {
        what,
        detail: format!("{reply:?}"),
    }
}
