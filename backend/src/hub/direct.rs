//! Private messages (sender, recipient, parcel): sending, acknowledging and scrollback, the
//! mailbox read at a welcome; the user list and typing to one user.

use std::collections::HashMap;
use std::time::Instant;

use shared::limits::close;
use shared::{ConversationId, ErrorCode, ServerMsg, Target, validate};

use super::dm_rate::Sender;
use super::rooms::{check_mid, check_text};
use super::slow::{Place, SlowTask, ToRecipient};
use super::{Handled, Refusal, Slow, State, encode, read_failed, refuse};
use crate::engine::{Draft, Job, Mail, ReadError, Topic, pair};
use crate::metrics::Metrics;
use crate::outbox::ConnId;

/// A user a private frame is addressed to.
pub(super) struct Recipient {
    pub(super) key: String,
    /// As they said it in their latest hello.
    name: String,
    /// Their connections here, if they are online here.
    conns: Vec<ConnId>,
}

impl State {
    pub(super) fn dm(
        &mut self,
        id: ConnId,
        to: &str,
        text: String,
        (cid, mid, reply): (Option<String>, Option<String>, Option<u64>),
        (now, looked_up): (u64, bool),
    ) -> Handled {
        check_text(&text)?;
        self.replies(reply)?;
        check_mid(mid.as_deref())?;
        let Some(recipient) = self.recipient_or_look_up(to, looked_up)? else {
            self.look_up_then(to, ToRecipient::Dm { text, mid, reply });
            return Ok(());
        };
        let sender = self.session(id)?;
        let (from, from_key) = (sender.name.clone(), sender.key.clone());
        let generation = sender.generation;
        let from_addr = self.conns.get(&id).and_then(|c| c.handle.addr);
        let counted_as = match from_addr {
            Some(addr) => Sender::Addr(addr),
            None => Sender::Name(from_key.clone()),
        };
        if !self.dm_rates.admit(counted_as, &recipient.key) {
            return refuse(
                ErrorCode::RateLimited,
                format!(
                    "too many private messages to {} from your address; this one was dropped; \
                     slow down",
                    recipient.name
                ),
            );
        }
        for &conn in &recipient.conns {
            self.settle_mail(conn);
        }
        let draft = Draft {
            target: Target::User {
                to: recipient.name.clone(),
            },
            from,
            text,
            ts: now,
            cid,
            mid,
            accepted: Instant::now(),
            generation,
            origin: id,
            reply,
        };
        // The writer refuses it if the recipient's mailbox is full (`Committed::MailboxFull`):
        // only it sees the mailbox and the messages still on their way to it together.
        self.submit(Job::Direct {
            from_key,
            from_addr: from_addr.map(|a| a.to_string()),
            to_key: recipient.key,
            draft,
        })?;
        Metrics::inc(&self.metrics.messages_accepted);
        Ok(())
    }

    /// The client has every message with `with` up to `seq`. `ack` has no answer, for a name
    /// the relay remembers or not alike: there is nothing to acknowledge with a stranger.
    pub(super) fn ack(&mut self, id: ConnId, with: &str, seq: u64) -> Handled {
        let correspondent_key = key_of(with);
        let user_key = self.session(id)?.key.clone();
        if !self.users.contains_key(&correspondent_key) {
            return Ok(());
        }
        self.submit(Job::Ack {
            user_key: user_key.clone(),
            correspondent_key: correspondent_key.clone(),
            seq,
        })?;
        self.removals.ack(user_key, correspondent_key, seq);
        Ok(())
    }

    /// Scrollback in the private conversation with `with`. A name the relay does not remember
    /// has an empty conversation, like a remembered one never written to: the same answer, so
    /// that it does not tell which names exist (only `dm` does, as the contract requires).
    pub(super) fn direct_history(
        &mut self,
        id: ConnId,
        with: String,
        before: Option<u64>,
        limit: usize,
    ) -> Handled {
        let (low, high) = pair(&self.session(id)?.key, &key_of(&with));
        // A name forgotten and taken again: its earlier holder's messages are not shown.
        let since = [&low, &high]
            .iter()
            .filter_map(|key| Some(self.users.get(key.as_str())?.since))
            .max()
            .unwrap_or(0);
        self.slow = Some(Slow {
            task: SlowTask::History {
                conversation: ConversationId::With { with },
                place: Place::Pair(low, high),
                before,
                bounds: (limit, self.limits.page_bytes),
                since,
            },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    pub(super) fn list_users(&mut self, id: ConnId) -> Handled {
        if self.engine.clustered() {
            // Read across the cluster, off the lock.
            self.slow = Some(Slow {
                task: SlowTask::Online,
                cid: None,
                addr: None,
            });
            return Ok(());
        }
        // A person once, however many connections it has.
        let mut online: Vec<String> = self
            .online
            .values()
            .filter_map(|conns| self.conns.get(conns.first()?)?.session.as_ref())
            .map(|s| s.name.clone())
            .collect();
        online.sort_unstable();
        self.send(id, &ServerMsg::Users { online });
        Ok(())
    }

    /// The names online across the cluster are read.
    pub(super) fn send_online(
        &mut self,
        id: ConnId,
        online: Result<Vec<String>, crate::engine::ReadError>,
    ) -> Handled {
        let mut online = online.map_err(|e| super::read_failed(&e))?;
        online.sort_unstable();
        self.send(id, &ServerMsg::Users { online });
        Ok(())
    }

    /// `typing` to one user: told to them if they are online. It has no answer, whether the
    /// name is remembered, unknown or offline, so that it does not tell which names exist.
    pub(super) fn typing_to_user(&self, id: ConnId, to: &str) -> Handled {
        let Ok(recipient) = self.recipient(to) else {
            return Ok(()); // nobody to tell
        };
        let typist = self.session(id)?;
        if typist.key == recipient.key {
            return Ok(()); // to oneself: nobody to tell
        }
        let typing = ServerMsg::Typing {
            target: Target::User { to: recipient.name },
            name: typist.name.clone(),
        };
        let frame = super::encode(&typing);
        // Every connection of theirs here, and on a cluster perhaps on other relays.
        for &conn in &recipient.conns {
            self.send_frame(conn, frame.clone());
        }
        if self.engine.clustered() {
            self.engine
                .typing(Topic::User(recipient.key), frame.to_string());
        }
        Ok(())
    }

    /// [`State::recipient`], except that on a cluster a name not heard of here (perhaps new on
    /// another relay) is `None` until it has been `looked_up` across the cluster: the caller
    /// then hands its frame to [`State::look_up_then`].
    pub(super) fn recipient_or_look_up(
        &self,
        to: &str,
        looked_up: bool,
    ) -> Result<Option<Recipient>, Refusal> {
        match self.recipient(to) {
            Ok(recipient) => Ok(Some(recipient)),
            Err(_) if self.engine.clustered() && !looked_up => Ok(None),
            Err(unknown) => Err(unknown),
        }
    }

    /// Looks `to` up across the cluster, off the lock, then carries out `then` (with
    /// `looked_up` set, so that a name unknown everywhere gets `unknown_user`).
    pub(super) fn look_up_then(&mut self, to: &str, then: ToRecipient) {
        self.slow = Some(Slow {
            task: SlowTask::Recipient {
                to: to.to_owned(),
                then,
            },
            cid: None,
            addr: None,
        });
    }

    /// Looks up a user by name, case-insensitively; `unknown_user` for a name that never
    /// completed a hello (which the contract requires of `dm`).
    pub(super) fn recipient(&self, to: &str) -> Result<Recipient, Refusal> {
        let key = key_of(to);
        let Some(name) = self.users.get(&key).map(|u| &u.name) else {
            return refuse(
                ErrorCode::UnknownUser,
                format!("nobody called '{to}' has been here"),
            );
        };
        Ok(Recipient {
            name: name.to_owned(),
            conns: self.online.get(&key).cloned().unwrap_or_default(),
            key,
        })
    }

    /// The mailbox of the session just welcomed on connection `id` is read: every private
    /// message in it that is not received already, in the order they came in, then those the
    /// fan-out brought meanwhile that were not in it. If it could not be read, the connection
    /// is closed with 1013 (after an `internal` error), and nothing more is sent on it. For a client that does not acknowledge,
    /// each counts as received once it is written to its socket (see `settle_mail`); one that
    /// did not fit stays in the mailbox with all after it.
    pub(super) fn mail_read(
        &mut self,
        id: ConnId,
        key: &str,
        mail: Result<Vec<Mail>, ReadError>,
    ) -> Handled {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Ok(()); // the connection went away meanwhile
        };
        let Some(session) = conn.session.as_mut().filter(|s| s.key == key) else {
            return Ok(());
        };
        let mut mail = match mail {
            Ok(mail) => mail,
            Err(e) => {
                // Nothing may go out past mail not sent (an ack of a later message would
                // remove it), so what was held stays held, the connection ends, and the
                // client's next hello reads the mailbox again.
                conn.handle.close(close::TRY_AGAIN_LATER);
                return Err(read_failed(&e));
            }
        };
        let live = session.mail_pending.take().unwrap_or_default();
        // Leave out what is received already but perhaps not removed in what was read.
        mail.retain(|m| !self.removals.has(key, m));
        if !self.reading_mail(key) {
            self.removals.reads_ended(key);
        }
        let mut replayed: HashMap<String, u64> = HashMap::new();
        for m in &mail {
            let seq = replayed.entry(m.sender_key.clone()).or_default();
            *seq = (*seq).max(m.msg.seq);
        }
        let mut queued = true;
        for m in mail {
            queued = self.send_mail(id, m.id, encode(&ServerMsg::Message(m.msg)));
            if !queued {
                break;
            }
        }
        for m in live {
            if !queued {
                break;
            }
            let Some(mail_id) = m.mail_id else {
                self.send_frame(id, m.frame); // a change: after the mail it may be about
                continue;
            };
            if replayed.get(&m.from_key).is_some_and(|&s| s >= m.seq) {
                continue; // it was in the mailbox
            }
            queued = self.send_mail(id, mail_id, m.frame);
        }
        if let Some(session) = self.conns.get_mut(&id).and_then(|c| c.session.as_mut()) {
            session.replayed = replayed;
        }
        Ok(())
    }

    /// A mailbox read of `key`'s is under way: a session of theirs waits for one.
    pub(super) fn reading_mail(&self, key: &str) -> bool {
        self.online.get(key).is_some_and(|conns| {
            conns.iter().any(|conn| {
                self.conns
                    .get(conn)
                    .and_then(|c| c.session.as_ref())
                    .is_some_and(|s| s.mail_pending.is_some())
            })
        })
    }
}

/// The key a user's name is remembered under, for a name as a frame spells it.
pub(super) fn key_of(name: &str) -> String {
    validate::name_key(name.trim())
}
