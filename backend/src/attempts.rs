//! Limits on what costs the relay most per frame, per client address: password checks (each
//! about 20 ms of CPU), new names and protected names (each takes a place under
//! `--max-users` for as long as `--name-idle-days`). And a backoff per protected name after
//! wrong passwords, whatever address they come from.
//!
//! Time is the hub's clock in milliseconds, so that tests can set it. Every table is bounded:
//! entries that say nothing a fresh one would not are dropped when a table fills, and past
//! that an attempt is refused, never remembered.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::throttle::Rate;

/// Entries a table may hold (an address's bucket, or a name's failures).
const MAX_ENTRIES: usize = 65_536;

/// Wrong passwords for one name before its backoff starts.
const FREE_FAILURES: u32 = 5;

/// The first wait after [`FREE_FAILURES`]; it doubles with each further failure, up to
/// [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 60_000;

/// A name's failures are forgotten this long after the last one.
const FORGET_FAILURES_MS: u64 = 15 * 60_000;

/// The limits; see the flags of the same names in `config.rs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptLimits {
    /// Password checks per address (`--password-rate-per-ip`, `--password-burst-per-ip`).
    pub checks_per_ip: Rate,
    /// New names per address (`--names-per-ip-hour`).
    pub names_per_ip: Rate,
    /// `protect`s per address (`--protects-per-ip-hour`).
    pub protects_per_ip: Rate,
}

impl AttemptLimits {
    pub const UNLIMITED: AttemptLimits = AttemptLimits {
        checks_per_ip: Rate::UNLIMITED,
        names_per_ip: Rate::UNLIMITED,
        protects_per_ip: Rate::UNLIMITED,
    };

    /// `n` an hour, all `n` at once if need be; 0: no limit.
    pub fn per_hour(n: u32) -> Rate {
        Rate {
            per_sec: f64::from(n) / 3600.0,
            burst: f64::from(n.max(1)),
        }
    }
}

/// What is being attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Check,
    NewName,
    Protect,
}

/// Refused: try again in this many milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub u64);

impl Wait {
    /// Whole seconds to say in an error message (at least 1).
    pub fn secs(self) -> u64 {
        self.0.div_ceil(1000).max(1)
    }
}

/// A token bucket on the hub's clock. It starts full.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now: u64) {
        let secs = now.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + secs * rate.per_sec).min(rate.burst);
        self.last_ms = self.last_ms.max(now);
    }
}

/// One bucket per address.
#[derive(Debug, Default)]
struct PerIp {
    buckets: HashMap<IpAddr, Bucket>,
}

impl PerIp {
    fn take(&mut self, rate: Rate, addr: IpAddr, now: u64) -> Result<(), Wait> {
        if rate.per_sec <= 0.0 {
            return Ok(());
        }
        if self.buckets.len() >= MAX_ENTRIES && !self.buckets.contains_key(&addr) {
            self.buckets.retain(|_, b| {
                b.refill(rate, now);
                b.tokens < rate.burst
            });
            if self.buckets.len() >= MAX_ENTRIES {
                return Err(Wait(1000));
            }
        }
        let bucket = self.buckets.entry(addr).or_insert(Bucket {
            tokens: rate.burst,
            last_ms: now,
        });
        bucket.refill(rate, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Wait(
                ((1.0 - bucket.tokens) / rate.per_sec * 1000.0).ceil() as u64
            ))
        }
    }
}

/// Wrong passwords for one name.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: u64,
}

impl Failures {
    /// When the next check of this name may be made.
    fn open_at(self) -> u64 {
        if self.count < FREE_FAILURES {
            return 0;
        }
        let doublings = (self.count - FREE_FAILURES).min(16);
        let wait = (FIRST_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS);
        self.last_ms + wait
    }
}

/// The hub's counts of attempts; lives in its state, under its lock.
#[derive(Debug)]
pub struct Attempts {
    limits: AttemptLimits,
    checks: PerIp,
    names: PerIp,
    protects: PerIp,
    failures: HashMap<String, Failures>,
}

impl Attempts {
    pub fn new(limits: AttemptLimits) -> Self {
        Self {
            limits,
            checks: PerIp::default(),
            names: PerIp::default(),
            protects: PerIp::default(),
            failures: HashMap::new(),
        }
    }

    /// Counts an attempt from `addr` (none: not limited by address), or refuses it.
    ///
    /// # Errors
    /// The address is over its rate for this kind of attempt.
    pub fn take(&mut self, what: Attempt, addr: Option<IpAddr>, now: u64) -> Result<(), Wait> {
        let Some(addr) = addr else { return Ok(()) };
        let (table, rate) = match what {
            Attempt::Check => (&mut self.checks, self.limits.checks_per_ip),
            Attempt::NewName => (&mut self.names, self.limits.names_per_ip),
            Attempt::Protect => (&mut self.protects, self.limits.protects_per_ip),
        };
        table.take(rate, addr, now)
    }

    /// Whether the protected name `key` may have its password checked now.
    ///
    /// # Errors
    /// The name is backing off after wrong passwords.
    pub fn name_open(&self, key: &str, now: u64) -> Result<(), Wait> {
        match self.failures.get(key).map(|f| f.open_at()) {
            Some(at) if at > now => Err(Wait(at - now)),
            _ => Ok(()),
        }
    }

    /// A wrong password for `key`.
    pub fn failed(&mut self, key: &str, now: u64) {
        if self.failures.len() >= MAX_ENTRIES && !self.failures.contains_key(key) {
            self.failures
                .retain(|_, f| now < f.last_ms + FORGET_FAILURES_MS);
            if self.failures.len() >= MAX_ENTRIES {
                return; // the per-address limits still hold
            }
        }
        let f = self.failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last_ms: now,
        });
        if now >= f.last_ms + FORGET_FAILURES_MS {
            f.count = 0;
        }
        f.count += 1;
        f.last_ms = now;
    }

    /// The right password for `key`: its backoff ends.
    pub fn succeeded(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AttemptLimits {
        AttemptLimits {
            checks_per_ip: Rate {
                per_sec: 0.5,
                burst: 5.0,
            },
            names_per_ip: AttemptLimits::per_hour(20),
            protects_per_ip: AttemptLimits::per_hour(10),
        }
    }

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let mut a = Attempts::new(limits());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(a.take(Attempt::Check, Some(ip), 1000), Ok(()));
        }
        assert_eq!(a.take(Attempt::Check, Some(ip), 1000), Err(Wait(2000)));
        assert_eq!(a.take(Attempt::Check, Some(other), 1000), Ok(()));
        assert_eq!(a.take(Attempt::Check, None, 1000), Ok(()));
        assert_eq!(a.take(Attempt::Check, Some(ip), 3000), Ok(()));
        assert!(a.take(Attempt::Check, Some(ip), 3000).is_err());
    }

    #[test]
    fn names_and_protects_are_counted_per_hour() {
        let mut a = Attempts::new(limits());
        let ip: IpAddr = "2001:db8::".parse().unwrap();
        for _ in 0..20 {
            a.take(Attempt::NewName, Some(ip), 0).unwrap();
        }
        let Err(wait) = a.take(Attempt::NewName, Some(ip), 0) else {
            panic!("the 21st name in an hour");
        };
        assert_eq!(wait.secs(), 180);
        assert!(a.take(Attempt::NewName, Some(ip), 180_000).is_ok());
        for _ in 0..10 {
            a.take(Attempt::Protect, Some(ip), 0).unwrap();
        }
        assert!(a.take(Attempt::Protect, Some(ip), 0).is_err());
        let mut open = Attempts::new(AttemptLimits::UNLIMITED);
        for _ in 0..1000 {
            open.take(Attempt::NewName, Some(ip), 0).unwrap();
        }
    }

    #[test]
    fn a_name_backs_off_after_wrong_passwords_until_one_is_right() {
        let mut a = Attempts::new(limits());
        for t in 0..FREE_FAILURES {
            assert_eq!(a.name_open("alice", u64::from(t)), Ok(()));
            a.failed("alice", u64::from(t));
        }
        let last = u64::from(FREE_FAILURES - 1);
        assert_eq!(a.name_open("alice", last), Err(Wait(1000)));
        assert_eq!(a.name_open("bob", last), Ok(()));
        assert_eq!(a.name_open("alice", last + 1000), Ok(()));
        a.failed("alice", 5000);
        assert_eq!(a.name_open("alice", 5000), Err(Wait(2000)));
        for t in 0..20 {
            a.failed("alice", 6000 + t);
        }
        assert_eq!(a.name_open("alice", 6019), Err(Wait(MAX_BACKOFF_MS)));
        a.succeeded("alice");
        assert_eq!(a.name_open("alice", 6019), Ok(()));
        // Forgotten after a quiet while.
        for _ in 0..10 {
            a.failed("carol", 0);
        }
        a.failed("carol", FORGET_FAILURES_MS);
        assert_eq!(a.name_open("carol", FORGET_FAILURES_MS), Ok(()));
    }
}
