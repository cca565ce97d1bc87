//! Plain TCP connections that never finish a request, against the relay binary at a low
//! open-file limit (256 files: a budget of 192 connections, 168 of them WebSockets): one
//! address's half-sent request lines are capped by `--http-conns-per-ip`; past the relay's
//! budget the oldest unfinished ones are shed; reopening them as fast as they close keeps
//! nobody out. Throughout, `/healthz` from another address answers promptly, a WebSocket
//! from a third gets `welcome`, and afterwards the relay's RSS is back within 50 MB of where
//! it started. And a request head is buffered up to 16 KiB, no more (431).
//!
//! Everything is on loopback, bounded (a few hundred sockets, a few seconds each) and ends by
//! itself.
#![cfg(target_os = "linux")]

mod common;
#[path = "hostile/harness.rs"]
#[allow(dead_code)] // The other attacks' helpers.
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use common::connect_from;
use harness::{ChildRelay, get_from, ip, user};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The relay's open-file limit in these tests.
const FILES: u32 = 256;
/// How long `/healthz` may take: the header timeout (10 s) is what a request stuck behind a
/// full table would wait for; this leaves the shared machine an honest margin below it.
const PROMPT: Duration = Duration::from_secs(3);
const RSS_MARGIN_KIB: u64 = 50 * 1024;
const ATTACKER: &str = "127.0.0.1";

/// A socket from `from` that sends a request line and never the rest.
async fn half_request(addr: SocketAddr, from: &str) -> TcpStream {
    let mut tcp = connect_from(ip(from), addr).await;
    tcp.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    tcp
}

/// Whether the relay has closed `tcp` (end of stream or reset), without waiting.
fn closed(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match tcp.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// What someone else gets meanwhile: `/healthz` from 127.0.0.2 promptly, and `welcome` on a
/// WebSocket from 127.0.0.3.
async fn others_get_in(addr: SocketAddr, name: &str) {
    let started = Instant::now();
    let status = get_from(addr, "127.0.0.2", "/healthz", PROMPT).await;
    assert_eq!(
        status,
        Some(200),
        "/healthz from another address ({:?})",
        started.elapsed()
    );
    let ws = tokio::time::timeout(PROMPT, user(addr, "127.0.0.3", name)).await;
    assert!(ws.is_ok(), "a WebSocket from another address gets welcome");
}

/// The relay's RSS, a second after the attack's sockets closed, is within the margin of
/// `idle`.
async fn memory_comes_back(relay: &ChildRelay, idle: u64) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = relay.rss_kib();
    assert!(
        after < idle + RSS_MARGIN_KIB,
        "RSS {after} KiB after the attack, {idle} KiB before"
    );
}

fn raise_own_open_file_limit() {
    rlimit::increase_nofile_limit(4096).unwrap();
}

#[tokio::test]
async fn half_sent_requests_from_one_address_are_capped_per_address() {
    raise_own_open_file_limit();
    let relay = ChildRelay::start_with_open_files(FILES, &[]).await;
    let idle = relay.rss_kib();
    let mut sockets = Vec::new();
    for _ in 0..600 {
        sockets.push(half_request(relay.addr, ATTACKER).await);
    }
    others_get_in(relay.addr, "alice").await;
    // The address keeps its newest 32 (--http-conns-per-ip); the rest were closed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open = sockets.iter().filter(|s| !closed(s)).count();
    assert!(open <= 32, "{open} of the address's sockets still open");
    assert!(!closed(sockets.last().unwrap()), "the newest is kept");
    assert!(relay.metric("courier_http_shed_total").await >= 500);
    drop(sockets);
    memory_comes_back(&relay, idle).await;
}

#[tokio::test]
async fn past_the_budget_the_oldest_unfinished_requests_are_shed() {
    raise_own_open_file_limit();
    let relay = ChildRelay::start_with_open_files(FILES, &["--http-conns-per-ip", "0"]).await;
    let idle = relay.rss_kib();
    let mut sockets = Vec::new();
    for _ in 0..600 {
        sockets.push(half_request(relay.addr, ATTACKER).await);
    }
    others_get_in(relay.addr, "alice").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open = sockets.iter().filter(|s| !closed(s)).count();
    assert!(open <= 192, "{open} sockets open past a budget of 192");
    assert!(open >= 100, "only {open} kept: the budget is used");
    assert!(closed(&sockets[0]), "the oldest is shed");
    assert!(!closed(sockets.last().unwrap()), "the newest is kept");
    drop(sockets);
    memory_comes_back(&relay, idle).await;
}

#[tokio::test]
async fn reopening_from_many_addresses_keeps_nobody_out() {
    raise_own_open_file_limit();
    // Eight addresses at their default cap of 32 each hold more than the budget.
    let relay = ChildRelay::start_with_open_files(FILES, &[]).await;
    let idle = relay.rss_kib();
    let addr = relay.addr;
    let churn_for = Duration::from_secs(4);
    let mut attackers = Vec::new();
    for a in 0..8 {
        attackers.push(tokio::spawn(async move {
            let from = format!("127.0.1.{}", a + 1);
            let started = Instant::now();
            let mut held = std::collections::VecDeque::new();
            let mut opened = 0u64;
            while started.elapsed() < churn_for {
                held.push_back(half_request(addr, &from).await);
                opened += 1;
                // Keep reopening: the oldest held goes as a new one comes.
                if held.len() > 40 {
                    held.pop_front();
                }
            }
            opened
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..4 {
        others_get_in(addr, &format!("user{i}")).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut opened = 0;
    for attacker in attackers {
        opened += attacker.await.unwrap();
    }
    assert!(opened > 1000, "the attack reopened {opened} sockets");
    assert!(relay.metric("courier_http_shed_total").await > 0);
    memory_comes_back(&relay, idle).await;
}

#[tokio::test]
async fn a_request_head_is_buffered_up_to_16_kib() {
    let relay = ChildRelay::start(&[]).await;
    let mut tcp = connect_from(ip("127.0.0.4"), relay.addr).await;
    let long = "x".repeat(20 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: h\r\nX-Long: {long}\r\n\r\n");
    // The relay may answer and close before it has read the whole head.
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut out = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut out);
    let _ = tokio::time::timeout(PROMPT, read).await;
    assert!(
        out.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let fits = format!(
        "GET /healthz HTTP/1.1\r\nHost: h\r\nX-Long: {}\r\n\r\n",
        &long[..8 * 1024]
    );
    let mut tcp = connect_from(ip("127.0.0.4"), relay.addr).await;
    tcp.write_all(fits.as_bytes()).await.unwrap();
    let mut out = vec![0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut out)
        .await
        .unwrap();
    assert_eq!(&out, b"HTTP/1.1 200");
}
