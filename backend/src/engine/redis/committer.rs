//! The Redis engine's committer: the one task that runs the submitted jobs against Redis, in
//! the order submitted, and sends down the sink only what concerns a job's sender (a repeat, a
//! full mailbox, a refusal, a failure, acks and removals done). While Redis does not answer it
//! refuses at once, until a `PING` is; session releases Redis did not take are retried.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{RedisLog, RedisLogError, Sent};
use crate::engine::{Backlog, Committed, Event, Job, Sink};
use crate::metrics::Metrics;

/// How often releases that Redis did not take are tried again while no job comes.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Most session releases kept to be told to Redis again.
const MAX_RELEASES: usize = 65_536;

/// Most jobs the committer takes at once.
const MAX_BATCH: usize = 1024;

/// What the committer is given, in order.
pub(super) enum Work {
    /// Boxed: a job is far bigger than a release.
    Job(Box<Job>),
    /// A connection of a session ended: released after every message of its was stored,
    /// since a message of a session released is refused (`store.lua`'s fencing).
    Release { key: String, holder: String },
}

/// The task that runs the jobs against Redis.
pub(super) struct Committer {
    log: RedisLog,
    backlog: Arc<Backlog>,
    metrics: Arc<Metrics>,
    sink: Sink,
    /// Redis did not answer the last job; jobs are refused until a `PING` is answered.
    down: bool,
    /// This relay's node id, whose sessions' messages it stores.
    node: String,
    /// Connections of sessions that ended while Redis did not answer (or whose answer was
    /// lost), as (key, holder), released once it does. A release is for one connection's
    /// claim, and safe to repeat: one that ran already changes nothing, and a late one never
    /// ends a newer session.
    releases: Vec<(String, String)>,
}

/// What a job gets while Redis is down: a message is refused (`internal`); an ack or a
/// removal is told to the hub as done, though it was not (the mail stays, and is delivered
/// again after the next hello: at least once); the rest is dropped, with a warning.
fn refused(job: Job) -> Option<Committed> {
    match job {
        Job::Room { .. } | Job::Direct { .. } | Job::Change(_) => {
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
    /// A committer for this relay (`node`), storing in `log`; [`Committer::run`] starts it.
    pub(super) fn new(
        log: RedisLog,
        backlog: Arc<Backlog>,
        metrics: Arc<Metrics>,
        sink: Sink,
        node: String,
    ) -> Self {
        Self {
            log,
            backlog,
            metrics,
            sink,
            down: false,
            node,
            releases: Vec::new(),
        }
    }

    /// Runs the jobs until the engine is closed and every job taken is done. Each result goes
    /// down the sink as soon as it is known.
    ///
    /// Once Redis fails to answer, the committer counts it as down: later jobs are refused at
    /// once (a message gets `internal`) instead of each waiting out the timeout, until a
    /// `PING` is answered. A message that timed out but was stored after all was published
    /// too: the feed sends it on, and a retry with the same `mid` gets the same seq.
    pub(super) async fn run(mut self, mut rx: UnboundedReceiver<Work>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        loop {
            // A quiet second with releases to retry: retry them without waiting for a job.
            let quiet = if self.releases.is_empty() {
                None
            } else {
                Some(RETRY_EVERY)
            };
            let taken = match quiet {
                None => rx.recv_many(&mut jobs, MAX_BATCH).await,
                Some(wait) => tokio::time::timeout(wait, rx.recv_many(&mut jobs, MAX_BATCH))
                    .await
                    .unwrap_or(usize::MAX),
            };
            if taken == 0 {
                break; // closed, and every job taken is done
            }
            if (self.down || !self.releases.is_empty()) && self.log.ping().await.is_ok() {
                if self.down {
                    tracing::info!("Redis answers again");
                }
                self.down = false;
                for (key, holder) in std::mem::take(&mut self.releases) {
                    self.release(key, holder).await;
                }
            }
            for work in jobs.drain(..) {
                let job = match work {
                    Work::Job(job) => *job,
                    Work::Release { key, holder } => {
                        self.release(key, holder).await;
                        continue;
                    }
                };
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
        super::send_down(&self.sink, vec![committed]).await;
    }

    /// Ends a session in Redis; if Redis does not answer, again once it does.
    async fn release(&mut self, key: String, holder: String) {
        if let Err(e) = self.log.release(&self.node, &key, &holder).await {
            tracing::warn!(%key, "cannot end a session in Redis (trying again): {e}");
            self.down |= e.is_unavailable();
            if self.releases.len() < MAX_RELEASES {
                self.releases.push((key, holder));
            }
        }
    }

    /// After a message job: if Redis did not answer, it counts as down.
    fn note_failure<T>(&mut self, result: &Result<T, RedisLogError>) {
        let Err(e) = result else { return };
        if !e.is_unavailable() {
            return;
        }
        if !self.down {
            tracing::warn!("Redis does not answer ({e}); refusing messages until it does");
        }
        self.down = true;
    }

    /// Runs one job: what it did, for the fan-out.
    async fn apply(&mut self, job: Job) -> Option<Committed> {
        let log = &self.log;
        match job {
            Job::Room { from_key, draft } => {
                let place = match &draft.target {
                    shared::Target::Room { room } => crate::engine::Place::Room(room.clone()),
                    shared::Target::User { .. } => return None,
                };
                let mut msg = draft.clone().numbered(0);
                match self.quote(&draft, &place).await {
                    Ok(quote) => msg.ext.reply = quote,
                    Err((code, message)) => {
                        return Some(Committed::Refused {
                            from_key,
                            origin: draft.origin,
                            cid: draft.cid,
                            code,
                            message,
                        });
                    }
                }
                let session = fence(&self.node, draft.generation);
                let result = self.log.store_room_as(&msg, session).await;
                self.note_failure(&result);
                self.message(from_key, draft, result)
            }
            Job::Direct {
                from_key,
                from_addr,
                draft,
                to_key,
            } => {
                let (low, high) = crate::engine::pair(&from_key, &to_key);
                let place = crate::engine::Place::Pair(low, high);
                let mut msg = draft.clone().numbered(0);
                match self.quote(&draft, &place).await {
                    Ok(quote) => msg.ext.reply = quote,
                    Err((code, message)) => {
                        return Some(Committed::Refused {
                            from_key,
                            origin: draft.origin,
                            cid: draft.cid,
                            code,
                            message,
                        });
                    }
                }
                let to = match &draft.target {
                    shared::Target::User { to } => to.clone(),
                    shared::Target::Room { room } => room.clone(),
                };
                let session = fence(&self.node, draft.generation);
                let result = self
                    .log
                    .store_direct_as(&msg, from_addr.as_deref(), session)
                    .await;
                self.note_failure(&result);
                if matches!(result, Ok(Sent::MailboxFull)) {
                    return Some(Committed::MailboxFull {
                        from_key,
                        origin: draft.origin,
                        to,
                        cid: draft.cid,
                    });
                }
                self.message(from_key, draft, result)
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
            Job::Change(job) => {
                let result = log.change(&job, (&self.node, job.generation)).await;
                self.note_failure(&result);
                match result {
                    Ok(told) => told,
                    Err(e) => {
                        tracing::warn!("cannot store a change in Redis: {e}");
                        Job::Change(job).into_failed()
                    }
                }
            }
        }
    }
}

impl Committer {
    /// The quote of the message `draft` replies to, if it replies; the refusal its sender is
    /// told if that message is not there (or Redis could not be read).
    async fn quote(
        &mut self,
        draft: &crate::engine::Draft,
        place: &crate::engine::Place,
    ) -> Result<Option<shared::Quote>, crate::engine::change::Refused> {
        let Some(seq) = draft.reply else {
            return Ok(None);
        };
        let found = self.log.quote(place, seq).await;
        self.note_failure(&found);
        match found {
            Ok(Some(quote)) => Ok(Some(quote)),
            Ok(None) => Err(crate::engine::change::unknown(seq)),
            Err(e) => {
                tracing::warn!("cannot read a reply's original in Redis: {e}");
                Err((
                    shared::ErrorCode::Internal,
                    "the relay cannot store messages right now; it was not sent".into(),
                ))
            }
        }
    }

    /// What a message job's `result` means for its sender: nothing when it was stored (the
    /// feed brings it), the original for a repeat, and `internal` for a failure.
    fn message(
        &self,
        from_key: String,
        draft: crate::engine::Draft,
        result: Result<Sent, RedisLogError>,
    ) -> Option<Committed> {
        match result {
            Ok(Sent::Stored { .. }) => {
                self.metrics.messages_committed.inc();
                None
            }
            Ok(Sent::Repeat { seq, ts }) => Some(Committed::Repeat {
                from_key,
                origin: draft.origin,
                msg: shared::ChatMessage {
                    ts,
                    ..draft.numbered(seq)
                },
            }),
            // The session is not this relay's any more: it ends here.
            Ok(Sent::Moved) => Some(Committed::Cluster(Event::Moved {
                key: from_key,
                generation: draft.generation + 1,
            })),
            Ok(Sent::MailboxFull) => Some(Committed::Failed {
                from_key,
                origin: draft.origin,
                cid: draft.cid,
                reason: "the recipient's mailbox is full".into(),
            }),
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
                Some(Committed::Failed {
                    from_key,
                    origin: draft.origin,
                    cid: draft.cid,
                    reason,
                })
            }
        }
    }
}

/// The session a message is stored for: checked unless its generation is 0 (none).
fn fence(node: &str, generation: u64) -> Option<(&str, u64)> {
    (generation > 0).then_some((node, generation))
}

/// Logs a failed write that has no sender to tell.
fn warn_on(result: Result<(), RedisLogError>, what: &str) {
    if let Err(e) = result {
        tracing::warn!("cannot {what} in Redis: {e}");
    }
}
