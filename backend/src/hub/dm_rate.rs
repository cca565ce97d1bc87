//! Each sender's rate of private messages to each recipient (`--dm-rate`, `--dm-burst`).
//!
//! Counted per (sender's address, recipient): an address is what an attacker cannot multiply
//! cheaply (names it can, a connection a second), and per recipient so that someone talking to
//! many people is not slowed down by it. A sender whose address is not known (in-process
//! tests) is counted by its name instead. Lives in the hub's state, under its lock.

use std::collections::HashMap;
use std::net::IpAddr;

use tokio::time::Instant;

use crate::throttle::{Bucket, Rate};

/// Who is sending, as the rate counts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Sender {
    Addr(IpAddr),
    Name(String),
}

/// The table is swept of full buckets (they say nothing a fresh one would not) when it
/// reaches this size, or twice the size after the last sweep.
const MIN_SWEEP: usize = 1024;

/// The buckets of every (sender, recipient key) that sent lately.
#[derive(Debug)]
pub(super) struct DmRates {
    rate: Rate,
    buckets: HashMap<(Sender, String), Bucket>,
    sweep_at: usize,
}

impl DmRates {
    pub(super) fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
            sweep_at: MIN_SWEEP,
        }
    }

    /// Whether `sender` may send one more private message to `to_key` now (and counts it).
    pub(super) fn admit(&mut self, sender: Sender, to_key: &str) -> bool {
        if self.rate.per_sec <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let rate = self.rate;
        if self.buckets.len() >= self.sweep_at {
            self.buckets.retain(|_, b| !b.is_full(rate, now));
            self.sweep_at = (self.buckets.len() * 2).max(MIN_SWEEP);
        }
        self.buckets
            .entry((sender, to_key.to_owned()))
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_sender_has_a_rate_to_each_recipient() {
        let mut rates = DmRates::new(Rate {
            per_sec: 1.0,
            burst: 2.0,
        });
        let attacker = Sender::Addr("127.0.0.1".parse().unwrap());
        let honest = Sender::Addr("127.0.0.2".parse().unwrap());
        assert!(rates.admit(attacker.clone(), "bob"));
        assert!(rates.admit(attacker.clone(), "bob"));
        assert!(!rates.admit(attacker.clone(), "bob"), "over its burst");
        assert!(rates.admit(attacker.clone(), "carol"), "another recipient");
        assert!(rates.admit(honest.clone(), "bob"), "another sender");
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        assert!(rates.admit(attacker, "bob"), "a second later");
        assert!(rates.admit(Sender::Name("x".into()), "bob"));
    }

    #[tokio::test(start_paused = true)]
    async fn full_buckets_are_swept() {
        let mut rates = DmRates::new(Rate {
            per_sec: 1.0,
            burst: 1.0,
        });
        for i in 0..MIN_SWEEP {
            rates.admit(Sender::Name(i.to_string()), "bob");
        }
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        rates.admit(Sender::Name("late".into()), "bob");
        assert_eq!(rates.buckets.len(), 1);
    }
}
