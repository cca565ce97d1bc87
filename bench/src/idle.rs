//! `courier-bench idle`: holds N welcomed, idle connections, for the relay's memory per
//! connection (read from /proc when given the relay's PID).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;

use crate::cli::IdleArgs;
use crate::net;
use crate::proc_stats;
use crate::report::IdleReport;

/// How long one connection may take to be welcomed.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the relay gets to settle (free handshake buffers) before its RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Opens the connections, reports, holds them for `args.hold` seconds, and lets them go.
///
/// # Errors
/// A relay address that is not loopback, or a report that cannot be written.
pub async fn run(args: IdleArgs) -> Result<IdleReport, String> {
    net::check_loopback(args.relay)?;
    let rss_before = args.pid.and_then(proc_stats::rss_kib);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1) as usize));
    let (hold_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::with_capacity(args.clients as usize);
    for i in 0..args.clients {
        let gate = gate.clone();
        let mut release = hold_tx.subscribe();
        let name = format!("{}-{i}", args.prefix);
        let relay = args.relay;
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok()?;
            let ws = tokio::time::timeout(OPEN_TIMEOUT, net::open_courier(relay, i, &name))
                .await
                .ok()?
                .ok()?;
            drop(permit);
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let (mut sink, mut stream) = ws.split();
                let _ = ready_tx.send(());
                // Read (which answers the relay's pings) until told to let go.
                loop {
                    tokio::select! {
                        _ = release.recv() => break,
                        next = stream.next() => if next.is_none() { break },
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
            });
            ready_rx.await.ok()
        }));
        if i % 1000 == 999 && !args.json {
            eprint!("\ropening: {} of {}", i + 1, args.clients);
        }
    }
    let mut welcomed = 0;
    for task in tasks {
        if matches!(task.await, Ok(Some(()))) {
            welcomed += 1;
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    if !args.json {
        eprintln!(
            "\r{welcomed} of {} welcomed in {connect_seconds:.1} s; settling…",
            args.clients
        );
    }
    tokio::time::sleep(SETTLE).await;
    let rss_after = args.pid.and_then(proc_stats::rss_kib);
    let report = IdleReport {
        clients: args.clients,
        welcomed,
        failed: args.clients - welcomed,
        connect_seconds,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_connection_kib: match (rss_before, rss_after) {
            (Some(b), Some(a)) if welcomed > 0 => {
                Some((a.saturating_sub(b)) as f64 / f64::from(welcomed))
            }
            _ => None,
        },
    };
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    if !args.json
        && let Some(per) = report.rss_per_connection_kib
    {
        eprintln!(
            "relay RSS {} KiB → {} KiB: {per:.2} KiB per idle connection",
            rss_before.unwrap_or(0),
            rss_after.unwrap_or(0)
        );
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let _ = hold_tx.send(());
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(report)
}
