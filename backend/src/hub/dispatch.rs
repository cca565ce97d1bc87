//! From a typed client frame to its handler: which frames a connection may send in which
//! state, and the checks common to several handlers.

use shared::limits::{HISTORY_LEN, HISTORY_PAGE_MAX};
use shared::{ClientMsg, ErrorCode, validate};

use super::{Handled, Hello, Refusal, State, refuse};
use crate::engine::Change;
use crate::outbox::ConnId;

impl State {
    pub(super) fn dispatch(
        &mut self,
        id: ConnId,
        msg: ClientMsg,
        cid: Option<String>,
        now: u64,
    ) -> Handled {
        // Any frame from a client that does not acknowledge settles what it has been sent.
        self.settle_mail(id);
        let welcomed = self.conns.get(&id).is_some_and(|c| c.session.is_some());
        match msg {
            ClientMsg::Hello {
                name,
                token,
                acks,
                password,
                attach,
            } if !welcomed => self.hello(
                id,
                Hello {
                    name,
                    token,
                    acks,
                    password,
                    proven: false,
                    checked: None,
                    claimed: None,
                    attach,
                },
                now,
            ),
            ClientMsg::Hello { .. } => {
                refuse(ErrorCode::BadRequest, "this connection already said hello")
            }
            // docs/OPS.md: an operator's frame from anyone else gets `forbidden`.
            ClientMsg::Watch
            | ClientMsg::Unwatch
            | ClientMsg::Run { .. }
            | ClientMsg::Cancel { .. }
            | ClientMsg::Runs
            | ClientMsg::Release { .. }
                if !welcomed =>
            {
                refuse(
                    ErrorCode::Forbidden,
                    "only the relay's operators may do this",
                )
            }
            _ if !welcomed => refuse(ErrorCode::NotWelcomed, "say hello first"),
            ClientMsg::Join { room, after } => {
                self.within_room_cap(id, &room)?;
                self.join(id, room, after)
            }
            ClientMsg::Leave { room } => self.leave(id, &room),
            ClientMsg::Say {
                room,
                text,
                mid,
                reply,
            } => self.say(id, room, text, (cid, mid, reply), now),
            ClientMsg::Rooms => self.list_rooms(id),
            ClientMsg::Dm {
                to,
                text,
                mid,
                reply,
            } => self.dm(id, &to, text, (cid, mid, reply), (now, false)),
            ClientMsg::Users => self.list_users(id),
            ClientMsg::Typing {
                room: Some(room),
                to: None,
            } => self.typing_in_room(id, room),
            ClientMsg::Typing {
                room: None,
                to: Some(to),
            } => self.typing_to_user(id, &to),
            ClientMsg::Typing { .. } => {
                refuse(ErrorCode::BadRequest, "typing needs either a room or a to")
            }
            ClientMsg::History {
                room: Some(room),
                with: None,
                before,
                limit,
            } => self.room_history(room, before, page_limit(limit)?),
            ClientMsg::History {
                room: None,
                with: Some(with),
                before,
                limit,
            } => self.direct_history(id, with, before, page_limit(limit)?),
            ClientMsg::History { .. } => refuse(
                ErrorCode::BadRequest,
                "history needs either a room or a with",
            ),
            ClientMsg::Ack { with, seq } => self.ack(id, &with, seq),
            ClientMsg::Protect { password } => self.protect(id, password, now),
            ClientMsg::Read { room, with, seq } => self.read(id, (room, with), seq),
            ClientMsg::Edit {
                room,
                with,
                seq,
                text,
            } => self.change(
                id,
                (room, with),
                (seq, Change::Edit { text, at: now }),
                (cid, false),
            ),
            ClientMsg::Delete { room, with, seq } => {
                self.change(id, (room, with), (seq, Change::Delete), (cid, false))
            }
            ClientMsg::React {
                room,
                with,
                seq,
                emoji,
                remove,
            } => self.change(
                id,
                (room, with),
                (seq, Change::React { emoji, remove }),
                (cid, false),
            ),
            ClientMsg::Changes { room, with, rev } => self.changes_after(id, (room, with), rev),
            ClientMsg::Search { q } => self.search(id, q),
            msg @ (ClientMsg::Watch
            | ClientMsg::Unwatch
            | ClientMsg::Run { .. }
            | ClientMsg::Cancel { .. }
            | ClientMsg::Runs
            | ClientMsg::Release { .. }) => self.ops_frame(id, msg, cid, now),
        }
    }

    /// Refuses a join that would put connection `id` in more than `rooms_per_conn` rooms
    /// (`forbidden`, like the relay's other capacity limits). A join of a room it is in, or
    /// of a name that is not a room (`invalid_room`), is left to `join`.
    fn within_room_cap(&self, id: ConnId, room: &str) -> Handled {
        let session = self.session(id)?;
        let cap = self.limits.rooms_per_conn;
        if session.rooms.len() >= cap
            && !session.rooms.contains(room)
            && validate::room(room).is_ok()
        {
            return refuse(
                ErrorCode::Forbidden,
                format!("a connection may be in at most {cap} rooms: leave one first"),
            );
        }
        Ok(())
    }
}

impl State {
    /// A `say` or `dm` that replies: refused at once where the engine keeps no replies.
    pub(super) fn replies(&self, reply: Option<u64>) -> Handled {
        if reply.is_some() && !self.engine.keeps_changes() {
            return refuse(
                ErrorCode::Unsupported,
                "this relay's store does not keep replies",
            );
        }
        Ok(())
    }
}

/// A `history` request's `limit`: 1 to [`HISTORY_PAGE_MAX`], [`HISTORY_LEN`] if absent.
fn page_limit(limit: Option<usize>) -> Result<usize, Refusal> {
    match limit {
        None => Ok(HISTORY_LEN),
        Some(n) if (1..=HISTORY_PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => refuse(
            ErrorCode::BadRequest,
            format!("a history limit is 1 to {HISTORY_PAGE_MAX}"),
        ),
    }
}
