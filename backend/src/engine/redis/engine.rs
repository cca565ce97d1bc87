//! The Redis engine (`--redis URL`): the hub's [`Engine`] over the [`RedisLog`].
//!
//! One task (the committer, `committer.rs`) takes the submitted jobs, a batch at a time, and
//! runs each against Redis in the order submitted, one after the other. A job whose command
//! fails (Redis gone, or not answering within the response timeout) is not resent: a message
//! comes back to its sender as `internal`, and the client sends it again with the same `mid`.
//!
//! A stored message is not sent on by the committer: `store.lua` publishes it, and the feed
//! (`feed/`) sends on what is published in the rooms and conversations this relay has
//! someone in, whichever relay stored it. The committer sends down the sink only what
//! concerns its own sender: a repeat, a full mailbox, a failure, and acks done.

use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::committer::{Committer, Work};
use super::feed::Feed;
use super::{Node, RedisLog, RedisLogConfig, RedisLogError};
use crate::engine::{
    Backlog, Busy, Claim, Claimed, Closed, Engine, EngineLimits, Entered, Job, Mail, NodeView,
    Page, ReadError, Reading, Reads, Scope, Sink, Topic, User,
};
use crate::metrics::Metrics;
use crate::store::OutsideUsers;
use shared::ChatMessage;

/// The Redis engine. See the module's doc.
pub struct RedisEngine {
    reads: Arc<RedisReads>,
    feed: Feed,
    jobs: Option<UnboundedSender<Work>>,
    backlog: Arc<Backlog>,
    users: Vec<User>,
    done: Option<std::sync::mpsc::Receiver<()>>,
    /// Passwords set by `courier passwd`, which writes the SQLite file.
    outside: OutsideUsers,
    /// This relay's node id.
    node: String,
    /// Why Redis cannot be used now, and how many relays there are (`node.rs` looks every
    /// second).
    seen: super::node::Seen,
}

/// The engine's reads: the log, shared with the committer, and the feed to follow.
struct RedisReads {
    log: RedisLog,
    feed: Feed,
}

impl RedisEngine {
    /// Connects to Redis, joins the cluster (`node.rs`), says loudly if Redis's persistence
    /// settings can lose an acknowledged message, reads the known users, and starts the
    /// committer and the feed on the current runtime.
    ///
    /// # Errors
    /// Redis cannot be reached or did not answer.
    pub async fn start(
        config: RedisLogConfig,
        outside: OutsideUsers,
        limits: EngineLimits,
        metrics: Arc<Metrics>,
        sink: Sink,
    ) -> Result<Self, RedisLogError> {
        let url = config.url.clone();
        let log = RedisLog::connect(config).await?;
        let node = Node::join(&log, sink.clone()).await?;
        let durability = log.durability().await?;
        match durability.warning() {
            Some(warning) => tracing::warn!("{warning}"),
            None => tracing::info!(%url, "Redis fsyncs every write before it is acknowledged"),
        }
        let users = log.users().await?;
        let (tx, rx) = unbounded_channel();
        let (done_tx, done) = std::sync::mpsc::channel();
        let backlog = Arc::new(Backlog::new(limits.queue_messages, limits.queue_bytes));
        let feed = Feed::start(log.clone(), sink.clone(), node.id().to_owned());
        let committer = Committer::new(
            log.clone(),
            backlog.clone(),
            metrics,
            sink,
            node.id().to_owned(),
        );
        let pruning = (log.config.max_age_ms > 0).then(|| {
            tokio::spawn(super::retain::keep_pruning(
                log.clone(),
                log.config.max_age_ms,
            ))
        });
        let stopping = feed.clone();
        let (id, seen) = (node.id().to_owned(), node.seen());
        tokio::spawn(async move {
            committer.run(rx).await;
            if let Some(pruning) = pruning {
                pruning.abort();
            }
            // What this relay stored last comes back by pub/sub before the feed ends.
            stopping.stop().await;
            node.release().await;
            let _ = done_tx.send(());
        });
        Ok(Self {
            reads: Arc::new(RedisReads {
                log,
                feed: feed.clone(),
            }),
            feed,
            jobs: Some(tx),
            backlog,
            users,
            done: Some(done),
            outside,
            node: id,
            seen,
        })
    }
}

impl Engine for RedisEngine {
    fn take_users(&mut self) -> Vec<User> {
        std::mem::take(&mut self.users)
    }

    fn submit(&self, job: Job) -> Result<(), Busy> {
        let Some(jobs) = &self.jobs else {
            return Err(Busy::Stopped);
        };
        self.backlog.admit(&job)?;
        jobs.send(Work::Job(Box::new(job)))
            .map_err(|_| Busy::Stopped)
    }

    fn reads(&self) -> Arc<dyn Reads> {
        self.reads.clone()
    }

    fn user(&mut self, key: &str) -> Result<Option<User>, ReadError> {
        // Only what `courier passwd` set matters here (`hub/ops.rs`), and it sets the file.
        self.outside.user(key)
    }

    fn unfollow(&self, topic: Topic) {
        self.feed.unfollow(topic);
    }

    fn clustered(&self) -> bool {
        true
    }

    fn trouble(&self) -> Option<String> {
        super::node::sight(&self.seen, |s| s.trouble.clone())
    }

    fn node(&self) -> Option<NodeView> {
        super::node::sight(&self.seen, |s| {
            Some(NodeView {
                node: self.node.clone(),
                relays: s.relays,
                redis_up: s.trouble.is_none(),
            })
        })
    }

    fn release(&self, key: &str, holder: &str) {
        if let Some(jobs) = &self.jobs {
            let (key, holder) = (key.to_owned(), holder.to_owned());
            let _ = jobs.send(Work::Release { key, holder });
        }
    }

    fn typing(&self, topic: Topic, frame: String) {
        self.feed.typing(topic, frame);
    }

    fn exit(&self, room: &str, key: &str) {
        self.feed.exit(room.to_owned(), key.to_owned());
    }

    fn tell_person(&self, key: &str, generation: u64, news: crate::engine::PersonNews) {
        self.feed.tell(key.to_owned(), generation, news);
    }

    fn close(&mut self) -> Closed {
        self.jobs = None;
        match self.done.take() {
            Some(done) => Closed::signal(done),
            None => Closed::thread(None),
        }
    }
}

impl Reads for RedisReads {
    fn room_page<'a>(
        &'a self,
        room: &'a str,
        after: u64,
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Reading<'a, Page> {
        Box::pin(async move {
            (self.log.room_page(room, after, before, bounds).await).map_err(ReadError::from)
        })
    }

    fn direct_page<'a>(
        &'a self,
        (low, high): (&'a str, &'a str),
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Reading<'a, Page> {
        Box::pin(async move {
            (self.log.direct_page((low, high), 0, before, bounds).await).map_err(ReadError::from)
        })
    }

    fn search<'a>(&'a self, scope: &'a Scope, query: &'a str) -> Reading<'a, Vec<ChatMessage>> {
        Box::pin(async move { Ok(self.log.search(scope, query).await?) })
    }

    fn follow(&self, topic: Topic) -> Reading<'_, ()> {
        Box::pin(async move { Ok(self.feed.follow(topic).await?) })
    }

    fn claim(&self, claim: Claim) -> Reading<'_, Claimed> {
        Box::pin(async move { Ok(self.feed.claim(claim).await?) })
    }

    fn enter<'a>(
        &'a self,
        room: &'a str,
        (key, name, generation): (&'a str, &'a str, u64),
        most: usize,
    ) -> Reading<'a, Option<Entered>> {
        let member = (key.to_owned(), name.to_owned(), generation);
        Box::pin(async move { Ok(self.feed.enter(room.to_owned(), member, most).await?) })
    }

    fn known(&self, key: &str) -> Reading<'_, Option<User>> {
        let key = key.to_owned();
        Box::pin(async move { Ok(self.log.user(&key).await?) })
    }

    fn rooms(&self) -> Reading<'_, Vec<(String, usize)>> {
        Box::pin(async move { Ok(self.log.rooms().await?) })
    }

    fn online(&self) -> Reading<'_, Vec<String>> {
        Box::pin(async move { Ok(self.log.online().await?) })
    }

    fn changes<'a>(
        &'a self,
        _place: &'a crate::engine::Place,
        _rev: u64,
        _limit: usize,
    ) -> Reading<'a, Page> {
        Box::pin(async move { Ok(self.log.changes(_place, _rev, _limit).await?) })
    }

    fn mailbox<'a>(&'a self, key: &'a str) -> Reading<'a, Vec<Mail>> {
        Box::pin(async move {
            let mail = self.log.mailbox(key).await?;
            Ok(mail
                .into_iter()
                .map(|m| Mail {
                    id: i64::try_from(m.id).unwrap_or(i64::MAX),
                    sender_key: m.sender_key,
                    msg: m.msg,
                })
                .collect())
        })
    }
}
