//! Applying the relay's frames (`server`, `history`, `error`) and the clock (`tick`).

use std::rc::Rc;

use shared::validate::name_key;
use shared::{ChatMessage, ClientMsg, ConversationId, ErrorCode, ServerMsg, Target};

use super::conversation::{Applied, ConvKey, Conversation, Delivery, Fetch, Typist};
use super::view::countdown_secs;
use super::{Action, Conn, MAX_GAP_PAGES, REFRESH_INTERVAL_MS, State, TYPING_TTL_MS};
use crate::i18n::{Texts, fill};

impl State {
    pub(super) fn server(&mut self, msg: ServerMsg, now_ms: u64) -> bool {
        match msg {
            ServerMsg::Welcome {
                name,
                token,
                operator,
                ..
            } => {
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
                    conv.read_told = 0;
                    conv.synced = false;
                    conv.fetch = fetch;
                    conv.join_after = (key.room().is_some() && held > 0).then_some(held);
                }
                // Re-join the rooms (from the last seq held), ask for each private
                // conversation's newest messages, and for the listings.
                for (key, conv) in &self.conversations {
                    if let Some(room) = key.room() {
                        self.emit(ClientMsg::Join {
                            room: room.to_owned(),
                            after: conv.join_after,
                        });
                    }
                }
                for (key, conv) in &self.conversations {
                    self.emit_fetch(key);
                    if key.room().is_none() && conv.last_seq() > 0 {
                        self.emit_changes(key);
                    }
                }
                self.emit_listings();
                self.ops_welcomed(operator);
            }
            ServerMsg::Joined {
                room,
                members,
                history,
                more,
            } => {
                self.emit(ClientMsg::Rooms);
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
                // A room too big for presence says its count next (`members`).
                conv.member_count = None;
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
                let gap = lowest.filter(|&l| more && floor > 0 && l > floor + 1);
                if let Some(lowest) = gap {
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
                if gap.is_some() {
                    self.emit_fetch(&key);
                }
                // And the changes to those we held.
                if after.is_some() {
                    self.emit_changes(&key);
                }
                if self.opening.as_ref() == Some(&room) || self.open.is_none() {
                    self.opening = None;
                    self.apply(Action::Open(key));
                }
            }
            ServerMsg::Presence { room, name, online } => {
                // Someone came or went: the user list may have changed too.
                self.emit(ClientMsg::Users);
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
            ServerMsg::Members {
                room,
                count,
                members,
            } => {
                let Some(conv) = self.conversations.get_mut(&ConvKey::Room(room)) else {
                    return false;
                };
                let conv = Rc::make_mut(conv);
                if let Some(members) = members {
                    conv.members = sorted_names(members);
                    conv.member_count = None;
                } else {
                    conv.member_count = Some(count);
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
                        let correspondent = if mine { to.clone() } else { m.from.clone() };
                        let key = ConvKey::dm(&correspondent);
                        let conv = self
                            .conversations
                            .entry(key.clone())
                            .or_insert_with(|| Rc::new(Conversation::new(&correspondent)));
                        if conv.title != correspondent {
                            Rc::make_mut(conv).title = correspondent;
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
                // Not when another connection of ours read it already (its `read` may come
                // before the message does).
                if applied == Applied::New
                    && !mine
                    && !is_open
                    && seq > conv.seen
                    && seq > conv.read
                {
                    conv.unread += 1;
                }
                conv.catch_up();
            }
            ServerMsg::Rooms { mut rooms } => {
                rooms.sort_unstable_by(|a, b| a.room.cmp(&b.room).then(a.members.cmp(&b.members)));
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
            ServerMsg::Changed(m) => {
                let mine = self.me.as_deref().map(name_key) == Some(name_key(&m.from));
                let key = match &m.target {
                    Target::Room { room } => ConvKey::Room(room.clone()),
                    Target::User { to } if mine => ConvKey::dm(to),
                    Target::User { .. } => ConvKey::dm(&m.from),
                };
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false;
                };
                Rc::make_mut(conv).change(m, true);
            }
            ServerMsg::Changes {
                conversation,
                messages,
                more,
            } => {
                let key = ConvKey::from(&conversation);
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false;
                };
                let conv = Rc::make_mut(conv);
                let before = conv.rev;
                for m in messages {
                    conv.change(m, true);
                }
                // More after the last one (only if it moved on: never the same question twice).
                if more && conv.rev > before {
                    self.emit_changes(&key);
                }
            }
            // This client does not search (yet).
            ServerMsg::Found { .. } => return false,
            // Another connection of ours left the room, or read a conversation.
            ServerMsg::Left { room } => return self.forget_room(&room),
            ServerMsg::Read { conversation, seq } => {
                let key = match conversation {
                    ConversationId::Room { room } => ConvKey::Room(room),
                    ConversationId::With { with } => ConvKey::dm(&with),
                };
                let me = self.me.as_deref().map(name_key).unwrap_or_default();
                let Some(conv) = self.conversations.get_mut(&key) else {
                    return false;
                };
                if conv.read >= seq {
                    return false;
                }
                let conv = Rc::make_mut(conv);
                conv.read = seq;
                conv.read_told = conv.read_told.max(seq);
                // Unread: the others' messages after what was read there.
                let after = conv
                    .messages
                    .iter()
                    .filter(|m| m.seq.is_some_and(|s| s > seq) && name_key(&m.from) != me)
                    .count();
                conv.unread = conv.unread.min(after);
            }
            ServerMsg::Protected { name } => {
                // The answer to our pending `protect` (it carries no cid): its password is
                // the one the next hellos need.
                if let Some((_, password)) = self.protect.pending.take() {
                    self.password = Some(password);
                }
                self.protect.open = false;
                self.protect.error = None;
                self.notice = Some(fill(self.t().now_protected, &[&name]));
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
        let key = ConvKey::from(&conversation);
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
        let asks_more = next.is_some();
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
        if asks_more {
            self.emit_fetch(&key);
        }
        true
    }

    fn error(&mut self, code: ErrorCode, message: String, cid: Option<String>) {
        // Our `run` was refused.
        if cid
            .as_deref()
            .is_some_and(|c| self.run_refused(c, failure_text(self.t(), code, &message)))
        {
            return;
        }
        // Our `protect` was refused.
        if cid.is_some() && self.protect.pending.as_ref().map(|(c, _)| c) == cid.as_ref() {
            self.protect.pending = None;
            let why = failure_text(self.t(), code, &message);
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
            let t = self.t();
            for conv in self.conversations.values_mut() {
                let found = conv
                    .unconfirmed()
                    .find(|(_, m)| m.cid.as_deref() == Some(cid.as_str()));
                if let Some((i, _)) = found {
                    Rc::make_mut(&mut Rc::make_mut(conv).messages[i]).delivery =
                        Delivery::Failed(failure_text(t, code, &message));
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
                let t = self.t();
                let why = if self.me.is_some() {
                    fill(t.disconnected_protected, &[&name])
                } else if self.password.is_some() {
                    fill(t.wrong_password, &[&name])
                } else {
                    fill(t.protected_needs_password, &[&name])
                };
                *self = Self {
                    last_name: name,
                    login_error: Some(why),
                    password_required: true,
                    ..self.fresh()
                };
            }
            ErrorCode::NameTaken => {
                self.name_refused(fill(self.t().name_in_use, &[&name]));
                self.offer_attach = true;
            }
            ErrorCode::InvalidName => {
                self.name_refused(fill(self.t().name_refused, &[&message]));
            }
            ErrorCode::InvalidRoom => {
                self.opening = None;
                self.room_error = Some(fill(self.t().room_refused, &[&message]));
            }
            _ => self.notice = Some(failure_text(self.t(), code, &message)),
        }
    }

    /// The relay refused the name of our first `hello`: back to the login form, saying `why`.
    fn name_refused(&mut self, why: String) {
        self.wanted_name = None;
        // "That's me" held for that one try.
        self.attach_name = None;
        self.conn = Conn::Offline;
        // A resumed session's token and conversations belong to that name.
        self.token = None;
        self.conversations.clear();
        self.open = None;
        self.login_error = Some(why);
    }

    pub(super) fn tick(&mut self, now: u64) -> bool {
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
            self.emit_listings();
            changed = true;
        }
        changed
    }
}

/// Names sorted case-insensitively, each once.
fn sorted_names(mut names: Vec<String>) -> Vec<String> {
    names.sort_unstable_by_key(|n| (name_key(n), n.clone()));
    names.dedup_by(|a, b| name_key(a) == name_key(b));
    names
}

/// What to tell the user about a refused frame: the relay's own words, or a few of ours when
/// it gave none.
fn failure_text(t: &Texts, code: ErrorCode, message: &str) -> String {
    if !message.trim().is_empty() {
        return message.trim().to_owned();
    }
    match code {
        ErrorCode::RateLimited => t.err_rate_limited.to_owned(),
        ErrorCode::TooLong => t.err_too_long.to_owned(),
        ErrorCode::UnknownUser => t.err_unknown_user.to_owned(),
        ErrorCode::NotMember => t.err_not_member.to_owned(),
        ErrorCode::MailboxFull => t.err_mailbox_full.to_owned(),
        other => other.to_string(),
    }
}
