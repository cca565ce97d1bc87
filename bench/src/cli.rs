//! The command line: one subcommand per kind of load, each flag bounded so that a run is
//! bounded in count and time whatever it is given.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::Protocol;
use crate::chat::{MAX_CLIENTS, Plan};

#[derive(Parser)]
#[command(name = "courier-bench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Open N connections, say hello on each, hold them idle, and report the relays' RSS per
    /// connection, their CPU while idle, and Redis's memory (one worker process per
    /// --per-worker clients).
    Idle(IdleArgs),
    /// Put N clients in rooms, have some of them send at a fixed rate, and report deliveries,
    /// losses, duplicates, latency and the relay's CPU and memory.
    Chat(ChatArgs),
    /// Run the same chat load against the relay and then the floor, and report Courier's
    /// figures as ratios to the floor's.
    Compare(CompareArgs),
    /// Run the floor: a minimal broadcast server with the relay's socket settings and no
    /// application logic, to measure what the machine allows.
    Floor(FloorArgs),
    /// Start a relay serving the release bundle and headless Chromium on it, stream messages
    /// into the page's room, and report the renderer's time per new message as the history
    /// grows, the DOM size, and how soon the user's own message shows during a burst.
    Render(RenderArgs),
}

#[derive(Clone, clap::Args)]
pub struct IdleArgs {
    /// The relay's address (host:port, loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub relay: SocketAddr,
    /// More relays of the same cluster (comma-separated host:port): client i connects to the
    /// (i mod n)th of `--relay` and these.
    #[arg(long, value_delimiter = ',')]
    pub also: Vec<SocketAddr>,
    /// Connections to open (at most 250,000).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=250_000))]
    pub clients: u32,
    /// The relays' PIDs (comma-separated), to read their RSS and CPU time from /proc.
    #[arg(long, value_delimiter = ',')]
    pub pid: Vec<u32>,
    /// Redis's address (host:port, loopback), to read its memory (`INFO`) and, by the PID it
    /// reports, its RSS and CPU time.
    #[arg(long)]
    pub redis: Option<SocketAddr>,
    /// Clients per worker process: one process may hold 20,000 open files here, so more
    /// clients than this are opened by several `courier-bench` processes, and their figures
    /// added up.
    #[arg(long, default_value_t = 19_000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub per_worker: u32,
    /// Seconds to hold the connections after they are all welcomed (at most 600); the CPU
    /// each process spends meanwhile is reported as its idle cost.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub hold: u64,
    /// Connections opened at the same time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub concurrency: u32,
    /// Names are PREFIX-0, PREFIX-1, …
    #[arg(long, default_value = "idle")]
    pub prefix: String,
    /// Print the report as JSON only.
    #[arg(long)]
    pub json: bool,
    /// Internal: run as a worker of another `courier-bench idle`: open the clients numbered
    /// from this one, print what opened, and hold them until standard input ends.
    #[arg(long, hide = true)]
    pub worker_from: Option<u32>,
}

/// Which server the chat load talks to.
#[derive(Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// The Courier relay: hello, join, say; JSON frames.
    Courier,
    /// `courier-bench floor`: connect to /ws?room=NAME and send raw text.
    Floor,
}

#[derive(clap::Args)]
pub struct ChatArgs {
    /// The server's address (host:port, loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub relay: SocketAddr,
    /// The server's PID, to read its RSS and CPU time from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// More relays of the same cluster (comma-separated host:port): the clients are spread
    /// over `--relay` and these in turn.
    #[arg(long, value_delimiter = ',')]
    pub also: Vec<SocketAddr>,
    /// The other relays' PIDs (comma-separated): their RSS and CPU time are added to the
    /// server's.
    #[arg(long, value_delimiter = ',')]
    pub also_pids: Vec<u32>,
    /// Redis's address (host:port, loopback), on a cluster: its CPU time is added to the
    /// relays' (its PID read from `INFO`), and shown apart.
    #[arg(long)]
    pub redis: Option<SocketAddr>,
    /// Which protocol the server speaks.
    #[arg(long, value_enum, default_value = "courier")]
    pub protocol: ProtocolArg,
    #[command(flatten)]
    pub load: LoadArgs,
}

impl ChatArgs {
    /// The load these flags describe (checked by [`Plan::check`] when run).
    pub fn plan(&self) -> Plan {
        let protocol = match self.protocol {
            ProtocolArg::Courier => Protocol::Courier,
            ProtocolArg::Floor => Protocol::Floor,
        };
        Plan {
            also: self.also.clone(),
            more_pids: self.also_pids.clone(),
            redis: self.redis,
            ..self.load.plan(self.relay, self.pid, protocol)
        }
    }
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The Courier relay's address (host:port, loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub relay: SocketAddr,
    /// The relay's PID.
    #[arg(long)]
    pub pid: Option<u32>,
    /// The floor's address (`courier-bench floor` prints it).
    #[arg(long)]
    pub floor: SocketAddr,
    /// The floor's PID.
    #[arg(long)]
    pub floor_pid: Option<u32>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// The shape of a chat load, the same for Courier and the floor.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Clients to open.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=MAX_CLIENTS as i64))]
    pub clients: u32,
    /// Clients per room; rooms are bench-0, bench-1, … (the last one may be smaller).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_CLIENTS as i64))]
    pub room_size: u32,
    /// Private messages instead of rooms: clients 2k and 2k+1 write to each other with `dm`
    /// (Courier; against the floor, rooms of 2). `--room-size` is then 2.
    #[arg(long)]
    pub pairs: bool,
    /// Clients that send, spread over the rooms round-robin.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=MAX_CLIENTS as i64))]
    pub senders: u32,
    /// Messages per second from each sender (at most 1000; all senders together at most
    /// 100,000).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds the senders send for, after the warm-up (at most 600).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before measuring starts: their messages are checked for loss but
    /// not counted in latency, rate or CPU (at most 60).
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Seconds to wait after the senders stop for deliveries still on the way (at most 60).
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Names are PREFIX-0, PREFIX-1, … (Courier protocol).
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Connections opened at the same time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub concurrency: u32,
    /// Print only the JSON report (no progress line, no summary).
    #[arg(long)]
    pub json: bool,
}

impl LoadArgs {
    /// This load against `relay`.
    pub fn plan(&self, relay: SocketAddr, pid: Option<u32>, protocol: Protocol) -> Plan {
        Plan {
            relay,
            also: Vec::new(),
            more_pids: Vec::new(),
            redis: None,
            clients: self.clients,
            room_size: self.room_size,
            pairs: self.pairs,
            senders: self.senders,
            rate: self.rate,
            duration_secs: self.duration,
            warmup_secs: self.warmup,
            drain_secs: self.drain,
            pid,
            protocol,
            prefix: self.prefix.clone(),
            concurrency: self.concurrency,
            progress: !self.json,
        }
    }
}

#[derive(clap::Args)]
pub struct FloorArgs {
    /// Address to listen on (loopback only); port 0 picks a free port, printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Bytes of each connection's read buffer (the relay's --read-buffer).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(256..=1_048_576))]
    pub read_buffer: u32,
    /// Bytes gathered before a write (the relay's --write-buffer).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub write_buffer: u32,
    /// Frames each connection may have waiting (the relay's --queue-frames).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub queue_frames: u32,
    /// Seconds after which the floor stops by itself (at most 3600).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_seconds: u64,
}

#[derive(clap::Args)]
pub struct RenderArgs {
    /// The relay binary (`cargo build --release -p courier`).
    #[arg(long, default_value = "target/release/courier")]
    pub relay_bin: PathBuf,
    /// The release bundle (`trunk build --release`).
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
    /// Messages the page holds at each measurement, ascending (each at most 50,000).
    #[arg(long, value_delimiter = ',', default_value = "200,2000,5000", value_parser = clap::value_parser!(u64).range(0..=50_000))]
    pub levels: Vec<u64>,
    /// Messages streamed at each level.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub stream: u32,
    /// Messages a second while streaming (at most 1000).
    #[arg(long, default_value_t = 40.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Messages a second while filling the page up to the next level (at most 1000).
    #[arg(long, default_value_t = 400.0, value_parser = parse_rate)]
    pub fill_rate: f64,
    /// Messages in the burst, sent as fast as the bot can (at most 50,000).
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub burst: u32,
    /// JavaScript run in the page once it is in the room, before measuring: for experiments
    /// (e.g. hide the list to see what painting it costs).
    #[arg(long)]
    pub page_script: Option<String>,
    /// Print only the JSON report.
    #[arg(long)]
    pub json: bool,
    /// Print a line per level as it is measured (not with `--json`).
    #[arg(skip)]
    pub progress: bool,
}

/// A rate in messages a second: above 0, at most 1000.
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if rate > 0.0 && rate <= 1000.0 {
        Ok(rate)
    } else {
        Err("a rate is above 0 and at most 1000".into())
    }
}
