//! Counters for operators, served at `GET /metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Process-wide counters. Relaxed atomics: each is read on its own, never as a set.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_opened: AtomicU64,
    pub connections_closed: AtomicU64,
    pub upgrades_refused: AtomicU64,
    pub frames_received: AtomicU64,
    pub messages_accepted: AtomicU64,
    pub deliveries: AtomicU64,
    pub errors_sent: AtomicU64,
    pub closed_too_slow: AtomicU64,
    pub closed_too_big: AtomicU64,
    pub closed_ping_timeout: AtomicU64,
    pub closed_hello_timeout: AtomicU64,
    pub commits: AtomicU64,
    pub messages_committed: AtomicU64,
    pub commit_failures: AtomicU64,
    pub commit_micros: AtomicU64,
    pub refused_origin: AtomicU64,
    pub refused_ip_open: AtomicU64,
    pub refused_ip_rate: AtomicU64,
    pub header_timeouts: AtomicU64,
    pub http_shed: AtomicU64,
    pub conns_refused_full: AtomicU64,
    pub rate_limited: AtomicU64,
}

/// Figures read from the hub when /metrics is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub connections: usize,
    pub sessions: usize,
    pub rooms: usize,
    pub known_users: usize,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition of every counter and the given gauges.
    pub fn render(&self, gauges: Gauges) -> String {
        let counters = [
            (
                "connections_opened_total",
                "WebSocket connections upgraded",
                &self.connections_opened,
            ),
            (
                "connections_closed_total",
                "WebSocket connections ended",
                &self.connections_closed,
            ),
            (
                "upgrades_refused_total",
                "requests to /ws refused before the upgrade",
                &self.upgrades_refused,
            ),
            (
                "frames_received_total",
                "frames received from clients",
                &self.frames_received,
            ),
            (
                "messages_accepted_total",
                "room and private messages accepted",
                &self.messages_accepted,
            ),
            (
                "deliveries_total",
                "frames queued to connections",
                &self.deliveries,
            ),
            ("errors_sent_total", "error frames sent", &self.errors_sent),
            (
                "closed_too_slow_total",
                "connections closed because their queue was full",
                &self.closed_too_slow,
            ),
            (
                "closed_too_big_total",
                "connections closed for a message over 64 KiB",
                &self.closed_too_big,
            ),
            (
                "closed_ping_timeout_total",
                "connections dropped for not answering pings",
                &self.closed_ping_timeout,
            ),
            (
                "closed_hello_timeout_total",
                "connections closed without a hello in time",
                &self.closed_hello_timeout,
            ),
            (
                "commits_total",
                "database transactions committed by the store's writer",
                &self.commits,
            ),
            (
                "messages_committed_total",
                "room and private messages stored",
                &self.messages_committed,
            ),
            (
                "commit_failures_total",
                "messages the database failed to store",
                &self.commit_failures,
            ),
            (
                "commit_microseconds_total",
                "microseconds the store's writer spent in transactions",
                &self.commit_micros,
            ),
            (
                "refused_origin_total",
                "upgrades refused (403) for a page origin that is not allowed",
                &self.refused_origin,
            ),
            (
                "refused_ip_open_total",
                "upgrades refused (429) because the address had --conns-per-ip open",
                &self.refused_ip_open,
            ),
            (
                "refused_ip_rate_total",
                "upgrades refused (429) because the address opened connections too fast",
                &self.refused_ip_rate,
            ),
            (
                "header_timeouts_total",
                "HTTP connections closed without a request head (or TLS handshake) in time",
                &self.header_timeouts,
            ),
            (
                "http_shed_total",
                "plain HTTP connections closed unfinished, oldest first, to make room \
                 (--http-conns-per-ip, or the relay's connection budget)",
                &self.http_shed,
            ),
            (
                "conns_refused_full_total",
                "connections refused because WebSockets held the relay's connection budget \
                 (closed at accept, or 503 at the upgrade)",
                &self.conns_refused_full,
            ),
            (
                "rate_limited_total",
                "frames dropped and answered with rate_limited",
                &self.rate_limited,
            ),
        ];
        let mut out = String::with_capacity(2048);
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP courier_{name} Number of {help}.\n# TYPE courier_{name} counter\ncourier_{name} {}",
                value.load(Relaxed)
            );
        }
        let gauges = [
            (
                "connections",
                "open WebSocket connections",
                gauges.connections,
            ),
            (
                "sessions",
                "welcomed sessions (users online)",
                gauges.sessions,
            ),
            ("rooms", "rooms with members", gauges.rooms),
            (
                "known_users",
                "names that ever completed a hello",
                gauges.known_users,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP courier_{name} Number of {help}.\n# TYPE courier_{name} gauge\ncourier_{name} {value}"
            );
        }
        out
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
}
