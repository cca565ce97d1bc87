//! One relay per Redis, for now: the relay holds a lease on `relay` (a key with a 10 s expiry,
//! renewed every 3 s) for as long as it runs, and a second relay on the same Redis (and
//! prefix) stops at start-up instead of splitting the chat in two. Until the engine shares
//! names, presence and fan-out between relays (docs/CLUSTER.md), two relays on one Redis
//! would number one room's messages together but each send only its own.

use std::time::Duration;

use ::redis::Script;

use super::{RedisLog, RedisLogError};

/// How long the lease lasts unless renewed, and how often it is renewed.
const LEASE: Duration = Duration::from_secs(10);
const RENEW_EVERY: Duration = Duration::from_secs(3);

/// Renews the lease if it is still ours; 1 if it was, 0 if not.
const RENEW_LUA: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Gives the lease up if it is still ours.
const RELEASE_LUA: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// This relay's lease on its Redis. Renewed by a task until [`Lease::release`].
pub struct Lease {
    log: RedisLog,
    id: String,
    renewing: tokio::task::JoinHandle<()>,
}

/// Why the lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another relay is using this Redis ({holder}); Courier runs one relay per Redis for \
         now: give this one another Redis (or database number), or stop the other"
    )]
    Taken { holder: String },
    #[error(transparent)]
    Redis(#[from] RedisLogError),
}

impl Lease {
    /// Takes the lease as `id` (a name for this relay, shown to a second one), and starts
    /// renewing it.
    ///
    /// # Errors
    /// [`LeaseError::Taken`] when another relay holds it.
    pub async fn take(log: &RedisLog, id: String) -> Result<Self, LeaseError> {
        let key = log.keys.relay();
        let mut conn = log.conn.clone();
        let taken: Option<String> = ::redis::cmd("SET")
            .arg(&key)
            .arg(&id)
            .arg("NX")
            .arg("PX")
            .arg(LEASE.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(RedisLogError::from)?;
        if taken.is_none() {
            let holder: Option<String> = ::redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(RedisLogError::from)?;
            return Err(LeaseError::Taken {
                holder: holder.unwrap_or_default(),
            });
        }
        let renewing = tokio::spawn(renew(log.clone(), key, id.clone()));
        Ok(Self {
            log: log.clone(),
            id,
            renewing,
        })
    }

    /// Stops renewing and gives the lease up (at shutdown), so that a relay can start on this
    /// Redis at once.
    pub async fn release(self) {
        self.renewing.abort();
        let result: Result<i64, _> = Script::new(RELEASE_LUA)
            .key(self.log.keys.relay())
            .arg(&self.id)
            .invoke_async(&mut self.log.conn.clone())
            .await;
        if let Err(e) = result {
            tracing::warn!("cannot give up this relay's lease on Redis: {e}");
        }
    }
}

/// Renews the lease every [`RENEW_EVERY`]; says loudly if it was lost.
async fn renew(log: RedisLog, key: String, id: String) {
    let script = Script::new(RENEW_LUA);
    let mut lost = false;
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let result: Result<i64, _> = script
            .key(&key)
            .arg(&id)
            .arg(LEASE.as_millis() as u64)
            .invoke_async(&mut log.conn.clone())
            .await;
        match result {
            Ok(1) => lost = false,
            Ok(_) if !lost => {
                lost = true;
                tracing::error!(
                    "this relay's lease on Redis expired (was the relay paused?); if another \
                     relay started on this Redis meanwhile, stop one of them"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot renew this relay's lease on Redis: {e}"),
        }
    }
}
