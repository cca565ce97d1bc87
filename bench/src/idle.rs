//! `courier-bench idle`: holds N welcomed, idle connections over one relay or a cluster, and
//! reports what they cost: each relay's RSS growth per connection, each process's CPU while
//! they sit idle, and Redis's memory.
//!
//! One process may hold 20,000 open files here, so more clients than `--per-worker` are opened
//! by worker processes (this binary again, with `--worker-from`): each opens its share, prints
//! one line saying how many were welcomed, and holds them until its standard input ends. The
//! parent adds their counts up and reads every figure itself.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{Semaphore, broadcast};

use crate::cli::IdleArgs;
use crate::net;
use crate::proc_stats;
use crate::redis_info::{self, RedisInfo};
use crate::report::{IdleReport, ProcessCost};

/// How long one connection may take to be welcomed.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening every connection may take, workers included.
const SETUP_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the relays get to settle (free handshake buffers) before their RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

/// What one process (this one, or a worker) opened.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Opened {
    welcomed: u32,
    failed: u32,
}

/// Opens the connections, reports, holds them for `args.hold` seconds, and lets them go.
///
/// # Errors
/// An address that is not loopback, a worker that could not be started, or a report that
/// cannot be written.
pub async fn run(args: IdleArgs) -> Result<IdleReport, String> {
    let relays = relays(&args);
    for relay in &relays {
        net::check_loopback(*relay)?;
    }
    if let Some(redis) = args.redis {
        net::check_loopback(redis)?;
    }
    if let Some(from) = args.worker_from {
        return worker(&args, &relays, from).await;
    }
    let redis_before = match args.redis {
        Some(addr) => Some(redis_info::read(addr).await?),
        None => None,
    };
    let rss_before: Vec<Option<u64>> = args.pid.iter().map(|&p| proc_stats::rss_kib(p)).collect();
    let started = Instant::now();
    let workers = args.clients.div_ceil(args.per_worker);
    let (opened, holding) = if workers <= 1 {
        let (opened, release) = open(&relays, 0, args.clients, &args, !args.json).await;
        (opened, Holding::Here(release))
    } else {
        let (opened, children) = start_workers(&args, workers).await?;
        (opened, Holding::Workers(children))
    };
    let connect_seconds = started.elapsed().as_secs_f64();
    if !args.json {
        eprintln!(
            "\r{} of {} welcomed in {connect_seconds:.1} s ({workers} process(es)); settling…",
            opened.welcomed, args.clients
        );
    }
    tokio::time::sleep(SETTLE).await;
    let redis_after = match args.redis {
        Some(addr) => redis_info::read(addr).await.ok(),
        None => None,
    };
    let redis_pid = redis_after.as_ref().and_then(|i| i.pid);
    let mut pids: Vec<(u32, &str)> = args.pid.iter().map(|&p| (p, "relay")).collect();
    pids.extend(redis_pid.map(|p| (p, "redis")));
    let rss_after: Vec<Option<u64>> = pids.iter().map(|&(p, _)| proc_stats::rss_kib(p)).collect();
    let cpu_start: Vec<Option<f64>> = pids
        .iter()
        .map(|&(p, _)| proc_stats::cpu_seconds(p))
        .collect();
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let cpu_end: Vec<Option<f64>> = pids
        .iter()
        .map(|&(p, _)| proc_stats::cpu_seconds(p))
        .collect();
    holding.release().await;

    let processes: Vec<ProcessCost> = pids
        .iter()
        .enumerate()
        .map(|(i, &(pid, role))| ProcessCost {
            pid,
            role: role.to_owned(),
            rss_before_kib: rss_before.get(i).copied().flatten().or_else(|| {
                (role == "redis")
                    .then(|| redis_before.as_ref().and_then(|r| r.rss_kib()))
                    .flatten()
            }),
            rss_after_kib: rss_after[i],
            idle_cpu_percent: match (cpu_start[i], cpu_end[i]) {
                (Some(a), Some(b)) if args.hold > 0 => Some((b - a) * 100.0 / args.hold as f64),
                _ => None,
            },
        })
        .collect();
    let report = IdleReport::new(
        (args.clients, opened.welcomed, workers),
        connect_seconds,
        processes,
        (redis_before, redis_after),
    );
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    if !args.json {
        eprint!("{}", report.summary());
    }
    Ok(report)
}

/// `--relay` and then `--also`.
fn relays(args: &IdleArgs) -> Vec<SocketAddr> {
    std::iter::once(args.relay)
        .chain(args.also.iter().copied())
        .collect()
}

/// Where the connections are held, until [`Holding::release`].
enum Holding {
    Here(broadcast::Sender<()>),
    Workers(Vec<(Child, ChildStdin)>),
}

impl Holding {
    /// Closes every connection: here, or by ending each worker's standard input.
    async fn release(self) {
        match self {
            Self::Here(release) => {
                let _ = release.send(());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Self::Workers(children) => {
                for (mut child, stdin) in children {
                    drop(stdin);
                    if tokio::time::timeout(Duration::from_secs(30), child.wait())
                        .await
                        .is_err()
                    {
                        let _ = child.kill().await;
                    }
                }
            }
        }
    }
}

/// Opens clients `from..from + count` (named PREFIX-i, client i on relay i mod n), each held
/// by a task until the returned sender sends (or is dropped).
async fn open(
    relays: &[SocketAddr],
    from: u32,
    count: u32,
    args: &IdleArgs,
    progress: bool,
) -> (Opened, broadcast::Sender<()>) {
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1) as usize));
    let (hold_tx, _) = broadcast::channel::<()>(1);
    let mut tasks = Vec::with_capacity(count as usize);
    for i in from..from + count {
        let gate = gate.clone();
        let mut release = hold_tx.subscribe();
        let name = format!("{}-{i}", args.prefix);
        let relay = relays[i as usize % relays.len()];
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
        if progress && (i - from) % 1000 == 999 {
            eprint!("\ropening: {} of {count}", i - from + 1);
        }
    }
    let mut opened = Opened::default();
    for task in tasks {
        if matches!(task.await, Ok(Some(()))) {
            opened.welcomed += 1;
        } else {
            opened.failed += 1;
        }
    }
    (opened, hold_tx)
}

/// A worker: opens its share, says so on stdout, and holds them until stdin ends.
async fn worker(args: &IdleArgs, relays: &[SocketAddr], from: u32) -> Result<IdleReport, String> {
    let (opened, release) = open(relays, from, args.clients, args, false).await;
    println!(
        "{}",
        serde_json::to_string(&opened).map_err(|e| e.to_string())?
    );
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    let _ = release.send(());
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(IdleReport::new(
        (args.clients, opened.welcomed, 1),
        0.0,
        Vec::new(),
        (None, None),
    ))
}

/// Starts `workers` processes, each opening its share of the clients, and waits until every
/// one has said what it opened.
async fn start_workers(
    args: &IdleArgs,
    workers: u32,
) -> Result<(Opened, Vec<(Child, ChildStdin)>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let also: Vec<String> = args.also.iter().map(ToString::to_string).collect();
    let mut children = Vec::new();
    let mut lines = Vec::new();
    for w in 0..workers {
        let from = w * args.per_worker;
        let count = args.per_worker.min(args.clients - from);
        let mut command = tokio::process::Command::new(&exe);
        command
            .arg("idle")
            .args(["--relay", &args.relay.to_string()])
            .args(["--clients", &count.to_string()])
            .args(["--worker-from", &from.to_string()])
            .args(["--prefix", &args.prefix])
            .args(["--concurrency", &args.concurrency.to_string()])
            .arg("--json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if !also.is_empty() {
            command.args(["--also", &also.join(",")]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let stdin = child.stdin.take().ok_or("a worker without stdin")?;
        let stdout = child.stdout.take().ok_or("a worker without stdout")?;
        lines.push(BufReader::new(stdout).lines());
        children.push((child, stdin));
    }
    let mut opened = Opened::default();
    let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
    for (w, lines) in lines.iter_mut().enumerate() {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .map_err(|_| format!("worker {w} did not finish opening in time"))?
            .map_err(|e| format!("worker {w}: {e}"))?
            .ok_or_else(|| format!("worker {w} ended without a report"))?;
        let got: Opened =
            serde_json::from_str(&line).map_err(|e| format!("worker {w} said {line:?}: {e}"))?;
        opened.welcomed += got.welcomed;
        opened.failed += got.failed;
        if !args.json {
            eprint!(
                "\rworkers done: {} of {workers}, {} welcomed   ",
                w + 1,
                opened.welcomed
            );
        }
    }
    Ok((opened, children))
}

impl IdleReport {
    /// The report from what was opened and measured: the relays' RSS added up, per connection.
    fn new(
        (clients, welcomed, workers): (u32, u32, u32),
        connect_seconds: f64,
        processes: Vec<ProcessCost>,
        (redis_before, redis_after): (Option<RedisInfo>, Option<RedisInfo>),
    ) -> Self {
        let relays: Vec<&ProcessCost> = processes.iter().filter(|p| p.role == "relay").collect();
        let sum = |f: fn(&ProcessCost) -> Option<u64>| -> Option<u64> {
            relays.iter().map(|p| f(p)).sum::<Option<u64>>()
        };
        let (rss_before_kib, rss_after_kib) = if relays.is_empty() {
            (None, None)
        } else {
            (sum(|p| p.rss_before_kib), sum(|p| p.rss_after_kib))
        };
        let per = |grown: u64| (welcomed > 0).then(|| grown as f64 / f64::from(welcomed));
        let redis_used = |r: &Option<RedisInfo>| r.as_ref().and_then(|r| r.used_memory);
        Self {
            clients,
            welcomed,
            failed: clients - welcomed,
            workers,
            connect_seconds,
            rss_before_kib,
            rss_after_kib,
            rss_per_connection_kib: rss_before_kib
                .zip(rss_after_kib)
                .and_then(|(b, a)| per(a.saturating_sub(b))),
            redis_used_memory_before: redis_used(&redis_before),
            redis_used_memory_after: redis_used(&redis_after),
            redis_bytes_per_connection: redis_used(&redis_before)
                .zip(redis_used(&redis_after))
                .and_then(|(b, a)| per(a.saturating_sub(b))),
            processes,
        }
    }
}
