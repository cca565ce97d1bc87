//! Taking up a session kept by an earlier page load ([`Action::Resume`]). How it is kept is
//! `crate::persist`'s business: it turns its stored format into a [`Snapshot`].
//!
//! [`Action::Resume`]: super::Action::Resume

use std::rc::Rc;

use shared::validate::name_key;

use super::State;
use super::conversation::{ConvKey, Conversation, Delivery, Message};

/// One conversation as kept: where it is, how far it was read and seen, and its unread count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub key: ConvKey,
    /// The room's name, or the correspondent's name as they last said it.
    pub title: String,
    /// The highest `seq` read (the conversation was on screen with it).
    pub read: u64,
    /// The highest `seq` the user was shown or counted as unread.
    pub seen: u64,
    /// Messages from others not read yet.
    pub unread: usize,
    /// Our messages the relay had not confirmed, oldest first: they are sent again (with
    /// their `mid`, so the relay stores each once) once the conversation has caught up.
    pub pending: Vec<Pending>,
}

/// One of our messages kept unconfirmed across a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub mid: String,
    pub text: String,
}

/// Everything a page load needs to take up where the last one left off: what
/// [`Action::Resume`](super::Action::Resume) carries. `crate::persist` makes it from the
/// stored JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub name: String,
    /// The last `welcome`'s token; `None` when signing in by hand.
    pub token: Option<String>,
    pub open: Option<ConvKey>,
    /// Rooms first, then private conversations.
    pub marks: Vec<Mark>,
}

impl State {
    /// Takes up a kept session: see [`Action::Resume`](super::Action::Resume).
    pub(super) fn resume(&mut self, snapshot: Snapshot) -> bool {
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
        let me = name.to_owned();
        for mark in snapshot.marks {
            let mut conv = Conversation {
                seen: mark.seen,
                read: mark.read,
                unread: mark.unread,
                ..Conversation::new(&mark.title)
            };
            // Kept messages wait to be sent under a cid of this page, with their own mid.
            for p in mark.pending {
                let cid = self.next_cid();
                self.cid_counter += 1;
                conv.messages.push(Rc::new(Message {
                    seq: None,
                    from: me.clone(),
                    text: p.text,
                    ts: None,
                    cid: Some(cid),
                    mid: Some(p.mid),
                    delivery: Delivery::Pending,
                    sent_after: mark.seen,
                    sent_in: None,
                    rev: 0,
                    edited: false,
                    deleted: false,
                }));
            }
            self.conversations.insert(mark.key, Rc::new(conv));
        }
        self.open = snapshot.open.filter(|k| self.conversations.contains_key(k));
        true
    }
}
