//! What Redis's persistence settings (`appendonly`, `appendfsync`) promise for a message whose
//! seq the log has returned, read with `CONFIG GET` when the relay starts.
//!
//! | setting | an acknowledged message |
//! |---|---|
//! | `appendonly yes`, `appendfsync always` | is in the AOF and fsynced before the script's reply: it survives Redis being killed and its machine losing power |
//! | `appendonly yes`, `appendfsync everysec` | is usually written to the AOF (the kernel has it) before the reply, and fsynced within about a second: the last second or two may be lost if the machine goes down; and while an fsync is slow, Redis postpones its writes by up to 2 s, so then even Redis being killed loses them |
//! | `appendonly yes`, `appendfsync no` | as `everysec`, but the kernel flushes when it likes (typically within 30 s) |
//! | `appendonly no` | is only in memory (and in RDB snapshots, if `save` is set): everything since the last snapshot is lost when Redis stops |
//!
//! Measured cost (`cargo run -p courier --example redis_durability_cost`: room messages through
//! `store.lua`, Redis 7.0 on the shared 2-core test machine, a debug build, three runs):
//!
//! | setting | one sender, each waiting for its reply | 8 senders at once |
//! |---|---|---|
//! | `appendfsync always` | 370 to 640 a second (an fsync each) | 1,150 to 1,500 a second (Redis fsyncs once per event-loop turn for every reply in it) |
//! | `appendfsync everysec` | 15,000 to 22,000 a second | 40,000 to 65,000 a second |
//! | `appendonly no` | 6,000 to 23,000 a second | 32,000 to 69,000 a second |

use std::collections::HashMap;

use ::redis::aio::ConnectionManager;

use super::RedisLogError;

/// How far an acknowledged message is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Fsynced to the AOF before the acknowledgement (`appendfsync always`).
    Fsynced,
    /// Written to the AOF, fsynced later (`everysec`, `no`): lost if the machine goes down.
    Written,
    /// Not in an AOF (`appendonly no`): lost if Redis goes down.
    Memory,
}

/// Redis's persistence settings and what they promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    pub appendonly: String,
    pub appendfsync: String,
    pub persistence: Persistence,
}

impl Durability {
    /// From the two settings' values as `CONFIG GET` gives them.
    pub fn from_settings(appendonly: &str, appendfsync: &str) -> Self {
        let persistence = if !appendonly.eq_ignore_ascii_case("yes") {
            Persistence::Memory
        } else if appendfsync.eq_ignore_ascii_case("always") {
            Persistence::Fsynced
        } else {
            Persistence::Written
        };
        Self {
            appendonly: appendonly.to_owned(),
            appendfsync: appendfsync.to_owned(),
            persistence,
        }
    }

    /// Whether every acknowledged message survives a crash of Redis, its machine included.
    pub fn survives_crash(&self) -> bool {
        self.persistence == Persistence::Fsynced
    }

    /// For the relay's log at start, loud: what can be lost and which setting to change; `None`
    /// when nothing acknowledged can be lost.
    pub fn warning(&self) -> Option<String> {
        match self.persistence {
            Persistence::Fsynced => None,
            Persistence::Written => Some(format!(
                "Redis has appendfsync {}: the acknowledged messages of the last second or two \
                 can be lost if Redis or its machine crashes; set appendfsync always in \
                 redis.conf (or CONFIG SET appendfsync always) so that nothing acknowledged is \
                 lost",
                self.appendfsync
            )),
            Persistence::Memory => Some(format!(
                "Redis has appendonly {}: acknowledged messages are kept only in memory and are \
                 lost when Redis stops or crashes; set appendonly yes and appendfsync always in \
                 redis.conf (or CONFIG SET appendonly yes, CONFIG SET appendfsync always)",
                self.appendonly
            )),
        }
    }
}

/// Asks Redis for its two settings.
pub(super) async fn read(conn: &mut ConnectionManager) -> Result<Durability, RedisLogError> {
    let settings: HashMap<String, String> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .arg("appendfsync")
        .query_async(conn)
        .await?;
    let get = |name: &'static str| {
        settings.get(name).ok_or(RedisLogError::Reply {
            what: "CONFIG GET",
            detail: format!("no {name} in {settings:?}"),
        })
    };
    Ok(Durability::from_settings(
        get("appendonly")?,
        get("appendfsync")?,
    ))
}
