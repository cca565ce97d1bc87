//! The Redis engine (`--redis URL`): the hub's [`Engine`] over the [`RedisLog`].
//!
//! One task (the committer) takes the submitted jobs, a batch at a time, and runs each against
//! Redis in the order submitted, one after the other, so that the results go down the sink in
//! the order Redis stored them (and so in `seq` order per room and pair). A job whose command
//! fails (Redis gone, or not answering within the response timeout) is not resent: a message
//! comes back to its sender as `internal`, and the client sends it again with the same `mid`.
//!
//! What this engine does not do yet, and a cluster of relays needs: fan-out between relays
//! (this relay sends on what it stored itself), and names, tokens and presence shared across
//! relays (the hub keeps them, as with SQLite). So today it runs one relay on Redis.

use std::sync::Arc;
use std::time::Instant;

use std::sync::mpsc::TrySendError;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{Lease, LeaseError, RedisLog, RedisLogConfig, RedisLogError, Sent};
use crate::engine::{
    Backlog, Busy, Closed, Committed, Engine, EngineLimits, Job, Mail, Page, ReadError, Reading,
    Reads, Sink, User,
};
use crate::metrics::Metrics;
use crate::store::OutsideUsers;

/// Most jobs the committer takes at once.
const MAX_BATCH: usize = 1024;

/// Most messages that timed out kept to be looked up when Redis is back.
const MAX_DOUBTFUL: usize = 16_384;

/// How long the committer waits before trying again to hand a result to a fan-out that is
/// behind.
const SINK_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// The Redis engine. See the module's doc.
pub struct RedisEngine {
    reads: Arc<RedisReads>,
    jobs: Option<UnboundedSender<Job>>,
    backlog: Arc<Backlog>,
    users: Vec<User>,
    done: Option<std::sync::mpsc::Receiver<()>>,
    /// Passwords set by `courier passwd`, which writes the SQLite file.
    outside: OutsideUsers,
}

/// The engine's reads: the log, shared with the committer.
struct RedisReads {
    log: RedisLog,
}

impl RedisEngine {
    /// Connects to Redis, takes this relay's lease on it (one relay per Redis, `lease.rs`),
    /// says loudly if its persistence settings can lose an acknowledged message, reads the
    /// known users and starts the committer on the current runtime.
    ///
    /// # Errors
    /// Redis cannot be reached or did not answer, or another relay is using it.
    pub async fn start(
        config: RedisLogConfig,
        outside: OutsideUsers,
        limits: EngineLimits,
        metrics: Arc<Metrics>,
        sink: Sink,
    ) -> Result<Self, LeaseError> {
        let url = config.url.clone();
        let log = RedisLog::connect(config).await?;
        let lease = Lease::take(&log, format!("courier, process {}", std::process::id())).await?;
        let durability = log.durability().await?;
        match durability.warning() {
            Some(warning) => tracing::warn!("{warning}"),
            None => tracing::info!(%url, "Redis fsyncs every write before it is acknowledged"),
        }
        let users = log.users().await?;
        let (tx, rx) = unbounded_channel();
        let (done_tx, done) = std::sync::mpsc::channel();
        let backlog = Arc::new(Backlog::new(limits.queue_messages, limits.queue_bytes));
        let committer = Committer {
            log: log.clone(),
            backlog: backlog.clone(),
            metrics,
            sink,
            down: false,
            doubtful: Vec::new(),
        };
        tokio::spawn(async move {
            committer.run(rx).await;
            lease.release().await;
            let _ = done_tx.send(());
        });
        Ok(Self {
            reads: Arc::new(RedisReads { log }),
            jobs: Some(tx),
            backlog,
            users,
            done: Some(done),
            outside,
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
        jobs.send(job).map_err(|_| Busy::Stopped)
    }

    fn reads(&self) -> Arc<dyn Reads> {
        self.reads.clone()
    }

    fn user(&mut self, key: &str) -> Result<Option<User>, ReadError> {
        // Only what `courier passwd` set matters here (`hub/ops.rs`), and it sets the file.
        self.outside.user(key)
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

/// The task that runs the jobs against Redis.
struct Committer {
    log: RedisLog,
    backlog: Arc<Backlog>,
    metrics: Arc<Metrics>,
    sink: Sink,
    /// Redis did not answer the last job; jobs are refused until a `PING` is answered.
    down: bool,
    /// Messages that timed out, to look up by `mid` once Redis answers again.
    doubtful: Vec<Job>,
}

/// What a job gets while Redis is down: a message is refused (`internal`); an ack or a
/// removal is told to the hub as done, though it was not (the mail stays, and is delivered
/// again after the next hello: at least once); the rest is dropped, with a warning.
fn refused(job: Job) -> Option<Committed> {
    match job {
        Job::Room { .. } | Job::Direct { .. } => {
            job.failed("the relay cannot store messages right now; it was not sent".into())
        }
        Job::Ack {
            user_key,
            correspondent_key,
            seq,
        } => Some(Committed::Acked {
            user_key,
            correspondent_key,
            seq,
        }),
        Job::Received { user_key, ids } => Some(Committed::Removed { user_key, ids }),
        other => {
            tracing::warn!("Redis is down: dropped {other:?}");
            None
        }
    }
}

impl Committer {
    /// Runs the jobs until the engine is closed and every job taken is done. Each result goes
    /// down the sink as soon as it is known.
    ///
    /// Once Redis fails to answer, the committer counts it as down: later jobs are refused at
    /// once (a message gets `internal`) instead of each waiting out the timeout, until a
    /// `PING` is answered. Then it looks up the messages that timed out, by their `mid`: one
    /// that Redis stored after all is sent on like any other, so that nobody misses its seq.
    async fn run(mut self, mut rx: UnboundedReceiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            if self.down && self.log.ping().await.is_ok() {
                tracing::info!("Redis answers again");
                self.down = false;
                self.recheck().await;
            }
            for job in jobs.drain(..) {
                let weight = Backlog::weigh(std::slice::from_ref(&job));
                let started = Instant::now();
                let committed = if self.down {
                    refused(job)
                } else {
                    self.apply(job).await
                };
                let took = started.elapsed();
                self.metrics.commit_micros.inc_by(took.as_micros() as u64);
                self.metrics.commit_seconds.observe(took.as_secs_f64());
                self.backlog.release(weight);
                if let Some(committed) = committed {
                    self.send(committed).await;
                }
            }
        }
        tracing::debug!("the Redis engine has stored everything it took and stopped");
    }

    /// Sends one result down the sink, waiting while the fan-out is behind.
    async fn send(&self, committed: Committed) {
        if matches!(committed, Committed::Room { .. } | Committed::Direct { .. }) {
            self.metrics.messages_committed.inc();
        }
        let mut batch = vec![committed];
        loop {
            match self.sink.try_send(batch) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    batch = back;
                    tokio::time::sleep(SINK_WAIT).await;
                }
                // Nobody listening any more: the relay is stopping.
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// The messages that timed out while Redis was down, looked up by `mid` now that it
    /// answers: those it stored after all are sent on (their senders were told `internal`;
    /// a retry with the same `mid` gets the same seq).
    async fn recheck(&mut self) {
        for job in std::mem::take(&mut self.doubtful) {
            let (Job::Room { from_key, draft }
            | Job::Direct {
                from_key, draft, ..
            }) = &job
            else {
                continue;
            };
            let Some(mid) = &draft.mid else { continue };
            match self.log.stored_mid(from_key, mid).await {
                Ok(Some((seq, ts))) => {
                    let msg = shared::ChatMessage {
                        ts,
                        ..draft.clone().numbered(seq)
                    };
                    let committed = match job {
                        Job::Room { draft, .. } => Committed::Room {
                            msg,
                            accepted: draft.accepted,
                        },
                        Job::Direct {
                            from_key,
                            to_key,
                            draft,
                            ..
                        } => Committed::Direct {
                            from_key,
                            to_key,
                            // Unknown: the mail stays until acknowledged or the next hello.
                            mail_id: 0,
                            msg,
                            accepted: draft.accepted,
                        },
                        _ => continue,
                    };
                    self.send(committed).await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot look up a message that timed out: {e}"),
            }
        }
    }

    /// After a message job: if Redis did not answer, it counts as down, and the job (if it
    /// has a `mid` to find it by) is kept to be looked up when Redis is back.
    fn note_failure<T>(&mut self, result: &Result<T, RedisLogError>, job: impl FnOnce() -> Job) {
        let Err(e) = result else { return };
        if !e.is_unavailable() {
            return;
        }
        if !self.down {
            tracing::warn!("Redis does not answer ({e}); refusing messages until it does");
        }
        self.down = true;
        let job = job();
        let has_mid = matches!(&job, Job::Room { draft, .. } | Job::Direct { draft, .. } if draft.mid.is_some());
        if has_mid && self.doubtful.len() < MAX_DOUBTFUL {
            self.doubtful.push(job);
        }
    }

    /// Runs one job: what it did, for the fan-out.
    async fn apply(&mut self, job: Job) -> Option<Committed> {
        let log = &self.log;
        match job {
            Job::Room { from_key, draft } => {
                let accepted = draft.accepted;
                let result = log.store_room(&draft.clone().numbered(0)).await;
                self.note_failure(&result, || Job::Room {
                    from_key: from_key.clone(),
                    draft: draft.clone(),
                });
                Some(message(from_key, draft, result, |msg| Committed::Room {
                    msg,
                    accepted,
                }))
            }
            Job::Direct {
                from_key,
                from_addr,
                to_key,
                draft,
            } => {
                let accepted = draft.accepted;
                let to = match &draft.target {
                    shared::Target::User { to } => to.clone(),
                    shared::Target::Room { room } => room.clone(),
                };
                let result = log
                    .store_direct(&draft.clone().numbered(0), from_addr.as_deref())
                    .await;
                self.note_failure(&result, || Job::Direct {
                    from_key: from_key.clone(),
                    from_addr: from_addr.clone(),
                    to_key: to_key.clone(),
                    draft: draft.clone(),
                });
                if matches!(result, Ok(Sent::MailboxFull)) {
                    return Some(Committed::MailboxFull {
                        from_key,
                        to,
                        cid: draft.cid,
                    });
                }
                let mail_id = match &result {
                    Ok(Sent::Stored { mail_id, .. }) => *mail_id,
                    _ => 0,
                };
                let sender = from_key.clone();
                Some(message(from_key, draft, result, |msg| Committed::Direct {
                    from_key: sender,
                    to_key,
                    mail_id: i64::try_from(mail_id).unwrap_or(i64::MAX),
                    msg,
                    accepted,
                }))
            }
            Job::Ack {
                user_key,
                correspondent_key,
                seq,
            } => {
                // Told to the hub even if it failed, so that it stops waiting for it: the mail
                // then stays, and is delivered again after the next hello (at least once).
                if let Err(e) = log.ack(&user_key, &correspondent_key, seq).await {
                    tracing::warn!("cannot store an ack in Redis: {e}");
                }
                Some(Committed::Acked {
                    user_key,
                    correspondent_key,
                    seq,
                })
            }
            Job::Received { user_key, ids } => {
                let mail: Vec<u64> = ids.iter().map(|&id| id.max(0) as u64).collect();
                if let Err(e) = log.received(&user_key, &mail).await {
                    tracing::warn!("cannot remove received mail in Redis: {e}");
                }
                Some(Committed::Removed { user_key, ids })
            }
            Job::User { key, name, seen } => {
                warn_on(
                    log.remember_user(&key, &name, seen).await,
                    "remember a user",
                );
                None
            }
            Job::Seen { key, at } => {
                warn_on(log.seen(&key, at).await, "note when a name was used");
                None
            }
            Job::Protect { key, hash, at } => {
                warn_on(log.protect(&key, &hash, at).await, "protect a name");
                None
            }
            Job::Forget { key } => {
                warn_on(log.forget(&key).await, "forget a name");
                None
            }
        }
    }
}

/// What a message job's `result` means for the fan-out: `stored` makes the committed message,
/// a repeat goes back to its sender alone, and a failure too, as `internal`.
fn message(
    from_key: String,
    draft: crate::engine::Draft,
    result: Result<Sent, RedisLogError>,
    stored: impl FnOnce(shared::ChatMessage) -> Committed,
) -> Committed {
    match result {
        Ok(Sent::Stored { seq, ts, .. }) => stored(shared::ChatMessage {
            ts,
            ..draft.numbered(seq)
        }),
        Ok(Sent::Repeat { seq, ts }) => Committed::Repeat {
            from_key,
            msg: shared::ChatMessage {
                ts,
                ..draft.numbered(seq)
            },
        },
        Ok(Sent::MailboxFull) => Committed::Failed {
            from_key,
            cid: draft.cid,
            reason: "the recipient's mailbox is full".into(),
        },
        Err(e) => {
            tracing::warn!("cannot store a message in Redis: {e}");
            let reason = match e {
                RedisLogError::MidReused { .. } => {
                    "this mid was used for another message; it was not sent".to_owned()
                }
                _ => "the relay cannot store messages right now; it was not sent: send it \
                      again with the same mid"
                    .to_owned(),
            };
            Committed::Failed {
                from_key,
                cid: draft.cid,
                reason,
            }
        }
    }
}

/// Logs a failed write that has no sender to tell.
fn warn_on(result: Result<(), RedisLogError>, what: &str) {
    if let Err(e) = result {
        tracing::warn!("cannot {what} in Redis: {e}");
    }
}
