//! Hostile clients against mailboxes and against replies larger than their requests, on the
//! relay binary (a child process, so that its RSS can be read):
//! - one address filling a user's mailbox, offline and online (acking like the web client),
//!   while an honest sender on another address DMs the same user: every one of the honest
//!   sender's DMs goes through;
//! - a `history` page over a room of long messages stays within its byte bound and pages on
//!   with `more`;
//! - many connections that ask for history and never read are cut off, and the relay's RSS
//!   comes back to within 50 MB of where it started.
//!
//! Attackers connect from 127.0.0.1, honest clients from 127.0.0.2. Loopback only, bounded in
//! count, each test ends by itself.
#![cfg(target_os = "linux")]

mod common;
#[path = "hostile/harness.rs"]
#[allow(dead_code)] // each suite uses part of it
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use harness::{ChildRelay, Ws, ip, masked, next_data, recv, send, user, ws};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const ATTACKER: &str = "127.0.0.1";
const HONEST: &str = "127.0.0.2";

/// RSS may end this far above where it started.
const RSS_SLACK_KIB: u64 = 50 * 1024;

/// Sends DMs to `to`: a burst of `burst` as fast as the socket takes them, then 20 a second
/// (the default --msg-rate) until `lasting` has passed, reading every answer. Returns how many
/// were stored (the sender's copy came back) and how many were refused.
async fn dm_flood(ws: Ws, to: &str, burst: usize, lasting: Duration) -> (u64, u64) {
    let (mut sink, mut stream) = ws.split();
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<u64>();
    let reader = tokio::spawn(async move {
        let (mut stored, mut refused) = (0u64, 0u64);
        let mut sent_rx = sent_rx;
        let mut sent = u64::MAX;
        while stored + refused < sent {
            let next = tokio::select! {
                n = &mut sent_rx, if sent == u64::MAX => {
                    sent = n.unwrap();
                    continue;
                }
                next = next_data(&mut stream, Duration::from_secs(10)) => next,
            };
            let Some(Message::Text(t)) = next else {
                break;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            match v["type"].as_str() {
                Some("message") => stored += 1,
                Some("error") => refused += 1,
                _ => {}
            }
        }
        (stored, refused)
    });
    let text = json!({"type":"dm","to":to,"text":"z".repeat(300)}).to_string();
    let mut sent = 0;
    for _ in 0..burst {
        if sink.feed(Message::text(text.clone())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = sink.flush().await;
    let until = Instant::now() + lasting;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if sink.send(Message::text(text.clone())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = sent_tx.send(sent);
    reader.await.unwrap()
}

/// The honest sender: `n` DMs to `to`, one every `gap`, each answered before the next. Returns
/// the answers that were not the sender's copy.
async fn honest_dms(ws: &mut Ws, to: &str, n: usize, gap: Duration) -> Vec<Value> {
    let mut failures = Vec::new();
    for i in 0..n {
        let cid = format!("h{i}");
        send(
            ws,
            json!({"type":"dm","to":to,"text":format!("honest {i}"),"cid":cid}),
        )
        .await;
        loop {
            let v = recv(ws).await;
            if v["cid"] == cid.as_str() {
                if v["type"] != "message" {
                    failures.push(v);
                }
                break;
            }
        }
        tokio::time::sleep(gap).await;
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_mailbox_keeps_room_for_an_honest_sender_while_one_address_fills_it() {
    let relay = ChildRelay::start(&["--dm-rate", "0"]).await;
    let addr = relay.addr;
    let rss_start = relay.rss_kib();
    // Without --dm-rate, so that what holds is the share alone.
    // The victim said hello once and left: its mail waits in the mailbox.
    drop(user(addr, HONEST, "victim").await);

    // Five connections from one address, five names, each a burst of DMs.
    let started = Instant::now();
    let mut floods = tokio::task::JoinSet::new();
    for a in 0..5 {
        let ws = user(addr, ATTACKER, &format!("filler{a}")).await;
        floods.spawn(dm_flood(ws, "victim", 200, Duration::ZERO));
    }
    let (mut stored, mut refused) = (0, 0);
    while let Some(done) = floods.join_next().await {
        let (s, r) = done.unwrap();
        stored += s;
        refused += r;
    }
    eprintln!(
        "attack: {stored} stored, {refused} refused in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert!(stored <= 100, "one address took {stored} of the mailbox");

    // The attacker keeps at it; the honest sender's DMs still all go through.
    let filler = user(addr, ATTACKER, "filler9").await;
    let again = tokio::spawn(dm_flood(filler, "victim", 200, Duration::from_secs(2)));
    let mut honest = user(addr, HONEST, "honest").await;
    let failures = honest_dms(&mut honest, "victim", 50, Duration::ZERO).await;
    assert!(failures.is_empty(), "honest DMs refused: {failures:?}");
    again.await.unwrap();

    // The victim comes back and gets all fifty.
    let mut victim = user(addr, HONEST, "victim").await;
    let mut from_honest = 0;
    while let Some(Message::Text(t)) = next_data(&mut victim, Duration::from_secs(2)).await {
        if t.as_str().contains(r#""from":"honest""#) {
            from_honest += 1;
        }
    }
    assert_eq!(from_honest, 50);
    assert!(relay.rss_kib() < rss_start + RSS_SLACK_KIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_acking_user_keeps_getting_an_honest_senders_dms_while_one_address_floods() {
    // Thirty attacking names from one address: past the names-per-address limit, which is not
    // what this test is about.
    let relay = ChildRelay::start(&["--names-per-ip-hour", "0"]).await;
    let addr = relay.addr;
    let rss_start = relay.rss_kib();
    // The victim acknowledges like the web client: once per burst of frames it has read.
    let mut victim = ws(addr, HONEST).await;
    send(
        &mut victim,
        json!({"type":"hello","name":"victim","acks":true}),
    )
    .await;
    assert_eq!(recv(&mut victim).await["type"], "welcome");
    let (mut vsink, mut vstream) = victim.split();
    let acker = tokio::spawn(async move {
        let (mut got, mut from_honest) = (0u64, 0u64);
        loop {
            let Some(first) = next_data(&mut vstream, Duration::from_secs(3)).await else {
                break;
            };
            let mut burst = vec![first];
            while let Some(Some(Ok(m))) = vstream.next().now_or_never() {
                burst.push(m);
            }
            let mut highest: std::collections::HashMap<String, u64> = Default::default();
            for m in burst {
                let Message::Text(t) = m else { continue };
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "message" {
                    got += 1;
                    let from = v["from"].as_str().unwrap().to_owned();
                    from_honest += u64::from(from == "honest");
                    let seq = highest.entry(from).or_default();
                    *seq = (*seq).max(v["seq"].as_u64().unwrap());
                }
            }
            for (with, seq) in highest {
                let ack = json!({"type":"ack","with":with,"seq":seq}).to_string();
                if vsink.send(Message::text(ack)).await.is_err() {
                    return (got, from_honest, false);
                }
            }
        }
        (got, from_honest, true)
    });

    // Thirty connections from one address, each with its own name, flooding the victim.
    let mut floods = tokio::task::JoinSet::new();
    for a in 0..30 {
        let ws = user(addr, ATTACKER, &format!("flooder{a}")).await;
        floods.spawn(dm_flood(ws, "victim", 200, Duration::from_secs(8)));
    }
    let mut honest = user(addr, HONEST, "honest").await;
    // Ten a second: faster than anyone types, within --dm-rate's burst.
    let failures = honest_dms(&mut honest, "victim", 60, Duration::from_millis(100)).await;
    let (mut stored, mut refused) = (0, 0);
    while let Some(done) = floods.join_next().await {
        let (s, r) = done.unwrap();
        stored += s;
        refused += r;
    }
    eprintln!("attack: {stored} stored, {refused} refused");
    assert!(
        failures.is_empty(),
        "{} honest DMs refused: {failures:?}",
        failures.len()
    );
    let (got, from_honest, open) = acker.await.unwrap();
    eprintln!("the victim got {got} messages");
    assert!(open, "the victim's connection stayed open");
    assert_eq!(from_honest, 60);
    assert!(relay.rss_kib() < rss_start + RSS_SLACK_KIB);
}

/// A room of `n` messages of 4000 characters each, said from the honest address.
async fn room_of_long_messages(addr: SocketAddr, room: &str, n: usize) {
    let mut ws = user(addr, HONEST, "writer").await;
    send(&mut ws, json!({"type":"join","room":room})).await;
    assert_eq!(recv(&mut ws).await["type"], "joined");
    for i in 0..n {
        // Quotes are escaped in JSON: each message is about 8 KB on the wire.
        let text = format!("{i:04}{}", "\"".repeat(3996));
        send(&mut ws, json!({"type":"say","room":room,"text":text})).await;
        assert_eq!(recv(&mut ws).await["type"], "message");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_page_of_long_messages_is_bounded_in_bytes_and_pages_on_with_more() {
    let relay = ChildRelay::start(&[
        "--msg-rate",
        "1000",
        "--msg-burst",
        "1000",
        "--names-per-ip-hour",
        "0",
    ])
    .await;
    let addr = relay.addr;
    room_of_long_messages(addr, "long", 100).await;

    let mut reader = user(addr, HONEST, "reader").await;
    let request = json!({"type":"history","room":"long","limit":100}).to_string();
    send(&mut reader, serde_json::from_str(&request).unwrap()).await;
    let mut seqs = Vec::new();
    let mut pages = 0;
    loop {
        let Some(Message::Text(t)) = next_data(&mut reader, Duration::from_secs(10)).await else {
            panic!("a history page");
        };
        let page: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(page["type"], "history", "{page}");
        pages += 1;
        eprintln!(
            "page {pages}: {} bytes for a {} byte request",
            t.len(),
            request.len()
        );
        // The default bound is 64 KiB; a page may pass it by its last message only.
        assert!(
            t.len() <= 64 * 1024 + 9 * 1024,
            "a page of {} bytes",
            t.len()
        );
        let messages = page["messages"].as_array().unwrap();
        assert!(!messages.is_empty());
        let mut these: Vec<u64> = messages
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        these.extend(seqs);
        seqs = these;
        if page["more"] != true {
            break;
        }
        send(
            &mut reader,
            json!({"type":"history","room":"long","limit":100,"before":seqs[0]}),
        )
        .await;
    }
    assert_eq!(
        seqs,
        (1..=100).collect::<Vec<_>>(),
        "every message, once, in order"
    );
    assert!(pages > 1, "long messages take more than one page");

    // A join says `more` the same way.
    send(&mut reader, json!({"type":"join","room":"long"})).await;
    let joined = recv(&mut reader).await;
    assert_eq!(joined["type"], "joined");
    assert_eq!(joined["more"], true);
    assert!(joined.to_string().len() <= 64 * 1024 + 10 * 1024);
}

/// A WebSocket on a socket with a small receive buffer, that asks for history `n` times and
/// never reads; returns the socket, to be read to its end later.
async fn greedy_non_reader(addr: SocketAddr, name: &str, n: usize) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(ip(ATTACKER), 0)).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let hello = json!({"type":"hello","name":name}).to_string();
    let history = json!({"type":"history","room":"long","limit":100}).to_string();
    let mut bytes = masked(0x1, hello.as_bytes());
    for _ in 0..n {
        bytes.extend(masked(0x1, history.as_bytes()));
    }
    tcp.write_all(&bytes).await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_ask_for_history_and_never_read_are_cut_and_memory_comes_back() {
    let relay = ChildRelay::start(&[
        "--msg-rate",
        "1000",
        "--msg-burst",
        "1000",
        "--names-per-ip-hour",
        "0",
        // Its 90 upgrades are sent without waiting for one another's 101: more than 32 wait
        // at once while the relay is busy, and the door would shed the oldest.
        "--http-conns-per-ip",
        "0",
    ])
    .await;
    let addr = relay.addr;
    room_of_long_messages(addr, "long", 100).await;
    let rss_start = relay.rss_kib();

    let started = Instant::now();
    let mut sockets = Vec::new();
    let mut peak = rss_start;
    // Each asks for about 28 MB of pages (500 of 57 KB). The relay writes what the socket
    // takes as it goes, so the kernel's buffers hold the first several MB (about 11 MB were
    // seen here); the relay's queue (--queue-mib, 4) fills after that.
    for c in 0..90 {
        sockets.push(greedy_non_reader(addr, &format!("greedy{c}"), 500).await);
        peak = peak.max(relay.rss_kib());
    }
    // Reading any of them before the relay has cut it could keep up with it: a client that
    // reads is not too slow.
    for _ in 0..100 {
        if relay.metric("courier_closed_too_slow_total").await >= 90 {
            break;
        }
        peak = peak.max(relay.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each is cut off with 1013 once its queue is full; read what is left, to the end.
    let mut ended = tokio::task::JoinSet::new();
    for mut tcp in sockets {
        ended.spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let read = async {
                loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(60), read)
                .await
                .is_ok()
        });
    }
    let sampler = {
        let pid = relay.child.id();
        tokio::spawn(async move {
            let mut peak = 0;
            for _ in 0..100 {
                peak = peak.max(harness::rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    while let Some(done) = ended.join_next().await {
        assert!(done.unwrap(), "the relay ends the connection");
    }
    peak = peak.max(sampler.await.unwrap());
    let cut = relay.metric("courier_closed_too_slow_total").await;
    eprintln!(
        "{cut} cut as too slow in {:.1} s; RSS {rss_start} KiB at the start, {peak} KiB at the peak",
        started.elapsed().as_secs_f64()
    );
    assert!(cut >= 80, "only {cut} of 90 were cut as too slow");

    // Memory comes back, and the relay still serves others.
    let mut rss_after = relay.rss_kib();
    for _ in 0..50 {
        if rss_after < rss_start + RSS_SLACK_KIB {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_after = relay.rss_kib();
    }
    eprintln!("RSS {rss_after} KiB after");
    assert!(
        rss_after < rss_start + RSS_SLACK_KIB,
        "RSS {rss_after} KiB after, {rss_start} KiB at the start"
    );
    let mut other = user(addr, HONEST, "other").await;
    send(
        &mut other,
        json!({"type":"history","room":"long","limit":1}),
    )
    .await;
    assert_eq!(recv(&mut other).await["type"], "history");
}
