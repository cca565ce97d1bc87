//! What the engine shares between relays when several run as one chat (the Redis engine):
//! who holds each name and on which relay, who is in each room, and the events other relays
//! send this one. On one relay (SQLite) the hub alone knows these, and none of it is used.
//!
//! Every session has a generation, raised each time its name is claimed. A relay acts for a
//! session (stores its messages, enters rooms for it) only while the generation it holds is
//! the session's current one on this relay: a relay that was paused and wakes up after its
//! sessions moved elsewhere is refused (fencing).

use super::User;

/// A hello asking for a name across the cluster.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: String,
    pub name: String,
    /// The token the new session gets.
    pub token: String,
    /// The token the hello carried, if any.
    pub given: Option<String>,
    pub mode: ClaimMode,
    /// When this relay last forgot the name (ms since the epoch; 0: not in the last minute):
    /// a protection older than that is going, and does not count.
    pub forgotten_at: u64,
    /// The hello says `attach`: a live session of the name is joined as one more connection
    /// (with the same proof a takeover needs, and none for an unprotected name) instead of
    /// taken over.
    pub attach: bool,
    /// With `attach`: connections the person may have across the cluster, at most.
    pub most: usize,
    /// The connection's id as a holder of the session: unique to the connection and this
    /// claim (a hello said again on the same connection is another). Released with
    /// `Engine::release`, which is safe to repeat, also after a claim whose answer was lost.
    pub holder: String,
}

/// What lets a hello take a name held by a live session on another relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimMode {
    /// Only the live session's token.
    Token,
    /// The token is the only proof there is (a protected name, its password not given):
    /// without it the claim fails, even if the name is free.
    TokenRequired,
    /// Nothing more: the name's password was proven.
    Proven,
}

/// The answer to a [`Claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The name is this relay's now, with this generation; `by_token` when the hello's token
    /// was the session's (which proves the name like its password would).
    Ok { generation: u64, by_token: bool },
    /// [`Claim::attach`] and the name had a live session: this relay holds one more
    /// connection of it, with its generation, token and name (unchanged); it has
    /// `connections` across the cluster now and is in `rooms`.
    Attached {
        generation: u64,
        token: String,
        name: String,
        connections: usize,
        rooms: Vec<String>,
    },
    /// [`Claim::attach`], and the person has [`Claim::most`] connections already.
    Full,
    /// A live session on another relay holds it, and the hello had not its token.
    Taken,
    /// [`ClaimMode::TokenRequired`], and the token was not the session's.
    TokenRefused,
    /// [`ClaimMode::Token`] without the session's token, and the name was protected since
    /// the relay last heard: the password hash it has now, set at `at` (ms), by `courier
    /// passwd` if `outside`. The hello's password, if it gave one, is checked against it.
    Protected {
        password: String,
        at: u64,
        outside: bool,
    },
}

/// A session entered in a room across the cluster ([`Reads::enter`]).
///
/// [`Reads::enter`]: super::Reads::enter
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    /// How many members the room has on every relay, this one included.
    pub count: usize,
    /// Their names, if there were at most as many as asked for (else none).
    pub names: Vec<String>,
}

/// This relay as a node of the cluster, as it last saw it (every second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Its node id (random, new at each start).
    pub node: String,
    /// Relays holding a lease, this one included.
    pub relays: usize,
    /// Redis answered the last renewal.
    pub redis_up: bool,
}

/// What other relays tell this one, down the sink with the stored messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Someone on any relay entered or left `room` (or their relay died), and how many
    /// members the room has since.
    Presence {
        room: String,
        name: String,
        online: bool,
        count: Option<usize>,
    },
    /// The session of `key` moved to generation `generation` (a takeover from another
    /// relay): one held here with an older generation ends, closed with 1000.
    Moved { key: String, generation: u64 },
    /// Someone on another relay is typing in `topic`: a room here has members, or a user has
    /// a session here. `frame` is the `typing` frame to send them.
    Typing { topic: super::Topic, frame: String },
    /// The user `key` was remembered, protected or forgotten somewhere in the cluster: their
    /// record now (`None`: forgotten).
    User { key: String, user: Option<User> },
    /// The unprotected user `key` claimed their name as `name` at `at` (ms), somewhere in the
    /// cluster: known, and seen then. Says nothing of a password (see `cluster.lua`).
    Seen { key: String, name: String, at: u64 },
    /// This relay's lease lapsed (it was paused, or lost Redis for too long): the others have
    /// ended its sessions, so every session here ends too, closed with 1013, to claim again.
    Evicted,
    /// A connection of person `key` on another relay did something its connections here
    /// follow (docs/PROTOCOL.md, "One person, several connections").
    /// `generation` is the session's there (`None` from an older relay, which does not say):
    /// connections here of another generation (a takeover not handled here yet, or one this
    /// relay made after it) do not follow it.
    Person {
        key: String,
        generation: Option<u64>,
        news: PersonNews,
    },
}

/// What one connection of a person did that its connections on other relays follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonNews {
    /// Joined `room`: the others join it too.
    Joined(String),
    /// Left `room`: the others leave it too.
    Left(String),
    /// Read something: the `read` frame to pass on, as JSON.
    Read(String),
}
