//! A frame's way through the hub: [`Hub::handle`] parses a text frame, counts it against the
//! connection's rate, checks its `cid` and dispatches it; [`Hub::finish`] carries out what a
//! frame's slow work ([`Slow`], off the lock) brought back; and the answers to frames refused
//! before any handler sees them (`rate_limited`, `refuse`).

use shared::{ClientFrame, ClientMsg, ErrorCode, ServerMsg, validate};

use super::output::encode;
use super::slow::{Outcome, ToRecipient};
use super::{Done, Hub, Slow, refuse, session};
use crate::metrics::Metrics;
use crate::outbox::{ConnHandle, ConnId};
use crate::passwords::Busy;
use crate::throttle::FrameLimiter;

impl Hub {
    /// One text frame from connection `id`: parsed, counted against the connection's rate
    /// `limiter` (over it, the frame is dropped and answered with `rate_limited`), checked and
    /// carried out. Answers (and errors) are queued on the connection itself.
    ///
    /// A frame that needs a password hashed or checked returns that work as [`Slow`]: the
    /// connection does it with [`Hub::work_out`] and hands the result to [`Hub::finish`].
    #[must_use]
    pub fn handle(
        &self,
        handle: &ConnHandle,
        text: &str,
        limiter: &mut FrameLimiter,
    ) -> Option<Slow> {
        let id = handle.id;
        Metrics::inc(&self.metrics.frames_received);
        let parsed = ClientFrame::parse(text);
        let typing = matches!(&parsed, Ok(f) if matches!(f.msg, ClientMsg::Typing { .. }));
        if !limiter.admit(typing) {
            let cid = match parsed {
                Ok(frame) => frame.cid,
                Err(e) => e.cid,
            };
            self.rate_limited(handle, cid);
            return None;
        }
        let frame = match parsed {
            Ok(frame) => frame,
            Err(e) => {
                let message = format!("not a Courier frame: {e}");
                self.lock().error(id, ErrorCode::BadRequest, message, e.cid);
                return None;
            }
        };
        let now = (self.clock)();
        let mut state = self.lock();
        if let Some(cid) = &frame.cid
            && !validate::cid(cid)
        {
            let message = "a cid has at most 64 characters";
            state.error(id, ErrorCode::BadRequest, message.into(), frame.cid);
            return None;
        }
        if let Err(refusal) = state.dispatch(id, frame.msg, frame.cid.clone(), now) {
            state.error(id, refusal.code, refusal.message, frame.cid);
            return None;
        }
        state.slow.take().map(|slow| Slow {
            cid: frame.cid,
            addr: handle.addr,
            ..slow
        })
    }

    /// Ends a frame whose slow work is done. It may leave more (a hello's mailbox to read).
    #[must_use]
    pub fn finish(&self, handle: &ConnHandle, done: Done) -> Option<Slow> {
        let id = handle.id;
        let now = (self.clock)();
        let mut state = self.lock();
        let result = match done.outcome {
            Outcome::Verified { hello, fits: true } => {
                state
                    .attempts
                    .succeeded(&validate::name_key(hello.name.trim()));
                state.hello(id, hello, now)
            }
            Outcome::Verified { hello, fits: false } => {
                tracing::info!(conn = id, name = %hello.name, "wrong password for a protected name");
                state
                    .attempts
                    .failed(&validate::name_key(hello.name.trim()), now);
                refuse(
                    ErrorCode::PasswordRequired,
                    session::password_required(hello.name.trim()),
                )
            }
            Outcome::Hashed(Ok(hash)) => state.protected(id, hash, now),
            Outcome::Hashed(Err(e)) => {
                tracing::error!("cannot hash a password: {e}");
                refuse(ErrorCode::Internal, "the relay could not protect the name")
            }
            Outcome::Busy(busy) => {
                let message = match busy {
                    Busy::Address => "a password from this address is being checked already",
                    Busy::Full => "the relay is checking too many passwords",
                    Busy::Stopped => "the relay is stopping",
                };
                state.too_many(format!(
                    "{message}: this frame was dropped; try again shortly"
                ))
            }
            Outcome::Claimed {
                hello,
                claim: (token, key),
                claimed,
            } => state.claimed(id, hello, (token, key), claimed, now),
            Outcome::Joined {
                room,
                key,
                again,
                page,
                members,
                siblings,
            } => {
                let done = state.joined(id, (room.clone(), again), page, members, &siblings);
                state.join_settled(&room, &key, done.is_ok() && !again);
                done
            }
            Outcome::Recipient { to, then, user } => {
                match user {
                    Ok(Some(user)) => state.user_changed(user.key.clone(), Some(user)),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("cannot look a user up: {e}"),
                }
                let cid = done.cid.clone();
                match then {
                    ToRecipient::Dm { text, mid, reply } => {
                        state.dm(id, &to, text, (cid, mid, reply), (now, true))
                    }
                    ToRecipient::Change { seq, change } => {
                        state.change(id, (None, Some(to)), (seq, change), (cid, true))
                    }
                }
            }
            Outcome::Rooms(rooms) => state.send_rooms(id, rooms),
            Outcome::Online(online) => state.send_online(id, online),
            Outcome::History { conversation, page } => state.send_history(id, conversation, page),
            Outcome::Found { q, found } => state.found(id, q, found),
            Outcome::Changes { conversation, page } => state.send_changes(id, conversation, page),
            Outcome::Mailbox { key, mail, joined } => {
                // An attached connection's rooms first (a failed one is told, and left).
                for (room, page, members) in joined {
                    let done = state.joined(id, (room.clone(), false), page, members, &[]);
                    if let Err(refusal) = done {
                        state.error(id, refusal.code, refusal.message, None);
                    }
                    state.join_settled(&room, &key, false);
                }
                state.mail_read(id, &key, mail)
            }
        };
        if let Err(refusal) = result {
            state.error(id, refusal.code, refusal.message, done.cid.clone());
            return None;
        }
        state.slow.take().map(|slow| Slow {
            cid: done.cid,
            addr: handle.addr,
            ..slow
        })
    }

    /// Answers a frame dropped for going over the connection's rate. Straight onto the
    /// connection's own queue, without the hub's lock: a flood costs the flooder, and does not
    /// contend with everybody else's messages for the lock.
    pub fn rate_limited(&self, handle: &ConnHandle, cid: Option<String>) {
        Metrics::inc(&self.metrics.rate_limited);
        Metrics::inc(&self.metrics.errors_sent);
        let message = "too many frames: this one was dropped; slow down";
        let _ = handle.send(encode(&ServerMsg::error(
            ErrorCode::RateLimited,
            message,
            cid,
        )));
    }

    /// Answers a frame the relay does not take (a binary frame) with an error.
    pub fn refuse(&self, id: ConnId, code: ErrorCode, message: &str) {
        self.lock().error(id, code, message.into(), None);
    }
}
