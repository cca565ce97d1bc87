//! Sending what the engine stored: each room message to the room's members, each private
//! message to its sender and its recipient. [`FanOut`] is the thread that takes the engine's
//! stored batches, in the order stored, and hands each to [`Hub::committed`].

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use shared::{ErrorCode, ServerMsg, Target};

use super::{Hub, LiveMail, State, deliver, encode};
use crate::engine::{Committed, Job};
use crate::metrics::Metrics;
use crate::outbox::{ConnHandle, ConnId, Frame};
use shared::limits::close;

/// Most frames held for one connection while a read of its is under way (a `joined`'s page, a
/// mailbox): a read takes milliseconds, so only a connection whose read is stuck gets near
/// this, and it is closed with 1013 like one that does not read.
const HELD_MAX: usize = 1024;

/// Holds `item` for a connection whose read is under way, or closes the connection when it
/// has too many held already.
pub(super) fn hold<T>(metrics: &Metrics, handle: &ConnHandle, held: &mut Vec<T>, item: T) {
    if held.len() < HELD_MAX {
        held.push(item);
    } else if !handle.is_closing() {
        Metrics::inc(&metrics.closed_too_slow);
        tracing::info!(conn = handle.id, "closing a connection whose read is stuck");
        handle.close(close::TRY_AGAIN_LATER);
    }
}

/// The fan-out's thread. It ends once the engine has stopped and dropped its sink.
pub struct FanOut(JoinHandle<()>);

impl FanOut {
    /// Takes every batch that comes down the engine's sink (`stored`) to `hub`, one at a time.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(hub: Arc<Hub>, stored: Receiver<Vec<Committed>>) -> std::io::Result<Self> {
        let thread = std::thread::Builder::new()
            .name("courier-fanout".into())
            .spawn(move || {
                for batch in stored {
                    // A panic here is a bug in the hub; the state is still the best there is
                    // (its lock ignores poisoning), so keep sending rather than go silent.
                    let sent = panic::catch_unwind(AssertUnwindSafe(|| hub.committed(batch)));
                    if sent.is_err() {
                        tracing::error!("the fan-out panicked on a batch; carrying on");
                    }
                }
            })?;
        Ok(Self(thread))
    }

    /// Blocks until every stored batch has been sent on.
    pub fn wait(self) {
        if self.0.join().is_err() {
            tracing::error!("the fan-out panicked");
        }
    }
}

impl Hub {
    /// A batch the engine has stored, in the order stored (so in `seq` order per room and
    /// pair). Called on the fan-out's thread.
    fn committed(self: &Arc<Self>, batch: Vec<Committed>) {
        let mut state = self.lock();
        for c in batch {
            match c {
                Committed::Room { msg, accepted } => {
                    state.fan_out_room(msg);
                    state
                        .metrics
                        .fanout_seconds
                        .observe(accepted.elapsed().as_secs_f64());
                }
                Committed::Direct {
                    from_key,
                    to_key,
                    mail_id,
                    msg,
                    accepted,
                } => {
                    state.fan_out_direct(&from_key, &to_key, mail_id, msg);
                    state
                        .metrics
                        .fanout_seconds
                        .observe(accepted.elapsed().as_secs_f64());
                }
                Committed::Acked {
                    user_key,
                    correspondent_key,
                    seq,
                } => {
                    let reading = state.reading_mail(&user_key);
                    (state.removals).ack_committed(user_key, correspondent_key, seq, reading);
                }
                Committed::Repeat {
                    from_key,
                    origin,
                    msg,
                } => {
                    if let Some(conn) = state.origin(&from_key, origin) {
                        state.send(conn, &ServerMsg::Message(msg));
                    }
                }
                Committed::Removed { user_key, ids } => {
                    let reading = state.reading_mail(&user_key);
                    (state.removals).received_committed(user_key, ids, reading);
                }
                Committed::MailboxFull {
                    from_key,
                    origin,
                    to,
                    cid,
                } => {
                    if let Some(conn) = state.origin(&from_key, origin) {
                        let why = format!("{to} has too many messages they have not received yet");
                        state.error(conn, ErrorCode::MailboxFull, why, cid);
                    }
                }
                Committed::Failed {
                    from_key,
                    origin,
                    cid,
                    reason,
                } => {
                    if let Some(conn) = state.origin(&from_key, origin) {
                        state.error(conn, ErrorCode::Internal, reason, cid);
                    }
                }
                Committed::Changed {
                    place,
                    msg,
                    by_key,
                    origin,
                    cid,
                } => state.fan_out_change(&place, msg, (&by_key, origin, cid)),
                Committed::Refused {
                    from_key,
                    origin,
                    cid,
                    code,
                    message,
                } => {
                    if let Some(conn) = state.origin(&from_key, origin) {
                        state.error(conn, code, message, cid);
                    }
                }
                Committed::Cluster(event) => state.cluster_event(event, (self.clock)()),
            }
        }
        let joins = std::mem::take(&mut state.news_joins);
        drop(state);
        for join in joins {
            self.read_news_join(join);
        }
    }
}

impl State {
    /// Queues mailbox row `mail_id`'s message (encoded) for connection `id`. For a client that
    /// does not acknowledge, remembers it until it is written (`settle_mail`). False when it
    /// was not queued (the connection is too slow or gone): it stays in the mailbox.
    pub(super) fn send_mail(&mut self, id: ConnId, mail_id: i64, frame: Frame) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        let number = match conn.handle.send_numbered(frame) {
            Ok(number) => number,
            Err(_) => return false,
        };
        Metrics::inc(&self.metrics.deliveries);
        if let Some(session) = conn.session.as_mut().filter(|s| !s.acks) {
            session.unconfirmed.push_back((number, mail_id));
        }
        true
    }

    /// Mail written to the socket of connection `id` (which does not acknowledge) counts as
    /// received: it goes from the mailbox. Mail still queued stays, and is sent again after
    /// the next hello if the connection ends first.
    pub(super) fn settle_mail(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let flushed = conn.handle.flushed();
        let Some(session) = conn.session.as_mut() else {
            return;
        };
        let mut ids = Vec::new();
        while let Some(&(number, mail_id)) = session.unconfirmed.front()
            && number <= flushed
        {
            session.unconfirmed.pop_front();
            ids.push(mail_id);
        }
        if ids.is_empty() {
            return;
        }
        let user_key = session.key.clone();
        // Never refused but when the relay is stopping, and then the mail is simply
        // delivered again after the next hello.
        if self
            .submit(Job::Received {
                user_key: user_key.clone(),
                ids: ids.clone(),
            })
            .is_ok()
        {
            self.removals.received(&user_key, &ids);
        }
    }

    /// Every member that does not have it yet (see `Member::seen`), the sender included.
    fn fan_out_room(&mut self, msg: shared::ChatMessage) {
        let Target::Room { room } = &msg.target else {
            return;
        };
        let seq = msg.seq;
        let Some(entry) = self.rooms.get_mut(room) else {
            return; // everybody left meanwhile; it is stored
        };
        let frame = encode(&ServerMsg::Message(msg));
        for m in entry.members.values_mut() {
            if let Some(held) = &mut m.catching_up {
                hold(&self.metrics, &m.handle, held, (Some(seq), frame.clone()));
            } else if m.seen < seq {
                m.seen = seq;
                deliver(&self.metrics, &m.handle, frame.clone());
            }
        }
    }

    /// The sender's copy (the acknowledgement) to every connection of whoever holds the
    /// sender's name now, and the recipient's to every connection of theirs (the same copy
    /// for a note to self). The message stays in the recipient's mailbox until it is
    /// received: acknowledged, or written to the socket of a client that does not
    /// acknowledge.
    fn fan_out_direct(
        &mut self,
        from_key: &str,
        to_key: &str,
        mail_id: i64,
        msg: shared::ChatMessage,
    ) {
        let seq = msg.seq;
        let frame = encode(&ServerMsg::Message(msg));
        if from_key != to_key {
            for conn in self.online.get(from_key).cloned().unwrap_or_default() {
                self.send_frame(conn, frame.clone());
            }
        }
        // Offline here: it waits in the mailbox.
        for conn in self.online.get(to_key).cloned().unwrap_or_default() {
            self.mail_to(conn, from_key, (mail_id, seq), frame.clone());
        }
    }

    /// A private message from `from_key` for connection `conn`, one of its recipient's:
    /// held while its mailbox is read, dropped if the mailbox had it, else sent.
    fn mail_to(&mut self, conn: ConnId, from_key: &str, (mail_id, seq): (i64, u64), frame: Frame) {
        self.settle_mail(conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(session) = c.session.as_mut() else {
            return;
        };
        if let Some(held) = &mut session.mail_pending {
            let live = LiveMail {
                from_key: from_key.to_owned(),
                seq,
                mail_id: Some(mail_id),
                frame,
            };
            hold(&self.metrics, &c.handle, held, live);
            return; // it goes after the mailbox (`mail_read`)
        }
        if session.replayed.get(from_key).is_some_and(|&s| s >= seq) {
            return; // it went out after the welcome already
        }
        self.send_mail(conn, mail_id, frame);
    }
}
