//! The feed: every message stored in a room or private conversation this relay has someone
//! in, whichever relay stored it, down the sink in seq order, with no gap and no repeat.
//!
//! `store.lua` publishes each message it stores: a room's on `room:ROOM`, a private one on
//! `user:SENDER` and `user:RECIPIENT`. The feed holds one pub/sub connection, subscribed to the
//! rooms that have members here and the users that have sessions here ([`Feed::follow`],
//! [`Feed::unfollow`]), and sends on what comes. Pub/sub is at-most-once, so:
//!
//! - For each followed room it keeps the last seq sent on. A message past the next one means
//!   some were lost: they are read from the room's log and sent first. An older one, or one
//!   already sent, is dropped.
//! - Following a room subscribes first and then reads the room's last seq: a join's page,
//!   read after [`Feed::follow`] returns, holds everything before what pub/sub brings.
//! - When the connection drops, the feed connects again, subscribes again, and fills every
//!   room's gap from its log; a user's private messages missed meanwhile are in their
//!   mailbox, which is read and sent on (the hub sends a session nothing it has had). A
//!   room's changes (edits, deletions, reactions) missed meanwhile are read after the last
//!   revision sent on, as `changes` reads them; a private conversation's are not (its people
//!   catch up with `changes` when they connect again).
//! - A private message comes twice when both its users are here (their two channels); each
//!   pair's last seq sent on drops the second copy.
//!
//! The feed never waits on the hub: it hands batches to the sink, like the committer. This
//! file is the connection, its subscriptions and the ordered cluster writes; `deliver.rs` is
//! what a publication becomes.

mod deliver;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ::redis::aio::PubSubSink;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{RedisLog, RedisLogError};
use crate::engine::{Claim, Claimed, Committed, Entered, PersonNews, Sink, Topic};

/// Most `typing` frames waiting to be published.
const TYPING_QUEUE: usize = 256;

/// Publishes `typing` frames from this relay (`NODE FRAME` on the topic's channel) until the
/// feed is dropped.
async fn publish_typing(log: RedisLog, node: String, mut typed: mpsc::Receiver<(Topic, String)>) {
    while let Some((topic, frame)) = typed.recv().await {
        let published: Result<i64, _> = ::redis::cmd("PUBLISH")
            .arg(log.keys.channel(&topic))
            .arg(format!("t {node} {frame}"))
            .query_async(&mut log.conn.clone())
            .await;
        if let Err(e) = published {
            tracing::debug!("cannot publish a typing frame: {e}");
        }
    }
}

/// Most leaves kept to be told to Redis again (each is a room and a user key).
const MAX_EXITS: usize = 65_536;

/// How often the feed checks that its pub/sub connection answers.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long the feed waits between attempts to connect, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The handle on the feed's task.
#[derive(Clone)]
pub(super) struct Feed {
    orders: mpsc::UnboundedSender<Order>,
    /// `typing` frames to publish: apart from the orders, and dropped when too many wait
    /// (Redis slow or gone), since nothing is lost by missing one.
    typing: mpsc::Sender<(Topic, String)>,
}

type Reply<T> = oneshot::Sender<Result<T, RedisLogError>>;

/// What the feed is asked to do, in order: a session's claim and its rooms go through it too,
/// so that they reach Redis in the order made (its release goes after its messages, through
/// the committer).
enum Order {
    Follow(Topic, Reply<()>),
    Unfollow(Topic),
    Claim(Claim, Reply<Claimed>),
    Enter {
        room: String,
        member: (String, String, u64),
        most: usize,
        reply: Reply<Option<Entered>>,
    },
    Exit {
        room: String,
        key: String,
    },
    /// Tell the other relays with connections of person `key` (its session's `generation`)
    /// what one here did (`KIND NODE/GEN BODY` on the user's channel, see `deliver.rs`).
    Tell {
        key: String,
        generation: u64,
        news: PersonNews,
    },
    /// Send on what has come, and end.
    Stop(oneshot::Sender<()>),
}

impl Feed {
    /// Starts the feed's task for relay `node` on the current runtime.
    pub(super) fn start(log: RedisLog, sink: Sink, node: String) -> Self {
        let (orders, rx) = mpsc::unbounded_channel();
        let (typing, typed) = mpsc::channel(TYPING_QUEUE);
        tokio::spawn(publish_typing(log.clone(), node.clone(), typed));
        let task = Following {
            log,
            sink,
            node,
            rooms: HashMap::new(),
            room_revs: HashMap::new(),
            users: HashSet::new(),
            pairs: HashMap::new(),
            revs: HashMap::new(),
            exits: HashSet::new(),
        };
        tokio::spawn(task.run(rx));
        Self { orders, typing }
    }

    /// Subscribes to `topic`, if it is not already; returns once what is stored there from now
    /// on is sure to come down the sink.
    ///
    /// # Errors
    /// Redis could not be reached: nothing is followed.
    pub(super) async fn follow(&self, topic: Topic) -> Result<(), RedisLogError> {
        self.ask(|reply| Order::Follow(topic, reply)).await
    }

    /// Unsubscribes from `topic`.
    pub(super) fn unfollow(&self, topic: Topic) {
        let _ = self.orders.send(Order::Unfollow(topic));
    }

    /// Asks for something and awaits the answer.
    async fn ask<T>(&self, order: impl FnOnce(Reply<T>) -> Order) -> Result<T, RedisLogError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || RedisLogError::PubSub("the relay is stopping");
        self.orders.send(order(tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Claims a name for this relay (`cluster.lua`).
    pub(super) async fn claim(&self, claim: Claim) -> Result<Claimed, RedisLogError> {
        self.ask(|reply| Order::Claim(claim, reply)).await
    }

    /// Enters a session of this relay in `room`; the room's members.
    pub(super) async fn enter(
        &self,
        room: String,
        member: (String, String, u64),
        most: usize,
    ) -> Result<Option<Entered>, RedisLogError> {
        self.ask(|reply| Order::Enter {
            room,
            member,
            most,
            reply,
        })
        .await
    }

    /// Tells `topic`'s other relays that someone here is typing.
    pub(super) fn typing(&self, topic: Topic, frame: String) {
        let _ = self.typing.try_send((topic, frame));
    }

    /// Takes a session of this relay out of `room`.
    pub(super) fn exit(&self, room: String, key: String) {
        let _ = self.orders.send(Order::Exit { room, key });
    }

    /// Tells the person `key`'s other relays what a connection of theirs here did, in order
    /// with this relay's enters and exits.
    pub(super) fn tell(&self, key: String, generation: u64, news: PersonNews) {
        let _ = self.orders.send(Order::Tell {
            key,
            generation,
            news,
        });
    }

    /// Sends on everything published before now, then ends the task.
    pub(super) async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.orders.send(Order::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The feed's task and what it follows.
struct Following {
    log: RedisLog,
    sink: Sink,
    /// This relay's node id: its channel, and its own presence events, which it skips.
    node: String,
    /// Followed room → the last seq sent on.
    rooms: HashMap<String, u64>,
    /// Followed room → the last revision sent on (its changes: edits, deletions, reactions).
    room_revs: HashMap<String, u64>,
    /// Followed users' name keys.
    users: HashSet<String>,
    /// A pair of name keys (in order) → the last seq of theirs sent on, for pairs with a
    /// followed user.
    pairs: HashMap<(String, String), u64>,
    /// Each pair's last revision sent on (a change comes on both users' channels).
    revs: HashMap<(String, String), u64>,
    /// Members who left a room here while Redis did not answer, as (room, user key): tried
    /// again every second, so that nobody stays listed in a room they left.
    exits: HashSet<(String, String)>,
}

impl Following {
    async fn run(mut self, mut orders: mpsc::UnboundedReceiver<Order>) {
        let mut backoff = Duration::from_millis(50);
        let mut lost_since: Option<Instant> = None;
        loop {
            let connected = match self.log.pubsub().await {
                Ok(pubsub) => {
                    let (mut sub, stream) = pubsub.split();
                    match self.resubscribe(&mut sub).await {
                        Ok(()) => Some((sub, stream)),
                        Err(e) => {
                            tracing::debug!("cannot subscribe again: {e}");
                            None
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!("cannot open Redis's pub/sub: {e}");
                    None
                }
            };
            let Some((mut sub, mut stream)) = connected else {
                // Orders are answered meanwhile: a follow fails at once.
                let wait = tokio::time::sleep(backoff);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        order = orders.recv() => match order {
                            None => return,
                            Some(Order::Unfollow(topic)) => {
                                self.forget(&topic);
                            }
                            Some(Order::Stop(done)) => {
                                let _ = done.send(());
                                return;
                            }
                            // Not pub/sub: tried all the same.
                            Some(order) => self.write(order).await,
                        },
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            };
            backoff = Duration::from_millis(50);
            if let Some(since) = lost_since.take() {
                tracing::info!(
                    after_ms = since.elapsed().as_millis() as u64,
                    "Redis's pub/sub is back; filling what was missed from the logs"
                );
                self.catch_up().await;
            }
            // A connection that died quietly (Redis killed, the network gone) is found by a
            // PING every second.
            let mut check = tokio::time::interval(CHECK_EVERY);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = check.tick() => {
                        if let Err(e) = self.log.in_time(sub.ping::<::redis::Value>()).await {
                            tracing::warn!("Redis's pub/sub does not answer: {e}");
                            break;
                        }
                        self.exit_again().await;
                    }
                    order = orders.recv() => match order {
                        None => return,
                        Some(Order::Stop(done)) => {
                            self.drain(&mut sub, &mut stream).await;
                            let _ = done.send(());
                            return;
                        }
                        Some(order) => {
                            if let Err(e) = self.obey(&mut sub, order).await {
                                tracing::warn!("Redis's pub/sub failed: {e}");
                                break;
                            }
                        }
                    },
                    msg = stream.next() => match msg {
                        Some(msg) => {
                            if let Err(e) = self.on_message(&msg).await {
                                tracing::warn!("cannot fill a room's gap from its log: {e}");
                                break;
                            }
                        }
                        None => break,
                    },
                }
            }
            tracing::warn!("lost Redis's pub/sub; connecting again");
            lost_since = Some(Instant::now());
        }
    }

    /// Subscribes a new connection to everything followed.
    async fn resubscribe(&self, sub: &mut PubSubSink) -> Result<(), RedisLogError> {
        let keys = &self.log.keys;
        let always = [keys.node_channel(&self.node), keys.user_changes()];
        let channels: Vec<String> = (self.rooms.keys().map(|r| keys.room_channel(r)))
            .chain(self.users.iter().map(|u| keys.user_channel(u)))
            .chain(always)
            .collect();
        self.log.in_time(sub.subscribe(channels)).await?;
        Ok(())
    }

    /// Carries out an order. An error means the pub/sub connection failed.
    async fn obey(&mut self, sub: &mut PubSubSink, order: Order) -> Result<(), RedisLogError> {
        match order {
            Order::Follow(topic, reply) => {
                let followed = self.follow(sub, &topic).await;
                let failed = followed.is_err();
                let _ = reply.send(followed);
                if failed {
                    return Err(RedisLogError::PubSub("a subscription failed"));
                }
            }
            Order::Unfollow(topic) => {
                if self.forget(&topic) {
                    let channel = self.log.keys.channel(&topic);
                    self.log.in_time(sub.unsubscribe(channel)).await?;
                }
            }
            order => self.write(order).await,
        }
        Ok(())
    }

    /// The cluster's writes for this relay's sessions (`cluster.rs`).
    async fn write(&mut self, order: Order) {
        let node = self.node.as_str();
        match order {
            Order::Claim(claim, reply) => {
                let _ = reply.send(self.log.claim(node, &claim).await);
            }
            Order::Enter {
                room,
                member: (key, name, generation),
                most,
                reply,
            } => {
                // Back in the room: a leave still to be told is moot.
                self.exits.remove(&(room.clone(), key.clone()));
                let entered = self
                    .log
                    .enter(node, &room, (&key, &name, generation), most)
                    .await;
                let _ = reply.send(entered);
            }
            Order::Exit { room, key } => {
                if let Err(e) = self.log.exit(node, &room, &key).await {
                    tracing::warn!(%room, %key, "cannot take a member out of a room in Redis (trying again): {e}");
                    if self.exits.len() < MAX_EXITS {
                        self.exits.insert((room, key));
                    }
                }
            }
            Order::Tell {
                key,
                generation,
                news,
            } => {
                let (kind, body) = match news {
                    PersonNews::Joined(room) => ('j', room),
                    PersonNews::Left(room) => ('l', room),
                    PersonNews::Read(frame) => ('r', frame),
                };
                let published: Result<i64, _> = ::redis::cmd("PUBLISH")
                    .arg(self.log.keys.user_channel(&key))
                    .arg(format!("{kind} {node}/{generation} {body}"))
                    .query_async(&mut self.log.conn.clone())
                    .await;
                if let Err(e) = published {
                    tracing::warn!(%key, "cannot tell a person's other relays: {e}");
                }
            }
            Order::Follow(_, reply) => {
                let _ = reply.send(Err(RedisLogError::PubSub("cannot be reached")));
            }
            Order::Unfollow(topic) => {
                self.forget(&topic);
            }
            Order::Stop(done) => {
                let _ = done.send(());
            }
        }
    }

    async fn follow(&mut self, sub: &mut PubSubSink, topic: &Topic) -> Result<(), RedisLogError> {
        let followed = match topic {
            Topic::Room(room) => self.rooms.contains_key(room),
            Topic::User(user) => self.users.contains(user),
        };
        if followed {
            return Ok(());
        }
        self.log
            .in_time(sub.subscribe(self.log.keys.channel(topic)))
            .await?;
        match topic {
            Topic::Room(room) => {
                // Read after subscribing: anything later comes by pub/sub.
                let (last, rev) = self.log.room_last(room).await?;
                self.rooms.insert(room.clone(), last);
                self.room_revs.insert(room.clone(), rev);
            }
            Topic::User(user) => {
                self.users.insert(user.clone());
            }
        }
        Ok(())
    }

    /// Tries again the leaves Redis did not take.
    async fn exit_again(&mut self) {
        for (room, key) in std::mem::take(&mut self.exits) {
            self.write(Order::Exit { room, key }).await;
        }
    }

    /// Stops following `topic`; whether it was followed.
    fn forget(&mut self, topic: &Topic) -> bool {
        match topic {
            Topic::Room(room) => {
                self.room_revs.remove(room);
                self.rooms.remove(room).is_some()
            }
            Topic::User(user) => {
                let was = self.users.remove(user);
                let users = &self.users;
                self.pairs
                    .retain(|(a, b), _| users.contains(a) || users.contains(b));
                self.revs
                    .retain(|(a, b), _| users.contains(a) || users.contains(b));
                was
            }
        }
    }

    /// At shutdown: what was published before now (a `PING` on the connection comes back after
    /// it) is sent on.
    async fn drain(&mut self, sub: &mut PubSubSink, stream: &mut ::redis::aio::PubSubStream) {
        if let Err(e) = self.log.in_time(sub.ping::<::redis::Value>()).await {
            tracing::debug!("no answer to a last PING on pub/sub: {e}");
            return;
        }
        while let Some(Some(msg)) = futures_util::FutureExt::now_or_never(stream.next()) {
            if let Err(e) = self.on_message(&msg).await {
                tracing::warn!("cannot fill a room's gap at shutdown: {e}");
                return;
            }
        }
    }

    /// Hands a batch to the sink, waiting while the fan-out is behind.
    async fn send(&self, batch: Vec<Committed>) {
        super::send_down(&self.sink, batch).await;
    }
}
