//! Sending what the store's writer committed: each room message to the room's members, each
//! private message to its sender and its recipient.

use shared::{ErrorCode, ServerMsg, Target};

use super::{Hub, State, encode};
use crate::peer::ConnId;
use crate::store::{Committed, Job};

impl Hub {
    /// A batch the writer has committed, in commit order (so in `seq` order per room and
    /// pair). Called on the writer's thread.
    pub fn committed(&self, batch: Vec<Committed>) {
        let mut state = self.lock();
        let mut received = Vec::new();
        for c in batch {
            match c {
                Committed::Room(msg) => state.fan_out_room(msg),
                Committed::Direct {
                    from_key,
                    to_key,
                    mail_id,
                    msg,
                } => {
                    if state.fan_out_direct(&from_key, &to_key, msg) {
                        received.push(mail_id);
                    }
                }
                Committed::Acked {
                    user_key,
                    peer_key,
                    seq,
                } => {
                    let key = (user_key, peer_key);
                    if state.acks_in_flight.get(&key).is_some_and(|&s| s <= seq) {
                        state.acks_in_flight.remove(&key);
                    }
                }
                Committed::Removed { ids } => {
                    for id in ids {
                        state.received_in_flight.remove(&id);
                    }
                }
                Committed::Failed {
                    from_key,
                    cid,
                    reason,
                } => {
                    if let Some(&conn) = state.online.get(&from_key) {
                        state.error(conn, ErrorCode::Internal, reason, cid);
                    }
                }
            }
        }
        state.mark_received(received);
    }
}

impl State {
    /// Mailbox rows delivered to clients that do not acknowledge: they go from the mailbox.
    pub(super) fn mark_received(&mut self, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        // Never refused but when the relay is stopping, and then the mail is simply
        // delivered again after the next hello.
        if self.submit(Job::Received { ids: ids.clone() }).is_ok() {
            self.received_in_flight.extend(ids);
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
        let mut to = Vec::with_capacity(entry.members.len());
        for m in entry.members.values_mut() {
            if m.seen < seq {
                m.seen = seq;
                to.push(m.peer.clone());
            }
        }
        for peer in &to {
            self.deliver(peer, frame.clone());
        }
    }

    /// The sender's copy (the acknowledgement) to whoever holds the sender's name now, and the
    /// recipient's. True when the recipient has it and does not acknowledge, so its mailbox
    /// row can go.
    fn fan_out_direct(&mut self, from_key: &str, to_key: &str, msg: shared::ChatMessage) -> bool {
        let seq = msg.seq;
        let frame = encode(&ServerMsg::Message(msg));
        let sender: Option<ConnId> = self.online.get(from_key).copied();
        if let Some(conn) = sender {
            self.send_frame(conn, frame.clone());
        }
        let Some(&conn) = self.online.get(to_key) else {
            return false; // offline: it waits in the mailbox
        };
        let Some(session) = self.conns.get(&conn).and_then(|c| c.session.as_ref()) else {
            return false;
        };
        let acks = session.acks;
        let already = session.replayed.get(from_key).is_some_and(|&s| s >= seq);
        if !already && sender != Some(conn) {
            self.send_frame(conn, frame);
        }
        !acks
    }
}
