//! This relay as a node of the cluster: a random id, and a lease on `node:ID` (a key with a
//! 10 s expiry, renewed every 3 s) for as long as it runs. Other relays read a node whose lease
//! is gone as dead (`cluster.lua`).

use std::time::Duration;

use super::{RedisLog, RedisLogError};

/// How long the lease lasts unless renewed, and how often it is renewed.
pub(super) const LEASE: Duration = Duration::from_secs(10);
pub(super) const RENEW_EVERY: Duration = Duration::from_secs(3);

/// This relay's lease. Renewed by a task until [`Node::release`].
pub struct Node {
    log: RedisLog,
    id: String,
    renewing: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Takes a lease under a new random id, and starts renewing it.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn join(log: &RedisLog) -> Result<Self, RedisLogError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let about = format!("courier, process {}", std::process::id());
        let () = ::redis::pipe()
            .cmd("SET")
            .arg(log.keys.node(&id))
            .arg(&about)
            .arg("PX")
            .arg(LEASE.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(log.keys.nodes())
            .arg(&id)
            .ignore()
            .query_async(&mut log.conn.clone())
            .await?;
        tracing::info!(node = %id, "joined the cluster on Redis");
        let renewing = tokio::spawn(renew(log.clone(), id.clone()));
        Ok(Self {
            log: log.clone(),
            id,
            renewing,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops renewing and gives the lease up (at shutdown).
    pub async fn release(self) {
        self.renewing.abort();
        let result: Result<(), _> = ::redis::pipe()
            .cmd("DEL")
            .arg(self.log.keys.node(&self.id))
            .ignore()
            .cmd("SREM")
            .arg(self.log.keys.nodes())
            .arg(&self.id)
            .ignore()
            .query_async(&mut self.log.conn.clone())
            .await;
        if let Err(e) = result {
            tracing::warn!("cannot give up this relay's lease on Redis: {e}");
        }
    }
}

/// Renews the lease every [`RENEW_EVERY`]; says loudly if it was lost.
async fn renew(log: RedisLog, id: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let result: Result<i64, _> = ::redis::cmd("PEXPIRE")
            .arg(log.keys.node(&id))
            .arg(LEASE.as_millis() as u64)
            .query_async(&mut log.conn.clone())
            .await;
        match result {
            Ok(1) => {}
            Ok(_) => tracing::error!(
                node = %id,
                "this relay's lease on Redis expired (was the relay paused?)"
            ),
            Err(e) => tracing::warn!("cannot renew this relay's lease on Redis: {e}"),
        }
    }
}
