//! Work a frame needs that must not hold the hub's lock: hashing or checking the password of a
//! protected name, and reading from the engine (a `joined`'s history, a `history` page, the
//! mailbox after a `welcome`, a search). [`Hub::handle`] hands it back to the connection as
//! [`Slow`], the connection runs [`Hub::work_out`] without the lock, and [`Hub::finish`]
//! completes the frame (`frame.rs`, which calls the handlers). It calls no handler itself.
//!
//! A connection handles its next frame only once this one is finished, so its frames still
//! take effect in the order sent.

use std::net::IpAddr;

use shared::{ChatMessage, ConversationId};

use super::{Hello, Hub};
use crate::engine::{Change, Claim, Claimed, Mail, Page, ReadError, Scope, Topic, User};
use crate::outbox::ConnId;
use crate::passwords::{self, Busy};

/// Work a frame needs that must not hold the hub's lock: [`Hub::handle`] hands it back to the
/// connection, which does it with [`Hub::work_out`] and ends the frame with [`Hub::finish`].
#[derive(Debug)]
pub struct Slow {
    pub(super) task: SlowTask,
    pub(super) cid: Option<String>,
    /// The client's address, whose share of the hashing threads it takes.
    pub(super) addr: Option<IpAddr>,
}

#[derive(Debug)]
pub(super) enum SlowTask {
    /// Check `password` against `hash`, then carry out the hello if it fits.
    Verify {
        hello: Hello,
        password: String,
        hash: String,
    },
    /// Hash `password` to protect the session's name.
    Hash { password: String },
    /// Claim the name across the cluster, then carry out the hello with what came of it.
    Claim { hello: Hello, claim: Claim },
    /// Read the page of `room` after `after` that a `join` answers with (the member is
    /// catching up meanwhile, see `Member::catching_up`).
    Join {
        read: JoinRead,
        /// The connection was a member already (it joined again).
        again: bool,
        /// The person's other connections here that became members with this join: they get
        /// the same `joined`.
        siblings: Vec<ConnId>,
    },
    /// Look `to` up across the cluster, then carry out the frame addressed to them.
    Recipient { to: String, then: ToRecipient },
    /// The rooms with members across the cluster.
    Rooms,
    /// The names online across the cluster.
    Online,
    /// Read a page of scrollback.
    History {
        conversation: ConversationId,
        place: Place,
        before: Option<u64>,
        bounds: (usize, usize),
        /// Messages older than this (ms) are left out: a forgotten name's earlier holder's.
        since: u64,
    },
    /// Search `scope` for `query` (`q` trimmed), see `search.rs`.
    Search {
        q: String,
        query: String,
        scope: Scope,
    },
    /// Read the messages of a conversation changed after `rev` (`changes`).
    Changes {
        conversation: ConversationId,
        place: crate::engine::Place,
        rev: u64,
        /// As for `History`.
        since: u64,
    },
    /// Follow `key`'s private messages (see `Reads::follow`) and, unless the name is new,
    /// read its mailbox: its session was just welcomed. An attached connection's rooms
    /// (`joins`) are read with it.
    Mailbox {
        key: String,
        read: bool,
        joins: Vec<JoinRead>,
    },
}

/// A frame addressed to a user this relay has not heard of (perhaps new on another relay of
/// the cluster), held while the name is looked up across the cluster.
#[derive(Debug)]
pub(super) enum ToRecipient {
    Dm {
        text: String,
        mid: Option<String>,
        reply: Option<u64>,
    },
    /// `edit`, `delete` or `react` with `with`.
    Change { seq: u64, change: Change },
}

/// What a `joined` is read from: a room's page, and on a cluster the room entered there.
#[derive(Debug)]
pub(super) struct JoinRead {
    pub(super) room: String,
    pub(super) after: u64,
    pub(super) bounds: (usize, usize),
    /// The session, as (key, name, generation): entered in the room across the cluster.
    pub(super) member: (String, String, u64),
    /// Names of the room's members to read across the cluster, at most.
    pub(super) names: usize,
}

/// A room's `joined`, read: the page and, if clustered, the room's count and names.
pub(super) type JoinPage = (
    String,
    Result<Page, ReadError>,
    Option<(usize, Vec<String>)>,
);

/// Which conversation a page is read from.
#[derive(Debug)]
pub(super) enum Place {
    Room(String),
    /// The pair of users, their keys in order.
    Pair(String, String),
}

/// The outcome of a [`Slow`] task.
#[derive(Debug)]
pub struct Done {
    pub(super) outcome: Outcome,
    pub(super) cid: Option<String>,
}

#[derive(Debug)]
pub(super) enum Outcome {
    Verified {
        hello: Hello,
        fits: bool,
    },
    Hashed(Result<String, String>),
    /// The hashing threads refused the work at once (see [`Busy`]).
    Busy(Busy),
    Claimed {
        hello: Hello,
        /// The token the session gets, and the name's key.
        claim: (String, String),
        claimed: Result<Claimed, ReadError>,
    },
    Joined {
        room: String,
        /// The joiner's name key.
        key: String,
        again: bool,
        page: Result<Page, ReadError>,
        /// The room's count and (some of) its members across the cluster, if clustered.
        members: Option<(usize, Vec<String>)>,
        siblings: Vec<ConnId>,
    },
    Recipient {
        to: String,
        then: ToRecipient,
        user: Result<Option<User>, ReadError>,
    },
    Rooms(Result<Vec<(String, usize)>, ReadError>),
    Online(Result<Vec<String>, ReadError>),
    History {
        conversation: ConversationId,
        page: Result<Page, ReadError>,
    },
    Found {
        q: String,
        found: Result<Vec<ChatMessage>, ReadError>,
    },
    Changes {
        conversation: ConversationId,
        page: Result<Page, ReadError>,
    },
    Mailbox {
        key: String,
        mail: Result<Vec<Mail>, ReadError>,
        joined: Vec<JoinPage>,
    },
}

impl Hub {
    /// Does a frame's slow work ([`Slow`]): on the hashing threads, which may refuse it at
    /// once, or a read from the engine.
    pub async fn work_out(&self, slow: Slow) -> Done {
        let Slow { task, cid, addr } = slow;
        let outcome = match task {
            SlowTask::Verify {
                hello,
                password,
                hash,
            } => match self
                .passwords
                .run(addr, move |memory| {
                    passwords::verify(&password, &hash, memory)
                })
                .await
            {
                Ok(fits) => Outcome::Verified { hello, fits },
                Err(busy) => Outcome::Busy(busy),
            },
            SlowTask::Hash { password } => match self
                .passwords
                .run(addr, move |memory| passwords::hash(&password, memory))
                .await
            {
                Ok(hashed) => Outcome::Hashed(hashed),
                Err(busy) => Outcome::Busy(busy),
            },
            SlowTask::Claim { hello, claim } => {
                let (token, key) = (claim.token.clone(), claim.key.clone());
                let claimed = self.reads.claim(claim).await;
                Outcome::Claimed {
                    hello,
                    claim: (token, key),
                    claimed,
                }
            }
            SlowTask::Join {
                read,
                again,
                siblings,
            } => {
                let key = read.member.0.clone();
                let (room, page, members) = self.read_join(read).await;
                Outcome::Joined {
                    room,
                    key,
                    again,
                    page,
                    members,
                    siblings,
                }
            }
            SlowTask::Recipient { to, then } => {
                let key = shared::validate::name_key(to.trim());
                let user = self.reads.known(&key).await;
                Outcome::Recipient { to, then, user }
            }
            SlowTask::Changes {
                conversation,
                place,
                rev,
                since,
            } => {
                let page = self.reads.changes(&place, rev, super::changes::PAGE).await;
                let page = page.map(|page| super::changes::since(page, since));
                Outcome::Changes { conversation, page }
            }
            SlowTask::Rooms => Outcome::Rooms(self.reads.rooms().await),
            SlowTask::Online => Outcome::Online(self.reads.online().await),
            SlowTask::History {
                conversation,
                place,
                before,
                bounds,
                since,
            } => {
                let page = match &place {
                    Place::Room(room) => self.reads.room_page(room, 0, before, bounds).await,
                    Place::Pair(low, high) => {
                        self.reads.direct_page((low, high), before, bounds).await
                    }
                };
                let page = page.map(|mut page| {
                    page.messages.retain(|m| m.ts >= since);
                    page
                });
                Outcome::History { conversation, page }
            }
            SlowTask::Search { q, query, scope } => {
                // Closed never: the semaphore lives as long as the hub.
                let _turn = self.searches.acquire().await;
                let found = self.reads.search(&scope, &query).await;
                Outcome::Found { q, found }
            }
            SlowTask::Mailbox { key, read, joins } => {
                let mail = match self.reads.follow(Topic::User(key.clone())).await {
                    Ok(()) if read => self.reads.mailbox(&key).await,
                    Ok(()) => Ok(Vec::new()),
                    Err(e) => Err(e),
                };
                let mut joined = Vec::with_capacity(joins.len());
                for read in joins {
                    joined.push(self.read_join(read).await);
                }
                Outcome::Mailbox { key, mail, joined }
            }
        };
        Done { outcome, cid }
    }

    /// A join's reads: the room followed, entered across the cluster, and its page.
    pub(super) async fn read_join(&self, read: JoinRead) -> JoinPage {
        let JoinRead {
            room,
            after,
            bounds,
            member: (key, name, generation),
            names,
        } = read;
        let mut members = None;
        let page = match self.reads.follow(Topic::Room(room.clone())).await {
            Ok(()) => match self
                .reads
                .enter(&room, (&key, &name, generation), names)
                .await
            {
                Ok(entered) => {
                    members = entered.map(|e| (e.count, e.names));
                    self.reads.room_page(&room, after, None, bounds).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        (room, page, members)
    }
}
