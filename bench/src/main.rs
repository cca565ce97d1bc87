//! `courier-bench`: load for a running Courier relay, over real sockets on loopback.
//!
//! `courier-bench idle` holds N welcomed, idle connections and reports the relay's resident
//! memory per connection (read from /proc when given the relay's PID).
//!
//! Everything is bounded in count and time and stops by itself.

mod proc_stats;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use shared::{ClientFrame, ClientMsg, ServerMsg};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(name = "courier-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open N connections, say hello on each, hold them idle, and report the relay's RSS per
    /// connection.
    Idle(IdleArgs),
}

#[derive(clap::Args)]
struct IdleArgs {
    /// The relay's address (host:port, loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    relay: SocketAddr,
    /// Connections to open (at most 60,000).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    clients: u32,
    /// The relay's PID, to read its RSS and CPU time from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds to hold the connections after they are all welcomed (at most 600).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=600))]
    hold: u64,
    /// Connections opened at the same time.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Names are PREFIX-0, PREFIX-1, …
    #[arg(long, default_value = "idle")]
    prefix: String,
    /// Print the report as JSON only.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct IdleReport {
    clients: u32,
    welcomed: u32,
    failed: u32,
    connect_seconds: f64,
    rss_before_kib: Option<u64>,
    rss_after_kib: Option<u64>,
    rss_per_connection_kib: Option<f64>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Idle(args) => idle(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("courier-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn idle(args: IdleArgs) -> Result<(), String> {
    if !args.relay.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", args.relay));
    }
    let rss_before = args.pid.and_then(proc_stats::rss_kib);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let (hold_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::with_capacity(args.clients as usize);
    for i in 0..args.clients {
        let gate = gate.clone();
        let mut release = hold_tx.subscribe();
        let name = format!("{}-{i}", args.prefix);
        let relay = args.relay;
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok()?;
            let ws = tokio::time::timeout(Duration::from_secs(30), open(relay, i, &name))
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
                let _ = sink.close().await;
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
    tokio::time::sleep(Duration::from_secs(2)).await;
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
                Some((a.saturating_sub(b)) as f64 / welcomed as f64)
            }
            _ => None,
        },
    };
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    if !args.json {
        if let Some(per) = report.rss_per_connection_kib {
            eprintln!(
                "relay RSS {} KiB → {} KiB: {per:.2} KiB per idle connection",
                rss_before.unwrap_or(0),
                rss_after.unwrap_or(0)
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let _ = hold_tx.send(());
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Connects from 127.0.0.x (spread so that ephemeral ports do not run out) and says hello.
async fn open(relay: SocketAddr, i: u32, name: &str) -> Result<Ws, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    let source = Ipv4Addr::new(127, 0, 0, 1 + (i % 250) as u8);
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .map_err(|e| e.to_string())?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    let tcp = socket.connect(relay).await.map_err(|e| e.to_string())?;
    let (mut ws, _) = client_async(format!("ws://{relay}/ws"), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let hello = ClientFrame::new(ClientMsg::Hello {
        name: name.to_owned(),
        token: None,
    });
    ws.send(Message::text(hello.to_json()))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(text) = msg.map_err(|e| e.to_string())? {
            return match ServerMsg::parse(&text) {
                Ok(ServerMsg::Welcome { .. }) => Ok(ws),
                other => Err(format!("{name}: expected welcome, got {other:?}")),
            };
        }
    }
    Err(format!("{name}: closed before welcome"))
}
