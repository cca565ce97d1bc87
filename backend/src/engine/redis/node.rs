//! This relay as a node of the cluster: a random id, and a lease on `node:ID` (a key with a
//! 9 s expiry, renewed every second) for as long as it runs.
//!
//! Every second each relay also looks for relays whose lease is gone, and reaps them
//! (`cluster.lua`): their members leave their rooms, their names are free, and their sessions'
//! tokens stay good for [`GRACE`], so that their users reconnect anywhere. A relay that dies
//! is reaped within 10 s: its lease lapses at most 9 s after it, and is noticed within a
//! second. Redis stopped for 5 s does not lapse a lease that was renewed a second before.
//!
//! A relay that finds its own lease lapsed (it was paused, or Redis was gone for longer than
//! the lease) has been reaped: it takes a new lease and ends every session it holds
//! ([`Event::Evicted`]), whose clients then claim their names again.

use std::time::Duration;

use super::{RedisLog, RedisLogError};
use crate::engine::{Committed, Event, Sink};

/// How long the lease lasts unless renewed, and how often it is renewed and others checked.
const LEASE: Duration = Duration::from_secs(9);
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// How long a dead relay's session tokens still take their names back without a password.
pub const GRACE: Duration = Duration::from_secs(60);

/// This relay's lease. Renewed by a task until [`Node::release`].
pub struct Node {
    log: RedisLog,
    id: String,
    renewing: tokio::task::JoinHandle<()>,
    seen: Seen,
}

/// What the last renewal found: why Redis cannot be used now (`None`: it answered), and how
/// many relays hold a lease (this one included).
#[derive(Debug, Clone, Default)]
pub struct Sight {
    pub trouble: Option<String>,
    pub relays: usize,
}

/// The latest [`Sight`], shared with the engine (for /healthz and /metrics).
pub type Seen = std::sync::Arc<std::sync::Mutex<Sight>>;

/// Reads or updates `seen`.
pub fn sight<T>(seen: &Seen, f: impl FnOnce(&mut Sight) -> T) -> T {
    f(&mut seen.lock().unwrap_or_else(|p| p.into_inner()))
}

impl Node {
    /// Takes a lease under a new random id, and starts renewing it.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn join(log: &RedisLog, sink: Sink) -> Result<Self, RedisLogError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        lease(log, &id).await?;
        tracing::info!(node = %id, "joined the cluster on Redis");
        let seen = Seen::new(std::sync::Mutex::new(Sight {
            trouble: None,
            relays: 1,
        }));
        let renewing = tokio::spawn(renew(log.clone(), id.clone(), sink, seen.clone()));
        Ok(Self {
            log: log.clone(),
            id,
            renewing,
            seen,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the renewals find, updated every second.
    pub fn seen(&self) -> Seen {
        self.seen.clone()
    }

    /// Stops renewing and leaves the cluster (at shutdown): whatever of this relay is left
    /// in Redis is reaped at once.
    pub async fn release(self) {
        self.renewing.abort();
        let dropped: Result<i64, _> = ::redis::cmd("DEL")
            .arg(self.log.keys.node(&self.id))
            .query_async(&mut self.log.conn.clone())
            .await;
        if let Err(e) = dropped {
            tracing::warn!("cannot give up this relay's lease on Redis: {e}");
        } else if let Err(e) = self.log.reap(&self.id, &self.id, 0).await {
            tracing::warn!("cannot leave the cluster on Redis: {e}");
        }
    }
}

/// Takes (or takes again) the lease of relay `id`.
async fn lease(log: &RedisLog, id: &str) -> Result<(), RedisLogError> {
    let about = format!("courier, process {}", std::process::id());
    let () = ::redis::pipe()
        .cmd("SET")
        .arg(log.keys.node(id))
        .arg(&about)
        .arg("PX")
        .arg(LEASE.as_millis() as u64)
        .ignore()
        .cmd("SADD")
        .arg(log.keys.nodes())
        .arg(id)
        .ignore()
        .query_async(&mut log.conn.clone())
        .await?;
    Ok(())
}

/// Renews the lease every [`RENEW_EVERY`], and reaps the relays whose lease is gone.
async fn renew(log: RedisLog, id: String, sink: Sink, seen: Seen) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let result: Result<i64, _> = ::redis::cmd("PEXPIRE")
            .arg(log.keys.node(&id))
            .arg(LEASE.as_millis() as u64)
            .query_async(&mut log.conn.clone())
            .await;
        let trouble = result
            .as_ref()
            .err()
            .map(|e| format!("Redis does not answer: {e}"));
        sight(&seen, |s| s.trouble = trouble);
        match result {
            Ok(1) => {}
            Ok(_) => {
                tracing::error!(
                    node = %id,
                    "this relay's lease on Redis lapsed (was it paused?); the others have \
                     ended its sessions, so it ends them here too and joins again"
                );
                // Reaped already, or about to be: finish it, then start afresh.
                let _ = log.reap(&id, &id, GRACE.as_millis() as u64).await;
                if let Err(e) = lease(&log, &id).await {
                    tracing::warn!("cannot take a new lease on Redis: {e}");
                    continue;
                }
                evict(&sink).await;
            }
            Err(e) => {
                tracing::warn!("cannot renew this relay's lease on Redis: {e}");
                continue;
            }
        }
        if let Some(relays) = reap_dead(&log, &id).await {
            sight(&seen, |s| s.relays = relays);
        }
    }
}

/// Reaps every other relay whose lease is gone; how many relays have one.
async fn reap_dead(log: &RedisLog, id: &str) -> Option<usize> {
    let nodes = match log.nodes().await {
        Ok(nodes) => nodes,
        Err(e) => {
            tracing::debug!("cannot list the relays: {e}");
            return None;
        }
    };
    for (dead, _) in nodes.iter().filter(|(node, alive)| !alive && node != id) {
        match log.reap(id, dead, GRACE.as_millis() as u64).await {
            Ok(true) => {
                tracing::warn!(node = %dead, "a relay's lease lapsed: its users are offline and its names free")
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(node = %dead, "cannot reap a relay: {e}"),
        }
    }
    Some(nodes.iter().filter(|(_, alive)| *alive).count())
}

/// Tells the hub to end every session.
async fn evict(sink: &Sink) {
    super::send_down(sink, vec![Committed::Cluster(Event::Evicted)]).await;
}
