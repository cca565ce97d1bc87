//! Counting deliveries: the stamp each message carries, who has seen which message, and the
//! run-wide counters every client adds to.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::latency::Latencies;

/// Errors kept word for word in the report; the rest are only counted.
const ERROR_SAMPLES: usize = 10;

/// What a message's text carries: when it was sent (ns since the run's epoch, a monotonic
/// clock shared by every client since they are all in this process), by which sender, and
/// that sender's counter. `(sender, n)` names a message in both protocols, which is how
/// losses and duplicates are found without relying on the server's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent_ns: u64,
    pub sender: u32,
    pub n: u32,
}

impl Stamp {
    /// The message text: `t=<ns> s=<sender> n=<counter>`.
    pub fn text(&self) -> String {
        format!("t={} s={} n={}", self.sent_ns, self.sender, self.n)
    }

    /// Reads a stamp back from a message text; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        let mut field = |key: &str| parts.next()?.strip_prefix(key)?.parse::<u64>().ok();
        let sent_ns = field("t=")?;
        let sender = u32::try_from(field("s=")?).ok()?;
        let n = u32::try_from(field("n=")?).ok()?;
        Some(Self { sent_ns, sender, n })
    }
}

/// Which messages of one sender a client has received: a bitset over the sender's counter
/// (one bit per message sent, so memory stays proportional to the expected deliveries).
#[derive(Debug, Default)]
pub struct Seen {
    bits: Vec<u64>,
}

impl Seen {
    /// Marks message `n`; false if it was marked already.
    pub fn insert(&mut self, n: u32) -> bool {
        let (word, bit) = (n as usize / 64, n % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        let new = self.bits[word] & mask == 0;
        self.bits[word] |= mask;
        new
    }
}

/// The run-wide counters, shared by every client task.
pub struct Tally {
    /// The clock of every stamp.
    pub epoch: Instant,
    /// Stamps from this point on (ns since `epoch`) are measured; earlier ones are warm-up.
    pub measure_from_ns: AtomicU64,
    pub sent: AtomicU64,
    pub rejected: AtomicU64,
    pub delivered: AtomicU64,
    pub duplicates: AtomicU64,
    pub out_of_order: AtomicU64,
    /// Deliveries accepted × room members so far: what `delivered` should reach.
    pub expected: AtomicU64,
    pub errors: AtomicU64,
    error_samples: Mutex<Vec<String>>,
    pub latencies: Latencies,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            measure_from_ns: AtomicU64::new(u64::MAX),
            sent: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            error_samples: Mutex::new(Vec::new()),
            latencies: Latencies::new(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts an error, and keeps its text if it is one of the first few.
    pub fn error(&self, what: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.error_samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < ERROR_SAMPLES {
            samples.push(what.into());
        }
    }

    /// The errors kept word for word.
    pub fn error_samples(&self) -> Vec<String> {
        self.error_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts one message received by `client`: new or duplicate, and its latency when it
    /// was sent in the measured window.
    pub fn delivery(&self, client: u32, stamp: Stamp, seen: &mut Seen) {
        if !seen.insert(stamp.n) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if stamp.sent_ns >= self.measure_from_ns.load(Ordering::Relaxed) {
            let latency = Duration::from_nanos(self.now_ns().saturating_sub(stamp.sent_ns));
            self.latencies.record(client, latency);
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_other_text_is_refused() {
        let stamp = Stamp {
            sent_ns: 123_456_789,
            sender: 7,
            n: 42,
        };
        assert_eq!(stamp.text(), "t=123456789 s=7 n=42");
        assert_eq!(Stamp::parse(&stamp.text()), Some(stamp));
        assert_eq!(Stamp::parse("hello"), None);
        assert_eq!(Stamp::parse("t=1 s=2"), None);
        assert_eq!(Stamp::parse("t=1 s=99999999999 n=3"), None);
        assert_eq!(Stamp::parse("t=x s=1 n=3"), None);
    }

    #[test]
    fn seen_finds_repeats() {
        let mut seen = Seen::default();
        assert!(seen.insert(0));
        assert!(seen.insert(200));
        assert!(!seen.insert(200));
        assert!(seen.insert(63));
        assert!(!seen.insert(0));
    }

    #[test]
    fn duplicates_are_counted_apart() {
        let tally = Tally::new();
        tally.measure_from_ns.store(0, Ordering::Relaxed);
        let mut seen = Seen::default();
        let stamp = Stamp {
            sent_ns: tally.now_ns(),
            sender: 0,
            n: 3,
        };
        tally.delivery(1, stamp, &mut seen);
        tally.delivery(1, stamp, &mut seen);
        assert_eq!(Tally::get(&tally.delivered), 1);
        assert_eq!(Tally::get(&tally.duplicates), 1);
        assert_eq!(tally.latencies.summary().count, 1);
    }
}
