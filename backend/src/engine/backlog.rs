//! The messages an engine has taken and not yet stored, counted against its queue's limits
//! (`EngineLimits::queue_messages`, `queue_bytes`), so that `Engine::submit` can refuse at once
//! instead of letting the queue grow.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Busy, Job};

/// Messages (and their bytes, as `Job::cost`) taken and not yet stored. Shared by the side that
/// submits and the side that stores.
#[derive(Debug, Default)]
pub struct Backlog {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    max_messages: usize,
    max_bytes: usize,
}

impl Backlog {
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self {
            max_messages,
            max_bytes,
            ..Self::default()
        }
    }

    /// Counts `job` in, if it is a message that fits; other jobs are never refused.
    ///
    /// # Errors
    /// [`Busy::Full`] when the message would pass the limits.
    pub fn admit(&self, job: &Job) -> Result<(), Busy> {
        let cost = job.cost();
        if cost == 0 {
            return Ok(());
        }
        if self.messages.load(Ordering::Relaxed) >= self.max_messages
            || self.bytes.load(Ordering::Relaxed) + cost > self.max_bytes
        {
            return Err(Busy::Full);
        }
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(cost, Ordering::Relaxed);
        Ok(())
    }

    /// What `jobs` count for: their messages and bytes.
    pub fn weigh(jobs: &[Job]) -> (usize, usize) {
        jobs.iter()
            .map(Job::cost)
            .filter(|&c| c > 0)
            .fold((0, 0), |(n, b), c| (n + 1, b + c))
    }

    /// Jobs that weighed this ([`Backlog::weigh`]) are stored (or failed): they no longer
    /// count.
    pub fn release(&self, (messages, bytes): (usize, usize)) {
        self.messages.fetch_sub(messages, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}
