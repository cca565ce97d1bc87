//! The door: every accepted TCP connection is counted, per address and in total, before hyper
//! reads a byte of it, so that no address (and no crowd of them) can take every file
//! descriptor with sockets that never finish a request.
//!
//! The relay holds at most a budget of connections: its open-file limit minus a reserve for
//! the database, the listener and the log (`--reserved-fds`). WebSockets may take most of the
//! budget but not all of it, so plain HTTP (`/healthz`, `/metrics`, the page, the upgrade
//! request itself) always has room. Plain connections (not upgraded: waiting for a request
//! head, sending it, or idle between keep-alive requests) are kept oldest first; when an
//! address holds `--http-conns-per-ip` of them, the relay `--http-conns` of them, or the
//! relay its whole budget, the oldest is shed to make room for the newest. A connection whose
//! request head has come in whole is not shed while it is answered (`Ticket::serve`, then
//! `Ticket::idle`): it is not unfinished, and an upgrade waits there for its 101. A newcomer therefore always gets in unless WebSockets hold
//! their whole share, and an attacker who keeps sockets half-open only sheds its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::throttle::address_key;

/// Connections of the budget that WebSockets leave to plain HTTP (the page, /healthz,
/// /metrics): an eighth of it, at most this many. A few hundred serve any number of page
/// loads, and a relay at 20,000 open files can hold 19,000 WebSockets.
pub const HTTP_SHARE: usize = 512;

/// How many connections the relay holds; see `--reserved-fds`, `--http-conns-per-ip` and
/// `--http-conns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorLimits {
    /// Connections of every kind at once.
    pub budget: usize,
    /// Of those, WebSockets at most; the rest is plain HTTP's.
    pub websockets: usize,
    /// Plain (not upgraded) connections of one address (IPv6: one /64); 0: no limit.
    pub http_per_ip: usize,
    /// Plain connections of every address together, whatever the budget leaves them; 0: no
    /// limit. Each holds hyper's buffers (about 19 KiB), so this bounds what half-sent
    /// requests from many addresses can cost in memory.
    pub http: usize,
}

impl DoorLimits {
    /// The limits for an open-file limit of `open_files`: `reserved` descriptors (at most
    /// half the limit) stay out of the budget, and WebSockets may take all of the rest but
    /// [`HTTP_SHARE`].
    pub fn from_open_files(
        open_files: u64,
        reserved: u64,
        http_per_ip: usize,
        http: usize,
    ) -> Self {
        let reserved = reserved.min(open_files / 2);
        let budget = usize::try_from(open_files - reserved)
            .unwrap_or(usize::MAX)
            .max(2);
        Self {
            budget,
            websockets: budget - (budget / 8).clamp(1, HTTP_SHARE),
            http_per_ip,
            http,
        }
    }
}

/// The process's open-file limit (the soft one, which `main` raises to the hard one).
pub fn open_file_limit() -> u64 {
    #[cfg(unix)]
    if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        return soft;
    }
    // Unknown: as good as none.
    u64::MAX / 2
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every connection the budget allows is open, and none of them can be shed.
    Relay,
    /// WebSockets hold their whole share of the budget (an upgrade gets 503).
    WebSockets,
}

/// The counts, shared by the accept loop, every connection's [`Ticket`] and the upgrade.
pub struct Door {
    limits: DoorLimits,
    metrics: Arc<Metrics>,
    table: Mutex<Table>,
    /// Told when a shed connection's socket is closed.
    closed: Notify,
}

#[derive(Default)]
struct Table {
    next: u64,
    /// Plain connections by age (the order they are shed in), with their address and the
    /// token that closes them.
    plain: BTreeMap<u64, (IpAddr, CancellationToken)>,
    /// The plain connections of each address with any, by age.
    by_ip: HashMap<IpAddr, BTreeSet<u64>>,
    websockets: usize,
    /// Plain connections whose request head has come in whole and is being answered: they are
    /// not unfinished, so they are not shed (an upgrade waiting for its 101 is one).
    serving: usize,
    /// Shed, but their tasks have not dropped them yet: their sockets are still open.
    shedding: usize,
}

impl Table {
    /// Sockets open, or being closed.
    fn open(&self) -> usize {
        self.plain.len() + self.serving + self.websockets + self.shedding
    }

    /// Takes `seq` out of the plain connections; whether it was one.
    fn remove_plain(&mut self, seq: u64) -> Option<CancellationToken> {
        let (key, shed) = self.plain.remove(&seq)?;
        if let Some(set) = self.by_ip.get_mut(&key) {
            set.remove(&seq);
            if set.is_empty() {
                self.by_ip.remove(&key);
            }
        }
        Some(shed)
    }

    /// Closes plain connection `seq`: its task drops the socket at its next poll.
    fn shed(&mut self, seq: u64) -> bool {
        match self.remove_plain(seq) {
            Some(token) => {
                token.cancel();
                self.shedding += 1;
                true
            }
            None => false,
        }
    }
}

impl Door {
    pub fn new(limits: DoorLimits, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            limits,
            metrics,
            table: Mutex::new(Table::default()),
            closed: Notify::new(),
        })
    }

    pub fn limits(&self) -> DoorLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Counting cannot leave the table half-changed; keep going after a panic elsewhere.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes when a connection may be accepted without going past the budget by more
    /// than one: at once, unless the budget is full and connections shed to make room are
    /// still closing. The accept loop waits for this (new connections wait in the listen
    /// backlog), so that shedding cannot fall behind accepting and run out of descriptors.
    pub async fn room(&self) {
        loop {
            // Created before the check, so that a close in between is not missed.
            let closed = self.closed.notified();
            {
                let table = self.lock();
                if table.shedding == 0 || table.open() < self.limits.budget {
                    return;
                }
            }
            closed.await;
        }
    }

    /// Counts a connection just accepted from `ip`, shedding the oldest plain connection of
    /// the address, or of the relay, if that is needed to make room.
    ///
    /// # Errors
    /// [`Full::Relay`]: the budget is full of WebSockets (only when the reserve for plain
    /// HTTP is 0, or the table is over budget after shedding); close the socket at once.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Full> {
        let key = address_key(ip);
        let mut table = self.lock();
        let limits = self.limits;
        if limits.http_per_ip > 0 {
            let oldest = table
                .by_ip
                .get(&key)
                .filter(|set| set.len() >= limits.http_per_ip)
                .and_then(|set| set.first().copied());
            if let Some(seq) = oldest.filter(|&seq| table.shed(seq)) {
                tracing::debug!(%key, seq, "address at --http-conns-per-ip: its oldest shed");
                Metrics::inc(&self.metrics.http_shed);
            }
        }
        if limits.http > 0 && table.plain.len() >= limits.http {
            let oldest = table.plain.first_key_value().map(|(&seq, _)| seq);
            if oldest.is_some_and(|seq| table.shed(seq)) {
                Metrics::inc(&self.metrics.http_shed);
            }
        }
        if table.open() >= limits.budget {
            let oldest = table.plain.first_key_value().map(|(&seq, _)| seq);
            if !oldest.is_some_and(|seq| table.shed(seq)) {
                Metrics::inc(&self.metrics.conns_refused_full);
                return Err(Full::Relay);
            }
            Metrics::inc(&self.metrics.http_shed);
        }
        let seq = table.next;
        table.next += 1;
        let shed = CancellationToken::new();
        table.plain.insert(seq, (key, shed.clone()));
        table.by_ip.entry(key).or_default().insert(seq);
        Ok(Ticket(Arc::new(Inner {
            door: self.clone(),
            seq,
            key,
            shed,
            upgraded: AtomicBool::new(false),
            serving: AtomicBool::new(false),
        })))
    }

    /// Connections open now: (plain, WebSockets, shed but still closing).
    pub fn counts(&self) -> (usize, usize, usize) {
        let table = self.lock();
        (table.plain.len(), table.websockets, table.shedding)
    }
}

/// One accepted connection's place in the [`Door`]'s counts, held by its HTTP task, its
/// requests (as an extension, for the upgrade) and, once upgraded, its WebSocket task. The
/// place is freed when the last of them lets go.
#[derive(Clone)]
pub struct Ticket(Arc<Inner>);

struct Inner {
    door: Arc<Door>,
    seq: u64,
    /// Its address, as the door counts it.
    key: IpAddr,
    /// Cancelled when the connection is shed: its task closes it.
    shed: CancellationToken,
    /// Set (under the table's lock) once it counts as a WebSocket.
    upgraded: AtomicBool,
    /// Set (under the table's lock) while a request of it is being answered.
    serving: AtomicBool,
}

impl Ticket {
    /// Completes when the door has shed this connection.
    pub async fn shed(&self) {
        self.0.shed.cancelled().await;
    }

    /// A request head has come in whole: until [`Ticket::idle`], the connection is not shed
    /// (it is not unfinished). Nothing if it was shed already.
    pub fn serve(&self) {
        let mut table = self.0.door.lock();
        if !self.0.upgraded.load(Ordering::Relaxed)
            && !self.0.serving.load(Ordering::Relaxed)
            && table.remove_plain(self.0.seq).is_some()
        {
            table.serving += 1;
            self.0.serving.store(true, Ordering::Relaxed);
        }
    }

    /// The request has been answered: the connection is plain (idle) again, with its age.
    pub fn idle(&self) {
        let mut table = self.0.door.lock();
        if self.0.serving.swap(false, Ordering::Relaxed) {
            table.serving -= 1;
            let (seq, key) = (self.0.seq, self.0.key);
            table.plain.insert(seq, (key, self.0.shed.clone()));
            table.by_ip.entry(key).or_default().insert(seq);
        }
    }

    /// Counts the connection as a WebSocket from now on: it is no longer shed.
    ///
    /// # Errors
    /// [`Full::WebSockets`]: WebSockets hold their share of the budget, or the connection was
    /// shed already.
    pub fn upgrade(&self) -> Result<(), Full> {
        let door = &self.0.door;
        let mut table = door.lock();
        if self.0.upgraded.load(Ordering::Relaxed) {
            return Ok(());
        }
        let serving = self.0.serving.load(Ordering::Relaxed);
        if table.websockets >= door.limits.websockets
            || (!serving && !table.plain.contains_key(&self.0.seq))
        {
            return Err(Full::WebSockets);
        }
        if serving {
            table.serving -= 1;
            self.0.serving.store(false, Ordering::Relaxed);
        } else {
            table.remove_plain(self.0.seq);
        }
        table.websockets += 1;
        self.0.upgraded.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut table = self.door.lock();
        if self.upgraded.load(Ordering::Relaxed) {
            table.websockets -= 1;
        } else if self.serving.load(Ordering::Relaxed) {
            table.serving -= 1;
        } else if table.remove_plain(self.seq).is_none() {
            // It was shed: its socket is closed now.
            table.shedding -= 1;
            drop(table);
            self.door.closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(budget: usize, websockets: usize, http_per_ip: usize) -> Arc<Door> {
        let limits = DoorLimits {
            budget,
            websockets,
            http_per_ip,
            http: 0,
        };
        Door::new(limits, Arc::new(Metrics::default()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn is_shed(t: &Ticket) -> bool {
        t.0.shed.is_cancelled()
    }

    #[test]
    fn the_budget_comes_from_the_open_file_limit() {
        let l = DoorLimits::from_open_files(1_048_576, 64, 32, 4096);
        assert_eq!(l.budget, 1_048_512);
        assert_eq!(l.websockets, l.budget - HTTP_SHARE);
        let twenty = DoorLimits::from_open_files(20_000, 64, 32, 4096);
        assert_eq!(twenty.websockets, 19_936 - 512);
        let low = DoorLimits::from_open_files(64, 64, 0, 0);
        assert_eq!((low.budget, low.websockets), (32, 28));
    }

    #[test]
    fn a_request_being_answered_is_not_shed_and_an_idle_one_is() {
        let door = door(3, 3, 0);
        let honest = door.admit(ip("10.0.0.9")).unwrap();
        honest.serve();
        let attack: Vec<Ticket> = (0..2)
            .map(|_| door.admit(ip("10.0.0.1")).unwrap())
            .collect();
        // The budget is full: the oldest *unfinished* one goes, not the older one served.
        let newest = door.admit(ip("10.0.0.1")).unwrap();
        assert!(!is_shed(&honest) && is_shed(&attack[0]) && !is_shed(&newest));
        // Answered: idle again, and the oldest plain one.
        honest.idle();
        drop(attack);
        let _more = door.admit(ip("10.0.0.1")).unwrap();
        let _again = door.admit(ip("10.0.0.1")).unwrap();
        assert!(
            is_shed(&honest),
            "an idle keep-alive connection is shed by age"
        );
        // An upgrade while served counts as a WebSocket, and its drop frees it.
        let upgraded = door.admit(ip("10.0.0.2"));
        if let Ok(t) = upgraded {
            t.serve();
            assert!(t.upgrade().is_ok());
            let (_, websockets, _) = door.counts();
            assert_eq!(websockets, 1);
            drop(t);
            assert_eq!(door.counts().1, 0);
        }
    }

    #[test]
    fn an_address_at_its_cap_sheds_its_own_oldest() {
        let door = door(100, 90, 3);
        let a: Vec<Ticket> = (0..3)
            .map(|_| door.admit(ip("10.0.0.1")).unwrap())
            .collect();
        let other = door.admit(ip("10.0.0.2")).unwrap();
        let newest = door.admit(ip("10.0.0.1")).unwrap();
        assert!(is_shed(&a[0]) && !is_shed(&a[1]) && !is_shed(&newest));
        assert!(!is_shed(&other), "another address is not touched");
        assert_eq!(door.counts(), (4, 0, 1));
        drop(a);
        assert_eq!(
            door.counts(),
            (2, 0, 0),
            "a shed ticket is not counted twice"
        );
    }

    #[test]
    fn a_full_relay_sheds_the_oldest_plain_connection_and_never_a_websocket() {
        let door = door(3, 2, 0);
        let ws = door.admit(ip("10.0.0.1")).unwrap();
        ws.upgrade().unwrap();
        let old = door.admit(ip("10.0.0.2")).unwrap();
        let young = door.admit(ip("10.0.0.3")).unwrap();
        let new = door.admit(ip("10.0.0.4")).unwrap();
        assert!(is_shed(&old) && !is_shed(&young) && !is_shed(&new) && !is_shed(&ws));
        // The WebSockets' share (2 of 3) leaves plain HTTP room.
        young.upgrade().unwrap();
        assert_eq!(new.upgrade(), Err(Full::WebSockets));
        assert_eq!(old.upgrade(), Err(Full::WebSockets), "shed: too late");
        drop((ws, young, old));
        assert_eq!(door.counts(), (1, 0, 0));
    }

    #[test]
    fn plain_connections_are_capped_in_total_too() {
        let door = Door::new(
            DoorLimits {
                budget: 100,
                websockets: 90,
                http_per_ip: 0,
                http: 2,
            },
            Arc::new(Metrics::default()),
        );
        let a = door.admit(ip("10.0.0.1")).unwrap();
        let b = door.admit(ip("10.0.0.2")).unwrap();
        b.upgrade().unwrap();
        let c = door.admit(ip("10.0.0.3")).unwrap();
        let d = door.admit(ip("10.0.0.4")).unwrap();
        assert!(is_shed(&a) && !is_shed(&c) && !is_shed(&d));
    }

    #[tokio::test]
    async fn accepting_waits_while_shed_sockets_are_closing() {
        let door = door(2, 1, 0);
        let a = door.admit(ip("10.0.0.1")).unwrap();
        let _b = door.admit(ip("10.0.0.1")).unwrap();
        door.room().await; // Full, but nothing closing: one may be shed.
        let _c = door.admit(ip("10.0.0.1")).unwrap();
        let waiting = tokio::spawn({
            let door = door.clone();
            async move { door.room().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a is still closing");
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_budget_of_websockets_refuses_newcomers() {
        let door = door(2, 2, 0);
        let a = door.admit(ip("10.0.0.1")).unwrap();
        let b = door.admit(ip("10.0.0.1")).unwrap();
        a.upgrade().unwrap();
        b.upgrade().unwrap();
        assert_eq!(door.admit(ip("10.0.0.2")).err(), Some(Full::Relay));
        drop(a);
        assert!(door.admit(ip("10.0.0.2")).is_ok());
    }
}
