//! Counters, gauges and histograms for operators, served at `GET /metrics` in the Prometheus
//! text format (0.0.4) by the `prometheus-client` crate. The dashboard's sampler reads the same
//! counters (`ops/sampler.rs`), so the two never disagree.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::engine::NodeView;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A host's result as the runner's counter labels it: `status`, with docs/OPS.md's names.
type HostLabels = [(&'static str, &'static str); 1];

/// This relay's labels: `engine` (`sqlite` or `redis`) and `node` (its id on Redis).
type NodeLabels = [(&'static str, String); 2];

/// The statuses a host of a run ends with (`shared::ops::HostStatus::as_str`).
const HOST_STATUSES: [&str; 7] = [
    "ok",
    "failed",
    "unreachable",
    "auth_failed",
    "host_key_mismatch",
    "timeout",
    "cancelled",
];

/// Upper bounds of the latency histograms' buckets, in seconds: 100 µs to 2.5 s, 1-2.5-5 per
/// decade (exponential, and readable in the text).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Process-wide metrics. Counters are relaxed atomics (each read on its own, never as a set),
/// shared with the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    pub connections_opened: Counter,
    pub connections_closed: Counter,
    pub upgrades_refused: Counter,
    pub frames_received: Counter,
    pub messages_accepted: Counter,
    pub deliveries: Counter,
    pub errors_sent: Counter,
    pub closed_too_slow: Counter,
    pub closed_too_big: Counter,
    pub closed_ping_timeout: Counter,
    pub closed_hello_timeout: Counter,
    pub commits: Counter,
    pub messages_committed: Counter,
    pub commit_failures: Counter,
    pub commit_micros: Counter,
    pub checkpoints: Counter,
    pub refused_origin: Counter,
    pub refused_ip_open: Counter,
    pub refused_ip_rate: Counter,
    pub header_timeouts: Counter,
    pub http_shed: Counter,
    pub conns_refused_full: Counter,
    pub rate_limited: Counter,
    /// Each store transaction's time (the batch applied and committed).
    pub commit_seconds: Histogram,
    /// Each message's time from the hub taking it to its fan-out (queued to its recipients).
    pub fanout_seconds: Histogram,
    /// Runs started (audited, then handed to the runner).
    pub runs_started: Counter,
    /// Runs going on.
    pub runs_active: Gauge,
    /// Hosts of runs that ended, by status.
    runner_hosts: Family<HostLabels, Counter>,
    /// The hub's sizes, set from [`Gauges`] at each rendering.
    hub: [Gauge; 4],
    /// The relays holding a lease on Redis (1 on SQLite), and whether Redis answers.
    cluster: [Gauge; 2],
    /// 1, labelled with this relay's engine and node id.
    node: Family<NodeLabels, Gauge>,
    registry: Registry,
}

/// Figures read from the hub when /metrics is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub connections: usize,
    pub sessions: usize,
    pub rooms: usize,
    pub known_users: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Self {
            connections_opened: Counter::default(),
            connections_closed: Counter::default(),
            upgrades_refused: Counter::default(),
            frames_received: Counter::default(),
            messages_accepted: Counter::default(),
            deliveries: Counter::default(),
            errors_sent: Counter::default(),
            closed_too_slow: Counter::default(),
            closed_too_big: Counter::default(),
            closed_ping_timeout: Counter::default(),
            closed_hello_timeout: Counter::default(),
            commits: Counter::default(),
            messages_committed: Counter::default(),
            commit_failures: Counter::default(),
            commit_micros: Counter::default(),
            checkpoints: Counter::default(),
            refused_origin: Counter::default(),
            refused_ip_open: Counter::default(),
            refused_ip_rate: Counter::default(),
            header_timeouts: Counter::default(),
            http_shed: Counter::default(),
            conns_refused_full: Counter::default(),
            rate_limited: Counter::default(),
            commit_seconds: Histogram::new(LATENCY_BUCKETS),
            fanout_seconds: Histogram::new(LATENCY_BUCKETS),
            runs_started: Counter::default(),
            runs_active: Gauge::default(),
            runner_hosts: Family::default(),
            hub: Default::default(),
            cluster: Default::default(),
            node: Family::default(),
            registry: Registry::with_prefix("courier"),
        };
        m.register();
        m
    }
}

impl Metrics {
    /// Counts one. A relaxed atomic add: no lock, fit for the delivery path.
    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    /// Counts a host of a run that ended with `status` (one of [`HOST_STATUSES`]).
    pub fn host_ended(&self, status: &'static str) {
        self.runner_hosts.get_or_create(&[("status", status)]).inc();
    }

    /// Sets what /metrics says of this relay as a node: `None` on one relay (SQLite).
    pub fn set_node(&self, node: Option<&NodeView>) {
        let [relays, redis_up] = &self.cluster;
        let labels = match node {
            Some(n) => {
                relays.set(n.relays as i64);
                redis_up.set(i64::from(n.redis_up));
                [("engine", "redis".to_owned()), ("node", n.node.clone())]
            }
            None => {
                relays.set(1);
                redis_up.set(0);
                [("engine", "sqlite".to_owned()), ("node", String::new())]
            }
        };
        if self.node.get(&labels).is_none() {
            // The id is new at each start: one series for the life of the process.
            self.node.clear();
            self.node.get_or_create(&labels).set(1);
        }
    }

    /// The Prometheus text exposition of every metric, with the given gauges.
    pub fn render(&self, gauges: Gauges) -> String {
        let [connections, sessions, rooms, known_users] = &self.hub;
        connections.set(gauges.connections as i64);
        sessions.set(gauges.sessions as i64);
        rooms.set(gauges.rooms as i64);
        known_users.set(gauges.known_users as i64);
        let mut out = String::with_capacity(8192);
        // Writing to a String does not fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// Puts every metric in the registry (which adds `courier_`, and `_total` to counters).
    fn register(&mut self) {
        let counters = [
            (
                "connections_opened",
                "WebSocket connections upgraded",
                &self.connections_opened,
            ),
            (
                "connections_closed",
                "WebSocket connections ended",
                &self.connections_closed,
            ),
            (
                "upgrades_refused",
                "requests to /ws refused before the upgrade",
                &self.upgrades_refused,
            ),
            (
                "frames_received",
                "frames received from clients",
                &self.frames_received,
            ),
            (
                "messages_accepted",
                "room and private messages accepted",
                &self.messages_accepted,
            ),
            (
                "deliveries",
                "frames queued to connections",
                &self.deliveries,
            ),
            ("errors_sent", "error frames sent", &self.errors_sent),
            (
                "closed_too_slow",
                "connections closed because their queue was full",
                &self.closed_too_slow,
            ),
            (
                "closed_too_big",
                "connections closed for a message over 64 KiB",
                &self.closed_too_big,
            ),
            (
                "closed_ping_timeout",
                "connections dropped for not answering pings",
                &self.closed_ping_timeout,
            ),
            (
                "closed_hello_timeout",
                "connections closed without a hello in time",
                &self.closed_hello_timeout,
            ),
            (
                "commits",
                "database transactions committed by the store's writer",
                &self.commits,
            ),
            (
                "messages_committed",
                "room and private messages stored",
                &self.messages_committed,
            ),
            (
                "commit_failures",
                "messages the database failed to store",
                &self.commit_failures,
            ),
            (
                "commit_microseconds",
                "microseconds the store's writer spent in transactions",
                &self.commit_micros,
            ),
            (
                "checkpoints",
                "times the write-ahead log was folded into the database file",
                &self.checkpoints,
            ),
            (
                "refused_origin",
                "upgrades refused (403) for a page origin that is not allowed",
                &self.refused_origin,
            ),
            (
                "refused_ip_open",
                "upgrades refused (429) because the address had --conns-per-ip open",
                &self.refused_ip_open,
            ),
            (
                "refused_ip_rate",
                "upgrades refused (429) because the address opened connections too fast",
                &self.refused_ip_rate,
            ),
            (
                "header_timeouts",
                "HTTP connections closed without a request head (or TLS handshake) in time",
                &self.header_timeouts,
            ),
            (
                "http_shed",
                "plain HTTP connections closed unfinished, oldest first, to make room \
                 (--http-conns-per-ip, or the relay's connection budget)",
                &self.http_shed,
            ),
            (
                "conns_refused_full",
                "connections refused because WebSockets held the relay's connection budget \
                 (closed at accept, or 503 at the upgrade)",
                &self.conns_refused_full,
            ),
            (
                "rate_limited",
                "frames dropped and answered with rate_limited",
                &self.rate_limited,
            ),
            (
                "runs_started",
                "runs started on the runner (audited first)",
                &self.runs_started,
            ),
        ];
        for (name, help, counter) in counters {
            self.registry
                .register(name, format!("Number of {help}"), counter.clone());
        }
        let gauges = [
            ("connections", "open WebSocket connections"),
            ("sessions", "welcomed sessions (users online)"),
            ("rooms", "rooms with members"),
            ("known_users", "names that ever completed a hello"),
        ];
        for ((name, help), gauge) in gauges.into_iter().zip(&self.hub) {
            self.registry
                .register(name, format!("Number of {help}"), gauge.clone());
        }
        let [relays, redis_up] = &self.cluster;
        self.registry.register(
            "cluster_relays",
            "Number of relays holding a lease on Redis, this one included (1 on SQLite)",
            relays.clone(),
        );
        self.registry.register(
            "redis_up",
            "1 while Redis answers this relay (checked every second), else 0 (also on SQLite)",
            redis_up.clone(),
        );
        self.registry.register(
            "node",
            "1, labelled with this relay's engine and its node id on Redis",
            self.node.clone(),
        );
        self.registry.register(
            "runs_active",
            "Number of runs going on",
            self.runs_active.clone(),
        );
        for status in HOST_STATUSES {
            drop(self.runner_hosts.get_or_create(&[("status", status)]));
        }
        self.registry.register(
            "runner_hosts",
            "Number of hosts of runs that ended, by status",
            self.runner_hosts.clone(),
        );
        self.registry.register(
            "commit_seconds",
            "Seconds each transaction of the store's writer took (a batch applied and committed)",
            self.commit_seconds.clone(),
        );
        self.registry.register(
            "fanout_seconds",
            "Seconds from the hub taking a message (say or dm) to its fan-out, committed and \
             queued to its recipients",
            self.fanout_seconds.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        Metrics::inc(&m.deliveries);
        let text = m.render(Gauges {
            sessions: 3,
            ..Gauges::default()
        });
        assert!(text.contains("courier_deliveries_total 1\n"));
        assert!(text.contains("courier_sessions 3\n"));
        assert!(text.contains("# TYPE courier_rooms gauge"));
    }

    #[test]
    fn every_name_keeps_its_help_and_type() {
        let text = Metrics::default().render(Gauges::default());
        assert!(text.contains(
            "# HELP courier_closed_too_slow_total Number of connections closed because their \
             queue was full.\n# TYPE courier_closed_too_slow_total counter\n\
             courier_closed_too_slow_total 0\n"
        ));
        for name in [
            "http_shed_total",
            "messages_committed_total",
            "commit_microseconds_total",
            "runs_started_total",
        ] {
            assert!(
                text.contains(&format!("\ncourier_{name} 0\n")),
                "{name}: {text}"
            );
        }
        assert!(!text.contains("_total_total"), "{text}");
        assert!(
            !text.contains("# EOF"),
            "Prometheus text, not OpenMetrics: {text}"
        );
    }

    #[test]
    fn histograms_have_their_buckets() {
        let m = Metrics::default();
        m.commit_seconds.observe(0.0003);
        m.fanout_seconds.observe(0.002);
        m.fanout_seconds.observe(0.02);
        let text = m.render(Gauges::default());
        assert!(
            text.contains("# TYPE courier_commit_seconds histogram\n"),
            "{text}"
        );
        assert!(text.contains("courier_commit_seconds_bucket{le=\"0.00025\"} 0\n"));
        assert!(text.contains("courier_commit_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("courier_commit_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("courier_commit_seconds_count 1\n"));
        assert!(text.contains("courier_fanout_seconds_bucket{le=\"0.0025\"} 1\n"));
        assert!(text.contains("courier_fanout_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("courier_fanout_seconds_count 2\n"));
        assert!(text.contains("courier_fanout_seconds_sum 0.022"));
    }

    #[test]
    fn runner_counters_have_every_status() {
        let m = Metrics::default();
        Metrics::inc(&m.runs_started);
        m.runs_active.inc();
        m.host_ended("ok");
        m.host_ended("ok");
        m.host_ended("host_key_mismatch");
        let text = m.render(Gauges::default());
        assert!(text.contains("courier_runs_started_total 1\n"), "{text}");
        assert!(text.contains("# TYPE courier_runs_active gauge\ncourier_runs_active 1\n"));
        assert!(text.contains("# TYPE courier_runner_hosts_total counter\n"));
        assert!(text.contains("courier_runner_hosts_total{status=\"ok\"} 2\n"));
        assert!(text.contains("courier_runner_hosts_total{status=\"host_key_mismatch\"} 1\n"));
        for status in HOST_STATUSES {
            assert!(text.contains(&format!(
                "courier_runner_hosts_total{{status=\"{status}\"}}"
            )));
        }
    }
}
