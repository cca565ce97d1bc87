//! One conversation: its key, its messages (ours pending until the relay's copy confirms
//! them), and the merge by `seq` of what the relay sends.

use std::rc::Rc;

use shared::validate::name_key;
use shared::{ChatMessage, ConversationId};

/// A conversation: a room, or the private conversation with one other user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConvKey {
    /// A room, by its (case-sensitive) name.
    Room(String),
    /// A private conversation, by the correspondent's [`name_key`] (names compare
    /// case-insensitively).
    Dm(String),
}

impl ConvKey {
    /// The key of the private conversation with `correspondent`.
    pub fn dm(correspondent: &str) -> Self {
        Self::Dm(name_key(correspondent))
    }

    /// The room name, if this is a room.
    pub fn room(&self) -> Option<&str> {
        match self {
            Self::Room(room) => Some(room),
            Self::Dm(_) => None,
        }
    }
}

impl From<&ConversationId> for ConvKey {
    /// The key of the conversation the wire names: a room, or the one `with` a user.
    fn from(id: &ConversationId) -> Self {
        match id {
            ConversationId::Room { room } => Self::Room(room.clone()),
            ConversationId::With { with } => Self::dm(with),
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
    /// Our id for the message itself (`mid`), unique across page loads and devices: the same
    /// on every resend, and kept with a pending message across a reload, so that the relay
    /// stores it once and its copy confirms it whichever frame or page sent it.
    pub mid: Option<String>,
    pub delivery: Delivery,
    /// For an unconfirmed message: the highest `seq` the conversation had when it was sent.
    /// Only a copy with a higher `seq` can confirm it, so that a `cid` reused by an earlier
    /// page session never confirms it.
    pub sent_after: u64,
    /// For an unconfirmed message: the relay session
    /// ([`State::session`](super::State::session)) it was last sent in; `None` while it
    /// waits to be sent. One sent in an earlier session whose copy did not
    /// come back by the time the conversation has caught up was lost with the connection, and
    /// is sent again.
    pub sent_in: Option<u64>,
    /// The revision of its latest change (edit, deletion, reaction), 0 if none.
    pub rev: u64,
    /// Its text was edited, or (empty) deleted.
    pub edited: bool,
    pub deleted: bool,
}

impl Message {
    fn confirmed(m: ChatMessage) -> Self {
        Self {
            seq: Some(m.seq),
            from: m.from,
            text: m.text,
            ts: Some(m.ts),
            cid: m.cid,
            mid: m.mid,
            delivery: Delivery::Sent,
            sent_after: 0,
            sent_in: None,
            rev: m.ext.rev.unwrap_or(0),
            edited: m.ext.edited.is_some(),
            deleted: m.ext.deleted,
        }
    }

    /// Whether it is ours and still waits for the relay's copy (pending or failed).
    pub fn unconfirmed(&self) -> bool {
        self.seq.is_none()
    }

    /// Whether it is ours and waits to be sent in relay session `session`: pending, and not
    /// sent in that session yet (typed offline, or sent on an earlier connection and not
    /// confirmed since).
    pub fn waits(&self, session: u64) -> bool {
        self.unconfirmed() && self.delivery == Delivery::Pending && self.sent_in != Some(session)
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
    /// The room's name, or the correspondent's name as they last said it.
    pub title: String,
    /// Each message behind its own `Rc`: the reducer copies the conversation it changes (the
    /// previous state still holds it), and copying pointers keeps a new message's cost
    /// independent of the history; the views compare rows by pointer first.
    pub messages: Vec<Rc<Message>>,
    /// Messages from others that arrived while the conversation was not open.
    pub unread: usize,
    /// Rooms: who is in the room (from `joined`, then `presence`), sorted; in a room too
    /// big for presence, some of them.
    pub members: Vec<String>,
    /// Rooms too big for presence: how many members the relay last counted (`members`).
    pub member_count: Option<usize>,
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
    /// Where "New messages" goes: after this `seq`, the last one read when the conversation
    /// was opened with unread messages; `None` when it was opened with none.
    pub divider: Option<u64>,
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
    /// The highest `read` told to the relay in this session (for our other connections).
    pub read_told: u64,
    /// The highest revision (`rev`) of a `changed` frame or `changes` answer seen: a resume
    /// asks for the changes after it.
    pub rev: u64,
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
    /// How many members the room has, as far as we know.
    pub fn member_total(&self) -> usize {
        self.member_count.unwrap_or(self.members.len())
    }

    pub(super) fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    /// The highest confirmed `seq`, 0 if none.
    pub fn last_seq(&self) -> u64 {
        self.messages[..self.confirmed_len()]
            .last()
            .and_then(|m| m.seq)
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

    /// Our unconfirmed messages (they come last in `messages`), with their indices there.
    pub fn unconfirmed(&self) -> impl Iterator<Item = (usize, &Message)> {
        let from = self.confirmed_len();
        self.messages[from..]
            .iter()
            .enumerate()
            .map(move |(i, m)| (from + i, &**m))
    }

    /// Applies one message from the relay: confirms our own (by `mid`, or by `cid` for a copy
    /// without one), ignores a repeat of a
    /// `seq` we hold, or inserts it in `seq` order.
    ///
    /// A `seq` we hold for a *different* message (another sender or time) means the relay
    /// started counting again (it restarted without its history): what we hold from that
    /// `seq` on is gone there too, so it is dropped here.
    pub(super) fn apply(&mut self, m: ChatMessage, mine: bool) -> Applied {
        self.typing
            .retain(|t| name_key(&t.name) != name_key(&m.from));
        let confirmed = &self.messages[..self.confirmed_len()];
        if let Ok(i) = confirmed.binary_search_by_key(&m.seq, |x| x.seq.unwrap_or(0)) {
            let held = &self.messages[i];
            // The same message, its text maybe changed since (an edit): the newer state wins.
            if held.from == m.from && held.ts == Some(m.ts) {
                if m.ext.rev.unwrap_or(0) > held.rev {
                    self.change(m.clone(), false);
                }
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
        self.messages.insert(at, Rc::new(Message::confirmed(m)));
        if confirms.is_some() {
            Applied::Confirmed
        } else {
            Applied::New
        }
    }

    /// The index of our unconfirmed message that `m` is the relay's copy of: the one with its
    /// `mid` (unique to one message, whichever page sent it), or for a copy without one (or
    /// ours without one), the one with its `cid` sent before `m`'s `seq`.
    fn own_unconfirmed(&self, m: &ChatMessage, mine: bool) -> Option<usize> {
        if !mine {
            return None;
        }
        self.unconfirmed()
            .find(|(_, own)| match (&m.mid, &own.mid) {
                (Some(mid), Some(own_mid)) => mid == own_mid,
                _ => m.cid.is_some() && own.cid == m.cid && own.sent_after < m.seq,
            })
            .map(|(i, _)| i)
    }

    /// Takes a message's newer state (a `changed` frame, a `changes` answer, or a held
    /// message again in a newer state): its text, and whether it was edited or deleted.
    /// (Reactions and reply quotes are kept by the relay but not shown yet.)
    ///
    /// Only a change (`changed`, `changes`) moves [`Conversation::rev`], with `watermark`: a
    /// message in a history page or a `joined` carries its own latest revision, not the
    /// conversation's, so taking it as the mark could skip an older change of another message
    /// held (docs/PROTOCOL.md).
    pub(super) fn change(&mut self, m: ChatMessage, watermark: bool) {
        let rev = m.ext.rev.unwrap_or(0);
        if watermark {
            self.rev = self.rev.max(rev);
        }
        let confirmed = &self.messages[..self.confirmed_len()];
        if let Ok(i) = confirmed.binary_search_by_key(&m.seq, |x| x.seq.unwrap_or(0))
            && self.messages[i].rev < rev
        {
            let held = Rc::make_mut(&mut self.messages[i]);
            held.text = m.text;
            held.rev = rev;
            held.edited = m.ext.edited.is_some();
            held.deleted = m.ext.deleted;
        }
    }

    /// Drops the confirmed messages from `seq` on (the relay no longer has them).
    pub(super) fn forget_from(&mut self, seq: u64) {
        let kept = seq.saturating_sub(1);
        self.messages.retain(|x| x.seq.is_none_or(|s| s < seq));
        for own in &mut self.messages {
            if own.sent_after > kept {
                Rc::make_mut(own).sent_after = kept;
            }
        }
        self.seen = self.seen.min(kept);
        self.read = self.read.min(kept);
        self.older = None;
    }

    /// Applies a batch of messages from the relay, oldest first; `more` is what the relay said
    /// about older ones. New messages from others above [`Conversation::seen`] count as unread
    /// when `count` (the conversation is not on screen).
    pub(super) fn merge(&mut self, batch: Vec<ChatMessage>, more: bool, me: &str, count: bool) {
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
    pub(super) fn catch_up(&mut self) {
        if !self.closing_gap() {
            self.seen = self.seen.max(self.last_seq());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    New,
    Repeat,
    Confirmed,
}
