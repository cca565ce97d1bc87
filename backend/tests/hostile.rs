//! Hostile clients, all at once, against the relay binary (a child process, so that its RSS
//! can be read): floods of messages and of typing, 10,000 joins, oversized frames, invalid
//! UTF-8, unmasked frames, a huge frame length, slowloris request heads, silent and
//! half-open sockets, and junk before the request line. Meanwhile well-behaved clients in
//! another room, on another address, keep getting every message, with a p99 latency under
//! [`QUIET_P99_BOUND_US`], and the relay's RSS stays under [`RSS_BOUND_KIB`].
//!
//! Attackers connect from 127.0.0.1, the well-behaved clients from 127.0.0.2. Everything is
//! on loopback, bounded in count, and ends by itself (about 15 s).
#![cfg(target_os = "linux")]

mod common;
#[path = "hostile/harness.rs"]
mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{connect_from, parse_response, raw_exchange};
use futures_util::{SinkExt, StreamExt};
use harness::{
    ChildRelay, close_code, flood_and_count, flood_blind, ip, masked, next_data, raw_ws,
    read_to_end, recv, rss_kib, send, user, ws,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The bound on the relay's resident memory during the attack. An idle relay takes about
/// 10 MiB and peaked at about 15 MiB in this test; what the attack can add is bounded by the queues (4 MiB a connection at most,
/// and error frames are small), the read buffers and the room and user limits.
const RSS_BOUND_KIB: u64 = 64 * 1024;

/// What the quiet room's p99 must stay under. Not a speed target (those are benchmarks, and
/// this is a debug build sharing two cores with its attackers): a relay that the attack took
/// down would hold the quiet room's messages for seconds, or lose them. Measured here at 5-80
/// ms; the test prints it. (It was 50-220 ms while the writer indexed every message for search
/// in the commit: the flooders' bursts, 800 messages of up to 1,000 characters, held the
/// quiet room's commits behind their trigrams.)
const QUIET_P99_BOUND_US: u64 = 500_000;

const ATTACKER: &str = "127.0.0.1";
const GOOD: &str = "127.0.0.2";

// The attackers get one worker thread: on a two-core machine they share it with the relay
// they attack, and unlike real attackers elsewhere they would otherwise take both cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn under_attack_a_quiet_room_keeps_its_latency_and_the_relay_its_memory() {
    let relay = ChildRelay::start(&[
        // The 60 slowloris and junk sockets of one address are to meet the header timeout
        // here; the per-address cap on such sockets (32) is hostile_accept.rs's.
        "--http-conns-per-ip",
        "128",
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
            while !over.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
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
        let mut tcp = raw_ws(addr, ATTACKER).await;
        let mut frame = vec![0x81, 0xff];
        frame.extend_from_slice(&(1u64 << 40).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        tcp.write_all(&frame).await.unwrap();
        assert_eq!(close_code(&mut tcp).await, Some(1009));
    });
    // Invalid UTF-8 in a text frame: 1007.
    attacks.spawn(async move {
        let mut tcp = raw_ws(addr, ATTACKER).await;
        tcp.write_all(&masked(0x1, &[0x7b, 0xff, 0xfe, 0x7d]))
            .await
            .unwrap();
        assert_eq!(close_code(&mut tcp).await, Some(1007));
    });
    // An unmasked client frame: 1002.
    attacks.spawn(async move {
        let mut tcp = raw_ws(addr, ATTACKER).await;
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
    assert!(
        p99 < QUIET_P99_BOUND_US,
        "p99 latency in the quiet room {p99} us"
    );
    assert!(peak < RSS_BOUND_KIB, "relay RSS peaked at {peak} KiB");
    // Still serving.
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        parse_response(&raw_exchange(addr, request.as_bytes()).await).0,
        200
    );
}
