//! Known users in Redis: who completed a hello, when each name was last used, and the
//! password of a protected name. The same facts as the SQLite store's `users` table.

use std::collections::HashMap;

use ::redis::AsyncCommands;

use super::{RedisLog, RedisLogError};
use crate::engine::User;

impl RedisLog {
    /// Every known user.
    ///
    /// # Errors
    /// Redis could not be reached, or did not answer in time.
    pub async fn users(&self) -> Result<Vec<User>, RedisLogError> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn.smembers(self.keys.users()).await?;
        if keys.is_empty() {
            return Ok(Vec::new()); // an empty pipeline is an error
        }
        let mut pipe = ::redis::pipe();
        for key in &keys {
            pipe.hgetall(self.keys.user(key));
        }
        let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        Ok(keys
            .into_iter()
            .zip(rows)
            .filter(|(_, row)| !row.is_empty())
            .map(|(key, row)| user(key, &row))
            .collect())
    }

    /// When the user `key` first said hello with the name as it is held now (ms); 0 if not
    /// known, or known from before Redis kept it.
    ///
    /// # Errors
    /// As [`RedisLog::users`].
    pub async fn since(&self, key: &str) -> Result<u64, RedisLogError> {
        let since: Option<u64> = self.conn.clone().hget(self.keys.user(key), "since").await?;
        Ok(since.unwrap_or(0))
    }

    /// The user `key` as Redis has them now, if known.
    ///
    /// # Errors
    /// As [`RedisLog::users`].
    pub async fn user(&self, key: &str) -> Result<Option<User>, RedisLogError> {
        let row: HashMap<String, String> = self.conn.clone().hgetall(self.keys.user(key)).await?;
        Ok((!row.is_empty()).then(|| user(key.to_owned(), &row)))
    }

    /// Remembers a user (or a new spelling of their name), seen at `seen` (ms), and a new
    /// user's `since` (engine/change.rs). Not told to the other relays: the claim told them
    /// already (`cluster.lua`), without making each of them read the user back, which at
    /// every hello would not scale with the relays.
    ///
    /// # Errors
    /// As [`RedisLog::users`]; the write may or may not have been made (it is idempotent).
    pub async fn remember_user(
        &self,
        key: &str,
        name: &str,
        seen: u64,
    ) -> Result<(), RedisLogError> {
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .sadd(self.keys.users(), key)
            .ignore()
            .hset_multiple(
                self.keys.user(key),
                &[("name", name), ("last_seen", &seen.to_string())],
            )
            .ignore()
            .hset_nx(self.keys.user(key), "since", seen)
            .ignore();
        Ok(pipe.query_async(&mut self.conn.clone()).await?)
    }

    /// A user's session ended at `at` (ms).
    ///
    /// # Errors
    /// As [`RedisLog::remember_user`].
    pub async fn seen(&self, key: &str, at: u64) -> Result<(), RedisLogError> {
        let user = self.keys.user(key);
        let mut conn = self.conn.clone();
        if conn.exists(&user).await? {
            let () = conn.hset(&user, "last_seen", at).await?;
        }
        Ok(())
    }

    /// Protects a user's name with this Argon2id hash, set at `at` (ms).
    ///
    /// # Errors
    /// As [`RedisLog::remember_user`].
    pub async fn protect(&self, key: &str, hash: &str, at: u64) -> Result<(), RedisLogError> {
        let fields = [
            ("password", hash.to_owned()),
            ("password_at", at.to_string()),
            ("password_outside", "0".to_owned()),
        ];
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .hset_multiple(self.keys.user(key), &fields)
            .ignore()
            .publish(self.keys.user_changes(), key)
            .ignore();
        Ok(pipe.query_async(&mut self.conn.clone()).await?)
    }

    /// Forgets a user: their name, its protection, their mailbox, their private
    /// conversations and the mail they sent that still waits (as the SQLite store does; the
    /// pairs' counters stay, so that numbering never goes back). Each step can be done again.
    ///
    /// # Errors
    /// As [`RedisLog::remember_user`]; what was done stays done, and forgetting again finishes.
    pub async fn forget(&self, key: &str) -> Result<(), RedisLogError> {
        let mut conn = self.conn.clone();
        let correspondents: Vec<String> = conn.smembers(self.keys.correspondents(key)).await?;
        for other in &correspondents {
            let () = conn.del(self.keys.pair_log(key, other)).await?;
            // Its changed seqs go with it; its revision counter stays, as its seq counter does.
            let place = crate::engine::Place::Pair(key.to_owned(), other.clone());
            let () = conn.del(self.keys.changed(&place)).await?;
            // Every mail from `key` in `other`'s mailbox, its sizes kept right.
            self.ack(other, key, u64::MAX).await?;
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .srem(self.keys.users(), key)
            .ignore()
            .del(&[
                self.keys.user(key),
                self.keys.mailbox(key),
                self.keys.mail_size(key),
                self.keys.correspondents(key),
            ])
            .ignore()
            .publish(self.keys.user_changes(), key)
            .ignore();
        Ok(pipe.query_async(&mut conn).await?)
    }
}

/// A user from their hash.
fn user(key: String, row: &HashMap<String, String>) -> User {
    let number = |field: &str| row.get(field).and_then(|v| v.parse().ok()).unwrap_or(0);
    User {
        name: row.get("name").cloned().unwrap_or_else(|| key.clone()),
        key,
        password: row.get("password").cloned().filter(|p| !p.is_empty()),
        last_seen: number("last_seen"),
        password_at: number("password_at"),
        password_outside: number("password_outside") != 0,
    }
}
