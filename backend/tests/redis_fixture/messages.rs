//! What the Redis log's tests send, and how they connect: shared by `redis_log.rs` and
//! `redis_faults.rs`.

use std::time::Duration;

use courier::engine::redis::{RedisLog, RedisLogConfig, Sent};
use shared::{ChatMessage, Target};

use super::Redis;

/// A whole conversation fits one page of this.
pub const ALL: (usize, usize) = (100_000, usize::MAX);

/// The defaults, with 1 s timeouts so that a fault shows quickly.
pub fn config(redis: &Redis) -> RedisLogConfig {
    let mut config = RedisLogConfig::new(redis.url());
    config.response_timeout = Duration::from_secs(1);
    config.connection_timeout = Duration::from_secs(1);
    config
}

/// A log on `redis` with [`config`].
pub async fn connect(redis: &Redis) -> RedisLog {
    RedisLog::connect(config(redis)).await.expect("connect")
}

/// A room message, not yet numbered.
pub fn room_msg(room: &str, from: &str, text: &str, mid: Option<&str>) -> ChatMessage {
    ChatMessage {
        target: Target::Room { room: room.into() },
        seq: 0,
        from: from.into(),
        text: text.into(),
        ts: 1_700_000_000_000,
        cid: None,
        mid: mid.map(String::from),
        ext: Default::default(),
    }
}

/// A private message without a mid, not yet numbered.
pub fn dm(from: &str, to: &str, text: &str) -> ChatMessage {
    ChatMessage {
        target: Target::User { to: to.into() },
        ..room_msg("-", from, text, None)
    }
}

/// The seq of a message stored now.
pub fn stored(sent: Sent) -> u64 {
    match sent {
        Sent::Stored { seq, .. } => seq,
        other => panic!("expected Stored, got {other:?}"),
    }
}

/// The seqs of a page's messages.
pub fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}
