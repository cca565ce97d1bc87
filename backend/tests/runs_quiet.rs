//! The runner does not slow the chat: a quiet room's latency while a 50-host run streams
//! output, against the relay binary and real sshd processes on loopback (127.0.1.1–50).
//! Bounded: the run takes about 3 s, the whole test about 15 s.
#![cfg(target_os = "linux")]

mod common;
#[path = "hostile/harness.rs"]
#[allow(dead_code)] // this file uses a few of the harness's helpers
mod harness;
mod ssh_fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use harness::{ChildRelay, next_data, recv, send, user, ws};
use serde_json::{Value, json};
use ssh_fixture::Sshd;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const HOSTS: usize = 50;
const PASSWORD: &str = "correct horse battery";
/// Each host prints 100 lines over about 2 s.
const COMMAND: &str = "for i in $(seq 1 100); do echo \"line $i of the output\"; sleep 0.02; done";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_room_keeps_its_latency_while_a_50_host_run_streams_output() {
    let Some(sshd) = Sshd::start_with_range(HOSTS) else {
        return;
    };
    let user_name = courier::runner::relay_user().expect("a user");
    let port = sshd.port.to_string();
    let key = sshd.client_key.display().to_string();
    let known = sshd.known_hosts.display().to_string();
    let relay = ChildRelay::start(&[
        "--admin",
        "ops",
        "--ssh-key",
        &key,
        "--ssh-known-hosts",
        &known,
        "--ssh-port",
        &port,
        "--ssh-user",
        &user_name,
        "--runner-allow",
        "127.0.1.0/24",
        "--runner-parallel",
        "50",
    ])
    .await;
    let addr = relay.addr;
    let (ok, err) = common::passwd(&relay.db(), "ops", &format!("{PASSWORD}\n"));
    assert!(ok, "{err}");

    // The quiet room: two senders at 8 messages a second and a reader, on a thread and
    // runtime of their own; each latency is tagged with whether the run was going.
    let running = Arc::new(AtomicBool::new(false));
    let over = Arc::new(AtomicBool::new(false));
    let quiet = {
        let (running, over) = (running.clone(), over.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(quiet_room(addr, running, over))
        })
    };

    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ops = ws(addr, "127.0.0.3").await;
    send(
        &mut ops,
        json!({"type":"hello","name":"ops","password":PASSWORD}),
    )
    .await;
    assert_eq!(recv(&mut ops).await["operator"], true);
    running.store(true, Ordering::Relaxed);
    let started = Instant::now();
    send(
        &mut ops,
        json!({"type":"run","hosts":format!("127.0.1.1-{HOSTS}"),"command":COMMAND}),
    )
    .await;
    let (mut outputs, mut ok) = (0, 0);
    let done = loop {
        let frame: Value = tokio::time::timeout(Duration::from_secs(60), recv(&mut ops))
            .await
            .expect("the run ends");
        match frame["type"].as_str().unwrap() {
            "run_output" => outputs += 1,
            "run_host" if frame["status"] == "ok" => ok += 1,
            "run_host" => panic!("a host failed: {frame}"),
            "run_done" => break frame,
            _ => {}
        }
    };
    running.store(false, Ordering::Relaxed);
    let run_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    over.store(true, Ordering::Relaxed);
    let (mut before, mut during) = tokio::task::spawn_blocking(move || quiet.join().unwrap())
        .await
        .unwrap();
    assert_eq!((ok, &done["ok"]), (HOSTS, &json!(HOSTS)), "{done}");
    let p99 = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() * 99 / 100]
    };
    let (p99_before, p99_during) = (p99(&mut before), p99(&mut during));
    eprintln!(
        "runner: {HOSTS} hosts, {outputs} run_output frames in {run_secs:.1} s; quiet room \
         p99 {p99_before} us before ({} messages), {p99_during} us during ({} messages)",
        before.len(),
        during.len()
    );
    assert!(
        during.len() >= 10,
        "the quiet room kept talking during the run"
    );
    assert!(
        p99_during < 100_000,
        "p99 in the quiet room during the run: {p99_during} us"
    );
}

/// Latencies (µs) in the quiet room while `running` was false, and while it was true, until
/// `over`.
async fn quiet_room(
    addr: std::net::SocketAddr,
    running: Arc<AtomicBool>,
    over: Arc<AtomicBool>,
) -> (Vec<u64>, Vec<u64>) {
    let epoch = Instant::now();
    let mut reader = user(addr, "127.0.0.2", "reader").await;
    send(&mut reader, json!({"type":"join","room":"quiet"})).await;
    assert_eq!(recv(&mut reader).await["type"], "joined");
    for s in 0..2 {
        let mut ws = user(addr, "127.0.0.2", &format!("talker{s}")).await;
        send(&mut ws, json!({"type":"join","room":"quiet"})).await;
        let over = over.clone();
        tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
            while !over.load(Ordering::Relaxed) {
                let t = epoch.elapsed().as_micros().to_string();
                let frame = json!({"type":"say","room":"quiet","text":t}).to_string();
                if sink.send(Message::text(frame)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(125)).await;
            }
        });
    }
    let (mut before, mut during) = (Vec::new(), Vec::new());
    while !over.load(Ordering::Relaxed) {
        let Some(Message::Text(t)) = next_data(&mut reader, Duration::from_secs(2)).await else {
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["type"] == "message" {
            let sent: u128 = v["text"].as_str().unwrap().parse().unwrap();
            let latency = (epoch.elapsed().as_micros() - sent) as u64;
            if running.load(Ordering::Relaxed) {
                during.push(latency);
            } else {
                before.push(latency);
            }
        }
    }
    (before, during)
}
