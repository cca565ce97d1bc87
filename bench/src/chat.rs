//! `courier-bench chat`: N clients in rooms of K, S senders at R messages/s each; counts every
//! delivery (lost, duplicated, out of order), its latency, and what the server spent.
//!
//! A run goes: open and join every client (bounded by a deadline) → start the senders on one
//! schedule → after the warm-up, snapshot the server's CPU → senders finish → drain until every
//! expected delivery is in (or the drain time is up) → snapshot again → close everything.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::client::{self, Ctx, Phase, Protocol, Ready, Spec};
use crate::net;
use crate::proc_stats;
use crate::redis_info;
use crate::report::ChatReport;
use crate::tally::Tally;

/// Clients in one run at most (ephemeral ports over 250 source addresses allow more; the
/// relay's open-file limit and this machine's memory do not).
pub const MAX_CLIENTS: u32 = 60_000;
/// Seconds of sending at most.
pub const MAX_DURATION_SECS: f64 = 600.0;
/// Messages per second from one sender at most.
pub const MAX_RATE: f64 = 1000.0;
/// Messages per second from all senders together at most.
pub const MAX_TOTAL_RATE: f64 = 100_000.0;
/// Seconds of warm-up or drain at most.
pub const MAX_PHASE_SECS: f64 = 60.0;
/// How long opening and joining every client may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Grace past the senders' schedule for them to finish (a write can take `SEND_TIMEOUT`).
const SEND_GRACE: Duration = Duration::from_secs(10);
/// How long client tasks get to close their connections at the end.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// How often the drain checks whether every delivery is in.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// How long the run keeps reading after the last expected delivery, for late duplicates.
const LINGER: Duration = Duration::from_millis(200);

/// One run's load.
#[derive(Debug, Clone)]
pub struct Plan {
    pub relay: SocketAddr,
    /// More relays of the same cluster: client i connects to the (i mod n)th of `relay` and
    /// these.
    pub also: Vec<SocketAddr>,
    pub clients: u32,
    pub room_size: u32,
    /// Private messages instead of rooms (Courier): clients 2k and 2k+1 are partners, and a
    /// sender sends `dm`s to its partner. Against the floor, the same is rooms of 2.
    pub pairs: bool,
    pub senders: u32,
    /// Messages per second per sender.
    pub rate: f64,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub drain_secs: f64,
    /// The server's PID, for its RSS and CPU time.
    pub pid: Option<u32>,
    /// More relays' PIDs (a cluster): their RSS and CPU time are added to the server's.
    pub more_pids: Vec<u32>,
    /// Redis's address (a cluster): its CPU time is added too (its PID read from `INFO`), and
    /// reported apart as well.
    pub redis: Option<SocketAddr>,
    pub protocol: Protocol,
    /// Client names are PREFIX-i (Courier).
    pub prefix: String,
    /// Connections being opened at once.
    pub concurrency: u32,
    /// A progress line on stderr once a second.
    pub progress: bool,
}

impl Plan {
    /// A small plan against `relay`; tests adjust it.
    pub fn new(relay: SocketAddr, protocol: Protocol) -> Self {
        Self {
            relay,
            also: Vec::new(),
            clients: 100,
            room_size: 10,
            pairs: false,
            senders: 10,
            rate: 10.0,
            duration_secs: 2.0,
            warmup_secs: 0.0,
            drain_secs: 2.0,
            pid: None,
            more_pids: Vec::new(),
            redis: None,
            protocol,
            prefix: "bench".into(),
            concurrency: 200,
            progress: false,
        }
    }

    /// Rooms: clients / room size, rounded up (the last room may be smaller); with `pairs`,
    /// the pairs.
    pub fn rooms(&self) -> u32 {
        self.clients.div_ceil(self.size())
    }

    /// Clients per room, or 2 with `pairs`.
    fn size(&self) -> u32 {
        if self.pairs { 2 } else { self.room_size.max(1) }
    }

    /// Checks every bound, so that a run is bounded in count and time.
    ///
    /// # Errors
    /// What is out of bounds.
    pub fn check(&self) -> Result<(), String> {
        net::check_loopback(self.relay)?;
        for relay in &self.also {
            net::check_loopback(*relay)?;
        }
        let within = |what: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{what} must be from {lo} to {hi}, not {v}"))
            }
        };
        within(
            "--clients",
            f64::from(self.clients),
            1.0,
            f64::from(MAX_CLIENTS),
        )?;
        within(
            "--room-size",
            f64::from(self.size()),
            1.0,
            f64::from(self.clients),
        )?;
        if self.pairs && self.clients % 2 == 1 {
            return Err(format!(
                "--pairs needs an even number of clients, not {}",
                self.clients
            ));
        }
        within(
            "--senders",
            f64::from(self.senders),
            0.0,
            f64::from(self.clients),
        )?;
        within("--rate", self.rate, 0.001, MAX_RATE)?;
        within(
            "--senders × --rate",
            f64::from(self.senders) * self.rate,
            0.0,
            MAX_TOTAL_RATE,
        )?;
        within("--duration", self.duration_secs, 0.1, MAX_DURATION_SECS)?;
        within("--warmup", self.warmup_secs, 0.0, MAX_PHASE_SECS)?;
        within("--drain", self.drain_secs, 0.0, MAX_PHASE_SECS)?;
        within("--concurrency", f64::from(self.concurrency), 1.0, 5000.0)?;
        // The longest name must be a valid Courier name.
        let longest = format!("{}-{}", self.prefix, self.clients - 1);
        if shared::validate::name(&longest).is_err() {
            return Err(format!(
                "--prefix {:?} makes names like {longest:?}, which are not valid names",
                self.prefix
            ));
        }
        Ok(())
    }

    /// Messages each sender sends, warm-up included.
    fn per_sender(&self) -> u32 {
        ((self.warmup_secs + self.duration_secs) * self.rate).floor() as u32
    }

    /// Each client's room and sender number. Clients fill rooms in order; senders are taken
    /// round-robin over the rooms (first member of each room, then the second, …) so that
    /// the load spreads over every room.
    fn specs(&self) -> Vec<Spec> {
        let rooms = self.rooms();
        let size = self.size();
        let mut specs: Vec<Spec> = (0..self.clients)
            .map(|index| Spec {
                index,
                room: index / size,
                sender: None,
            })
            .collect();
        let mut next_sender = 0;
        'layers: for member in 0..size {
            for room in 0..rooms {
                if next_sender == self.senders {
                    break 'layers;
                }
                let index = room * size + member;
                if index < self.clients {
                    specs[index as usize].sender = Some(next_sender);
                    next_sender += 1;
                }
            }
        }
        specs
    }
}

/// Runs the load and reports.
///
/// # Errors
/// A plan out of bounds. Failures during the run are counted in the report, not returned.
pub async fn run(plan: &Plan) -> Result<ChatReport, String> {
    plan.check()?;
    let redis_pid = match plan.redis {
        Some(addr) => Some(
            redis_info::read(addr)
                .await?
                .pid
                .ok_or("Redis's INFO has no process_id")?,
        ),
        None => None,
    };
    let servers: Vec<u32> = plan.pid.iter().chain(&plan.more_pids).copied().collect();
    let rss_before = proc_stats::rss_kib_of(&servers);
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let ctx = Arc::new(Ctx {
        relays: std::iter::once(plan.relay)
            .chain(plan.also.iter().copied())
            .collect(),
        pairs: plan.pairs && plan.protocol == Protocol::Courier,
        protocol: plan.protocol,
        prefix: plan.prefix.clone(),
        tally: Tally::new(),
        phase: phase_rx,
        members: OnceLock::new(),
        send_start: OnceLock::new(),
        interval: Duration::from_secs_f64(1.0 / plan.rate),
        per_sender: plan.per_sender(),
        senders: plan.senders,
        senders_running: 0.into(),
    });
    let tally = &ctx.tally;

    // Open and join.
    let started = Instant::now();
    let setup_deadline = started + SETUP_TIMEOUT;
    let gate = Arc::new(Semaphore::new(plan.concurrency as usize));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Ready>();
    let tasks: Vec<_> = plan
        .specs()
        .into_iter()
        .map(|spec| {
            tokio::spawn(client::run(
                spec,
                ctx.clone(),
                gate.clone(),
                setup_deadline,
                ready_tx.clone(),
            ))
        })
        .collect();
    drop(ready_tx);
    let mut members = vec![0u32; plan.rooms() as usize];
    let (mut answered, mut opened, mut senders) = (0u32, 0u32, 0u32);
    let mut tick = Instant::now() + Duration::from_secs(1);
    while answered < plan.clients {
        tokio::select! {
            got = ready_rx.recv() => match got {
                Some(Ok(spec)) => {
                    answered += 1;
                    opened += 1;
                    members[spec.room as usize] += 1;
                    senders += u32::from(spec.sender.is_some());
                }
                Some(Err(())) => answered += 1,
                None => break,
            },
            () = tokio::time::sleep_until(tick) => {
                tick += Duration::from_secs(1);
                if plan.progress {
                    eprint!("\r[{:5.1} s] connecting: {opened} of {} joined, {} errors   ",
                        started.elapsed().as_secs_f64(), plan.clients, Tally::get(&tally.errors));
                }
            }
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    if plan.progress {
        eprintln!(
            "\r[{connect_seconds:5.1} s] {opened} of {} joined; sending…                ",
            plan.clients
        );
    }

    // Send.
    let _ = ctx.members.set(members);
    let send_start = Instant::now() + Duration::from_millis(100);
    let _ = ctx.send_start.set(send_start);
    let measure_start = send_start + Duration::from_secs_f64(plan.warmup_secs);
    let measure_from_ns = u64::try_from(
        measure_start
            .into_std()
            .saturating_duration_since(tally.epoch)
            .as_nanos(),
    )
    .unwrap_or(u64::MAX);
    tally
        .measure_from_ns
        .store(measure_from_ns, Ordering::Relaxed);
    ctx.senders_running.store(senders, Ordering::Release);
    let _ = phase_tx.send(Phase::Go);

    tokio::time::sleep_until(measure_start).await;
    let cpu_start = proc_stats::cpu_seconds_of(&servers);
    let redis_cpu_start = redis_pid.and_then(proc_stats::cpu_seconds);
    let delivered_start = Tally::get(&tally.delivered);
    let send_end = measure_start + Duration::from_secs_f64(plan.duration_secs);
    let mut progress = Progress::new(plan.progress, started);
    while ctx.senders_running.load(Ordering::Acquire) > 0 && Instant::now() < send_end + SEND_GRACE
    {
        tokio::time::sleep(DRAIN_POLL).await;
        progress.show(tally);
    }

    // Drain.
    let drain_end = Instant::now() + Duration::from_secs_f64(plan.drain_secs);
    while Tally::get(&tally.delivered) < Tally::get(&tally.expected) && Instant::now() < drain_end {
        tokio::time::sleep(DRAIN_POLL).await;
        progress.show(tally);
    }
    let measure_end = Instant::now();
    let cpu_end = proc_stats::cpu_seconds_of(&servers);
    let redis_cpu_end = redis_pid.and_then(proc_stats::cpu_seconds);
    let rss_end = proc_stats::rss_kib_of(&servers);
    let delivered_end = Tally::get(&tally.delivered);
    tokio::time::sleep(LINGER).await;
    progress.done();

    // Close.
    let _ = phase_tx.send(Phase::Stop);
    let close_deadline = Instant::now() + CLOSE_GRACE;
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout_at(close_deadline, task).await.is_err() {
            abort.abort();
        }
    }

    let window = measure_end.duration_since(measure_start).as_secs_f64();
    let window_deliveries = delivered_end.saturating_sub(delivered_start);
    let spent = |start: Option<f64>, end: Option<f64>| match (start, end) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    let redis_cpu_seconds = spent(redis_cpu_start, redis_cpu_end);
    // The relays' CPU and Redis's together: what the deliveries cost the deployment.
    let relay_cpu_seconds = match (spent(cpu_start, cpu_end), redis_cpu_seconds) {
        (Some(relays), redis) => Some(relays + redis.unwrap_or(0.0)),
        (None, _) => None,
    };
    let sent = Tally::get(&tally.sent);
    let rejected = Tally::get(&tally.rejected);
    let expected = Tally::get(&tally.expected);
    let delivered = Tally::get(&tally.delivered);
    Ok(ChatReport {
        protocol: plan.protocol.name().into(),
        clients: plan.clients,
        rooms: plan.rooms(),
        room_size: plan.size(),
        pairs: plan.pairs,
        senders: plan.senders,
        rate: plan.rate,
        duration_secs: plan.duration_secs,
        connections_opened: opened,
        connect_seconds,
        sent,
        accepted: sent.saturating_sub(rejected),
        delivered,
        expected,
        missing: expected.saturating_sub(delivered),
        duplicates: Tally::get(&tally.duplicates),
        out_of_order: Tally::get(&tally.out_of_order),
        deliveries_per_sec: if window > 0.0 {
            window_deliveries as f64 / window
        } else {
            0.0
        },
        latency_ms: tally.latencies.summary(),
        errors: Tally::get(&tally.errors),
        error_samples: tally.error_samples(),
        relay_rss_before_kib: rss_before,
        relay_rss_kib: rss_end,
        relay_cpu_seconds,
        redis_cpu_seconds,
        cpu_us_per_delivery: relay_cpu_seconds
            .filter(|_| window_deliveries > 0)
            .map(|cpu| cpu * 1e6 / window_deliveries as f64),
    })
}

/// The progress line: once a second, on stderr, rewritten in place.
struct Progress {
    on: bool,
    started: Instant,
    next: Instant,
    last_delivered: u64,
}

impl Progress {
    fn new(on: bool, started: Instant) -> Self {
        Self {
            on,
            started,
            next: Instant::now() + Duration::from_secs(1),
            last_delivered: 0,
        }
    }

    fn show(&mut self, tally: &Tally) {
        if !self.on || Instant::now() < self.next {
            return;
        }
        self.next += Duration::from_secs(1);
        let delivered = Tally::get(&tally.delivered);
        eprint!(
            "\r[{:5.1} s] sent {}  delivered {} of {}  duplicates {}  errors {}  {}/s   ",
            self.started.elapsed().as_secs_f64(),
            Tally::get(&tally.sent),
            delivered,
            Tally::get(&tally.expected),
            Tally::get(&tally.duplicates),
            Tally::get(&tally.errors),
            delivered.saturating_sub(self.last_delivered),
        );
        self.last_delivered = delivered;
    }

    fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(clients: u32, room_size: u32, senders: u32) -> Plan {
        let mut plan = Plan::new("127.0.0.1:1".parse().unwrap(), Protocol::Courier);
        plan.clients = clients;
        plan.room_size = room_size;
        plan.senders = senders;
        plan
    }

    #[test]
    fn senders_spread_over_the_rooms() {
        let specs = plan(25, 10, 4).specs();
        let senders: Vec<_> = specs
            .iter()
            .filter_map(|s| s.sender.map(|n| (n, s.index, s.room)))
            .collect();
        // Rooms 0, 1, 2 (of 10, 10, 5) get one each, then room 0 a second.
        assert_eq!(senders, vec![(0, 0, 0), (3, 1, 0), (1, 10, 1), (2, 20, 2)]);
        assert_eq!(plan(25, 10, 4).rooms(), 3);
    }

    #[test]
    fn every_client_can_send() {
        let specs = plan(25, 10, 25).specs();
        assert!(specs.iter().all(|s| s.sender.is_some()));
    }

    #[test]
    fn bounds_are_checked() {
        assert!(plan(100, 10, 10).check().is_ok());
        assert!(plan(60_001, 10, 10).check().is_err());
        assert!(plan(100, 101, 10).check().is_err());
        assert!(plan(100, 10, 101).check().is_err());
        let mut p = plan(100, 10, 10);
        p.duration_secs = 601.0;
        assert!(p.check().is_err());
        p.duration_secs = f64::NAN;
        assert!(p.check().is_err());
        let mut p = plan(100, 10, 10);
        p.rate = 5000.0;
        assert!(p.check().is_err());
        let mut p = plan(100, 10, 10);
        p.relay = "192.168.1.1:80".parse().unwrap();
        assert!(p.check().is_err());
        let mut p = plan(100, 10, 10);
        p.prefix = "x".repeat(40);
        assert!(p.check().is_err());
        let mut p = plan(101, 10, 10);
        p.pairs = true;
        assert!(
            p.check().is_err(),
            "an odd number of clients cannot pair up"
        );
    }

    #[test]
    fn pairs_are_rooms_of_two() {
        let mut p = plan(10, 7, 10);
        p.pairs = true;
        assert_eq!(p.rooms(), 5);
        let specs = p.specs();
        assert_eq!((specs[4].room, specs[5].room), (2, 2));
    }
}
