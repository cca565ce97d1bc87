//! CI's smoke of the bench: the chat load against the real relay and against the floor, both
//! in this process on port 0. A few hundred clients for a few seconds: every accepted message
//! must reach every member of its room exactly once, and the JSON report must parse.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use bench::floor::{self, FloorConfig};
use bench::{ChatReport, Plan, Protocol};

/// The load of both smokes: 200 clients in rooms of 10, 20 senders at 10 msg/s for 3 s.
fn plan(addr: SocketAddr, protocol: Protocol) -> Plan {
    let mut plan = Plan::new(addr, protocol);
    plan.clients = 200;
    plan.room_size = 10;
    plan.senders = 20;
    plan.rate = 10.0;
    plan.duration_secs = 3.0;
    plan.drain_secs = 3.0;
    plan.pid = Some(std::process::id());
    plan
}

/// Runs the smoke load against `addr`, prints its summary and checks it with [`assert_clean`].
async fn run_clean(addr: SocketAddr, protocol: Protocol) {
    let report = bench::chat::run(&plan(addr, protocol))
        .await
        .expect("a valid plan");
    eprint!("{}", report.summary());
    assert_eq!(report.protocol, protocol.name());
    assert_clean(&report);
}

/// What both smokes check of a report.
fn assert_clean(report: &ChatReport) {
    let summary = report.summary();
    assert_eq!(report.connections_opened, 200, "{summary}");
    assert_eq!(report.sent, 20 * 30, "{summary}");
    assert_eq!(report.expected, report.accepted * 10, "{summary}");
    assert_eq!(report.missing, 0, "{summary}");
    assert_eq!(report.duplicates, 0, "{summary}");
    assert_eq!(report.out_of_order, 0, "{summary}");
    assert_eq!(report.errors, 0, "{summary}");
    assert_eq!(report.delivered, report.expected, "{summary}");
    assert_eq!(report.latency_ms.count, report.delivered, "{summary}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.max);
    assert!(report.deliveries_per_sec > 0.0, "{summary}");
    // Read from /proc of this process, which runs the server too.
    assert!(report.relay_rss_kib.is_some_and(|kib| kib > 0), "{summary}");
    assert!(report.relay_cpu_seconds.is_some(), "{summary}");
    let json = report.to_json();
    let back: ChatReport = serde_json::from_str(&json).expect("the JSON report parses");
    // serde_json reads floats back to within one unit in the last place, not always exactly.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    assert_eq!(
        (back.sent, back.delivered, back.expected, back.missing),
        (
            report.sent,
            report.delivered,
            report.expected,
            report.missing
        )
    );
    assert_eq!(
        (back.duplicates, back.errors),
        (report.duplicates, report.errors)
    );
    assert_eq!(back.relay_rss_kib, report.relay_rss_kib);
    assert!(close(back.deliveries_per_sec, report.deliveries_per_sec));
    assert!(close(back.latency_ms.p99, report.latency_ms.p99));
    assert!(close(
        back.relay_cpu_seconds.unwrap_or(-1.0),
        report.relay_cpu_seconds.unwrap_or(-1.0)
    ));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for field in [
        "connections_opened",
        "sent",
        "delivered",
        "expected",
        "missing",
        "duplicates",
        "deliveries_per_sec",
        "errors",
        "relay_rss_kib",
        "relay_cpu_seconds",
        "cpu_us_per_delivery",
    ] {
        assert!(value.get(field).is_some(), "no {field} in {json}");
    }
    for field in ["p50", "p90", "p99", "max"] {
        assert!(value["latency_ms"][field].is_number(), "{json}");
    }
}

/// Stops a server started here, within a bound.
async fn stop(tx: oneshot::Sender<()>, task: JoinHandle<()>) {
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .expect("the server task ends cleanly");
}

/// A relay in this process on a free port, with a database of its own under `name`.
fn start_relay(name: &str) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let mut config = courier::Config::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.static_dir = "/nonexistent-courier-bench-dist".into();
    config.names_per_ip_hour = 0;
    config.dm_rate = 0.0;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    config.db = dir.join("courier.db");
    config.db_sync = courier::config::Sync::Normal;
    let store = courier::store::Store::open(&config.db, config.db_sync).expect("open a database");
    let listener = courier::bind(config.listen).expect("bind a free port");
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stopped) = oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        courier::run(listener, config, store, async move {
            let _ = stopped.await;
        })
        .await
        .expect("the relay runs");
    });
    (addr, stop_tx, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_load_against_the_relay_loses_nothing() {
    let (addr, stop_tx, relay) = start_relay("bench-smoke");
    run_clean(addr, Protocol::Courier).await;
    stop(stop_tx, relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_load_of_private_messages_loses_nothing() {
    let (addr, stop_tx, relay) = start_relay("bench-pairs");
    let mut plan = plan(addr, Protocol::Courier);
    plan.pairs = true;
    plan.senders = 200;
    plan.rate = 2.0;
    plan.duration_secs = 2.0;
    let report = bench::chat::run(&plan).await.expect("a valid plan");
    let summary = report.summary();
    eprint!("{summary}");
    assert!(report.pairs && report.room_size == 2, "{summary}");
    assert_eq!(
        (report.connections_opened, report.rooms),
        (200, 100),
        "{summary}"
    );
    assert_eq!(report.sent, 200 * 4, "{summary}");
    // Each dm reaches its recipient and comes back to its sender.
    assert_eq!(report.expected, report.sent * 2, "{summary}");
    assert_eq!(
        (
            report.missing,
            report.duplicates,
            report.out_of_order,
            report.errors
        ),
        (0, 0, 0, 0),
        "{summary}"
    );
    stop(stop_tx, relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_spreads_its_clients_over_worker_processes_and_adds_them_up() {
    let (addr, stop_tx, relay) = start_relay("bench-idle-workers");
    let pid = std::process::id().to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_courier-bench"))
        .args(["idle", "--relay", &addr.to_string(), "--clients", "50"])
        .args(["--per-worker", "20", "--hold", "1", "--pid", &pid, "--json"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the idle run ends")
        .expect("courier-bench runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: bench::IdleReport = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(
        (report.clients, report.welcomed, report.failed),
        (50, 50, 0)
    );
    assert_eq!(report.workers, 3, "50 clients, 20 per worker");
    assert_eq!(report.processes.len(), 1);
    assert!(report.processes[0].idle_cpu_percent.is_some());
    assert!(report.rss_per_connection_kib.is_some());
    stop(stop_tx, relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_load_against_the_floor_loses_nothing() {
    let listener = floor::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(floor::serve(listener, FloorConfig::default(), async move {
        let _ = stopped.await;
    }));

    run_clean(addr, Protocol::Floor).await;
    stop(stop_tx, server).await;
}

#[tokio::test]
async fn non_loopback_targets_are_refused() {
    let plan = plan("192.0.2.1:80".parse().unwrap(), Protocol::Courier);
    let err = bench::chat::run(&plan).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    assert!(floor::bind("0.0.0.0:0".parse().unwrap()).await.is_err());
}
