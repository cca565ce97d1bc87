//! Edits, deletions and reactions (the changes extension, docs/PROTOCOL.md): the frames
//! checked and handed to the engine as a `Job::Change`, the `changes` read, and each committed
//! change sent to the conversation's people (`Committed::Changed`, from `fanout.rs`).
//!
//! A change never takes a seq, so the fan-out does not number it: a member still catching up
//! holds it (with no seq) and gets it after its `joined`, a session whose mailbox is being read
//! gets it after the mailbox; a client may see a change its page already had, which carries
//! the same state again.

use std::mem;

use shared::limits::CHANGES_PAGE;
use shared::{ChatMessage, ConversationId, ErrorCode, ServerMsg, validate};

use super::direct::key_of;
use super::fanout::hold;
use super::rooms::check_room;
use super::slow::{SlowTask, ToRecipient};
use super::{Handled, LiveMail, Slow, State, deliver, encode, read_failed, refuse};
use crate::engine::{Change, ChangeJob, Page, Place, ReadError, mail_cost, pair};
use crate::outbox::ConnId;

/// A frame's `room` or `with`: exactly one.
pub(super) type Address = (Option<String>, Option<String>);

impl State {
    /// `edit`, `delete` or `react`: checked here as far as the hub can (the address, the
    /// text, the emoji, membership), decided by the engine in the transaction that stores it.
    pub(super) fn change(
        &mut self,
        id: ConnId,
        address: Address,
        (seq, change): (u64, Change),
        (cid, looked_up): (Option<String>, bool),
    ) -> Handled {
        match &change {
            Change::Edit { text, .. } => super::rooms::check_text(text)?,
            Change::Delete => {}
            Change::React { emoji, .. } => {
                if !validate::emoji(emoji) {
                    return refuse(
                        ErrorCode::BadRequest,
                        format!(
                            "an emoji has 1 to {} bytes, no white space and no control characters",
                            shared::limits::MAX_EMOJI_BYTES
                        ),
                    );
                }
            }
        }
        if !self.engine.keeps_changes() {
            return refuse(
                ErrorCode::Unsupported,
                "this relay's store does not keep changes to messages",
            );
        }
        let place = match address {
            (Some(room), None) => {
                self.member_name(id, &room)?;
                Place::Room(room)
            }
            (None, Some(with)) => {
                // Perhaps only ever on another relay (a reaction to a message they sent).
                let Some(other) = self.recipient_or_look_up(&with, looked_up)? else {
                    self.look_up_then(&with, ToRecipient::Change { seq, change });
                    return Ok(());
                };
                let (low, high) = pair(&self.session(id)?.key, &other.key);
                Place::Pair(low, high)
            }
            _ => return refuse(ErrorCode::BadRequest, "say either a room or a with"),
        };
        let session = self.session(id)?;
        let job = ChangeJob {
            place,
            seq,
            change,
            by_key: session.key.clone(),
            by_name: session.name.clone(),
            cid,
            origin: id,
            generation: session.generation,
        };
        self.submit(crate::engine::Job::Change(job))
    }

    /// `changes`: the messages of a room (joined or not, as for `history`) or of the
    /// requester's own conversation `with` someone, changed after `rev`, read off the lock.
    pub(super) fn changes_after(&mut self, id: ConnId, address: Address, rev: u64) -> Handled {
        let (conversation, place, since) = match address {
            (Some(room), None) => {
                check_room(&room)?;
                (
                    ConversationId::Room { room: room.clone() },
                    Place::Room(room),
                    0,
                )
            }
            (None, Some(with)) => {
                let (low, high) = pair(&self.session(id)?.key, &key_of(&with));
                // A name forgotten and taken again: its earlier holder's messages are not shown.
                let since = [&low, &high]
                    .iter()
                    .filter_map(|key| Some(self.users.get(key.as_str())?.since))
                    .max()
                    .unwrap_or(0);
                (ConversationId::With { with }, Place::Pair(low, high), since)
            }
            _ => {
                return refuse(
                    ErrorCode::BadRequest,
                    "changes needs either a room or a with",
                );
            }
        };
        self.slow = Some(Slow {
            task: SlowTask::Changes {
                conversation,
                place,
                rev,
                since,
            },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    /// Answers a `changes` request with what was read.
    pub(super) fn send_changes(
        &self,
        id: ConnId,
        conversation: ConversationId,
        page: Result<Page, ReadError>,
    ) -> Handled {
        let page = page.map_err(|e| read_failed(&e))?;
        // Bounded in bytes like a history page (a message's text and reactions, at least one
        // message), so that a small request cannot ask for a large answer; the rest is `more`,
        // asked for after the last one's rev.
        let (mut messages, mut bytes) = (Vec::with_capacity(page.messages.len()), 0);
        let mut more = page.more;
        for msg in page.messages {
            let cost = mail_cost(&msg.text)
                + msg
                    .ext
                    .reactions
                    .iter()
                    .map(|r| r.emoji.len() + r.names.iter().map(|n| n.len() + 3).sum::<usize>())
                    .sum::<usize>();
            if !messages.is_empty() && bytes + cost > self.limits.page_bytes {
                more = true;
                break;
            }
            bytes += cost;
            messages.push(msg);
        }
        let changes = ServerMsg::Changes {
            conversation,
            messages,
            more,
        };
        self.send(id, &changes);
        Ok(())
    }

    /// A committed change: `msg`'s new state to every member of its room, or every connection
    /// of both people of its pair; the requester's connection `origin` gets it with `cid`.
    pub(super) fn fan_out_change(
        &mut self,
        place: &Place,
        mut msg: ChatMessage,
        (by_key, origin, cid): (&str, ConnId, Option<String>),
    ) {
        msg.cid = None;
        let frame = encode(&ServerMsg::Changed(msg.clone()));
        let theirs = cid.map(|cid| {
            msg.cid = Some(cid);
            encode(&ServerMsg::Changed(msg))
        });
        let frame_for = |conn: ConnId| match &theirs {
            Some(own) if conn == origin => own.clone(),
            _ => frame.clone(),
        };
        match place {
            Place::Room(room) => {
                let Some(entry) = self.rooms.get_mut(room) else {
                    return; // nobody here
                };
                for (&conn, m) in &mut entry.members {
                    let frame = frame_for(conn);
                    if let Some(held) = &mut m.catching_up {
                        hold(&self.metrics, &m.handle, held, (None, frame));
                    } else {
                        deliver(&self.metrics, &m.handle, frame);
                    }
                }
            }
            Place::Pair(low, high) => {
                let mut conns = self.online.get(low).cloned().unwrap_or_default();
                if high != low {
                    conns.extend(self.online.get(high).cloned().unwrap_or_default());
                }
                for conn in conns {
                    let frame = frame_for(conn);
                    let Some(c) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    match c.session.as_mut().map(|s| &mut s.mail_pending) {
                        Some(Some(held)) => {
                            let live = LiveMail {
                                from_key: by_key.to_owned(),
                                seq: 0,
                                mail_id: None,
                                frame,
                            };
                            hold(&self.metrics, &c.handle, held, live);
                        }
                        _ => deliver(&self.metrics, &c.handle, frame),
                    }
                }
            }
        }
    }
}

/// How many changed messages a `changes` answer holds at most.
pub(super) const PAGE: usize = CHANGES_PAGE;

/// Keeps the messages of a `changes` page sent at or after `since` (ms).
pub(super) fn since(mut page: Page, since: u64) -> Page {
    let messages = mem::take(&mut page.messages);
    page.messages = messages.into_iter().filter(|m| m.ts >= since).collect();
    page
}
