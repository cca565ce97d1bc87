//! What goes on the wire: the frames an action causes, the `hello`, and the messages and
//! acknowledgements that wait.

use shared::limits::{HISTORY_LEN, HISTORY_PAGE_MAX};
use shared::{ClientFrame, ClientMsg, ConversationId, ServerMsg};

use super::conversation::{ConvKey, Delivery};
use super::{Action, Conn, State};

impl State {
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
                conv.unconfirmed()
                    .map(|(_, m)| m)
                    .filter(|m| m.delivery == Delivery::Pending && m.sent_in != Some(self.session))
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
}
