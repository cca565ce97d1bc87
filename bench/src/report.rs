//! What a run reports: one JSON object on stdout (for scripts and CI) and a summary for people
//! on stderr. Field names are snake_case and stable: scripts compare runs by them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::latency::LatencyMs;

/// The outcome of `courier-bench chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatReport {
    /// `courier` or `floor`.
    pub protocol: String,
    pub clients: u32,
    pub rooms: u32,
    pub room_size: u32,
    /// Private messages between pairs of clients instead of rooms (`--pairs`).
    #[serde(default)]
    pub pairs: bool,
    pub senders: u32,
    /// Messages per second per sender, as asked.
    pub rate: f64,
    /// Seconds measured (after the warm-up).
    pub duration_secs: f64,
    /// Clients that connected and joined their room.
    pub connections_opened: u32,
    /// Seconds it took to open and join them all.
    pub connect_seconds: f64,
    /// `say` frames written, warm-up included.
    pub sent: u64,
    /// Sent and not refused with an `error` (the floor refuses nothing).
    pub accepted: u64,
    /// Distinct (message, recipient) deliveries of accepted messages.
    pub delivered: u64,
    /// Accepted messages × the members of their room who joined.
    pub expected: u64,
    /// `expected - delivered`: deliveries that never came.
    pub missing: u64,
    /// Deliveries of a message a recipient had already received.
    pub duplicates: u64,
    /// Courier only: messages whose `seq` was not the previous one plus one, per recipient.
    pub out_of_order: u64,
    /// Deliveries received during the measured window, per second of it.
    pub deliveries_per_sec: f64,
    /// Send → receive, for messages sent after the warm-up.
    pub latency_ms: LatencyMs,
    /// Failed connections, refused frames, unexpected closes, unreadable frames.
    pub errors: u64,
    /// The first few errors, to say what went wrong.
    pub error_samples: Vec<String>,
    /// The server's resident memory before the clients connected.
    pub relay_rss_before_kib: Option<u64>,
    /// The server's resident memory at the end of the load, clients still connected.
    pub relay_rss_kib: Option<u64>,
    /// The server's CPU time (user + system) over the measured window: every relay's and
    /// Redis's, on a cluster.
    pub relay_cpu_seconds: Option<f64>,
    /// Redis's share of it, when its address was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_cpu_seconds: Option<f64>,
    /// `relay_cpu_seconds` per delivery in the window, in microseconds.
    pub cpu_us_per_delivery: Option<f64>,
}

impl ChatReport {
    /// True when every accepted message reached every member exactly once and nothing failed.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.out_of_order == 0 && self.errors == 0
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ChatReport always serialises")
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {} of {} clients in {} {} (connected in {:.1} s); {} senders × {} msg/s for {} s",
            self.protocol,
            self.connections_opened,
            self.clients,
            self.rooms,
            if self.pairs {
                "pairs, by dm".to_owned()
            } else {
                format!("rooms of {}", self.room_size)
            },
            self.connect_seconds,
            self.senders,
            self.rate,
            self.duration_secs
        );
        let _ = writeln!(
            s,
            "  sent {} (accepted {}), delivered {} of {} expected: missing {}, duplicates {}, out of order {}, errors {}",
            self.sent,
            self.accepted,
            self.delivered,
            self.expected,
            self.missing,
            self.duplicates,
            self.out_of_order,
            self.errors
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "  {:.0} deliveries/s; latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.deliveries_per_sec, l.p50, l.p90, l.p99, l.max
        );
        match (self.relay_rss_kib, self.relay_cpu_seconds) {
            (Some(rss), Some(cpu)) => {
                let _ = writeln!(
                    s,
                    "  server: RSS {} → {rss} KiB, CPU {cpu:.2} s = {:.2} µs per delivery",
                    self.relay_rss_before_kib.unwrap_or(0),
                    self.cpu_us_per_delivery.unwrap_or(0.0)
                );
                if let Some(redis) = self.redis_cpu_seconds {
                    let _ = writeln!(s, "  of which Redis: CPU {redis:.2} s");
                }
            }
            _ => s.push_str("  server: no --pid given (or /proc unreadable): no RSS or CPU\n"),
        }
        for sample in &self.error_samples {
            let _ = writeln!(s, "  error: {sample}");
        }
        s
    }
}

/// The outcome of `courier-bench compare`: one load against Courier and against the floor, in
/// the same run, and Courier's figures divided by the floor's (1.0 = as cheap as the floor;
/// `None` where the floor's figure is missing or zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub courier: ChatReport,
    pub floor: ChatReport,
    pub ratios: Ratios,
}

/// Courier ÷ floor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub cpu_us_per_delivery: Option<f64>,
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
    /// The server's RSS at the end of the load. (Its growth over the run would be noisier:
    /// a server that already ran a load keeps its allocator's pages.)
    pub rss: Option<f64>,
}

impl CompareReport {
    pub fn new(courier: ChatReport, floor: ChatReport) -> Self {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let rss = |r: &ChatReport| r.relay_rss_kib.map(|kib| kib as f64);
        let ratios = Ratios {
            cpu_us_per_delivery: ratio(courier.cpu_us_per_delivery, floor.cpu_us_per_delivery),
            latency_p50: ratio(Some(courier.latency_ms.p50), Some(floor.latency_ms.p50)),
            latency_p99: ratio(Some(courier.latency_ms.p99), Some(floor.latency_ms.p99)),
            rss: ratio(rss(&courier), rss(&floor)),
        };
        Self {
            courier,
            floor,
            ratios,
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a CompareReport always serialises")
    }

    /// Both summaries and the ratios, for people.
    pub fn summary(&self) -> String {
        let show = |r: Option<f64>| r.map_or("n/a".to_owned(), |r| format!("{r:.2}×"));
        let r = &self.ratios;
        format!(
            "{}{}courier ÷ floor: CPU per delivery {}, latency p50 {}, p99 {}, RSS {}\n",
            self.courier.summary(),
            self.floor.summary(),
            show(r.cpu_us_per_delivery),
            show(r.latency_p50),
            show(r.latency_p99),
            show(r.rss)
        )
    }
}

/// The outcome of `courier-bench idle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleReport {
    pub clients: u32,
    pub welcomed: u32,
    pub failed: u32,
    /// Processes that opened the clients (this one, or its workers).
    pub workers: u32,
    /// Seconds until every client was welcomed (or failed).
    pub connect_seconds: f64,
    /// The relays' RSS added up, before the clients and once they all sat idle.
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// The relays' RSS growth per welcomed connection (each connection is on one relay).
    pub rss_per_connection_kib: Option<f64>,
    /// Redis's `used_memory`, before and after, and its growth per welcomed connection.
    pub redis_used_memory_before: Option<u64>,
    pub redis_used_memory_after: Option<u64>,
    pub redis_bytes_per_connection: Option<f64>,
    /// Each relay, and Redis: RSS, and CPU while the connections sat idle.
    pub processes: Vec<ProcessCost>,
}

/// What one server process cost in an idle run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessCost {
    pub pid: u32,
    /// `relay` or `redis`.
    pub role: String,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// CPU time over the hold, as a percentage of one core.
    pub idle_cpu_percent: Option<f64>,
}

impl IdleReport {
    /// For people.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} of {} welcomed by {} process(es) in {:.1} s\n",
            self.welcomed, self.clients, self.workers, self.connect_seconds
        );
        if let (Some(b), Some(a), Some(per)) = (
            self.rss_before_kib,
            self.rss_after_kib,
            self.rss_per_connection_kib,
        ) {
            let _ = writeln!(
                out,
                "relays' RSS {b} KiB → {a} KiB: {per:.2} KiB per idle connection"
            );
        }
        if let (Some(b), Some(a), Some(per)) = (
            self.redis_used_memory_before,
            self.redis_used_memory_after,
            self.redis_bytes_per_connection,
        ) {
            let _ = writeln!(
                out,
                "Redis used_memory {} KiB → {} KiB: {per:.0} bytes per connection",
                b / 1024,
                a / 1024
            );
        }
        for p in &self.processes {
            let _ = writeln!(
                out,
                "  {} {}: RSS {} KiB, idle CPU {}",
                p.role,
                p.pid,
                p.rss_after_kib.map_or("?".into(), |k| k.to_string()),
                p.idle_cpu_percent
                    .map_or("?".into(), |c| format!("{c:.1}% of a core"))
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(protocol: &str, cpu_us: Option<f64>, p50: f64, rss: (u64, u64)) -> ChatReport {
        ChatReport {
            protocol: protocol.into(),
            clients: 10,
            rooms: 1,
            room_size: 10,
            pairs: false,
            senders: 1,
            rate: 1.0,
            duration_secs: 1.0,
            connections_opened: 10,
            connect_seconds: 0.1,
            sent: 1,
            accepted: 1,
            delivered: 10,
            expected: 10,
            missing: 0,
            duplicates: 0,
            out_of_order: 0,
            deliveries_per_sec: 10.0,
            latency_ms: LatencyMs {
                p50,
                p90: p50,
                p99: p50,
                max: p50,
                count: 10,
            },
            errors: 0,
            error_samples: vec![],
            relay_rss_before_kib: Some(rss.0),
            relay_rss_kib: Some(rss.1),
            relay_cpu_seconds: cpu_us.map(|_| 0.1),
            redis_cpu_seconds: None,
            cpu_us_per_delivery: cpu_us,
        }
    }

    #[test]
    fn ratios_divide_courier_by_the_floor() {
        let compare = CompareReport::new(
            report("courier", Some(12.0), 2.0, (100, 300)),
            report("floor", Some(8.0), 1.0, (100, 200)),
        );
        assert_eq!(compare.ratios.cpu_us_per_delivery, Some(1.5));
        assert_eq!(compare.ratios.latency_p50, Some(2.0));
        assert_eq!(compare.ratios.rss, Some(1.5));
        let back: CompareReport = serde_json::from_str(&compare.to_json()).unwrap();
        assert_eq!(back.ratios, compare.ratios); // exact: these floats are short decimals
        assert!(compare.summary().contains("1.50×"));

        let no_pid = CompareReport::new(
            report("courier", None, 2.0, (1, 1)),
            report("floor", Some(8.0), 0.0, (1, 1)),
        );
        assert_eq!(no_pid.ratios.cpu_us_per_delivery, None);
        assert_eq!(no_pid.ratios.latency_p50, None);
        assert_eq!(no_pid.ratios.rss, Some(1.0));
    }
}
