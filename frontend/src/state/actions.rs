//! Applying the user's and the socket's actions (everything but the relay's frames, which
//! are `server`'s).

use std::rc::Rc;

use shared::{ClientFrame, ClientMsg};

use super::conversation::{ConvKey, Conversation, Delivery, Fetch, Message};
use super::{Action, Conn, State, TYPING_SEND_INTERVAL_MS};
use crate::i18n::fill;

impl State {
    /// We are no longer in `room` (we left it, here or on another connection): its
    /// conversation goes, and the next one opens if it was open.
    pub(super) fn forget_room(&mut self, room: &str) -> bool {
        let key = ConvKey::Room(room.to_owned());
        if self.conversations.remove(&key).is_none() {
            return false;
        }
        if self.opening.as_deref() == Some(room) {
            self.opening = None;
        }
        if self.open.as_ref() == Some(&key) {
            self.open = self.conversations.keys().next().cloned();
            if let Some(open) = &self.open {
                self.apply(Action::Open(open.clone()));
            }
        }
        true
    }

    pub(super) fn apply_action(&mut self, action: Action) -> bool {
        match action {
            Action::Login {
                name: raw,
                password,
            } => {
                if self.me.is_some() || self.wanted_name.is_some() {
                    return false;
                }
                self.last_name = raw.trim().to_owned();
                self.offer_attach = false;
                match shared::validate::name(&raw) {
                    Ok(name) => {
                        self.wanted_name = Some(name.to_owned());
                        self.login_error = None;
                        self.password = password.filter(|p| !p.expose().is_empty());
                        self.password_required = false;
                        if self.conn == Conn::Connected {
                            // A new name on a socket whose last hello was refused.
                            self.emit_hello();
                        }
                    }
                    Err(why) => {
                        let t = self.t();
                        self.login_error = Some(fill(t.name_wont_work, &[t.reason(why)]));
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
                self.emit_hello();
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
                    let why = self.t().protect_dropped.to_owned();
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
            Action::Ops(msg) => return self.ops_frame(msg),
            Action::ShowOps(open) => return self.show_ops(open),
            Action::Run { hosts, command } => return self.start_run(hosts, command),
            Action::CancelRun => return self.cancel_run(),
            Action::RetryFailed => return self.retry_failed(),
            Action::Tick(now) => return self.tick(now),
            Action::Open(key) => {
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false;
                };
                let divider = (conv.unread != 0).then_some(conv.read);
                if conv.unread != 0 || conv.divider != divider {
                    let conv = Rc::make_mut(conv);
                    conv.unread = 0;
                    conv.divider = divider;
                }
                self.open = Some(key);
            }
            Action::OpenDm(correspondent) => {
                if self.is_me(&correspondent) {
                    return false;
                }
                let key = ConvKey::dm(&correspondent);
                if !self.conversations.contains_key(&key) {
                    let online = self.online_now();
                    let mut conv = Conversation::new(&correspondent);
                    conv.synced = online;
                    if online {
                        // A first look at the conversation: its newest messages, if any.
                        conv.fetch = Some(self.new_fetch(None, None));
                    }
                    self.conversations.insert(key.clone(), Rc::new(conv));
                    self.emit_fetch(&key);
                }
                self.open = Some(key);
            }
            Action::Join(room) => {
                if let Err(why) = shared::validate::room(&room) {
                    let t = self.t();
                    self.room_error = Some(fill(t.room_wont_work, &[t.reason(why)]));
                    return true;
                }
                self.room_error = None;
                let key = ConvKey::Room(room.clone());
                if self.conversations.contains_key(&key) {
                    return self.apply(Action::Open(key));
                }
                if self.online_now() {
                    self.emit(ClientMsg::Join {
                        room: room.clone(),
                        after: None,
                    });
                }
                self.opening = Some(room);
            }
            Action::Leave(room) => {
                if self.online_now() {
                    self.emit(ClientMsg::Leave { room: room.clone() });
                    self.emit(ClientMsg::Rooms);
                }
                return self.forget_room(&room);
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
                // The others cleared our "is typing" on seeing the message: typing on after it
                // must say so again at once, not after the throttle.
                if self.typing_sent.as_ref().is_some_and(|(k, _)| *k == key) {
                    self.typing_sent = None;
                }
                let session = self.session;
                // It goes now if the conversation is live and nothing older waits; otherwise
                // it waits its turn (`due_sends`).
                let waiting = conv.unconfirmed().any(|(_, m)| m.waits(session));
                let now = live && conv.synced && !conv.closing_gap() && !waiting;
                let mid = format!("{}{:x}", self.mid_seed, self.cid_counter + 1);
                conv.messages.push(Rc::new(Message {
                    seq: None,
                    from: me,
                    text: text.clone(),
                    ts: None,
                    cid: Some(cid.clone()),
                    mid: Some(mid.clone()),
                    delivery: Delivery::Pending,
                    sent_after: conv.last_seq().max(conv.seen),
                    sent_in: now.then_some(session),
                    rev: 0,
                    edited: false,
                    deleted: false,
                }));
                self.cid_counter += 1;
                if now {
                    self.emit_say(&key, &cid, Some(&mid), &text);
                }
            }
            Action::Typed { key, now_ms } => {
                let recent = self.typing_sent.as_ref().is_some_and(|(k, at)| {
                    *k == key && now_ms.saturating_sub(*at) < TYPING_SEND_INTERVAL_MS
                });
                if recent || !self.ready(&key) {
                    return false;
                }
                self.emit_typing(&key);
                self.typing_sent = Some((key, now_ms));
            }
            Action::Notice(text) => self.notice = Some(text),
            Action::SetLang(lang) => self.lang = lang,
            Action::DeviceOnline(online) => self.device_offline = !online,
            Action::AttachHere => {
                if !self.offer_attach {
                    return false;
                }
                let name = self.last_name.clone();
                self.attach_name = Some(name.clone());
                return self.apply_action(Action::Login {
                    name,
                    password: None,
                });
            }
            Action::SendReads(reads) => {
                for (key, seq) in reads {
                    let Some(conv) = self.conversations.get_mut(&key) else {
                        continue;
                    };
                    let (room, with) = match &key {
                        ConvKey::Room(room) => (Some(room.clone()), None),
                        ConvKey::Dm(_) => (None, Some(conv.title.clone())),
                    };
                    if self.conn == Conn::Connected {
                        self.outbox
                            .push(ClientFrame::new(ClientMsg::Read { room, with, seq }));
                    }
                    Rc::make_mut(conv).read_told = seq;
                }
            }
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
                self.emit_fetch(&key);
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
                    let found = conv
                        .unconfirmed()
                        .find(|(_, m)| m.waits(session) && m.cid.as_ref() == Some(&cid));
                    if let Some((i, _)) = found {
                        let m = Rc::make_mut(&mut Rc::make_mut(conv).messages[i]);
                        m.sent_in = Some(session);
                        let (mid, text) = (m.mid.clone(), m.text.clone());
                        self.emit_say(&key, &cid, mid.as_deref(), &text);
                        changed = true;
                    }
                }
                return changed;
            }
            Action::SendAcks(acks) => {
                let mut changed = false;
                let online = self.online_now();
                for (key, seq) in acks {
                    let Some(conv) = self.conversations.get_mut(&key) else {
                        continue;
                    };
                    if online && key.room().is_none() {
                        // The outbox, not `emit`: `conv` borrows the conversations.
                        self.outbox.push(ClientFrame::new(ClientMsg::Ack {
                            with: conv.title.clone(),
                            seq,
                        }));
                    }
                    if conv.acked < seq {
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

    /// A new `history` request with its own cid, `{cid_prefix}h{fetch_counter}`.
    pub(super) fn new_fetch(&mut self, before: Option<u64>, until: Option<u64>) -> Fetch {
        self.fetch_counter += 1;
        Fetch {
            before,
            until,
            pages: 1,
            cid: format!("{}h{}", self.cid_prefix, self.fetch_counter),
        }
    }
}
