//! The hub: every session, room and conversation of this relay, and the routing between them.
//!
//! Connections call in with three lifecycle methods: [`Hub::connect`], [`Hub::handle`] for each
//! text frame, and [`Hub::disconnect`]. The hub answers by queueing frames on the [`ConnHandle`]s
//! involved. All state sits behind one `std::sync::Mutex`: no handler awaits while holding it
//! (queueing never waits, see [`ConnHandle::send`]).
//!
//! A message takes two trips through the lock. `say` and `dm` check the frame and submit it
//! to the engine (`crate::engine::Engine`), which the hub is given; the engine numbers and
//! stores it, and sends the stored batch down its sink to the fan-out's thread ([`FanOut`]),
//! which hands it to `Hub::committed`. Batches come in the order stored and the fan-out holds
//! the lock, so every member of a room receives its messages in `seq` order, and none before
//! it is stored.
//!
//! This file holds the hub's state and its lifecycle. The rest is split by concern:
//! `frame.rs` (a text frame's way in: parse, rate, cid, dispatch, and finishing its slow work),
//! `dispatch.rs` (a typed frame to its handler), `session.rs` (hello, takeover, disconnect),
//! `rooms.rs` (join, leave, say, rooms, room history), `direct.rs` (dm, users, acks, private
//! history), with typing in both rooms and direct; `removals.rs` (the mailbox removals a
//! mailbox read may not see yet); `person.rs` (one person on several connections: `hello` with
//! `attach`, shared rooms, `read`); `dm_rate.rs` (each address's rate of private messages to
//! each recipient); `slow.rs` (password work and the engine's reads, done off the lock),
//! `search.rs` (`search`), `fanout.rs` (sending what the engine stored, and mailboxes) and
//! `output.rs` (queueing frames to connections, submitting jobs to the engine).
//! Calls go one way: lifecycle (`frame.rs`) → dispatch → handlers → fan-out's mailbox sending
//! → output, and engine → sink → fan-out → output; none calls back into its caller, and the
//! engine never calls the hub.

mod changes;
mod claim;
mod cluster;
mod direct;
mod dispatch;
mod dm_rate;
mod fanout;
mod frame;
mod names;
mod ops;
mod output;
mod person;
mod presence;
mod removals;
mod rooms;
mod search;
mod session;
mod slow;

use claim::Attached;
pub use fanout::FanOut;
use output::{deliver, encode};
use removals::Removals;
use session::Hello;
pub use slow::{Done, Slow};

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use shared::ErrorCode;

use crate::attempts::{AttemptLimits, Attempts};
use crate::clock::Clock;
use crate::engine::{Closed, Engine, NodeView, Reads};
use crate::metrics::{Gauges, Metrics};
use crate::ops::Operators;
use crate::ops::runs::Runs;
use crate::ops::stats::Ring;
use crate::outbox::Frame;
use crate::outbox::{ConnHandle, ConnId};
use crate::passwords::Workers;
use crate::throttle::Rate;
use dm_rate::DmRates;
pub use ops::RUNNER_OFF;

/// The hub's limits; see the flags of the same names in `config.rs`.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_rooms: usize,
    /// Members a room may have and still announce each coming and going (`--presence-limit`).
    pub presence_limit: usize,
    /// Private messages from one address to one recipient (`--dm-rate`, `--dm-burst`).
    pub dm_rate: Rate,
    pub max_users: usize,
    /// Rooms one connection may be in at once (`--rooms-per-conn`).
    pub rooms_per_conn: usize,
    /// Password checks, new names and `protect`s per address.
    pub attempts: AttemptLimits,
    /// A name unused this long (ms) is forgotten, its protection with it; 0: never.
    pub name_idle_ms: u64,
    /// Bytes of messages in one `history` page or `joined` (`--page-kib`).
    pub page_bytes: usize,
    /// Connections one person may have at once (`--connections-per-name`).
    pub connections_per_name: usize,
}

/// Shared by every connection task.
pub struct Hub {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// Hashes and checks passwords of protected names, off the lock.
    passwords: Workers,
    /// The engine's reads, done off the lock.
    reads: Arc<dyn Reads>,
    /// Turns to search, relay-wide (`search.rs`).
    searches: tokio::sync::Semaphore,
    /// The runtime the hub was made on, for reads no connection waits for (`person.rs`).
    runtime: Option<tokio::runtime::Handle>,
}

/// Everything the hub knows. Only reached through [`Hub::lock`].
struct State {
    limits: HubLimits,
    /// Stores messages, users and mailboxes, and reads them back.
    engine: Box<dyn Engine>,
    metrics: Arc<Metrics>,
    /// Name key → the name as last said: every user who ever completed a hello (loaded from
    /// the store at start, bounded by `max_users`).
    users: HashMap<String, UserEntry>,
    /// A password to check or hash that the frame being handled left for [`Hub::handle`] to
    /// hand back to its connection (see [`Slow`]).
    slow: Option<Slow>,
    /// Every open connection, welcomed or not.
    conns: HashMap<ConnId, Conn>,
    /// Name key → the connections of the person holding that name here, oldest first: one,
    /// or several joined with `hello` … `attach` (`person.rs`). Never an empty list.
    online: HashMap<String, Vec<ConnId>>,
    /// The rooms that have members (history stays in the store when a room empties).
    rooms: HashMap<String, Room>,
    /// Mailbox removals that a mailbox read may not see yet, so that a hello does not send
    /// those messages again.
    removals: Removals,
    /// Password checks, new names and `protect`s counted per address, and wrong passwords
    /// per name.
    attempts: Attempts,
    /// Each sender's rate of private messages to each recipient.
    dm_rates: DmRates,
    /// The names listed with `--admin`.
    operators: Operators,
    /// Operators' connections that asked for the dashboard's points (`watch`).
    watchers: BTreeSet<ConnId>,
    /// The dashboard's last points.
    stats: Ring,
    /// The runner, or why it is off.
    runs: Result<Arc<Runs>, String>,
    /// Names forgotten in the last minute, and when: their rows may still be in the store.
    forgotten: HashMap<String, u64>,
    /// On a cluster: names being claimed by a hello here, and since when (ms). A second hello
    /// for one of them meanwhile is refused, as if the first had won already.
    claiming: HashMap<String, u64>,
    /// On a cluster: connections that entered a room because their person joined it on
    /// another relay, whose `joined` is still to be read (`Hub::read_news_join`).
    news_joins: Vec<person::JoinNews>,
}

struct Conn {
    handle: ConnHandle,
    /// Set by a successful hello.
    session: Option<Session>,
}

struct Session {
    /// As said in hello, trimmed.
    name: String,
    /// `validate::name_key(name)`.
    key: String,
    /// Lets a new connection take this session over.
    token: String,
    /// The session's generation in the cluster (`engine::cluster`); 0 on one relay.
    generation: u64,
    /// This connection as a holder of the session in the cluster (`Claim::holder`); empty
    /// on one relay.
    holder: String,
    /// The rooms this connection has joined.
    rooms: BTreeSet<String>,
    /// The client acknowledges private messages (`hello` with `acks`).
    acks: bool,
    /// The session is an operator's (docs/OPS.md).
    operator: bool,
    /// Sender key → the highest seq of theirs sent from the mailbox after the welcome: a
    /// committed message the fan-out brings later is not sent twice.
    replayed: HashMap<String, u64>,
    /// For a client that does not acknowledge: mail queued to it and not yet written to its
    /// socket, as (frame number, mailbox row), oldest first. See `State::settle_mail`.
    unconfirmed: VecDeque<(u64, i64)>,
    /// While the mailbox is being read after the welcome: the private messages the fan-out
    /// brought meanwhile, held back to go after the mailbox (see `State::mail_read`).
    mail_pending: Option<Vec<LiveMail>>,
}

/// A private message the fan-out brought while its recipient's mailbox was being read.
struct LiveMail {
    from_key: String,
    seq: u64,
    /// Its mailbox row; `None` for a change to a message (`changed`), which is not mail.
    mail_id: Option<i64>,
    frame: Frame,
}

#[derive(Default)]
struct Room {
    members: HashMap<ConnId, Member>,
    /// Name key → how many of `members` are that person's connections: a person is in the
    /// room once however many connections it has (presence, counts and names).
    people: HashMap<String, usize>,
    /// Members (people) on every relay (on one relay, `people.len()`), as last heard.
    count: usize,
    /// The members were told the room's count (`members`) instead of each coming and going,
    /// and have not had every name since: comings and goings are counted, not announced.
    counted: bool,
    /// The count changed since the members were last told it (see `presence.rs`).
    changed: bool,
}

struct Member {
    name: String,
    /// `validate::name_key(name)`: whose connection this is.
    key: String,
    handle: ConnHandle,
    /// The room's last seq the member has (from its `joined`); the fan-out sends only later
    /// ones.
    seen: u64,
    /// While its `joined`'s page is being read: the room's messages the fan-out brought
    /// meanwhile, as (seq, frame), to go after the `joined` (see `State::joined`); a change
    /// (`changed`) has no seq and always goes.
    catching_up: Option<Vec<(Option<u64>, Frame)>>,
}

/// A known user. The default is a name heard of and nothing more: no password, never seen.
#[derive(Default)]
struct UserEntry {
    /// As said in the latest hello.
    name: String,
    /// The Argon2id hash of a protected name's password.
    password: Option<String>,
    /// When the password was set (ms since the epoch), to tell a newer one in the store.
    password_at: u64,
    /// The password was set by `courier passwd` (the only kind an operator's name takes).
    password_outside: bool,
    /// When a session last had this name (its hello or its end), by the hub's clock.
    last_seen: u64,
    /// When this run of the relay first welcomed the name, if it was new then (else 0).
    /// Private messages older than this belong to an earlier holder of a forgotten name,
    /// whose removal the writer may not have committed yet: they are never shown.
    since: u64,
    /// The address that last proved this name's password or protected it, in this run: its
    /// checks skip the name's backoff, so that guessing from elsewhere cannot lock the owner
    /// out (its per-address limits still apply).
    trusted: Option<std::net::IpAddr>,
}

/// Why a frame was refused: becomes an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: ErrorCode,
    message: String,
}

fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        message: message.into(),
    })
}

type Handled = Result<(), Refusal>;

impl Hub {
    /// A hub on `engine`. What the engine stores comes back to [`Hub::committed`] through
    /// the fan-out (`fanout::spawn`), which `server.rs` wires.
    pub fn new(
        limits: HubLimits,
        mut engine: Box<dyn Engine>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Arc<Self> {
        let users: HashMap<String, UserEntry> = engine
            .take_users()
            .into_iter()
            .map(|u| {
                let entry = UserEntry {
                    name: u.name,
                    password: u.password,
                    password_at: u.password_at,
                    password_outside: u.password_outside,
                    last_seen: u.last_seen,
                    since: 0,
                    trusted: None,
                };
                (u.key, entry)
            })
            .collect();
        let reads = engine.reads();
        Arc::new(Self {
            state: Mutex::new(State {
                limits,
                engine,
                metrics: metrics.clone(),
                users,
                slow: None,
                conns: HashMap::new(),
                online: HashMap::new(),
                rooms: HashMap::new(),
                removals: Removals::default(),
                attempts: Attempts::new(limits.attempts),
                dm_rates: DmRates::new(limits.dm_rate),
                operators: Operators::default(),
                watchers: BTreeSet::new(),
                stats: Ring::default(),
                runs: Err(RUNNER_OFF.to_owned()),
                forgotten: HashMap::new(),
                claiming: HashMap::new(),
                news_joins: Vec::new(),
            }),
            metrics,
            clock,
            passwords: Workers::default(),
            reads,
            searches: tokio::sync::Semaphore::new(search::SEARCHES),
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// Stops taking messages and waits until the engine has stored (and sent down its sink)
    /// every message already taken. Called at shutdown, after the connections have ended.
    pub fn flush(&self) {
        let closed: Closed = self.lock().engine.close();
        // Waited for without the lock: the fan-out takes it for what is still coming.
        closed.wait();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in the hub; the state is still the
        // best there is, so keep serving rather than poison every connection.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new connection; it has no session until its hello succeeds.
    pub fn connect(&self, handle: ConnHandle) {
        self.lock().conns.insert(
            handle.id,
            Conn {
                handle,
                session: None,
            },
        );
    }

    /// Whether connection `id` has a session.
    pub fn is_welcomed(&self, id: ConnId) -> bool {
        self.lock()
            .conns
            .get(&id)
            .is_some_and(|c| c.session.is_some())
    }

    /// Connection `id` is gone: it leaves every room it was in.
    pub fn disconnect(&self, id: ConnId) {
        let now = (self.clock)();
        let mut state = self.lock();
        state.end_session(id, now);
        state.watchers.remove(&id);
        state.conns.remove(&id);
    }

    /// Asks every connection to close with `code` (shutdown: 1001).
    pub fn close_all(&self, code: u16) {
        for conn in self.lock().conns.values() {
            conn.handle.close(code);
        }
    }

    /// Why the relay cannot store messages now, if it cannot (for /healthz).
    pub fn trouble(&self) -> Option<String> {
        self.lock().engine.trouble()
    }

    /// This relay as a node of a cluster, if it is one (for /healthz and /metrics).
    pub fn node(&self) -> Option<NodeView> {
        self.lock().engine.node()
    }

    /// Current sizes, for /metrics and /healthz.
    pub fn gauges(&self) -> Gauges {
        let state = self.lock();
        Gauges {
            connections: state.conns.len(),
            sessions: state.online.len(),
            rooms: state.rooms.len(),
            known_users: state.users.len(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl State {
    /// A refusal with `rate_limited` (counted as such): the frame was dropped, and may be
    /// sent again later.
    fn too_many<T>(&self, message: impl Into<String>) -> Result<T, Refusal> {
        Metrics::inc(&self.metrics.rate_limited);
        refuse(ErrorCode::RateLimited, message)
    }

    /// The address connection `id` comes from, as the per-address limits count it.
    fn addr(&self, id: ConnId) -> Option<std::net::IpAddr> {
        self.conns.get(&id).and_then(|c| c.handle.addr)
    }

    /// The session of a welcomed connection. `dispatch` only calls handlers for those.
    fn session(&self, id: ConnId) -> Result<&Session, Refusal> {
        match self.conns.get(&id).and_then(|c| c.session.as_ref()) {
            Some(session) => Ok(session),
            None => refuse(ErrorCode::NotWelcomed, "say hello first"),
        }
    }
}

/// The refusal for a read the engine failed.
fn read_failed(e: &crate::engine::ReadError) -> Refusal {
    tracing::error!("{e}");
    Refusal {
        code: ErrorCode::Internal,
        message: "the relay cannot read its database right now".into(),
    }
}

/// A fresh session token: 128 random bits, hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not something a chat relay can work around.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two tokens in time that does not depend on where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}
