//! All of the chat's state and every rule that changes it, as pure Rust (no web-sys), so that it
//! is unit-tested natively (`cargo test -p courier-web`).
//!
//! The root component owns a `use_reducer(State::default)`. Everything that happens (a click, a
//! frame from the relay, the socket going up or down, the clock) is an [`Action`]. After
//! dispatching one, the root asks [`State::followups`] which frames to send because of it, so
//! the decision "what goes on the wire" is made here too and is tested with the rest.
//!
//! Times are milliseconds since the Unix epoch (`Date.now()` in the browser), passed in by the
//! caller; nothing here reads a clock.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use shared::limits::{HISTORY_LEN, HISTORY_PAGE_MAX, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use shared::validate::name_key;
use shared::{
    ChatMessage, ClientFrame, ClientMsg, ConversationId, ErrorCode, RoomInfo, ServerMsg, Target,
};
use yew::Reducible;

use crate::persist::Snapshot;

/// How long "X is typing" stays up after the last `typing` frame from X.
pub const TYPING_TTL_MS: u64 = 3_000;
/// We send `typing` for one conversation at most this often.
pub const TYPING_SEND_INTERVAL_MS: u64 = 2_000;
/// The room and user listings are asked for again this often.
pub const REFRESH_INTERVAL_MS: u64 = 10_000;
/// Closing a gap after a reconnect or a reload asks for at most this many pages of
/// [`HISTORY_PAGE_MAX`] messages; what is older than that is left to "Load older messages".
pub const MAX_GAP_PAGES: u32 = 20;

/// A password, held in memory only: nothing persists it (`crate::persist` never sees it) and
/// its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the frame that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\u{2026})")
    }
}

/// The "protect my name" form (`protect`, see docs/PROTOCOL.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtectForm {
    /// The form is shown.
    pub open: bool,
    /// The `protect` sent and not answered yet: its cid, and the password it sets.
    pub pending: Option<(String, Secret)>,
    /// Why the password was not taken (checked here, or refused by the relay).
    pub error: Option<String>,
}

/// A conversation: a room, or the private conversation with one other user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConvKey {
    /// A room, by its (case-sensitive) name.
    Room(String),
    /// A private conversation, by the peer's [`name_key`] (names compare case-insensitively).
    Dm(String),
}

impl ConvKey {
    /// The key of the private conversation with `peer`.
    pub fn dm(peer: &str) -> Self {
        Self::Dm(name_key(peer))
    }

    /// The room name, if this is a room.
    pub fn room(&self) -> Option<&str> {
        match self {
            Self::Room(room) => Some(room),
            Self::Dm(_) => None,
        }
    }
}

/// Where one of our own messages is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The relay's copy arrived: it is stored and everyone got it.
    Sent,
    /// Waiting to be sent (offline, or the conversation is catching up after a reconnect),
    /// or sent and not yet confirmed by the relay's copy.
    Pending,
    /// Refused by the relay (the `error` carried our cid). A later copy with its cid still
    /// confirms it.
    Failed(String),
}

/// A message as the views show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Position in the conversation; `None` until the relay confirms our own message.
    pub seq: Option<u64>,
    pub from: String,
    pub text: String,
    /// Milliseconds since the epoch, set by the relay; `None` while ours is unconfirmed.
    pub ts: Option<u64>,
    /// Our id for the frame that sent it (`c1`, `c2`, … for this page's session).
    pub cid: Option<String>,
    pub delivery: Delivery,
    /// For an unconfirmed message: the highest `seq` the conversation had when it was sent.
    /// Only a copy with a higher `seq` can confirm it, so that a `cid` reused by an earlier
    /// page session never confirms it.
    pub sent_after: u64,
    /// For an unconfirmed message: the relay session ([`State::session`]) it was last sent
    /// in; `None` while it waits to be sent. One sent in an earlier session whose copy did not
    /// come back by the time the conversation has caught up was lost with the connection, and
    /// is sent again.
    pub sent_in: Option<u64>,
}

impl Message {
    fn confirmed(m: ChatMessage) -> Self {
        Self {
            seq: Some(m.seq),
            from: m.from,
            text: m.text,
            ts: Some(m.ts),
            cid: m.cid,
            delivery: Delivery::Sent,
            sent_after: 0,
            sent_in: None,
        }
    }

    /// Whether it is ours and still waits for the relay's copy (pending or failed).
    pub fn unconfirmed(&self) -> bool {
        self.seq.is_none()
    }
}

/// Someone typing, and until when to say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typist {
    pub name: String,
    pub until_ms: u64,
}

/// One conversation's messages and what goes with them.
///
/// Invariant: `messages` holds the confirmed messages ordered by `seq` without repeats, then
/// our unconfirmed ones in the order they were sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conversation {
    /// The room's name, or the peer's name as they last said it.
    pub title: String,
    pub messages: Vec<Message>,
    /// Messages from others that arrived while the conversation was not open.
    pub unread: usize,
    /// Rooms: who is in the room (from `joined`, then `presence`), sorted.
    pub members: Vec<String>,
    pub typing: Vec<Typist>,
    /// The relay confirmed the conversation on the current session: rooms with `joined`,
    /// private conversations when the history asked for after `welcome` came. False after a
    /// drop until then; queued messages wait for it.
    pub synced: bool,
    /// The highest `seq` the user was shown or counted as unread: a message above it that we
    /// did not hold is news. While a gap is being closed it stays at the gap's floor. Kept
    /// across reloads (`persist`).
    pub seen: u64,
    /// The highest `seq` read: the conversation was on screen with it. Kept across reloads.
    pub read: u64,
    /// What the relay last said about messages older than the oldest we hold: `Some(true)`
    /// there are more, `Some(false)` there are none, `None` it did not say.
    pub older: Option<bool>,
    /// The `history` request in flight, at most one per conversation (so answers come back in
    /// the order asked).
    pub fetch: Option<Fetch>,
    /// Rooms: the `after` of the re-join sent at the last `welcome` (until `joined` answers).
    pub join_after: Option<u64>,
    /// Private conversations: the highest `seq` acknowledged in this session.
    pub acked: u64,
}

/// A `history` request in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Its `before`; `None` asks for the newest messages.
    pub before: Option<u64>,
    /// Closing a gap: keep paging back until every `seq` above this one is held. `None`: one
    /// page (scrollback, or the first look at a private conversation).
    pub until: Option<u64>,
    /// Requests made for this gap so far, this one included.
    pub pages: u32,
    /// The request's `cid`, so that an `error` about it ends it.
    pub cid: String,
}

impl Conversation {
    fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    /// The highest confirmed `seq`, 0 if none.
    pub fn last_seq(&self) -> u64 {
        self.messages
            .iter()
            .filter_map(|m| m.seq)
            .max()
            .unwrap_or(0)
    }

    /// The lowest confirmed `seq` held, if any.
    pub fn first_seq(&self) -> Option<u64> {
        self.messages.first().and_then(|m| m.seq)
    }

    /// Whether the relay has older messages than those shown: it said so, or (when it did not
    /// say) the oldest shown is not the first.
    pub fn has_older(&self) -> bool {
        self.older
            .unwrap_or_else(|| self.first_seq().is_some_and(|s| s > 1))
    }

    /// Whether a gap is being closed (paging back after a reconnect or a reload).
    pub fn closing_gap(&self) -> bool {
        self.fetch.as_ref().is_some_and(|f| f.until.is_some())
    }

    /// Whether scrollback is being loaded (the "Load older messages" request is in flight).
    pub fn loading_older(&self) -> bool {
        self.fetch
            .as_ref()
            .is_some_and(|f| f.until.is_none() && f.before.is_some())
    }

    /// Number of confirmed messages (they come first in `messages`).
    fn confirmed_len(&self) -> usize {
        self.messages.partition_point(|m| m.seq.is_some())
    }

    /// Applies one message from the relay: confirms our own (by `cid`), ignores a repeat of a
    /// `seq` we hold, or inserts it in `seq` order.
    ///
    /// A `seq` we hold for a *different* message (another sender or time) means the relay
    /// started counting again (it restarted without its history): what we hold from that
    /// `seq` on is gone there too, so it is dropped here.
    fn apply(&mut self, m: ChatMessage, mine: bool) -> Applied {
        self.typing
            .retain(|t| name_key(&t.name) != name_key(&m.from));
        let confirmed = &self.messages[..self.confirmed_len()];
        if let Ok(i) = confirmed.binary_search_by_key(&m.seq, |x| x.seq.unwrap_or(0)) {
            let held = &self.messages[i];
            if held.from == m.from && held.ts == Some(m.ts) && held.text == m.text {
                return match self.own_unconfirmed(&m, mine) {
                    Some(own) => {
                        self.messages.remove(own);
                        Applied::Confirmed
                    }
                    None => Applied::Repeat,
                };
            }
            self.forget_from(m.seq);
        }
        let confirms = self.own_unconfirmed(&m, mine);
        if let Some(own) = confirms {
            self.messages.remove(own);
        }
        let at = self.messages[..self.confirmed_len()].partition_point(|x| x.seq < Some(m.seq));
        self.messages.insert(at, Message::confirmed(m));
        if confirms.is_some() {
            Applied::Confirmed
        } else {
            Applied::New
        }
    }

    /// The index of our unconfirmed message that `m` is the relay's copy of.
    fn own_unconfirmed(&self, m: &ChatMessage, mine: bool) -> Option<usize> {
        let cid = m.cid.as_ref().filter(|_| mine)?;
        self.messages.iter().position(|own| {
            own.unconfirmed() && own.cid.as_ref() == Some(cid) && own.sent_after < m.seq
        })
    }

    /// Drops the confirmed messages from `seq` on (the relay no longer has them).
    fn forget_from(&mut self, seq: u64) {
        let kept = seq.saturating_sub(1);
        self.messages.retain(|x| x.seq.is_none_or(|s| s < seq));
        for own in &mut self.messages {
            own.sent_after = own.sent_after.min(kept);
        }
        self.seen = self.seen.min(kept);
        self.read = self.read.min(kept);
        self.older = None;
    }

    /// Applies a batch of messages from the relay, oldest first; `more` is what the relay said
    /// about older ones. New messages from others above [`Conversation::seen`] count as unread
    /// when `count` (the conversation is not on screen).
    fn merge(&mut self, batch: Vec<ChatMessage>, more: bool, me: &str, count: bool) {
        let lowest = batch.iter().map(|m| m.seq).min();
        for m in batch {
            let mine = name_key(&m.from) == name_key(me);
            let seq = m.seq;
            if self.apply(m, mine) == Applied::New && !mine && count && seq > self.seen {
                self.unread += 1;
            }
        }
        // The relay spoke about what is older than the batch: if the batch is now our oldest,
        // that is what is older than what we show.
        if lowest.is_some_and(|l| self.first_seq().is_none_or(|f| l <= f)) {
            self.older = Some(more);
        }
        self.catch_up();
    }

    /// Outside a gap, everything held has been seen.
    fn catch_up(&mut self) {
        if !self.closing_gap() {
            self.seen = self.seen.max(self.last_seq());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    New,
    Repeat,
    Confirmed,
}

/// The connection to the relay as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conn {
    /// No socket: nobody is signed in or signing in.
    #[default]
    Offline,
    /// Opening the socket; `attempt` 0 is the first try, more are reconnects.
    Connecting { attempt: u32 },
    /// The socket is open (signed in once `State::me` is set).
    Connected,
    /// The socket dropped; the next try is at `at_ms`.
    Reconnecting { at_ms: u64 },
}

/// The whole client state. Cheap to clone: conversations are shared `Rc`s.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// Our name as the relay welcomed it; `None` shows the login screen.
    pub me: Option<String>,
    /// The name the next `hello` asks for: set on login, kept after `welcome` for reconnects,
    /// cleared when the relay refuses it.
    pub wanted_name: Option<String>,
    /// The token of the last `welcome`; a reconnect's `hello` carries it.
    pub token: Option<String>,
    /// The password of `wanted_name`: as typed at login, or as last set with `protect`. Every
    /// `hello` of this page carries it, so that a reconnect after a relay restart (which
    /// forgets tokens) still signs a protected name in. Memory only, never persisted; dropped
    /// on sign-out and when the relay refuses it.
    pub password: Option<Secret>,
    /// The relay answered `password_required`: the login form asks for the password.
    pub password_required: bool,
    /// The "protect my name" form.
    pub protect: ProtectForm,
    /// The number of `protect` requests made; the last one's cid is
    /// `{cid_prefix}p{protect_counter}`.
    pub protect_counter: u64,
    /// The last name tried, to pre-fill the login form.
    pub last_name: String,
    /// Why the login screen is shown again or the name was refused.
    pub login_error: Option<String>,
    pub conn: Conn,
    /// Joined rooms and private conversations.
    pub conversations: BTreeMap<ConvKey, Rc<Conversation>>,
    /// The conversation on screen.
    pub open: Option<ConvKey>,
    /// A room we asked to join; it opens when `joined` arrives.
    pub opening: Option<String>,
    /// The last `rooms` listing, sorted by name.
    pub rooms: Vec<RoomInfo>,
    /// The last `users` listing, sorted, without us.
    pub online: Vec<String>,
    /// The number of cids handed out; the next is `{cid_prefix}c{cid_counter + 1}`.
    pub cid_counter: u64,
    /// Makes this page's cids unlike those of earlier page loads (whose messages come back in
    /// history with their cids): the root sets it from the clock at start-up.
    pub cid_prefix: String,
    /// The number of `history` requests made; the last one's cid is
    /// `{cid_prefix}h{fetch_counter}`.
    pub fetch_counter: u64,
    /// Counts the relay sessions (`welcome`s) of this page.
    pub session: u64,
    /// A one-line message for the user (a relay error).
    pub notice: Option<String>,
    /// Why the room name typed in the sidebar is unfit (or was refused by the relay).
    pub room_error: Option<String>,
    /// The clock as of the last action that needed it (the reconnect countdown).
    pub now_ms: u64,
    /// The conversation and time of our last `typing` frame.
    pub typing_sent: Option<(ConvKey, u64)>,
    /// When the listings were last asked for.
    pub refreshed_ms: u64,
}

/// Everything that can happen to the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The user asks to sign in under this name, as typed (it is checked with
    /// `validate::name` and trimmed), with the name's password if one was typed.
    Login {
        name: String,
        password: Option<Secret>,
    },
    /// The user signs out: back to the login screen, the socket closes.
    Logout,
    /// The socket service is opening a socket.
    Connecting {
        attempt: u32,
    },
    /// The socket is open.
    Connected,
    /// The socket dropped; the service tries again at `retry_at_ms`.
    Disconnected {
        retry_at_ms: u64,
        now_ms: u64,
    },
    /// A frame from the relay.
    Server {
        msg: ServerMsg,
        now_ms: u64,
    },
    /// The clock: expires typing notices, counts the reconnect down, refreshes listings.
    Tick(u64),
    /// Show this conversation.
    Open(ConvKey),
    /// Show the private conversation with this user (creating it).
    OpenDm(String),
    /// Join (or create) this room, and show it; the name is checked with `validate::room`.
    Join(String),
    /// Leave this room.
    Leave(String),
    /// Send `text` to a conversation under `cid` (from [`State::next_cid`]).
    Send {
        key: ConvKey,
        cid: String,
        text: String,
    },
    /// The user typed in the composer of this conversation.
    Typed {
        key: ConvKey,
        now_ms: u64,
    },
    /// Show a notice.
    Notice(String),
    DismissNotice,
    /// Take up a session kept by an earlier page load (`persist`): sign in under its name
    /// (with its token, if any), with its conversations and unread counts.
    Resume(Snapshot),
    /// Ask for the messages before the oldest shown in this conversation.
    LoadOlder(ConvKey),
    /// Send these waiting messages now, by conversation and cid (from
    /// [`State::due_sends`]).
    SendQueued(Vec<(ConvKey, String)>),
    /// Acknowledge private messages up to these seqs (from [`State::due_acks`]).
    SendAcks(Vec<(ConvKey, u64)>),
    /// Show (true) or hide the "protect my name" form.
    ShowProtect(bool),
    /// Protect our name with `password`, typed twice (`confirm`); checked here first.
    Protect {
        password: Secret,
        confirm: Secret,
    },
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        if next.apply(action) && next != *self {
            Rc::new(next)
        } else {
            self
        }
    }
}

impl State {
    /// Applies an action; returns false when it certainly changed nothing.
    fn apply(&mut self, action: Action) -> bool {
        let changed = self.apply_action(action);
        if changed {
            self.mark_open_read();
        }
        changed
    }

    /// The conversation on screen is read up to its newest message.
    fn mark_open_read(&mut self) {
        let Some(conv) = self
            .open
            .as_ref()
            .and_then(|k| self.conversations.get_mut(k))
        else {
            return;
        };
        let last = conv.last_seq();
        if conv.read < last || conv.unread != 0 {
            let conv = Rc::make_mut(conv);
            conv.read = conv.read.max(last);
            conv.unread = 0;
        }
    }

    fn apply_action(&mut self, action: Action) -> bool {
        match action {
            Action::Login {
                name: raw,
                password,
            } => {
                if self.me.is_some() || self.wanted_name.is_some() {
                    return false;
                }
                self.last_name = raw.trim().to_owned();
                match shared::validate::name(&raw) {
                    Ok(name) => {
                        self.wanted_name = Some(name.to_owned());
                        self.login_error = None;
                        self.password = password.filter(|p| !p.expose().is_empty());
                        self.password_required = false;
                    }
                    Err(why) => {
                        self.login_error = Some(format!("That name won\u{2019}t work: {why}."));
                    }
                }
            }
            Action::Logout => {
                *self = Self {
                    last_name: self.me.clone().unwrap_or_default(),
                    ..self.fresh()
                };
            }
            Action::Connecting { attempt } => {
                if !self.wants_connection() {
                    return false;
                }
                self.conn = Conn::Connecting { attempt };
            }
            Action::Connected => {
                if !self.wants_connection() {
                    return false;
                }
                self.conn = Conn::Connected;
            }
            Action::Disconnected {
                retry_at_ms,
                now_ms,
            } => {
                if !self.wants_connection() {
                    return false;
                }
                self.conn = Conn::Reconnecting { at_ms: retry_at_ms };
                self.now_ms = now_ms;
                self.typing_sent = None;
                if self.protect.pending.take().is_some() {
                    let why = "The connection dropped before the relay answered, so your name \
                               may not be protected. Try again once connected."
                        .to_owned();
                    if self.protect.open {
                        self.protect.error = Some(why);
                    } else {
                        self.notice = Some(why);
                    }
                }
                // Our messages stay pending: those not confirmed once the conversation has
                // caught up after the reconnect are sent (again) then.
                for conv in self.conversations.values_mut() {
                    let conv = Rc::make_mut(conv);
                    conv.synced = false;
                    conv.typing.clear();
                    conv.fetch = None;
                    conv.join_after = None;
                }
            }
            Action::Server { msg, now_ms } => return self.server(msg, now_ms),
            Action::Tick(now) => return self.tick(now),
            Action::Open(key) => {
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false;
                };
                if conv.unread != 0 {
                    Rc::make_mut(conv).unread = 0;
                }
                self.open = Some(key);
            }
            Action::OpenDm(peer) => {
                if self.is_me(&peer) {
                    return false;
                }
                let key = ConvKey::dm(&peer);
                if !self.conversations.contains_key(&key) {
                    let online = self.online_now();
                    let mut conv = Conversation::new(&peer);
                    conv.synced = online;
                    if online {
                        // A first look at the conversation: its newest messages, if any.
                        conv.fetch = Some(self.new_fetch(None, None));
                    }
                    self.conversations.insert(key.clone(), Rc::new(conv));
                }
                self.open = Some(key);
            }
            Action::Join(room) => {
                if let Err(why) = shared::validate::room(&room) {
                    self.room_error = Some(format!("That room name won\u{2019}t work: {why}."));
                    return true;
                }
                self.room_error = None;
                let key = ConvKey::Room(room.clone());
                if self.conversations.contains_key(&key) {
                    return self.apply(Action::Open(key));
                }
                self.opening = Some(room);
            }
            Action::Leave(room) => {
                let key = ConvKey::Room(room.clone());
                if self.conversations.remove(&key).is_none() {
                    return false;
                }
                if self.opening.as_ref() == Some(&room) {
                    self.opening = None;
                }
                if self.open.as_ref() == Some(&key) {
                    self.open = self.conversations.keys().next().cloned();
                    if let Some(open) = &self.open {
                        self.apply(Action::Open(open.clone()));
                    }
                }
            }
            Action::Send { key, cid, text } => {
                if !self.can_send(&key) {
                    return false;
                }
                let live = self.online_now();
                let (Some(me), Some(conv)) = (self.me.clone(), self.conversations.get_mut(&key))
                else {
                    return false;
                };
                let conv = Rc::make_mut(conv);
                let session = self.session;
                // It goes now if the conversation is live and nothing older waits; otherwise
                // it waits its turn (`due_sends`).
                let waiting = conv
                    .messages
                    .iter()
                    .any(|m| m.delivery == Delivery::Pending && m.sent_in != Some(session));
                let now = live && conv.synced && !conv.closing_gap() && !waiting;
                conv.messages.push(Message {
                    seq: None,
                    from: me,
                    text,
                    ts: None,
                    cid: Some(cid),
                    delivery: Delivery::Pending,
                    sent_after: conv.last_seq().max(conv.seen),
                    sent_in: now.then_some(session),
                });
                self.cid_counter += 1;
            }
            Action::Typed { key, now_ms } => {
                let recent = self.typing_sent.as_ref().is_some_and(|(k, at)| {
                    *k == key && now_ms.saturating_sub(*at) < TYPING_SEND_INTERVAL_MS
                });
                if recent || !self.ready(&key) {
                    return false;
                }
                self.typing_sent = Some((key, now_ms));
            }
            Action::Notice(text) => self.notice = Some(text),
            Action::DismissNotice => self.notice = None,
            Action::Resume(snapshot) => return self.resume(snapshot),
            Action::LoadOlder(key) => {
                let ready = self.online_now();
                let Some(conv) = self.conversations.get(&key) else {
                    return false;
                };
                if !ready || !conv.synced || conv.fetch.is_some() || !conv.has_older() {
                    return false;
                }
                let before = conv.first_seq();
                let fetch = self.new_fetch(before, None);
                if let Some(conv) = self.conversations.get_mut(&key) {
                    Rc::make_mut(conv).fetch = Some(fetch);
                }
            }
            Action::SendQueued(due) => {
                let mut changed = false;
                for (key, cid) in due {
                    if !self.ready(&key) {
                        continue;
                    }
                    let session = self.session;
                    let Some(conv) = self.conversations.get_mut(&key) else {
                        continue;
                    };
                    let found = conv.messages.iter().position(|m| {
                        m.unconfirmed()
                            && m.delivery == Delivery::Pending
                            && m.cid.as_ref() == Some(&cid)
                            && m.sent_in != Some(session)
                    });
                    if let Some(i) = found {
                        Rc::make_mut(conv).messages[i].sent_in = Some(session);
                        changed = true;
                    }
                }
                return changed;
            }
            Action::SendAcks(acks) => {
                let mut changed = false;
                for (key, seq) in acks {
                    if let Some(conv) = self.conversations.get_mut(&key)
                        && conv.acked < seq
                    {
                        Rc::make_mut(conv).acked = seq;
                        changed = true;
                    }
                }
                return changed;
            }
            Action::ShowProtect(open) => {
                if self.protect.open == open || (open && self.me.is_none()) {
                    return false;
                }
                self.protect.open = open;
                self.protect.error = None;
            }
            Action::Protect { password, confirm } => return self.protect(password, &confirm),
        }
        true
    }

    /// Checks the password typed in the protect form and, if it fits, makes a `protect`
    /// request (see [`State::followups`]).
    fn protect(&mut self, password: Secret, confirm: &Secret) -> bool {
        if !self.protect.open || self.protect.pending.is_some() {
            return false;
        }
        let chars = password.expose().chars().count();
        let why = if chars < MIN_PASSWORD_CHARS {
            Some(format!(
                "The password needs at least {MIN_PASSWORD_CHARS} characters."
            ))
        } else if chars > MAX_PASSWORD_CHARS {
            Some(format!(
                "The password can have at most {MAX_PASSWORD_CHARS} characters."
            ))
        } else if password != *confirm {
            Some("The two passwords don\u{2019}t match.".to_owned())
        } else if !self.online_now() {
            Some("You are offline: try again once connected.".to_owned())
        } else {
            None
        };
        if why.is_none() {
            self.protect_counter += 1;
            self.protect.pending = Some((self.last_protect_cid(), password));
        }
        self.protect.error = why;
        true
    }

    /// The cid of the last `protect` request made.
    fn last_protect_cid(&self) -> String {
        format!("{}p{}", self.cid_prefix, self.protect_counter)
    }

    /// A signed-out state that keeps what must not repeat within this page (cid counters,
    /// session numbers).
    fn fresh(&self) -> Self {
        Self {
            cid_counter: self.cid_counter,
            cid_prefix: self.cid_prefix.clone(),
            fetch_counter: self.fetch_counter,
            protect_counter: self.protect_counter,
            session: self.session,
            ..Self::default()
        }
    }

    /// A new `history` request with its own cid.
    fn new_fetch(&mut self, before: Option<u64>, until: Option<u64>) -> Fetch {
        self.fetch_counter += 1;
        Fetch {
            before,
            until,
            pages: 1,
            cid: self.last_fetch_cid(),
        }
    }

    /// The cid of the last `history` request made.
    fn last_fetch_cid(&self) -> String {
        format!("{}h{}", self.cid_prefix, self.fetch_counter)
    }

    /// Takes up a kept session: see [`Action::Resume`].
    fn resume(&mut self, snapshot: Snapshot) -> bool {
        if self.me.is_some() {
            return false;
        }
        let Ok(name) = shared::validate::name(&snapshot.name) else {
            return false;
        };
        if self
            .wanted_name
            .as_deref()
            .is_some_and(|w| name_key(w) != name_key(name))
        {
            return false;
        }
        self.wanted_name = Some(name.to_owned());
        self.last_name = name.to_owned();
        self.login_error = None;
        if snapshot.token.is_some() {
            self.token = snapshot.token;
        }
        for mark in snapshot.marks {
            let conv = Conversation {
                seen: mark.seen,
                read: mark.read,
                unread: mark.unread,
                ..Conversation::new(&mark.title)
            };
            self.conversations.insert(mark.key, Rc::new(conv));
        }
        self.open = snapshot.open.filter(|k| self.conversations.contains_key(k));
        true
    }

    fn server(&mut self, msg: ServerMsg, now_ms: u64) -> bool {
        match msg {
            ServerMsg::Welcome { name, token } => {
                if self
                    .me
                    .as_deref()
                    .is_some_and(|me| name_key(me) != name_key(&name))
                {
                    // A new name: what we had belonged to the old one.
                    self.conversations.clear();
                    self.open = None;
                }
                self.me = Some(name.clone());
                self.wanted_name = Some(name.clone());
                self.last_name = name;
                self.token = Some(token);
                self.login_error = None;
                self.password_required = false;
                self.conn = Conn::Connected;
                self.session += 1;
                // The welcome's follow-ups ask for the listings, re-join the rooms (from the
                // last seq held) and ask for each private conversation's newest messages.
                self.refreshed_ms = now_ms;
                let keys: Vec<ConvKey> = self.conversations.keys().cloned().collect();
                for key in keys {
                    let (held, floor) = {
                        let conv = &self.conversations[&key];
                        (conv.last_seq(), conv.seen.max(conv.last_seq()))
                    };
                    let fetch = match key {
                        ConvKey::Room(_) => None,
                        // Page back to what we had, if we had anything.
                        ConvKey::Dm(_) => Some(self.new_fetch(None, (floor > 0).then_some(floor))),
                    };
                    let conv = Rc::make_mut(self.conversations.get_mut(&key).expect("listed"));
                    conv.acked = 0;
                    conv.synced = false;
                    conv.fetch = fetch;
                    conv.join_after = (key.room().is_some() && held > 0).then_some(held);
                }
            }
            ServerMsg::Joined {
                room,
                members,
                history,
                more,
            } => {
                let key = ConvKey::Room(room.clone());
                let is_open = self.open.as_ref() == Some(&key);
                let me = self.me.clone().unwrap_or_default();
                let rejoin = self.conversations.contains_key(&key);
                let gap_fetch = self.new_fetch(None, None);
                let conv = self
                    .conversations
                    .entry(key.clone())
                    .or_insert_with(|| Rc::new(Conversation::new(&room)));
                let conv = Rc::make_mut(conv);
                conv.members = sorted_names(members);
                conv.synced = true;
                let after = conv.join_after.take();
                // Without `after`, history ends at the room's newest message; if we hold newer
                // ones, the relay lost them (it restarted without its database).
                let newest = history.last().map_or(0, |m| m.seq);
                if after.is_none() && newest < conv.last_seq() {
                    conv.forget_from(newest + 1);
                }
                // Missed more than one answer holds: page back to what we had (`seen`).
                let floor = conv.seen;
                let lowest = history.iter().map(|m| m.seq).min();
                if let Some(lowest) = lowest.filter(|&l| more && floor > 0 && l > floor + 1) {
                    conv.fetch = Some(Fetch {
                        before: Some(lowest),
                        until: Some(floor),
                        ..gap_fetch
                    });
                } else if conv.fetch.is_none() && history.is_empty() && after.is_none() {
                    conv.older = Some(more);
                }
                // Messages missed while the connection was down are news.
                conv.merge(history, more, &me, rejoin && !is_open);
                if self.opening.as_ref() == Some(&room) || self.open.is_none() {
                    self.opening = None;
                    self.apply(Action::Open(key));
                }
            }
            ServerMsg::Presence { room, name, online } => {
                if self.is_me(&name) {
                    return false;
                }
                let Some(conv) = self.conversations.get_mut(&ConvKey::Room(room)) else {
                    return false;
                };
                let conv = Rc::make_mut(conv);
                let key = name_key(&name);
                conv.members.retain(|m| name_key(m) != key);
                if online {
                    conv.members.push(name);
                    conv.members = sorted_names(std::mem::take(&mut conv.members));
                } else {
                    conv.typing.retain(|t| name_key(&t.name) != key);
                }
            }
            ServerMsg::Message(m) => {
                let Some(me) = self.me.clone() else {
                    return false;
                };
                let mine = name_key(&m.from) == name_key(&me);
                let key = match &m.target {
                    Target::Room { room } => ConvKey::Room(room.clone()),
                    Target::User { to } => {
                        let peer = if mine { to.clone() } else { m.from.clone() };
                        let key = ConvKey::dm(&peer);
                        let conv = self
                            .conversations
                            .entry(key.clone())
                            .or_insert_with(|| Rc::new(Conversation::new(&peer)));
                        if conv.title != peer {
                            Rc::make_mut(conv).title = peer;
                        }
                        key
                    }
                };
                let is_open = self.open.as_ref() == Some(&key);
                let online = self.online_now();
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false; // a room we left
                };
                let conv = Rc::make_mut(conv);
                if key.room().is_none() && conv.fetch.is_none() && !conv.synced && online {
                    // A private conversation that started just now.
                    conv.synced = true;
                }
                let seq = m.seq;
                let applied = conv.apply(m, mine);
                if applied == Applied::New && !mine && !is_open && seq > conv.seen {
                    conv.unread += 1;
                }
                conv.catch_up();
            }
            ServerMsg::Rooms { mut rooms } => {
                rooms.sort_by(|a, b| a.room.cmp(&b.room));
                self.rooms = rooms;
            }
            ServerMsg::Users { online } => {
                let me = self.me.as_deref().map(name_key);
                self.online = sorted_names(
                    online
                        .into_iter()
                        .filter(|n| Some(name_key(n)) != me)
                        .collect(),
                );
            }
            ServerMsg::Typing { target, name } => {
                if self.is_me(&name) {
                    return false;
                }
                let key = match target {
                    Target::Room { room } => ConvKey::Room(room),
                    Target::User { .. } => ConvKey::dm(&name),
                };
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false;
                };
                let conv = Rc::make_mut(conv);
                conv.typing.retain(|t| name_key(&t.name) != name_key(&name));
                conv.typing.push(Typist {
                    name,
                    until_ms: now_ms + TYPING_TTL_MS,
                });
            }
            ServerMsg::Error { code, message, cid } => self.error(code, message, cid),
            ServerMsg::Protected { name } => {
                // The answer to our pending `protect` (it carries no cid): its password is
                // the one the next hellos need.
                if let Some((_, password)) = self.protect.pending.take() {
                    self.password = Some(password);
                }
                self.protect.open = false;
                self.protect.error = None;
                self.notice = Some(format!(
                    "\u{201c}{name}\u{201d} is now protected: signing in with it needs your \
                     password."
                ));
            }
            ServerMsg::History {
                conversation,
                messages,
                more,
            } => return self.history(conversation, messages, more),
        }
        true
    }

    /// An answer to `history`: merged by `seq`; a gap being closed asks for the page before.
    fn history(
        &mut self,
        conversation: ConversationId,
        messages: Vec<ChatMessage>,
        more: bool,
    ) -> bool {
        let key = match conversation {
            ConversationId::Room { room } => ConvKey::Room(room),
            ConversationId::With { with } => ConvKey::dm(&with),
        };
        let Some(conv) = self.conversations.get(&key) else {
            return false;
        };
        let is_open = self.open.as_ref() == Some(&key);
        let online = self.online_now();
        let me = self.me.clone().unwrap_or_default();
        let fetch = conv.fetch.clone();
        let lowest = messages.iter().map(|m| m.seq).min();
        // Requests go one at a time per conversation, so this answers `fetch`.
        let next = fetch.as_ref().and_then(|f| {
            let until = f.until?;
            let lowest = lowest?;
            (more && lowest > until + 1).then_some((lowest, until, f.pages + 1))
        });
        // Gave up on a gap (too many pages): what is below it goes, so that what is shown
        // has no hole; scrollback brings it back.
        let gave_up = next.is_some_and(|(_, _, pages)| pages > MAX_GAP_PAGES);
        let next = next
            .filter(|_| !gave_up)
            .map(|(before, until, pages)| Fetch {
                pages,
                ..self.new_fetch(Some(before), Some(until))
            });
        let conv = Rc::make_mut(self.conversations.get_mut(&key).expect("checked"));
        conv.fetch = next;
        if let Some(lowest) = lowest.filter(|_| gave_up) {
            conv.messages.retain(|m| m.seq.is_none_or(|s| s >= lowest));
        }
        let asked_for_the_bottom = fetch.as_ref().is_some_and(|f| {
            f.before
                .is_none_or(|b| conv.first_seq().is_none_or(|first| b <= first))
        });
        if messages.is_empty() && asked_for_the_bottom {
            conv.older = Some(more);
        }
        conv.merge(messages, more, &me, !is_open);
        if conv.fetch.is_none() && key.room().is_none() && online {
            conv.synced = true;
        }
        true
    }

    fn error(&mut self, code: ErrorCode, message: String, cid: Option<String>) {
        // Our `protect` was refused.
        if cid.is_some() && self.protect.pending.as_ref().map(|(c, _)| c) == cid.as_ref() {
            self.protect.pending = None;
            let why = failure_text(code, &message);
            if self.protect.open {
                self.protect.error = Some(why);
            } else {
                self.notice = Some(why);
            }
            return;
        }
        // A `history` request that failed: give it up (and let waiting messages go).
        if let Some(cid) = &cid {
            let online = self.online_now();
            for (key, conv) in &mut self.conversations {
                if conv.fetch.as_ref().is_some_and(|f| &f.cid == cid) {
                    let conv = Rc::make_mut(conv);
                    conv.fetch = None;
                    if key.room().is_none() && online {
                        conv.synced = true;
                    }
                    conv.catch_up();
                    return;
                }
            }
        }
        if let Some(cid) = cid {
            for conv in self.conversations.values_mut() {
                let found = conv
                    .messages
                    .iter()
                    .position(|m| m.unconfirmed() && m.cid.as_deref() == Some(cid.as_str()));
                if let Some(i) = found {
                    Rc::make_mut(conv).messages[i].delivery =
                        Delivery::Failed(failure_text(code, &message));
                    return;
                }
            }
        }
        let name = self.wanted_name.clone().unwrap_or_default();
        match code {
            ErrorCode::NameTaken | ErrorCode::InvalidName if self.me.is_some() => {
                // The reconnect's hello was refused: someone else has our name now.
                *self = Self {
                    last_name: name.clone(),
                    login_error: Some(format!(
                        "You were disconnected, and meanwhile someone else signed in as \
                         \u{201c}{name}\u{201d}. Pick a name to continue."
                    )),
                    ..self.fresh()
                };
            }
            ErrorCode::PasswordRequired => {
                // A hello without the right password (or a live token) for a protected name:
                // ask for it on the login form, with no retries (the socket closes).
                let why = if self.me.is_some() {
                    format!(
                        "You were disconnected, and \u{201c}{name}\u{201d} is protected: enter \
                         its password to sign in again."
                    )
                } else if self.password.is_some() {
                    format!("Wrong password for \u{201c}{name}\u{201d}. Try again.")
                } else {
                    format!("\u{201c}{name}\u{201d} is protected: enter its password to sign in.")
                };
                *self = Self {
                    last_name: name,
                    login_error: Some(why),
                    password_required: true,
                    ..self.fresh()
                };
            }
            ErrorCode::NameTaken => {
                self.wanted_name = None;
                self.conn = Conn::Offline;
                // A resumed session's conversations belong to that name.
                self.token = None;
                self.conversations.clear();
                self.open = None;
                self.login_error = Some(format!(
                    "\u{201c}{name}\u{201d} is already taken by someone online. Try another name."
                ));
            }
            ErrorCode::InvalidName => {
                self.wanted_name = None;
                self.conn = Conn::Offline;
                self.token = None;
                self.conversations.clear();
                self.open = None;
                self.login_error = Some(format!("That name can\u{2019}t be used: {message}"));
            }
            ErrorCode::InvalidRoom => {
                self.opening = None;
                self.room_error = Some(format!("That room name can\u{2019}t be used: {message}"));
            }
            _ => self.notice = Some(failure_text(code, &message)),
        }
    }

    fn tick(&mut self, now: u64) -> bool {
        let mut changed = false;
        for conv in self.conversations.values_mut() {
            if conv.typing.iter().any(|t| t.until_ms <= now) {
                Rc::make_mut(conv).typing.retain(|t| t.until_ms > now);
                changed = true;
            }
        }
        if let Conn::Reconnecting { at_ms } = self.conn {
            // Re-render only when the whole seconds shown change.
            if countdown_secs(at_ms, now) != countdown_secs(at_ms, self.now_ms) {
                self.now_ms = now;
                changed = true;
            }
        }
        if self.online_now() && now.saturating_sub(self.refreshed_ms) >= REFRESH_INTERVAL_MS {
            self.refreshed_ms = now;
            changed = true;
        }
        changed
    }

    /// The frames to send because `action` happened; call it on the state after the action.
    pub fn followups(&self, action: &Action) -> Vec<ClientFrame> {
        let frame = ClientFrame::new;
        match action {
            Action::Connected => self.hello().into_iter().collect(),
            // A new name on a socket whose last hello was refused.
            Action::Login { .. } if self.conn == Conn::Connected && self.me.is_none() => {
                self.hello().into_iter().collect()
            }
            Action::Server {
                msg: ServerMsg::Welcome { .. },
                ..
            } => {
                let joins = self.conversations.iter().filter_map(|(key, conv)| {
                    Some(frame(ClientMsg::Join {
                        room: key.room()?.to_owned(),
                        after: conv.join_after,
                    }))
                });
                // Every fetch there is was made by this welcome (a drop ends them all).
                let fetches = self
                    .conversations
                    .keys()
                    .filter_map(|key| self.fetch_frame(key));
                joins
                    .chain(fetches)
                    .chain([frame(ClientMsg::Rooms), frame(ClientMsg::Users)])
                    .collect()
            }
            Action::Server {
                msg: ServerMsg::Joined { room, .. },
                ..
            } => {
                let key = ConvKey::Room(room.clone());
                let mut frames = vec![frame(ClientMsg::Rooms)];
                frames.extend(self.new_fetch_frame(&key));
                frames
            }
            Action::Server {
                msg: ServerMsg::History { conversation, .. },
                ..
            } => {
                let key = match conversation {
                    ConversationId::Room { room } => ConvKey::Room(room.clone()),
                    ConversationId::With { with } => ConvKey::dm(with),
                };
                self.new_fetch_frame(&key).into_iter().collect()
            }
            Action::LoadOlder(key) => self.new_fetch_frame(key).into_iter().collect(),
            Action::OpenDm(peer) => self
                .new_fetch_frame(&ConvKey::dm(peer))
                .into_iter()
                .collect(),
            Action::SendQueued(due) => due
                .iter()
                .filter_map(|(key, cid)| {
                    let conv = self.conversations.get(key)?;
                    let m = conv.messages.iter().find(|m| {
                        m.unconfirmed()
                            && m.delivery == Delivery::Pending
                            && m.cid.as_ref() == Some(cid)
                            && m.sent_in == Some(self.session)
                    })?;
                    Some(self.say(key, cid, &m.text))
                })
                .collect(),
            Action::SendAcks(acks) if self.online_now() => acks
                .iter()
                .filter_map(|(key, seq)| {
                    let conv = self.conversations.get(key)?;
                    key.room().is_none().then(|| {
                        frame(ClientMsg::Ack {
                            with: conv.title.clone(),
                            seq: *seq,
                        })
                    })
                })
                .collect(),
            Action::Server {
                msg: ServerMsg::Presence { .. },
                ..
            } => vec![frame(ClientMsg::Users)],
            Action::Join(room)
                if self.online_now()
                    && self.room_error.is_none()
                    && !self
                        .conversations
                        .contains_key(&ConvKey::Room(room.clone())) =>
            {
                vec![frame(ClientMsg::Join {
                    room: room.clone(),
                    after: None,
                })]
            }
            Action::Leave(room) if self.online_now() => vec![
                frame(ClientMsg::Leave { room: room.clone() }),
                frame(ClientMsg::Rooms),
            ],
            Action::Send { key, cid, text } => {
                let sent = self.conversations.get(key).is_some_and(|c| {
                    c.messages.last().is_some_and(|m| {
                        m.cid.as_ref() == Some(cid)
                            && m.unconfirmed()
                            && m.sent_in == Some(self.session)
                    })
                });
                if !sent || !self.online_now() {
                    return Vec::new();
                }
                vec![self.say(key, cid, text)]
            }
            Action::Typed { key, now_ms } if self.typing_sent == Some((key.clone(), *now_ms)) => {
                let msg = match key {
                    ConvKey::Room(room) => ClientMsg::Typing {
                        room: Some(room.clone()),
                        to: None,
                    },
                    ConvKey::Dm(_) => ClientMsg::Typing {
                        room: None,
                        to: Some(self.conversations[key].title.clone()),
                    },
                };
                vec![frame(msg)]
            }
            Action::Tick(now) if self.online_now() && self.refreshed_ms == *now => {
                vec![frame(ClientMsg::Rooms), frame(ClientMsg::Users)]
            }
            Action::Protect { .. } => self
                .protect
                .pending
                .iter()
                .filter(|(cid, _)| *cid == self.last_protect_cid() && self.online_now())
                .map(|(cid, password)| {
                    ClientFrame::with_cid(
                        ClientMsg::Protect {
                            password: password.expose().to_owned(),
                        },
                        cid.clone(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `say` or `dm` frame of one of our messages.
    fn say(&self, key: &ConvKey, cid: &str, text: &str) -> ClientFrame {
        let msg = match key {
            ConvKey::Room(room) => ClientMsg::Say {
                room: room.clone(),
                text: text.to_owned(),
            },
            ConvKey::Dm(_) => ClientMsg::Dm {
                to: self.conversations[key].title.clone(),
                text: text.to_owned(),
            },
        };
        ClientFrame::with_cid(msg, cid)
    }

    /// The `history` request of this conversation's fetch in flight, if any.
    fn fetch_frame(&self, key: &ConvKey) -> Option<ClientFrame> {
        let conv = self.conversations.get(key)?;
        let fetch = conv.fetch.as_ref()?;
        let (room, with) = match key {
            ConvKey::Room(room) => (Some(room.clone()), None),
            ConvKey::Dm(_) => (None, Some(conv.title.clone())),
        };
        // Closing a gap takes the biggest pages; a look back takes the usual screenful.
        let limit = if fetch.until.is_some() {
            HISTORY_PAGE_MAX
        } else {
            HISTORY_LEN
        };
        Some(ClientFrame::with_cid(
            ClientMsg::History {
                room,
                with,
                before: fetch.before,
                limit: Some(limit),
            },
            fetch.cid.clone(),
        ))
    }

    /// [`State::fetch_frame`] if the fetch was made by the action just applied (it has the
    /// newest cid).
    fn new_fetch_frame(&self, key: &ConvKey) -> Option<ClientFrame> {
        let conv = self.conversations.get(key)?;
        if conv.fetch.as_ref()?.cid != self.last_fetch_cid() {
            return None;
        }
        self.fetch_frame(key)
    }

    /// The `hello` for the current socket: our name, the token if we had a session, the
    /// name's password if we know it, and that we acknowledge private messages.
    pub fn hello(&self) -> Option<ClientFrame> {
        let name = self.wanted_name.clone()?;
        Some(ClientFrame::new(ClientMsg::Hello {
            name,
            token: self.token.clone(),
            acks: true,
            password: self.password.as_ref().map(|p| p.expose().to_owned()),
        }))
    }

    /// Whether our messages to this conversation go out now: welcomed, the conversation
    /// confirmed on this session and not closing a gap (a message lost with the last
    /// connection is only known to be lost once what was missed is in).
    pub fn ready(&self, key: &ConvKey) -> bool {
        self.online_now()
            && self
                .conversations
                .get(key)
                .is_some_and(|c| c.synced && !c.closing_gap())
    }

    /// Our messages that wait and can go now, by conversation and cid, oldest first: those
    /// typed while offline, and those sent on an earlier connection that the relay's
    /// messages since did not confirm. The root sends them with [`Action::SendQueued`].
    pub fn due_sends(&self) -> Vec<(ConvKey, String)> {
        self.conversations
            .iter()
            .filter(|(key, _)| self.ready(key))
            .flat_map(|(key, conv)| {
                conv.messages
                    .iter()
                    .filter(|m| {
                        m.unconfirmed()
                            && m.delivery == Delivery::Pending
                            && m.sent_in != Some(self.session)
                    })
                    .filter_map(|m| Some((key.clone(), m.cid.clone()?)))
            })
            .collect()
    }

    /// The acknowledgements owed: per private conversation, the highest `seq` we have, if the
    /// relay was not told yet in this session. The root sends them with
    /// [`Action::SendAcks`] after each burst of frames.
    pub fn due_acks(&self) -> Vec<(ConvKey, u64)> {
        if !self.online_now() {
            return Vec::new();
        }
        self.conversations
            .iter()
            .filter(|(key, _)| key.room().is_none())
            .filter_map(|(key, conv)| {
                let last = conv.last_seq();
                (last > conv.acked).then(|| (key.clone(), last))
            })
            .collect()
    }

    /// Whether a socket should be open: someone is signed in or signing in.
    pub fn wants_connection(&self) -> bool {
        self.me.is_some() || self.wanted_name.is_some()
    }

    /// Connected and welcomed.
    pub fn online_now(&self) -> bool {
        self.conn == Conn::Connected && self.me.is_some()
    }

    /// Whether the composer takes a message for this conversation: signed in and in it. The
    /// message goes at once when [`State::ready`], otherwise when it is.
    pub fn can_send(&self, key: &ConvKey) -> bool {
        self.me.is_some() && self.conversations.contains_key(key)
    }

    /// The cid for the next message we send.
    pub fn next_cid(&self) -> String {
        format!("{}c{}", self.cid_prefix, self.cid_counter + 1)
    }

    /// Whether `name` is ours (names compare case-insensitively).
    pub fn is_me(&self, name: &str) -> bool {
        self.me
            .as_deref()
            .is_some_and(|me| name_key(me) == name_key(name))
    }

    /// Whether `name` is online now, as far as the last `users` listing knows.
    pub fn is_online(&self, name: &str) -> bool {
        let key = name_key(name);
        self.online.iter().any(|n| name_key(n) == key)
    }

    /// The status bar: its `data-state` (`connected`, `connecting`, `reconnecting`) and text.
    pub fn status(&self) -> (&'static str, String) {
        match self.conn {
            Conn::Connected if self.me.is_some() => ("connected", "connected".to_owned()),
            Conn::Connected => ("connecting", "connecting: signing in…".to_owned()),
            Conn::Offline | Conn::Connecting { attempt: 0 } => {
                ("connecting", "connecting…".to_owned())
            }
            Conn::Connecting { .. } => ("reconnecting", "reconnecting…".to_owned()),
            Conn::Reconnecting { at_ms } => (
                "reconnecting",
                format!("reconnecting in {} s", countdown_secs(at_ms, self.now_ms)),
            ),
        }
    }

    /// The sum of unread counts over the conversations not open.
    pub fn total_unread(&self) -> usize {
        self.conversations.values().map(|c| c.unread).sum()
    }

    /// "bob is typing…" for the open conversation, or nothing.
    pub fn typing_text(&self, key: &ConvKey) -> String {
        let Some(conv) = self.conversations.get(key) else {
            return String::new();
        };
        let names: Vec<&str> = conv.typing.iter().map(|t| t.name.as_str()).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [a, b] => format!("{a} and {b} are typing…"),
            [a, b, rest @ ..] => format!("{a}, {b} and {} more are typing…", rest.len()),
        }
    }
}

/// Whole seconds left until `at_ms`, rounded up.
fn countdown_secs(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1000)
}

/// Names sorted case-insensitively, each once.
fn sorted_names(mut names: Vec<String>) -> Vec<String> {
    names.sort_by_key(|n| (name_key(n), n.clone()));
    names.dedup_by(|a, b| name_key(a) == name_key(b));
    names
}

/// What to tell the user about a refused frame: the relay's own words, or a few of ours when
/// it gave none.
fn failure_text(code: ErrorCode, message: &str) -> String {
    if !message.trim().is_empty() {
        return message.trim().to_owned();
    }
    match code {
        ErrorCode::RateLimited => "too many messages; slow down".to_owned(),
        ErrorCode::TooLong => "the message is too long".to_owned(),
        ErrorCode::UnknownUser => "nobody has that name".to_owned(),
        ErrorCode::NotMember => "you are not in that room".to_owned(),
        ErrorCode::MailboxFull => "their mailbox is full".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(state: &Rc<State>, action: Action) -> Rc<State> {
        state.clone().reduce(action)
    }

    fn login(name: &str) -> Action {
        Action::Login {
            name: name.into(),
            password: None,
        }
    }

    fn server(state: &Rc<State>, msg: ServerMsg) -> Rc<State> {
        reduce(state, Action::Server { msg, now_ms: 1_000 })
    }

    fn room_msg(room: &str, seq: u64, from: &str, text: &str, cid: Option<&str>) -> ChatMessage {
        ChatMessage {
            target: Target::Room { room: room.into() },
            seq,
            from: from.into(),
            text: text.into(),
            ts: 1_763_700_000_000 + seq,
            cid: cid.map(String::from),
        }
    }

    fn dm_msg(to: &str, seq: u64, from: &str, text: &str, cid: Option<&str>) -> ChatMessage {
        ChatMessage {
            target: Target::User { to: to.into() },
            ..room_msg("", seq, from, text, cid)
        }
    }

    fn joined(room: &str, members: &[&str], history: Vec<ChatMessage>) -> ServerMsg {
        ServerMsg::Joined {
            room: room.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            history,
            more: false,
        }
    }

    /// Alice, signed in and connected.
    fn alice() -> Rc<State> {
        let s = Rc::new(State::default());
        let s = reduce(&s, login("alice"));
        let s = reduce(&s, Action::Connecting { attempt: 0 });
        let s = reduce(&s, Action::Connected);
        server(
            &s,
            ServerMsg::Welcome {
                name: "alice".into(),
                token: "t1".into(),
            },
        )
    }

    /// Alice in `lobby` with bob, lobby open.
    fn in_lobby() -> Rc<State> {
        let s = reduce(&alice(), Action::Join("lobby".into()));
        server(&s, joined("lobby", &["alice", "bob"], vec![]))
    }

    fn lobby(s: &State) -> &Conversation {
        &s.conversations[&ConvKey::Room("lobby".into())]
    }

    fn send(s: &Rc<State>, key: ConvKey, text: &str) -> (Rc<State>, String) {
        let cid = s.next_cid();
        let action = Action::Send {
            key,
            cid: cid.clone(),
            text: text.into(),
        };
        (reduce(s, action), cid)
    }

    #[test]
    fn login_then_hello_then_welcome() {
        let s = Rc::new(State::default());
        assert!(!s.wants_connection());
        let s = reduce(&s, login("alice"));
        assert!(s.wants_connection());
        let s = reduce(&s, Action::Connected);
        assert_eq!(
            s.followups(&Action::Connected),
            vec![ClientFrame::new(ClientMsg::Hello {
                name: "alice".into(),
                token: None,
                acks: true,
                password: None,
            })]
        );
        assert_eq!(s.status().0, "connecting");
        let s = alice();
        assert_eq!(s.me.as_deref(), Some("alice"));
        assert_eq!(s.status(), ("connected", "connected".to_owned()));
    }

    #[test]
    fn unfit_names_and_rooms_are_explained_before_sending() {
        let s = reduce(&Rc::new(State::default()), login("   "));
        assert!(!s.wants_connection());
        assert!(
            s.login_error
                .as_deref()
                .unwrap()
                .contains("at least one character")
        );
        let s = reduce(&s, login("  alice "));
        assert_eq!(s.wanted_name.as_deref(), Some("alice"));
        assert!(s.login_error.is_none());
        let s = alice();
        let s = reduce(&s, Action::Join("no spaces".into()));
        assert!(s.room_error.is_some());
        assert!(s.followups(&Action::Join("no spaces".into())).is_empty());
        let s = reduce(&s, Action::Join("ok".into()));
        assert!(s.room_error.is_none());
        assert_eq!(
            s.followups(&Action::Join("ok".into())),
            vec![ClientFrame::new(ClientMsg::Join {
                room: "ok".into(),
                after: None,
            })]
        );
    }

    #[test]
    fn name_taken_at_login_explains_and_closes() {
        let s = reduce(&Rc::new(State::default()), login("bob"));
        let s = reduce(&s, Action::Connected);
        let s = server(
            &s,
            ServerMsg::error(ErrorCode::NameTaken, "name taken", None),
        );
        assert!(s.me.is_none());
        assert!(!s.wants_connection());
        assert!(s.login_error.as_deref().unwrap().contains("already taken"));
        assert_eq!(s.last_name, "bob");
    }

    const PASSWORD: &str = "correct horse battery";

    fn login_with(name: &str, password: &str) -> Action {
        Action::Login {
            name: name.into(),
            password: Some(Secret::new(password)),
        }
    }

    fn hello_password(s: &State) -> Option<String> {
        match s.hello().map(|f| f.msg) {
            Some(ClientMsg::Hello { password, .. }) => password,
            other => panic!("no hello: {other:?}"),
        }
    }

    fn protect(password: &str, confirm: &str) -> Action {
        Action::Protect {
            password: Secret::new(password),
            confirm: Secret::new(confirm),
        }
    }

    /// Alice, signed in with her password.
    fn protected_alice() -> Rc<State> {
        let s = reduce(&Rc::new(State::default()), login_with("alice", PASSWORD));
        let s = reduce(&s, Action::Connected);
        server(
            &s,
            ServerMsg::Welcome {
                name: "alice".into(),
                token: "t1".into(),
            },
        )
    }

    #[test]
    fn hello_carries_the_password_typed_and_reconnects_keep_it() {
        let s = reduce(&Rc::new(State::default()), login_with("alice", PASSWORD));
        let s = reduce(&s, Action::Connected);
        assert_eq!(
            s.followups(&Action::Connected),
            vec![ClientFrame::new(ClientMsg::Hello {
                name: "alice".into(),
                token: None,
                acks: true,
                password: Some(PASSWORD.into()),
            })]
        );
        // An empty password field is no password.
        let s = reduce(&Rc::new(State::default()), login_with("alice", ""));
        assert_eq!(hello_password(&s), None);
        // A reconnect of the same page (the relay may have restarted, forgetting the token).
        let s = drop_connection(&protected_alice());
        let s = reduce(&s, Action::Connected);
        assert_eq!(
            s.followups(&Action::Connected),
            vec![ClientFrame::new(ClientMsg::Hello {
                name: "alice".into(),
                token: Some("t1".into()),
                acks: true,
                password: Some(PASSWORD.into()),
            })]
        );
        // Signing out forgets it.
        let s = reduce(&s, Action::Logout);
        assert!(s.password.is_none());
        let s = reduce(&s, login("alice"));
        assert_eq!(hello_password(&s), None);
    }

    #[test]
    fn password_required_at_login_asks_for_it_without_retrying() {
        let s = reduce(&Rc::new(State::default()), login("alice"));
        let s = reduce(&s, Action::Connected);
        let refusal = ServerMsg::error(
            ErrorCode::PasswordRequired,
            "'alice' is protected: say hello with its password",
            None,
        );
        let s = server(&s, refusal.clone());
        assert!(s.me.is_none());
        assert!(
            !s.wants_connection(),
            "the socket closes: no reconnect loop"
        );
        assert_eq!(s.conn, Conn::Offline);
        assert!(s.password_required);
        assert!(s.login_error.as_deref().unwrap().contains("is protected"));
        assert_eq!(s.last_name, "alice");
        // A late event of the closed socket changes nothing.
        let s = reduce(&s, Action::Connecting { attempt: 1 });
        assert!(!s.wants_connection() && s.conn == Conn::Offline);
        // Again with a wrong password: it says so, and forgets it.
        let s = reduce(&s, login_with("alice", "not the one"));
        assert!(!s.password_required && s.login_error.is_none());
        let s = reduce(&s, Action::Connected);
        let s = server(&s, refusal);
        assert!(s.login_error.as_deref().unwrap().contains("Wrong password"));
        assert!(s.password.is_none());
        assert!(s.password_required && !s.wants_connection());
    }

    #[test]
    fn password_required_on_a_resumed_or_reconnected_session_goes_to_login() {
        // A reload after a relay restart: the kept token is unknown now.
        let snapshot = Snapshot {
            name: "alice".into(),
            token: Some("stale".into()),
            ..Snapshot::default()
        };
        let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
        let s = reduce(&s, Action::Connected);
        assert_eq!(hello_password(&s), None);
        let refusal = ServerMsg::error(ErrorCode::PasswordRequired, "protected", None);
        let s = server(&s, refusal.clone());
        assert!(!s.wants_connection() && s.password_required && s.token.is_none());
        assert!(s.login_error.as_deref().unwrap().contains("is protected"));
        // Signed in, then a reconnect refused (the password was changed elsewhere).
        let s = drop_connection(&protected_alice());
        let s = reduce(&s, Action::Connected);
        let s = server(&s, refusal);
        assert!(s.me.is_none() && !s.wants_connection());
        assert!(s.password.is_none() && s.password_required);
        assert!(s.login_error.as_deref().unwrap().contains("disconnected"));
        assert_eq!(s.last_name, "alice");
    }

    #[test]
    fn protect_is_checked_then_sent_with_a_cid_and_confirmed() {
        let s = alice();
        // Not without the form.
        assert_eq!(reduce(&s, protect(PASSWORD, PASSWORD)), s);
        let s = reduce(&s, Action::ShowProtect(true));
        assert!(s.protect.open);
        let long = "x".repeat(129);
        for (p, c, why) in [
            ("short", "short", "at least 8"),
            (long.as_str(), long.as_str(), "at most 128"),
            (PASSWORD, "correct horse battery!", "match"),
        ] {
            let t = reduce(&s, protect(p, c));
            assert!(t.protect.error.as_deref().unwrap().contains(why), "{why}");
            assert!(t.protect.pending.is_none());
            assert!(t.followups(&protect(p, c)).is_empty());
        }
        // Eight characters, counted as characters (not bytes).
        let t = reduce(&s, protect("éééééééé", "éééééééé"));
        assert!(t.protect.error.is_none() && t.protect.pending.is_some());

        let action = protect(PASSWORD, PASSWORD);
        let s = reduce(&s, action.clone());
        assert!(s.protect.error.is_none());
        assert_eq!(
            s.followups(&action),
            vec![ClientFrame::with_cid(
                ClientMsg::Protect {
                    password: PASSWORD.into()
                },
                "p1",
            )]
        );
        // One at a time.
        assert_eq!(reduce(&s, action), s);
        assert_eq!(hello_password(&s), None, "not before the relay says so");
        let s = server(
            &s,
            ServerMsg::Protected {
                name: "alice".into(),
            },
        );
        assert!(!s.protect.open && s.protect.pending.is_none());
        assert!(s.notice.as_deref().unwrap().contains("now protected"));
        // The next reconnect's hello carries the new password.
        assert_eq!(hello_password(&s).as_deref(), Some(PASSWORD));
    }

    #[test]
    fn protect_refused_by_the_relay_or_cut_off_shows_why() {
        let s = reduce(&alice(), Action::ShowProtect(true));
        let s = reduce(&s, protect(PASSWORD, PASSWORD));
        let s = server(
            &s,
            ServerMsg::error(
                ErrorCode::BadRequest,
                "a password has 8 to 128 characters",
                Some("p1".into()),
            ),
        );
        assert!(s.protect.open && s.protect.pending.is_none());
        assert_eq!(
            s.protect.error.as_deref(),
            Some("a password has 8 to 128 characters")
        );
        assert!(s.notice.is_none() && s.password.is_none());
        // A drop before the answer: the form says so.
        let s = reduce(&s, protect(PASSWORD, PASSWORD));
        assert_eq!(s.protect.pending.as_ref().map(|p| p.0.as_str()), Some("p2"));
        let s = drop_connection(&s);
        assert!(s.protect.pending.is_none());
        assert!(s.protect.error.as_deref().unwrap().contains("dropped"));
        // Offline: checked here.
        let s = reduce(&s, protect(PASSWORD, PASSWORD));
        assert!(s.protect.error.as_deref().unwrap().contains("offline"));
        assert!(s.protect.pending.is_none());
    }

    #[test]
    fn the_password_is_never_persisted_nor_shown_in_debug() {
        let s = reduce(&protected_alice(), Action::ShowProtect(true));
        let s = reduce(&s, protect("a new passphrase", "a new passphrase"));
        let check = |s: &State| {
            let snapshot = Snapshot::of(s).unwrap();
            for text in [
                snapshot.session_json(),
                snapshot.user_json(),
                format!("{snapshot:?}"),
                format!("{s:?}"),
            ] {
                assert!(!text.contains(PASSWORD), "{text}");
                assert!(!text.contains("passphrase"), "{text}");
            }
        };
        check(&s);
        let s = server(
            &s,
            ServerMsg::Protected {
                name: "alice".into(),
            },
        );
        assert!(s.password.is_some());
        check(&s);
    }

    #[test]
    fn own_message_is_pending_until_its_cid_comes_back() {
        let s = in_lobby();
        let key = ConvKey::Room("lobby".into());
        let (s, cid) = send(&s, key.clone(), "hi");
        assert_eq!(cid, "c1");
        assert_eq!(s.next_cid(), "c2");
        let m = &lobby(&s).messages[0];
        assert_eq!((m.delivery.clone(), m.seq), (Delivery::Pending, None));
        let action = Action::Send {
            key,
            cid: cid.clone(),
            text: "hi".into(),
        };
        assert_eq!(
            s.followups(&action),
            vec![ClientFrame::with_cid(
                ClientMsg::Say {
                    room: "lobby".into(),
                    text: "hi".into()
                },
                "c1"
            )]
        );
        // Someone else's message with the same cid confirms nothing.
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "yo", Some("c1"))),
        );
        assert_eq!(lobby(&s).messages.len(), 2);
        assert_eq!(lobby(&s).messages[1].delivery, Delivery::Pending);
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 2, "alice", "hi", Some("c1"))),
        );
        let conv = lobby(&s);
        assert_eq!(conv.messages.len(), 2);
        assert_eq!(conv.messages[1].delivery, Delivery::Sent);
        assert_eq!(conv.messages[1].seq, Some(2));
    }

    #[test]
    fn error_with_cid_marks_the_message_failed() {
        let (s, cid) = send(&in_lobby(), ConvKey::Room("lobby".into()), "spam");
        let s = server(
            &s,
            ServerMsg::error(ErrorCode::RateLimited, "slow down", Some(cid)),
        );
        assert!(
            matches!(lobby(&s).messages[0].delivery, Delivery::Failed(ref why) if why.contains("slow down"))
        );
        assert!(s.notice.is_none());
    }

    #[test]
    fn messages_typed_offline_wait_and_go_after_the_reconnect_in_order() {
        let s = in_lobby();
        let key = ConvKey::Room("lobby".into());
        let (s, in_flight) = send(&s, key.clone(), "in flight");
        let s = reduce(
            &s,
            Action::Disconnected {
                retry_at_ms: 2_000,
                now_ms: 1_000,
            },
        );
        // Still pending, not failed: it may yet be confirmed by the re-join's history.
        assert_eq!(lobby(&s).messages[0].delivery, Delivery::Pending);
        assert!(s.can_send(&key) && !s.ready(&key));
        let (s, offline) = send(&s, key.clone(), "typed offline");
        let action = Action::Send {
            key: key.clone(),
            cid: offline.clone(),
            text: "typed offline".into(),
        };
        assert!(
            s.followups(&action).is_empty(),
            "nothing goes while offline"
        );
        assert_eq!(lobby(&s).messages[1].delivery, Delivery::Pending);
        let s = reduce(&s, Action::Connected);
        let s = server(
            &s,
            ServerMsg::Welcome {
                name: "alice".into(),
                token: "t2".into(),
            },
        );
        assert!(s.due_sends().is_empty(), "not before the room is re-joined");
        // The re-join's history does not have the message in flight: it was lost with the
        // connection, so it goes again, before the one typed offline.
        let s = server(
            &s,
            joined(
                "lobby",
                &["alice", "bob"],
                vec![room_msg("lobby", 1, "bob", "meanwhile", None)],
            ),
        );
        let due = s.due_sends();
        assert_eq!(
            due,
            vec![
                (key.clone(), in_flight.clone()),
                (key.clone(), offline.clone())
            ]
        );
        let flush = Action::SendQueued(due);
        let s = reduce(&s, flush.clone());
        let say = |text: &str, cid: &str| {
            ClientFrame::with_cid(
                ClientMsg::Say {
                    room: "lobby".into(),
                    text: text.into(),
                },
                cid,
            )
        };
        assert_eq!(
            s.followups(&flush),
            vec![say("in flight", &in_flight), say("typed offline", &offline)]
        );
        assert!(s.due_sends().is_empty());
        // Sent live now that the room is back.
        let (s, live) = send(&s, key.clone(), "live");
        let action = Action::Send {
            key,
            cid: live.clone(),
            text: "live".into(),
        };
        assert_eq!(s.followups(&action), vec![say("live", &live)]);
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 2, "alice", "in flight", Some(&in_flight))),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg(
                "lobby",
                3,
                "alice",
                "typed offline",
                Some(&offline),
            )),
        );
        let texts: Vec<_> = lobby(&s)
            .messages
            .iter()
            .map(|m| (m.text.as_str(), m.delivery == Delivery::Sent))
            .collect();
        assert_eq!(
            texts,
            [
                ("meanwhile", true),
                ("in flight", true),
                ("typed offline", true),
                ("live", false)
            ]
        );
    }

    #[test]
    fn unread_counts_only_others_in_conversations_not_open() {
        let s = in_lobby();
        let s = reduce(&s, Action::Join("dev".into()));
        let s = server(&s, joined("dev", &["alice"], vec![]));
        assert_eq!(s.open, Some(ConvKey::Room("dev".into())));
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "one", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 2, "bob", "two", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("dev", 1, "bob", "here", None)),
        );
        assert_eq!(lobby(&s).unread, 2);
        assert_eq!(s.conversations[&ConvKey::Room("dev".into())].unread, 0);
        assert_eq!(s.total_unread(), 2);
        let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
        assert_eq!(lobby(&s).unread, 0);
    }

    #[test]
    fn presence_updates_the_members_of_that_room() {
        let s = in_lobby();
        let s = server(
            &s,
            ServerMsg::Presence {
                room: "lobby".into(),
                name: "Carol".into(),
                online: true,
            },
        );
        assert_eq!(lobby(&s).members, ["alice", "bob", "Carol"]);
        let s = server(
            &s,
            ServerMsg::Presence {
                room: "lobby".into(),
                name: "bob".into(),
                online: false,
            },
        );
        assert_eq!(lobby(&s).members, ["alice", "Carol"]);
        assert_eq!(
            s.followups(&Action::Server {
                msg: ServerMsg::Presence {
                    room: "lobby".into(),
                    name: "bob".into(),
                    online: false
                },
                now_ms: 0
            }),
            vec![ClientFrame::new(ClientMsg::Users)]
        );
        // Another room's presence changes nothing here.
        let s2 = server(
            &s,
            ServerMsg::Presence {
                room: "elsewhere".into(),
                name: "dave".into(),
                online: true,
            },
        );
        assert!(Rc::ptr_eq(&s, &s2));
    }

    #[test]
    fn typing_shows_then_expires() {
        let s = in_lobby();
        let key = ConvKey::Room("lobby".into());
        let s = reduce(
            &s,
            Action::Server {
                msg: ServerMsg::Typing {
                    target: Target::Room {
                        room: "lobby".into(),
                    },
                    name: "bob".into(),
                },
                now_ms: 10_000,
            },
        );
        assert_eq!(s.typing_text(&key), "bob is typing…");
        let s = reduce(&s, Action::Tick(12_000));
        assert_eq!(s.typing_text(&key), "bob is typing…");
        let s = reduce(&s, Action::Tick(13_000));
        assert_eq!(s.typing_text(&key), "");
        // A message from the typist ends the notice at once.
        let s = reduce(
            &s,
            Action::Server {
                msg: ServerMsg::Typing {
                    target: Target::Room {
                        room: "lobby".into(),
                    },
                    name: "bob".into(),
                },
                now_ms: 20_000,
            },
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "done", None)),
        );
        assert_eq!(s.typing_text(&key), "");
    }

    #[test]
    fn typing_is_sent_at_most_every_two_seconds() {
        let s = in_lobby();
        let key = ConvKey::Room("lobby".into());
        let typed = |now_ms| Action::Typed {
            key: key.clone(),
            now_ms,
        };
        let s = reduce(&s, typed(10_000));
        assert_eq!(s.followups(&typed(10_000)).len(), 1);
        let s2 = reduce(&s, typed(11_000));
        assert!(Rc::ptr_eq(&s, &s2));
        assert!(s2.followups(&typed(11_000)).is_empty());
        let s3 = reduce(&s2, typed(12_000));
        assert_eq!(
            s3.followups(&typed(12_000)),
            vec![ClientFrame::new(ClientMsg::Typing {
                room: Some("lobby".into()),
                to: None
            })]
        );
    }

    #[test]
    fn dm_peer_is_the_other_side() {
        let s = alice();
        // Bob writes to us: the peer is the sender.
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("alice", 1, "Bob", "hey", None)),
        );
        let key = ConvKey::dm("bob");
        assert_eq!(s.conversations[&key].title, "Bob");
        assert_eq!(s.conversations[&key].unread, 1);
        // Our own copy of a dm to bob: the peer is the recipient, same conversation.
        let s = reduce(&s, Action::Open(key.clone()));
        let (s, cid) = send(&s, key.clone(), "hello");
        let action = Action::Send {
            key: key.clone(),
            cid: cid.clone(),
            text: "hello".into(),
        };
        assert_eq!(
            s.followups(&action),
            vec![ClientFrame::with_cid(
                ClientMsg::Dm {
                    to: "Bob".into(),
                    text: "hello".into()
                },
                cid.clone()
            )]
        );
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("Bob", 2, "alice", "hello", Some(&cid))),
        );
        assert_eq!(s.conversations.len(), 1);
        let conv = &s.conversations[&key];
        assert_eq!(conv.messages.len(), 2);
        assert!(conv.messages.iter().all(|m| m.delivery == Delivery::Sent));
        assert_eq!(conv.unread, 0);
        // Typing to us from bob lands in that conversation.
        let s = server(
            &s,
            ServerMsg::Typing {
                target: Target::User { to: "alice".into() },
                name: "Bob".into(),
            },
        );
        assert_eq!(s.typing_text(&key), "Bob is typing…");
    }

    #[test]
    fn opening_a_dm_with_a_user_creates_it() {
        let s = reduce(&alice(), Action::OpenDm("carol".into()));
        assert_eq!(s.open, Some(ConvKey::dm("carol")));
        assert!(s.can_send(&ConvKey::dm("carol")));
        let s2 = reduce(&s, Action::OpenDm("ALICE".into()));
        assert!(Rc::ptr_eq(&s, &s2), "no conversation with ourselves");
    }

    #[test]
    fn reconnect_says_hello_with_token_and_rejoins_every_room() {
        let s = in_lobby();
        let s = reduce(&s, Action::Join("dev".into()));
        let s = server(&s, joined("dev", &["alice"], vec![]));
        let (s, _) = send(&s, ConvKey::Room("dev".into()), "in flight");
        let s = reduce(
            &s,
            Action::Disconnected {
                retry_at_ms: 5_000,
                now_ms: 1_000,
            },
        );
        assert_eq!(
            s.status(),
            ("reconnecting", "reconnecting in 4 s".to_owned())
        );
        assert!(s.conversations[&ConvKey::Room("dev".into())].messages[0].unconfirmed());
        let s = reduce(&s, Action::Connecting { attempt: 1 });
        assert_eq!(s.status().0, "reconnecting");
        let s = reduce(&s, Action::Connected);
        assert_eq!(
            s.followups(&Action::Connected),
            vec![ClientFrame::new(ClientMsg::Hello {
                name: "alice".into(),
                token: Some("t1".into()),
                acks: true,
                password: None,
            })]
        );
        let welcome = Action::Server {
            msg: ServerMsg::Welcome {
                name: "alice".into(),
                token: "t2".into(),
            },
            now_ms: 6_000,
        };
        let s = reduce(&s, welcome.clone());
        assert_eq!(s.token.as_deref(), Some("t2"));
        let join = |room: &str| {
            ClientFrame::new(ClientMsg::Join {
                room: room.into(),
                after: None,
            })
        };
        assert_eq!(
            s.followups(&welcome),
            vec![
                join("dev"),
                join("lobby"),
                ClientFrame::new(ClientMsg::Rooms),
                ClientFrame::new(ClientMsg::Users)
            ]
        );
        // Nothing goes out until the re-join is answered.
        assert!(!s.ready(&ConvKey::Room("lobby".into())));
        // The re-join's history confirms the message that was in flight and brings what was
        // missed.
        let s = server(
            &s,
            joined(
                "dev",
                &["alice", "bob"],
                vec![
                    room_msg("dev", 1, "alice", "in flight", Some("c1")),
                    room_msg("dev", 2, "bob", "missed", None),
                ],
            ),
        );
        let dev = &s.conversations[&ConvKey::Room("dev".into())];
        assert_eq!(dev.messages.len(), 2);
        assert!(dev.messages.iter().all(|m| m.delivery == Delivery::Sent));
        assert!(s.ready(&ConvKey::Room("dev".into())));
        assert!(s.due_sends().is_empty(), "confirmed, so not sent again");
    }

    #[test]
    fn missed_messages_in_a_rejoined_room_count_as_unread() {
        let s = in_lobby();
        let s = reduce(&s, Action::OpenDm("bob".into()));
        let s = reduce(
            &s,
            Action::Disconnected {
                retry_at_ms: 1,
                now_ms: 0,
            },
        );
        let s = server(
            &s,
            joined(
                "lobby",
                &["alice"],
                vec![room_msg("lobby", 1, "bob", "x", None)],
            ),
        );
        assert_eq!(lobby(&s).unread, 1);
    }

    #[test]
    fn name_taken_on_reconnect_goes_back_to_login() {
        let s = in_lobby();
        let s = reduce(
            &s,
            Action::Disconnected {
                retry_at_ms: 1,
                now_ms: 0,
            },
        );
        let s = reduce(&s, Action::Connected);
        let s = server(&s, ServerMsg::error(ErrorCode::NameTaken, "taken", None));
        assert!(s.me.is_none());
        assert!(!s.wants_connection());
        assert!(s.conversations.is_empty());
        assert!(s.login_error.as_deref().unwrap().contains("alice"));
        assert_eq!(s.last_name, "alice");
    }

    #[test]
    fn repeated_seq_is_ignored() {
        let s = in_lobby();
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "once", None)),
        );
        let s2 = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "once", None)),
        );
        assert!(Rc::ptr_eq(&s, &s2), "nothing changed, same Rc");
        // A history overlapping what we hold adds only what is new, in seq order.
        let s3 = server(
            &s2,
            joined(
                "lobby",
                &["alice", "bob"],
                vec![
                    room_msg("lobby", 1, "bob", "once", None),
                    room_msg("lobby", 3, "bob", "three", None),
                    room_msg("lobby", 2, "bob", "two", None),
                ],
            ),
        );
        let seqs: Vec<_> = lobby(&s3).messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
        // The same seq in another conversation is a different message.
        let s4 = server(
            &s3,
            ServerMsg::Message(dm_msg("alice", 1, "bob", "dm", None)),
        );
        assert_eq!(s4.conversations[&ConvKey::dm("bob")].messages.len(), 1);
    }

    #[test]
    fn a_relay_that_lost_its_history_is_followed() {
        let s = in_lobby();
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "old 1", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 2, "bob", "old 2", None)),
        );
        let (s, cid) = send(&s, ConvKey::Room("lobby".into()), "in flight");
        let s = reduce(
            &s,
            Action::Disconnected {
                retry_at_ms: 1,
                now_ms: 0,
            },
        );
        // The relay restarted: the re-join's history is empty.
        let s = server(&s, joined("lobby", &["alice"], vec![]));
        assert_eq!(
            lobby(&s).messages.len(),
            1,
            "only our unconfirmed message is left"
        );
        // Counting starts again at 1; our message can still be confirmed.
        let mut fresh = room_msg("lobby", 1, "alice", "in flight", Some(&cid));
        fresh.ts += 99;
        let s = server(&s, ServerMsg::Message(fresh));
        assert_eq!(lobby(&s).messages.len(), 1);
        assert_eq!(lobby(&s).messages[0].delivery, Delivery::Sent);
        // A DM whose seq we hold for another message starts the pair's count again.
        let s = server(&s, ServerMsg::Message(dm_msg("alice", 1, "bob", "a", None)));
        let s = server(&s, ServerMsg::Message(dm_msg("alice", 2, "bob", "b", None)));
        let mut again = dm_msg("alice", 1, "bob", "new a", None);
        again.ts += 1_000;
        let s = server(&s, ServerMsg::Message(again));
        let texts: Vec<_> = s.conversations[&ConvKey::dm("bob")]
            .messages
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(texts, ["new a"]);
    }

    #[test]
    fn an_old_cid_from_an_earlier_page_does_not_confirm() {
        let s = in_lobby();
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 5, "bob", "x", None)),
        );
        let (s, cid) = send(&s, ConvKey::Room("lobby".into()), "new");
        // History from before (seq 3 < 5) with the same cid from an earlier page load.
        let s = server(
            &s,
            joined(
                "lobby",
                &["alice", "bob"],
                vec![room_msg("lobby", 3, "alice", "old", Some(&cid))],
            ),
        );
        let last = lobby(&s).messages.last().unwrap();
        assert_eq!(
            (last.text.as_str(), &last.delivery),
            ("new", &Delivery::Pending)
        );
    }

    #[test]
    fn leave_removes_the_room_and_sends_leave() {
        let s = in_lobby();
        let s = reduce(&s, Action::Leave("lobby".into()));
        assert!(s.conversations.is_empty());
        assert_eq!(s.open, None);
        assert_eq!(
            s.followups(&Action::Leave("lobby".into()))[0],
            ClientFrame::new(ClientMsg::Leave {
                room: "lobby".into()
            })
        );
        // Messages for a room we left are dropped.
        let s2 = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 9, "bob", "x", None)),
        );
        assert!(Rc::ptr_eq(&s, &s2));
    }

    #[test]
    fn tick_refreshes_listings_every_ten_seconds_and_is_quiet_otherwise() {
        let s = alice(); // welcomed at 1 000, which asked for the listings
        let early = Action::Tick(1_000 + REFRESH_INTERVAL_MS - 1);
        let s = reduce(&s, early.clone());
        assert!(s.followups(&early).is_empty());
        let due = Action::Tick(1_000 + REFRESH_INTERVAL_MS);
        let s = reduce(&s, due.clone());
        assert_eq!(
            s.followups(&due),
            vec![
                ClientFrame::new(ClientMsg::Rooms),
                ClientFrame::new(ClientMsg::Users)
            ]
        );
        let later = Action::Tick(2_000 + REFRESH_INTERVAL_MS);
        let s2 = reduce(&s, later.clone());
        assert!(Rc::ptr_eq(&s, &s2), "nothing to do, same Rc");
        assert!(s2.followups(&later).is_empty());
    }

    #[test]
    fn listings_are_sorted_and_exclude_us() {
        let s = server(
            &alice(),
            ServerMsg::Users {
                online: vec!["zed".into(), "Alice".into(), "bob".into()],
            },
        );
        assert_eq!(s.online, ["bob", "zed"]);
        assert!(s.is_online("BOB"));
        let s = server(
            &s,
            ServerMsg::Rooms {
                rooms: vec![
                    RoomInfo {
                        room: "z".into(),
                        members: 1,
                    },
                    RoomInfo {
                        room: "a".into(),
                        members: 3,
                    },
                ],
            },
        );
        assert_eq!(s.rooms[0].room, "a");
    }

    fn room_msgs(room: &str, seqs: std::ops::RangeInclusive<u64>, from: &str) -> Vec<ChatMessage> {
        seqs.map(|q| room_msg(room, q, from, &format!("m{q}"), None))
            .collect()
    }

    fn history(conversation: ConversationId, messages: Vec<ChatMessage>, more: bool) -> ServerMsg {
        ServerMsg::History {
            conversation,
            messages,
            more,
        }
    }

    fn seqs(conv: &Conversation) -> Vec<u64> {
        conv.messages.iter().filter_map(|m| m.seq).collect()
    }

    fn welcome(s: &Rc<State>, token: &str) -> (Rc<State>, Vec<ClientFrame>) {
        let action = Action::Server {
            msg: ServerMsg::Welcome {
                name: "alice".into(),
                token: token.into(),
            },
            now_ms: 1_000,
        };
        let s = reduce(&reduce(s, Action::Connected), action.clone());
        let frames = s.followups(&action);
        (s, frames)
    }

    fn drop_connection(s: &Rc<State>) -> Rc<State> {
        reduce(
            s,
            Action::Disconnected {
                retry_at_ms: 1,
                now_ms: 0,
            },
        )
    }

    fn history_frame(
        room: Option<&str>,
        with: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> ClientMsg {
        ClientMsg::History {
            room: room.map(String::from),
            with: with.map(String::from),
            before,
            limit: Some(limit),
        }
    }

    #[test]
    fn a_message_shows_once_however_often_it_comes() {
        let s = in_lobby();
        let s = reduce(&s, Action::Join("dev".into()));
        let s = server(&s, joined("dev", &["alice"], vec![]));
        let dm = dm_msg("alice", 7, "bob", "are you there?", None);
        let s = server(&s, ServerMsg::Message(dm.clone()));
        // The relay delivers it again after the next welcome (we had not acknowledged it).
        let s = drop_connection(&s);
        let (s, _) = welcome(&s, "t2");
        let s = server(&s, ServerMsg::Message(dm.clone()));
        let s = server(
            &s,
            history(
                ConversationId::With { with: "bob".into() },
                vec![dm_msg("bob", 6, "alice", "hi", None), dm],
                false,
            ),
        );
        let bob = &s.conversations[&ConvKey::dm("bob")];
        assert_eq!(seqs(bob), [6, 7]);
        assert_eq!(bob.unread, 1, "counted once");
        // Rooms too: the same seq from the live stream and from history.
        let s = server(
            &s,
            joined("lobby", &["alice"], room_msgs("lobby", 1..=2, "bob")),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 2, "bob", "m2", None)),
        );
        let s = server(
            &s,
            history(
                ConversationId::Room {
                    room: "lobby".into(),
                },
                room_msgs("lobby", 1..=2, "bob"),
                false,
            ),
        );
        assert_eq!(seqs(lobby(&s)), [1, 2]);
        assert_eq!(lobby(&s).unread, 2);
    }

    #[test]
    fn history_answers_merge_by_seq_around_live_messages() {
        let s = in_lobby();
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 10, "bob", "live", None)),
        );
        let lobby_talk = || ConversationId::Room {
            room: "lobby".into(),
        };
        let s = server(
            &s,
            history(lobby_talk(), room_msgs("lobby", 5..=9, "bob"), true),
        );
        assert_eq!(seqs(lobby(&s)), [5, 6, 7, 8, 9, 10]);
        let mut shuffled = room_msgs("lobby", 3..=6, "bob");
        shuffled.reverse();
        let s = server(&s, history(lobby_talk(), shuffled, false));
        assert_eq!(seqs(lobby(&s)), [3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(
            !lobby(&s).has_older(),
            "the relay said there is nothing older"
        );
        assert_eq!(lobby(&s).unread, 0, "on screen");
    }

    #[test]
    fn private_messages_are_acknowledged_once_per_conversation() {
        let s = reduce(&alice(), Action::OpenDm("carol".into()));
        // The mailbox, right after welcome.
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("alice", 7, "Bob", "hi", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("alice", 8, "Bob", "there?", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("alice", 3, "carol", "yo", None)),
        );
        let due = s.due_acks();
        assert_eq!(
            due,
            vec![(ConvKey::dm("bob"), 8), (ConvKey::dm("carol"), 3)]
        );
        let action = Action::SendAcks(due);
        let s = reduce(&s, action.clone());
        let ack = |with: &str, seq| {
            ClientFrame::new(ClientMsg::Ack {
                with: with.into(),
                seq,
            })
        };
        assert_eq!(s.followups(&action), vec![ack("Bob", 8), ack("carol", 3)]);
        assert!(s.due_acks().is_empty());
        // A repeat needs nothing; a new one is acknowledged; rooms never are.
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("alice", 8, "Bob", "there?", None)),
        );
        assert!(s.due_acks().is_empty());
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("Bob", 9, "alice", "yes", Some("c9"))),
        );
        assert_eq!(s.due_acks(), vec![(ConvKey::dm("bob"), 9)]);
        // Not while offline; after the next welcome the relay is told again.
        let s = drop_connection(&s);
        assert!(s.due_acks().is_empty());
        let (s, _) = welcome(&s, "t2");
        assert_eq!(
            s.due_acks(),
            vec![(ConvKey::dm("bob"), 9), (ConvKey::dm("carol"), 3)]
        );
    }

    #[test]
    fn reconnect_rejoins_after_the_last_seq_and_pages_back_through_a_long_gap() {
        let s = in_lobby();
        let s = server(
            &s,
            joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
        );
        let s = reduce(&s, Action::OpenDm("carol".into())); // lobby is not on screen
        let s = drop_connection(&s);
        let (s, frames) = welcome(&s, "t2");
        assert_eq!(
            frames[0],
            ClientFrame::new(ClientMsg::Join {
                room: "lobby".into(),
                after: Some(3)
            })
        );
        // 200 were missed: the relay replays the newest 100 and says there are more.
        let replay = ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into()],
            history: room_msgs("lobby", 104..=203, "bob"),
            more: true,
        };
        let s = server(&s, replay.clone());
        let frames = s.followups(&Action::Server {
            msg: replay,
            now_ms: 1_000,
        });
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[1].msg,
            history_frame(Some("lobby"), None, Some(104), 100)
        );
        assert!(frames[1].cid.is_some());
        assert!(!s.ready(&ConvKey::Room("lobby".into())), "closing the gap");
        let page = history(
            ConversationId::Room {
                room: "lobby".into(),
            },
            room_msgs("lobby", 4..=103, "bob"),
            true,
        );
        let s = server(&s, page.clone());
        assert!(
            s.followups(&Action::Server {
                msg: page,
                now_ms: 0
            })
            .is_empty(),
            "gap closed"
        );
        let conv = lobby(&s);
        assert_eq!(seqs(conv), (1..=203).collect::<Vec<_>>());
        assert_eq!(conv.unread, 200);
        assert_eq!(conv.seen, 203);
        assert!(s.ready(&ConvKey::Room("lobby".into())));
        // Nothing missed: an empty replay changes nothing.
        let s = drop_connection(&s);
        let (s, frames) = welcome(&s, "t3");
        assert!(frames.contains(&ClientFrame::new(ClientMsg::Join {
            room: "lobby".into(),
            after: Some(203)
        })));
        let s = server(&s, joined("lobby", &["alice", "bob"], vec![]));
        assert_eq!(seqs(lobby(&s)).len(), 203);
    }

    #[test]
    fn gap_paging_is_bounded() {
        let s = in_lobby();
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "one", None)),
        );
        let s = drop_connection(&s);
        let (mut s, _) = welcome(&s, "t2");
        let mut top = 100_000;
        let mut msg = ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: room_msgs("lobby", top - 99..=top, "bob"),
            more: true,
        };
        let mut requests = 0;
        loop {
            s = server(&s, msg.clone());
            let asked: Vec<_> = s
                .followups(&Action::Server { msg, now_ms: 0 })
                .into_iter()
                .filter(|f| matches!(f.msg, ClientMsg::History { .. }))
                .collect();
            if asked.is_empty() {
                break;
            }
            requests += 1;
            top -= 100;
            msg = history(
                ConversationId::Room {
                    room: "lobby".into(),
                },
                room_msgs("lobby", top - 99..=top, "bob"),
                true,
            );
        }
        assert_eq!(requests, MAX_GAP_PAGES);
        assert!(s.ready(&ConvKey::Room("lobby".into())));
        assert!(lobby(&s).has_older(), "the rest is left to scrollback");
    }

    #[test]
    fn load_older_asks_for_the_page_before_the_oldest_shown() {
        let s = in_lobby();
        let key = ConvKey::Room("lobby".into());
        let first = ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: room_msgs("lobby", 51..=100, "bob"),
            more: true,
        };
        let s = server(&s, first);
        assert!(lobby(&s).has_older());
        let s = reduce(&s, Action::LoadOlder(key.clone()));
        assert!(lobby(&s).loading_older());
        let frames = s.followups(&Action::LoadOlder(key.clone()));
        assert_eq!(frames.len(), 1);
        assert_eq!(
            frames[0].msg,
            history_frame(Some("lobby"), None, Some(51), 50)
        );
        // One request at a time.
        let s2 = reduce(&s, Action::LoadOlder(key.clone()));
        assert!(Rc::ptr_eq(&s, &s2));
        let s = server(
            &s,
            history(
                ConversationId::Room {
                    room: "lobby".into(),
                },
                room_msgs("lobby", 1..=50, "bob"),
                false,
            ),
        );
        assert_eq!(seqs(lobby(&s)), (1..=100).collect::<Vec<_>>());
        assert!(!lobby(&s).has_older() && !lobby(&s).loading_older());
        assert_eq!(lobby(&s).unread, 0);
        let s2 = reduce(&s, Action::LoadOlder(key));
        assert!(Rc::ptr_eq(&s, &s2), "nothing older");
        // A conversation we hold from seq 1 has nothing older even before the relay says so.
        let s = server(
            &s,
            joined("dev", &["alice"], room_msgs("dev", 1..=3, "bob")),
        );
        assert!(!s.conversations[&ConvKey::Room("dev".into())].has_older());
    }

    #[test]
    fn unread_counts_survive_a_reload() {
        // Before: alice in lobby (2 unread) and dev (open), a private conversation with bob
        // (1 unread).
        let s = in_lobby();
        let s = reduce(&s, Action::Join("dev".into()));
        let s = server(
            &s,
            joined("dev", &["alice"], room_msgs("dev", 1..=5, "bob")),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 1, "bob", "one", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(room_msg("lobby", 2, "bob", "two", None)),
        );
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("alice", 1, "Bob", "psst", None)),
        );
        assert_eq!((lobby(&s).unread, s.total_unread()), (2, 3));
        let kept = Snapshot::of(&s).unwrap();
        let (session, user) = (kept.session_json(), kept.user_json());

        // The reload: a new page reads the storage and signs in by itself.
        let snapshot = Snapshot::parse_session(&session)
            .unwrap()
            .with_user_json(Some(&user));
        let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
        assert!(s.wants_connection() && s.me.is_none());
        assert_eq!(s.total_unread(), 3, "shown while signing in");
        let s = reduce(&s, Action::Connected);
        assert_eq!(
            s.followups(&Action::Connected),
            vec![ClientFrame::new(ClientMsg::Hello {
                name: "alice".into(),
                token: Some("t1".into()),
                acks: true,
                password: None,
            })]
        );
        let (s, frames) = welcome(&s, "t2");
        let msgs: Vec<_> = frames.into_iter().map(|f| f.msg).collect();
        assert_eq!(
            msgs,
            vec![
                ClientMsg::Join {
                    room: "dev".into(),
                    after: None
                },
                ClientMsg::Join {
                    room: "lobby".into(),
                    after: None
                },
                history_frame(None, Some("Bob"), None, 100),
                ClientMsg::Rooms,
                ClientMsg::Users,
            ]
        );
        // The newest messages come back; only those after the reload's `seen` are news.
        let s = server(
            &s,
            joined("dev", &["alice"], room_msgs("dev", 1..=5, "bob")),
        );
        let s = server(
            &s,
            joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
        );
        let s = server(
            &s,
            history(
                ConversationId::With { with: "Bob".into() },
                vec![dm_msg("alice", 1, "Bob", "psst", None)],
                false,
            ),
        );
        assert_eq!(s.open, Some(ConvKey::Room("dev".into())));
        assert_eq!(lobby(&s).unread, 3, "2 from before the reload and 1 new");
        assert_eq!(s.conversations[&ConvKey::dm("bob")].unread, 1);
        assert_eq!(s.conversations[&ConvKey::Room("dev".into())].unread, 0);
        assert!(s.ready(&ConvKey::dm("bob")));
        // Reading clears it, and that is kept too.
        let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
        let kept = Snapshot::of(&s).unwrap();
        assert!(
            kept.user_json()
                .contains(r#"{"room":"lobby","read":3,"seen":3,"unread":0}"#)
        );
    }

    #[test]
    fn a_reload_closes_a_gap_longer_than_one_page() {
        let snapshot = Snapshot::parse_session(r#"{"v":1,"name":"alice","token":"t1"}"#)
            .unwrap()
            .with_user_json(Some(
                r#"{"v":1,"rooms":[{"room":"lobby","read":10,"seen":10,"unread":0}]}"#,
            ));
        let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
        let (s, _) = welcome(&s, "t2");
        let newest = ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: room_msgs("lobby", 71..=120, "bob"),
            more: true,
        };
        let s = server(&s, newest.clone());
        // Opened (nothing else was), so nothing counts; but the gap is still closed.
        let frames = s.followups(&Action::Server {
            msg: newest,
            now_ms: 0,
        });
        assert_eq!(
            frames[1].msg,
            history_frame(Some("lobby"), None, Some(71), 100)
        );
        let s = server(
            &s,
            history(
                ConversationId::Room {
                    room: "lobby".into(),
                },
                room_msgs("lobby", 1..=70, "bob"),
                false,
            ),
        );
        assert_eq!(seqs(lobby(&s)), (1..=120).collect::<Vec<_>>());
        assert_eq!(lobby(&s).read, 120);
    }

    #[test]
    fn a_resumed_name_that_is_taken_goes_back_to_the_login_form() {
        let snapshot = Snapshot::parse_session(r#"{"v":1,"name":"alice","token":"old"}"#)
            .unwrap()
            .with_user_json(Some(
                r#"{"v":1,"rooms":[{"room":"lobby","seen":3,"unread":2}]}"#,
            ));
        let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
        let s = reduce(&s, Action::Connected);
        let s = server(&s, ServerMsg::error(ErrorCode::NameTaken, "taken", None));
        assert!(!s.wants_connection());
        assert!(s.login_error.as_deref().unwrap().contains("already taken"));
        assert!(s.conversations.is_empty() && s.token.is_none());
        assert_eq!(s.last_name, "alice");
    }

    #[test]
    fn a_failed_history_request_does_not_hold_messages_back() {
        let s = reduce(&alice(), Action::OpenDm("bob".into()));
        let s = server(
            &s,
            ServerMsg::Message(dm_msg("bob", 1, "alice", "hi", Some("c1"))),
        );
        let s = drop_connection(&s);
        let (s, frames) = welcome(&s, "t2");
        let cid = frames
            .iter()
            .find(|f| matches!(f.msg, ClientMsg::History { .. }))
            .and_then(|f| f.cid.clone())
            .unwrap();
        let (s, _) = send(&s, ConvKey::dm("bob"), "queued");
        assert!(s.due_sends().is_empty());
        let s = server(&s, ServerMsg::error(ErrorCode::Internal, "oops", Some(cid)));
        assert_eq!(s.due_sends().len(), 1);
        assert!(s.notice.is_none());
    }
}
