//! Hostile clients, all at once, against the relay binary (a child process, so that its RSS
//! can be read): floods of messages and of typing, 10,000 joins, oversized frames, invalid
//! UTF-8, unmasked frames, a huge frame length, slowloris request heads, silent and
//! half-open sockets, and junk before the request line. Meanwhile well-behaved clients in
//! another room, on another address, keep getting their messages with a p99 latency under
//! 100 ms, and the relay's RSS stays under [`RSS_BOUND_KIB`].
//!
//! Attackers connect from 127.0.0.1, the well-behaved clients from 127.0.0.2. Everything is
//! on loopback, bounded in count, and ends by itself (about 15 s).
#![cfg(target_os = "linux")]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{connect_from, parse_response, raw_exchange};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

/// The bound on the relay's resident memory during the attack. An idle relay takes about
/// 10 MiB and peaked at about 15 MiB in this test; what the attack can add is bounded by the queues (4 MiB a connection at most,
/// and error frames are small), the read buffers and the room and user limits.
const RSS_BOUND_KIB: u64 = 64 * 1024;

const ATTACKER: &str = "127.0.0.1";
const GOOD: &str = "127.0.0.2";

/// The relay binary as a child process, killed when dropped.
struct ChildRelay {
    child: Child,
    addr: SocketAddr,
    /// Holds its database.
    _dir: tempfile::TempDir,
}

impl Drop for ChildRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildRelay {
    async fn start(flags: &[&str]) -> Self {
        let dir = common::temp_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
            .arg("--db")
            .arg(dir.path().join("courier.db"))
            .args(flags)
            // What is measured is what clients can do to each other, not how long this
            // machine's disk takes to fsync (with `full`, every commit waits for one; on a
            // shared disk that alone was seen to take 100 ms now and then).
            .args(["--db-sync", "normal"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines =
            BufReader::new(tokio::process::ChildStderr::from_std(stderr).unwrap()).lines();
        let mut addr = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on http://") {
                addr = Some(
                    line[at + "listening on http://".len()..]
                        .trim()
                        .parse()
                        .unwrap(),
                );
                break;
            }
        }
        // Keep reading the log, or the relay would block on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr: addr.expect("the relay says where it listens"),
            child,
            _dir: dir,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    async fn metric(&self, name: &str) -> u64 {
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let raw = raw_exchange(self.addr, request.as_bytes()).await;
        let (status, _, body) = parse_response(&raw);
        assert_eq!(status, 200);
        String::from_utf8(body)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

type Ws = WebSocketStream<TcpStream>;

async fn ws(addr: SocketAddr, from: &str) -> Ws {
    let tcp = connect_from(ip(from), addr).await;
    client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next JSON frame, skipping pings.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .expect("a frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn user(addr: SocketAddr, from: &str, name: &str) -> Ws {
    let mut ws = ws(addr, from).await;
    send(&mut ws, json!({"type":"hello","name":name})).await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    ws
}

/// A WebSocket by hand on a raw socket: the handshake, then whatever bytes a test writes.
async fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut tcp = connect_from(ip(ATTACKER), addr).await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// A masked client frame.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads server frames until a close frame; returns its code (None: the socket ended first).
async fn close_code(tcp: &mut TcpStream) -> Option<u16> {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            tcp.read_exact(&mut head).await.ok()?;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    tcp.read_exact(&mut l).await.ok()?;
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    tcp.read_exact(&mut l).await.ok()?;
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            tcp.read_exact(&mut payload).await.ok()?;
            if head[0] & 0x0f == 0x8 {
                return Some(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the relay closes the connection in time")
}

/// Reads until the relay ends the connection; panics if it does not within `within`.
async fn read_to_end(tcp: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(within, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the relay cut the connection off");
}

/// The next data frame (not a ping or pong) within `idle`; `None` if none came in time or
/// the connection ended. The relay pings every second here, so a plain timeout on `next`
/// would never see silence.
async fn next_data<S>(stream: &mut S, idle: Duration) -> Option<Message>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = Instant::now() + idle;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(msg))) => return Some(msg),
            _ => return None,
        }
    }
}

/// What a flood got back.
#[derive(Debug, Default)]
struct Tally {
    /// Answers of the expected type (the frame was carried out).
    ok: u64,
    rate_limited: u64,
    /// Other errors (`forbidden` for joins past the room cap, say).
    other_errors: u64,
    /// How long the flood took, from the first frame sent to the last answer read.
    secs: f64,
}

/// Sends `frames` as fast as the socket takes them while reading every answer, and counts
/// the answers. Stops reading at one answer a frame, or after 2 s without one when
/// `every_frame_answered` is false (typing has no answer when it is carried out).
async fn flood_and_count(
    ws: Ws,
    frames: Vec<String>,
    ok_type: &'static str,
    every_frame_answered: bool,
) -> Tally {
    let started = Instant::now();
    let expected = frames.len();
    let idle = if every_frame_answered { 10 } else { 2 };
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        let mut tally = Tally::default();
        let mut answers = 0;
        while answers < expected {
            let Some(msg) = next_data(&mut stream, Duration::from_secs(idle)).await else {
                break;
            };
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            match (v["type"].as_str(), v["code"].as_str()) {
                (Some(t), _) if t == ok_type => tally.ok += 1,
                (_, Some("rate_limited")) => tally.rate_limited += 1,
                (Some("error"), _) => tally.other_errors += 1,
                _ => continue, // presence, typing from others
            }
            answers += 1;
        }
        tally
    });
    for text in frames {
        if sink.feed(Message::text(text)).await.is_err() {
            break;
        }
    }
    let _ = sink.flush().await;
    let mut tally = reader.await.unwrap();
    tally.secs = started.elapsed().as_secs_f64();
    tally
}

/// Sends `count` frames without reading anything, until the relay cuts it off.
async fn flood_blind(mut ws: Ws, frame: Value, count: usize) {
    let text = frame.to_string();
    for _ in 0..count {
        if ws.feed(Message::text(text.clone())).await.is_err() {
            return;
        }
    }
    let _ = ws.flush().await;
}

// The attackers get one worker thread: on a two-core machine they share it with the relay
// they attack, and unlike real attackers elsewhere they would otherwise take both cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn under_attack_a_quiet_room_keeps_its_latency_and_the_relay_its_memory() {
    let relay = ChildRelay::start(&[
        "--header-timeout",
        "1",
        "--hello-timeout",
        "2",
        "--ping-interval",
        "1",
        "--ping-timeout",
        "1",
    ])
    .await;
    let addr = relay.addr;
    let rss_idle = relay.rss_kib();

    // The well-behaved: four senders and a reader in "quiet", from their own address, on a
    // thread and runtime of their own, so that what they measure is the relay's latency and
    // not this process's attackers competing with them for the same runtime.
    let epoch = Instant::now();
    let attack_over = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let over = attack_over.clone();
    let quiet = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut reader = user(addr, GOOD, "reader").await;
            send(&mut reader, json!({"type":"join","room":"quiet"})).await;
            assert_eq!(recv(&mut reader).await["type"], "joined");
            let mut senders = Vec::new();
            for s in 0..4 {
                let mut ws = user(addr, GOOD, &format!("good{s}")).await;
                send(&mut ws, json!({"type":"join","room":"quiet"})).await;
                let over = over.clone();
                senders.push(tokio::spawn(async move {
                    let (mut sink, mut stream) = ws.split();
                    // Drain this sender's own copies.
                    let drain =
                        tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
                    let mut sent = 0u64;
                    let start = Instant::now();
                    // 8 a second each: well under the default --msg-rate.
                    while !over.load(Ordering::Relaxed) || start.elapsed() < Duration::from_secs(8)
                    {
                        let t = epoch.elapsed().as_micros().to_string();
                        sink.send(Message::text(
                            json!({"type":"say","room":"quiet","text":t}).to_string(),
                        ))
                        .await
                        .unwrap();
                        sent += 1;
                        tokio::time::sleep(Duration::from_millis(125)).await;
                    }
                    drain.abort();
                    sent
                }));
            }
            ready_tx.send(()).unwrap();
            let mut latencies_us = Vec::new();
            while let Some(msg) = next_data(&mut reader, Duration::from_secs(2)).await {
                let Message::Text(t) = msg else { continue };
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "message" {
                    let sent: u128 = v["text"].as_str().unwrap().parse().unwrap();
                    latencies_us.push((epoch.elapsed().as_micros() - sent) as u64);
                }
            }
            let mut sent = 0;
            for s in senders {
                sent += s.await.unwrap();
            }
            (sent, latencies_us)
        })
    });
    tokio::task::spawn_blocking(move || ready_rx.recv())
        .await
        .unwrap()
        .expect("the quiet room is ready");
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampling = {
        let (peak, pid, over) = (peak_rss.clone(), relay.child.id(), attack_over.clone());
        tokio::spawn(async move {
            let path = format!("/proc/{pid}/status");
            while !over.load(Ordering::Relaxed) {
                let rss = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0);
                peak.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // The attack, all at once.
    let say = |room: &str, n: usize| {
        let text = "x".repeat(200);
        (0..n)
            .map(|i| json!({"type":"say","room":room,"text":text,"cid":i.to_string()}).to_string())
            .collect::<Vec<_>>()
    };
    let mut attacks = tokio::task::JoinSet::new();
    // A flood of messages that reads its answers: most are rate_limited.
    let flooder = {
        let mut ws = user(addr, ATTACKER, "flooder").await;
        send(&mut ws, json!({"type":"join","room":"flood-a"})).await;
        recv(&mut ws).await;
        tokio::spawn(flood_and_count(ws, say("flood-a", 20_000), "message", true))
    };
    // Floods that never read: cut off when their queue of errors fills (1013).
    for i in 0..3 {
        let mut ws = user(addr, ATTACKER, &format!("blind{i}")).await;
        send(&mut ws, json!({"type":"join","room":"flood-b"})).await;
        attacks.spawn(flood_blind(
            ws,
            json!({"type":"say","room":"flood-b","text":"y".repeat(1000)}),
            20_000,
        ));
    }
    // Someone in the typist's room, counting the typing notices it gets.
    let watcher = {
        let mut ws = user(addr, ATTACKER, "watcher").await;
        send(&mut ws, json!({"type":"join","room":"flood-b"})).await;
        recv(&mut ws).await;
        tokio::spawn(async move {
            let mut typing = 0u64;
            while let Some(msg) = next_data(&mut ws, Duration::from_secs(3)).await {
                if msg
                    .to_text()
                    .is_ok_and(|t| t.contains(r#""type":"typing""#))
                {
                    typing += 1;
                }
            }
            typing
        })
    };
    // A flood of typing.
    let typist = {
        let mut ws = user(addr, ATTACKER, "typist").await;
        send(&mut ws, json!({"type":"join","room":"flood-b"})).await;
        recv(&mut ws).await;
        let frames = vec![json!({"type":"typing","room":"flood-b"}).to_string(); 20_000];
        tokio::spawn(flood_and_count(ws, frames, "typing", false))
    };
    // 10,000 joins of different rooms.
    let joiner = {
        let ws = user(addr, ATTACKER, "joiner").await;
        let frames = (0..10_000)
            .map(|i| json!({"type":"join","room":format!("j{i}")}).to_string())
            .collect();
        tokio::spawn(flood_and_count(ws, frames, "joined", true))
    };
    // Oversized messages: closed with 1009.
    for _ in 0..5 {
        let mut ws = ws(addr, ATTACKER).await;
        attacks.spawn(async move {
            let _ = ws.send(Message::text("z".repeat(70_000))).await;
            let code = loop {
                match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                    Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                    Ok(Some(Ok(_))) => continue,
                    _ => break None,
                }
            };
            assert_eq!(code, Some(1009));
        });
    }
    // A frame header that claims 2^40 bytes: closed without waiting for them.
    attacks.spawn(async move {
        let mut tcp = raw_ws(addr).await;
        let mut frame = vec![0x81, 0xff];
        frame.extend_from_slice(&(1u64 << 40).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        tcp.write_all(&frame).await.unwrap();
        assert_eq!(close_code(&mut tcp).await, Some(1009));
    });
    // Invalid UTF-8 in a text frame: 1007.
    attacks.spawn(async move {
        let mut tcp = raw_ws(addr).await;
        tcp.write_all(&masked(0x1, &[0x7b, 0xff, 0xfe, 0x7d]))
            .await
            .unwrap();
        assert_eq!(close_code(&mut tcp).await, Some(1007));
    });
    // An unmasked client frame: 1002.
    attacks.spawn(async move {
        let mut tcp = raw_ws(addr).await;
        tcp.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
        assert_eq!(close_code(&mut tcp).await, Some(1002));
    });
    // Slowloris: request heads one byte at a time, and connections that send nothing. The
    // header timeout (1 s here) cuts them off.
    for i in 0..40 {
        attacks.spawn(async move {
            let mut tcp = connect_from(ip(ATTACKER), addr).await;
            let started = Instant::now();
            if i % 2 == 0 {
                let head = b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
                for b in head {
                    if tcp.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            read_to_end(&mut tcp, Duration::from_secs(6)).await;
            assert!(started.elapsed() < Duration::from_secs(6));
        });
    }
    // Junk before the request line (and a TLS hello on the plain port): refused, closed.
    for junk in [
        &b"\x00\xff\xfe garbage\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\r\n\r\n\r\nGET /ws HTTP/1.1\r\n\r\n",
        b"GARBAGE / HTTP/9.9\r\nHost x\r\n\r\n",
    ] {
        for _ in 0..5 {
            attacks.spawn(async move {
                let mut tcp = connect_from(ip(ATTACKER), addr).await;
                let _ = tcp.write_all(junk).await;
                read_to_end(&mut tcp, Duration::from_secs(6)).await;
            });
        }
    }
    // Half-open sockets: upgraded, then silent for good (a client that vanished without a FIN
    // looks the same to the relay). Half say hello first; the others never do.
    let mut half_open = Vec::new();
    for i in 0..40 {
        let mut ws = ws(addr, ATTACKER).await;
        if i % 2 == 0 {
            send(&mut ws, json!({"type":"hello","name":format!("ghost{i}")})).await;
        }
        half_open.push(ws); // never read again: no pong, no close answered
    }

    // The results of the floods.
    let flood = flooder.await.unwrap();
    let typing = typist.await.unwrap();
    let typing_seen = watcher.await.unwrap();
    let joins = joiner.await.unwrap();
    while let Some(done) = attacks.join_next().await {
        done.unwrap();
    }
    // Every frame over the rate was dropped with rate_limited; what went through is the
    // bucket's size and its rate over the flood's time (with a margin for timing). A flooder
    // that reads its answers more slowly than it sends is cut off (1013) when its queue of
    // answers fills, so it may not get them all.
    assert!(flood.other_errors == 0, "{flood:?}");
    let defaults = courier::Config::defaults();
    assert!(
        flood.ok as f64 <= f64::from(defaults.msg_burst) + defaults.msg_rate * flood.secs + 5.0,
        "{flood:?}"
    );
    // (The typist reads its answers far more slowly than it sends, so it is usually cut off
    // with 1013 before it reads many: what counts is what reached the others.)
    assert!(
        typing_seen as f64 <= 10.0 + 1.0 * typing.secs + 5.0,
        "typing notices that got through: {typing_seen}, {typing:?}"
    );
    assert!(joins.ok <= 100, "at most --rooms-per-conn rooms: {joins:?}");
    if joins.ok + joins.rate_limited + joins.other_errors == 10_000 {
        assert!(
            joins.other_errors > 0,
            "joins past the cap are forbidden: {joins:?}"
        );
    }

    // The silent and half-open connections are dropped: by the hello timeout (2 s) or the
    // pings (1 s + 1 s), then a close grace of 2 s.
    let mut open = u64::MAX;
    for _ in 0..100 {
        open = relay.metric("courier_connections").await;
        if open <= 5 + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        open <= 7,
        "only the well-behaved (and the flood survivors) are left: {open}"
    );
    assert!(relay.metric("courier_rate_limited_total").await >= 10_000);
    // The 40 half-open sockets: by the pings, or (without a hello) whichever comes first.
    let silent_closed = relay.metric("courier_closed_ping_timeout_total").await
        + relay.metric("courier_closed_hello_timeout_total").await;
    assert!(silent_closed >= 40, "{silent_closed}");
    assert!(relay.metric("courier_header_timeouts_total").await >= 40);
    assert!(relay.metric("courier_closed_too_big_total").await >= 6);
    drop(half_open);

    attack_over.store(true, Ordering::Relaxed);
    sampling.await.unwrap();
    let (sent, mut latencies) = tokio::task::spawn_blocking(move || quiet.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        latencies.len() as u64,
        sent,
        "the quiet room got every message"
    );
    latencies.sort_unstable();
    let p99 = latencies[latencies.len() * 99 / 100];
    let peak = peak_rss.load(Ordering::Relaxed);
    eprintln!(
        "hostile: {} messages in the quiet room, p50 {} us, p99 {} us, max {} us; \
         relay RSS idle {rss_idle} KiB, peak {peak} KiB; flood {flood:?}; typing {typing:?}; \
         joins {joins:?}; typing notices seen {typing_seen}",
        latencies.len(),
        latencies[latencies.len() / 2],
        p99,
        latencies[latencies.len() - 1],
    );
    assert!(p99 < 100_000, "p99 latency in the quiet room {p99} us");
    assert!(peak < RSS_BOUND_KIB, "relay RSS peaked at {peak} KiB");
    // Still serving.
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        parse_response(&raw_exchange(addr, request.as_bytes()).await).0,
        200
    );
}
