//! What goes on the wire: the [`Outbox`] an action puts its frames in, the frames themselves
//! (`hello`, `say`/`dm`, `history`, `typing`, `ack`), and the messages and acknowledgements
//! that wait for the driver to ask for them.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use shared::limits::{HISTORY_LEN, HISTORY_PAGE_MAX};
use shared::validate::name_key;
use shared::{ClientFrame, ClientMsg};

use super::State;
use super::conversation::ConvKey;

/// The frames that the actions applied caused, in order, until the driver drains them to send
/// them. An action puts its frames here as it applies (`State::emit`), so "this action sends
/// that frame" is written where the action is applied.
///
/// It is a channel, not state: every clone of a [`State`] shares it, so that an action that
/// changes nothing else (and hands back the same `Rc`) still gets its frames out. Equality
/// ignores it, and `Debug` shows only how many frames wait (a `protect` frame carries a
/// password).
#[derive(Clone, Default)]
pub struct Outbox(Rc<RefCell<Vec<ClientFrame>>>);

impl Outbox {
    /// Takes the frames waiting, oldest first.
    pub fn drain(&self) -> Vec<ClientFrame> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    pub(super) fn push(&self, frame: ClientFrame) {
        self.0.borrow_mut().push(frame);
    }
}

impl PartialEq for Outbox {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Outbox {}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Outbox({} frames)", self.0.borrow().len())
    }
}

impl State {
    /// Puts a frame this action causes in the outbox.
    pub(super) fn emit(&self, msg: ClientMsg) {
        self.outbox.push(ClientFrame::new(msg));
    }

    /// Puts a frame with a cid in the outbox.
    pub(super) fn emit_with_cid(&self, msg: ClientMsg, cid: impl Into<String>) {
        self.outbox.push(ClientFrame::with_cid(msg, cid));
    }

    /// Emits the `hello` for the current socket, if there is a name to ask for.
    pub(super) fn emit_hello(&self) {
        if let Some(hello) = self.hello() {
            self.outbox.push(hello);
        }
    }

    /// Emits the `rooms` and `users` requests (the listings).
    pub(super) fn emit_listings(&self) {
        self.emit(ClientMsg::Rooms);
        self.emit(ClientMsg::Users);
    }

    /// Emits the `say` or `dm` frame of one of our messages (the same `mid` every time it is
    /// sent).
    pub(super) fn emit_say(&self, key: &ConvKey, cid: &str, mid: Option<&str>, text: &str) {
        let (text, mid) = (text.to_owned(), mid.map(str::to_owned));
        let msg = match key {
            ConvKey::Room(room) => ClientMsg::Say {
                room: room.clone(),
                text,
                mid,
                reply: None,
            },
            ConvKey::Dm(_) => ClientMsg::Dm {
                to: self.conversations[key].title.clone(),
                text,
                mid,
                reply: None,
            },
        };
        self.emit_with_cid(msg, cid);
    }

    /// Emits `changes` for this conversation: what changed after the highest revision held.
    pub(super) fn emit_changes(&self, key: &ConvKey) {
        let Some(conv) = self.conversations.get(key) else {
            return;
        };
        let (room, with) = match key {
            ConvKey::Room(room) => (Some(room.clone()), None),
            ConvKey::Dm(_) => (None, Some(conv.title.clone())),
        };
        self.emit(ClientMsg::Changes {
            room,
            with,
            rev: conv.rev,
        });
    }

    /// Emits the `history` request of this conversation's fetch in flight, if any.
    pub(super) fn emit_fetch(&self, key: &ConvKey) {
        let Some((conv, fetch)) = self
            .conversations
            .get(key)
            .and_then(|conv| Some((conv, conv.fetch.as_ref()?)))
        else {
            return;
        };
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
        self.emit_with_cid(
            ClientMsg::History {
                room,
                with,
                before: fetch.before,
                limit: Some(limit),
            },
            fetch.cid.clone(),
        );
    }

    /// Emits our `typing` notice for this conversation.
    pub(super) fn emit_typing(&self, key: &ConvKey) {
        self.emit(match key {
            ConvKey::Room(room) => ClientMsg::Typing {
                room: Some(room.clone()),
                to: None,
            },
            ConvKey::Dm(_) => ClientMsg::Typing {
                room: None,
                to: Some(self.conversations[key].title.clone()),
            },
        });
    }

    /// The `hello` for the current socket: our name, the token if we had a session, the
    /// name's password if we know it, and that we acknowledge private messages.
    pub fn hello(&self) -> Option<ClientFrame> {
        let name = self.wanted_name.clone()?;
        // Our other tabs and devices stay: a token or a password proves the name, and for an
        // unprotected name in use the user said "that's me" (for that name alone).
        let confirmed = self.attach_name.as_deref().map(name_key) == Some(name_key(&name));
        Some(ClientFrame::new(ClientMsg::Hello {
            name,
            token: self.token.clone(),
            acks: true,
            password: self.password.as_ref().map(|p| p.expose().to_owned()),
            attach: self.token.is_some() || self.password.is_some() || confirmed,
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
    /// messages since did not confirm. The root sends them with
    /// [`Action::SendQueued`](super::Action::SendQueued).
    pub fn due_sends(&self) -> Vec<(ConvKey, String)> {
        self.conversations
            .iter()
            .filter(|(key, _)| self.ready(key))
            .flat_map(|(key, conv)| {
                conv.unconfirmed()
                    .map(|(_, m)| m)
                    .filter(|m| m.waits(self.session))
                    .filter_map(|m| Some((key.clone(), m.cid.clone()?)))
            })
            .collect()
    }

    /// The acknowledgements owed: per private conversation, the highest `seq` we have, if the
    /// relay was not told yet in this session. The root sends them with
    /// [`Action::SendAcks`](super::Action::SendAcks) after each burst of frames.
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

    /// What our other connections are owed: per conversation, how far it was read here, if
    /// the relay was not told yet in this session. The root sends them with the clock's tick.
    pub fn due_reads(&self) -> Vec<(ConvKey, u64)> {
        if !self.online_now() {
            return Vec::new();
        }
        self.conversations
            .iter()
            .filter(|(_, conv)| conv.read > conv.read_told)
            .map(|(key, conv)| (key.clone(), conv.read))
            .collect()
    }
}
