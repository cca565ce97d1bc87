//! The task that makes a dashboard point every `--stats-interval`: `/proc` read once, the
//! relay's counters turned into rates, and the point handed to the hub, which keeps it and
//! sends it to whoever watches.

use std::sync::Arc;
use std::time::Duration;

use shared::ops::StatsPoint;
use tokio_util::sync::CancellationToken;

use super::stats::{HostReading, busy_percent};
use crate::clock::Clock;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// Makes a point every `interval` until `stop` is cancelled.
pub async fn run(
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    clock: Clock,
    interval: Duration,
    node: String,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(HostReading, u64, u64, tokio::time::Instant)> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let host = HostReading::now();
        let messages = metrics.messages_committed.get();
        let deliveries = metrics.deliveries.get();
        let at = tokio::time::Instant::now();
        let mut point = StatsPoint {
            node: node.clone(),
            ts: clock(),
            cpu: None,
            mem_total: host.mem_total,
            mem_available: host.mem_available,
            rss: host.rss,
            connections: 0,
            sessions: 0,
            rooms: 0,
            messages_per_s: 0.0,
            deliveries_per_s: 0.0,
        };
        if let Some((before, messages_before, deliveries_before, then)) = &last {
            let secs = at.duration_since(*then).as_secs_f64().max(1e-3);
            point.cpu = busy_percent(&before.cpus, &host.cpus);
            point.messages_per_s = (messages.saturating_sub(*messages_before) as f64 / secs) as f32;
            point.deliveries_per_s =
                (deliveries.saturating_sub(*deliveries_before) as f64 / secs) as f32;
            hub.publish_stats(point);
        }
        // The first reading only starts the intervals: a point without one would be junk.
        last = Some((host, messages, deliveries, at));
    }
}

/// This relay process's name on the dashboard: the host's name and the process id.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let host = if host.is_empty() { "relay" } else { host };
    format!("{host}:{}", std::process::id())
}
