//! Delivery latencies, gathered from every client into a few shared HdrHistograms.
//!
//! One histogram per client would cost ~100 KiB each (60,000 clients: 6 GiB); one shared
//! histogram would make every delivery contend for one lock. A handful of shards, picked by
//! client, keeps both small; they are merged once at the end.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Shards: a few per core is plenty for a short lock held for one `record`.
const SHARDS: usize = 16;

/// The largest latency recorded exactly; longer ones are recorded as this (60 s, in µs).
const MAX_MICROS: u64 = 60_000_000;

/// Latencies in microseconds, three significant figures.
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(empty_histogram())).collect();
        Self { shards }
    }

    /// Records one delivery's latency, into the shard of client `client`.
    pub fn record(&self, client: u32, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let shard = &self.shards[client as usize % SHARDS];
        // A poisoned shard only means another client task panicked mid-record; its counts
        // are still sound.
        let mut histogram = shard.lock().unwrap_or_else(|e| e.into_inner());
        histogram.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// The percentiles over every shard, in milliseconds.
    pub fn summary(&self) -> LatencyMs {
        let mut all = empty_histogram();
        for shard in &self.shards {
            let histogram = shard.lock().unwrap_or_else(|e| e.into_inner());
            // Same bounds on both sides, so adding cannot fail.
            let _ = all.add(&*histogram);
        }
        LatencyMs::from_histogram(&all)
    }
}

fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Latency percentiles in milliseconds (0 when nothing was recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// Deliveries the percentiles are taken over.
    pub count: u64,
}

impl LatencyMs {
    fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_span_the_shards() {
        let latencies = Latencies::new();
        for i in 1..=100u32 {
            latencies.record(i, Duration::from_millis(u64::from(i)));
        }
        let s = latencies.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50 - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99 - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max - 100.0).abs() < 0.1, "{s:?}");
        assert_eq!(Latencies::new().summary(), LatencyMs::default());
    }
}
