//! All of the chat's state and every rule that changes it, as pure Rust (no web-sys), so that it
//! is unit-tested natively (`cargo test -p courier-web`).
//!
//! The root component (`crate::app`) owns a `use_reducer(State::default)`. Everything that
//! happens (a click, a frame from the relay, the socket going up or down, the clock) is an
//! [`Action`], applied by `Reducible::reduce` here. Applying one puts the frames it causes in
//! the state's [`Outbox`] (`State::emit` and the `emit_*` helpers of `wire`), which the root's
//! `Driver::act` drains into the socket after each dispatch. So "this action sends that frame"
//! is written where the action is applied, and a test says it directly.
//!
//! Times are milliseconds since the Unix epoch (`Date.now()` in the browser), passed in by the
//! caller; nothing here reads a clock.
//!
//! # Files
//!
//! - here: [`State`], [`Action`], [`Conn`], the [`Reducible`] impl, and the questions the root
//!   asks (`wants_connection`, `online_now`, `can_send`, `next_cid`);
//! - `actions`: applying the user's and the socket's actions (`State::apply_action`);
//! - `server`: applying the relay's frames (`State::server`, `history`, `error`) and the clock
//!   (`tick`);
//! - `conversation`: [`ConvKey`], [`Message`], [`Delivery`], [`Fetch`], [`Conversation`] and its
//!   merge by `seq` (`Conversation::apply`, `merge`);
//! - `wire`: the [`Outbox`], the frames (`hello`, `say`/`dm`, `history`, `typing`), and what
//!   waits for the root to ask (`ready`, `due_sends`, `due_acks`);
//! - `protect`: [`Secret`] and the protect form;
//! - `resume`: [`Snapshot`], a session kept by an earlier page load (`crate::persist` makes it
//!   from `localStorage`), and taking it up;
//! - `view`: the status bar and typing texts;
//! - `ops`: the Operations view (operators only): dashboard points, the run on screen, recent
//!   runs; `hosts` counts a host range for the runner's confirmation, `sgr` splits run output
//!   into styled spans;
//! - `tests/`: the reducer's tests by theme, with their helpers in `tests/mod.rs`.
//!
//! # The rules that make "nothing lost" hold
//!
//! - Every `hello` says `acks: true` (on `Connected`, `actions`). After `welcome` (`server`),
//!   rooms are re-joined with `after` (the highest seq held, `Conversation::join_after`), each
//!   private conversation asks for its newest `history` (paging back to what it had), and the
//!   listings are asked for.
//! - A gap (`more` in a `joined` or `history` answer, with the lowest seq above
//!   `Conversation::seen` + 1) is paged back with `history before` down to `seen`, in pages of
//!   `HISTORY_PAGE_MAX`, at most [`MAX_GAP_PAGES`] of them; past that, what is below the gap is
//!   dropped so that the list has no hole, and scrollback brings it back (`State::history`).
//! - Messages are merged by seq and repeats dropped; a seq held for a different message means
//!   the relay started counting again, and what we held from there is dropped
//!   (`Conversation::apply`). Unread counts only news above `seen`.
//! - Our messages typed offline, and those in flight at a drop that the catch-up did not
//!   confirm, wait (`Message::waits`) and go once the conversation has caught up
//!   (`State::ready`): the root asks for them (`State::due_sends`) after every action and sends
//!   them with [`Action::SendQueued`], oldest first. A message goes at once only if nothing
//!   older waits.
//! - Each of our messages has a `mid` (`State::mid_seed` and its number), the same on every
//!   resend and across a reload (`crate::persist` keeps the pending ones, `Mark::pending`), so
//!   the relay stores it once however often it goes. The relay's copy with our `mid` confirms
//!   it, live or in a catch-up; a copy without one confirms by `cid` (`Conversation::apply`).
//! - One `history` request in flight per conversation (`Conversation::fetch`), with an `h` cid,
//!   so that answers come back in the order asked and an `error` with that cid ends it.
//! - Private messages are acknowledged once per burst of frames: the root asks
//!   (`State::due_acks`) after a zero-delay timer and sends [`Action::SendAcks`].
//!
//! # Protected names
//!
//! The password typed at login (or last set with `protect`, once `protected` confirms it) is
//! `State::password`, a [`Secret`] (its `Debug` hides it) held in memory only and sent with
//! every `hello` of the page, so that a reconnect after a relay restart (tokens forgotten)
//! needs no retyping. `password_required` ends the sign-in like a refused name (no socket, so
//! no reconnect loop, and the root removes the kept session) and asks for the password on the
//! login form; the password held is dropped then and on sign-out. [`Action::Protect`] checks
//! 8–128 characters and the confirmation before a `protect` goes out with a `p` cid (one at a
//! time); an `error` with that cid, or a drop before the answer, is shown in the form.

use std::collections::BTreeMap;
use std::rc::Rc;

use shared::ops::OpsMsg;
use shared::validate::name_key;
use shared::{RoomInfo, ServerMsg};
use yew::Reducible;

use crate::i18n::{Lang, Texts};

mod actions;
mod conversation;
pub mod hosts;
mod ops;
mod protect;
mod resume;
mod server;
pub mod sgr;
mod view;
mod wire;

#[cfg(test)]
mod tests;

pub use conversation::{ConvKey, Conversation, Delivery, Fetch, Message, Typist};
pub use ops::{HostRow, MAX_POINTS, Ops, Run};
pub use protect::{ProtectForm, Secret};
pub use resume::{Mark, Pending, Snapshot};
pub use wire::Outbox;

/// How long "X is typing" stays up after the last `typing` frame from X.
pub const TYPING_TTL_MS: u64 = 3_000;
/// We send `typing` for one conversation at most this often.
pub const TYPING_SEND_INTERVAL_MS: u64 = 2_000;
/// The room and user listings are asked for again this often.
pub const REFRESH_INTERVAL_MS: u64 = 10_000;
/// Closing a gap after a reconnect or a reload asks for at most this many pages of
/// [`HISTORY_PAGE_MAX`](shared::limits::HISTORY_PAGE_MAX) messages; what is older than that
/// is left to "Load older messages".
pub const MAX_GAP_PAGES: u32 = 20;

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
#[derive(Debug, Clone, PartialEq, Default)]
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
    /// Random hex digits the root draws at start-up (16 of them): our messages' `mid`s are
    /// `{mid_seed}{n:x}`, `n` the message's number in `cid_counter`, so that they differ from
    /// those of every other page load and device.
    pub mid_seed: String,
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
    /// The relay's last `welcome` said we are an operator: the Operations view is ours.
    pub operator: bool,
    /// The Operations view (operators only).
    pub ops: Rc<Ops>,
    /// The frames the actions applied caused, for the driver to drain and send.
    pub outbox: Outbox,
    /// The interface's language: the texts the reducer writes (errors, notices) are in it.
    pub lang: Lang,
    /// The browser says it has no network (its `offline` event, until `online`).
    pub device_offline: bool,
    /// The name the user confirmed as theirs while it was in use elsewhere: a `hello` with it
    /// joins that session as one more connection (`attach`). Another name does not.
    pub attach_name: Option<String>,
    /// The name was refused as in use: the login form offers to attach.
    pub offer_attach: bool,
}

/// Everything that can happen to the state.
#[derive(Debug, Clone, PartialEq)]
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
    /// A frame only operators get.
    Ops(OpsMsg),
    /// Show (true) or leave the Operations view.
    ShowOps(bool),
    /// Run `command` on every host of `hosts` (confirmed by the user).
    Run {
        hosts: String,
        command: String,
    },
    /// Cancel the run on screen.
    CancelRun,
    /// Run the last command again on the hosts where it failed.
    RetryFailed,
    /// Show the interface in this language.
    SetLang(Lang),
    /// The browser's `online` (true) or `offline` event.
    DeviceOnline(bool),
    /// "That's me": sign in again under the refused name, as one more connection of it.
    AttachHere,
    /// Tell the relay how far these conversations were read (from [`State::due_reads`]).
    SendReads(Vec<(ConvKey, u64)>),
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
    /// The interface's texts, in the language chosen.
    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// Applies an action; returns false when it certainly changed nothing.
    pub(super) fn apply(&mut self, action: Action) -> bool {
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

    /// A signed-out state that keeps what must not repeat within this page (cid counters,
    /// session numbers).
    pub(super) fn fresh(&self) -> Self {
        Self {
            cid_counter: self.cid_counter,
            cid_prefix: self.cid_prefix.clone(),
            mid_seed: self.mid_seed.clone(),
            fetch_counter: self.fetch_counter,
            protect_counter: self.protect_counter,
            session: self.session,
            outbox: self.outbox.clone(),
            lang: self.lang,
            device_offline: self.device_offline,
            ..Self::default()
        }
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
}
