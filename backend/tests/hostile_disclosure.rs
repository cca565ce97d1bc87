//! What a stranger may learn from the relay binary, and where from: whether a name exists
//! (only `dm` tells, as the contract requires), the counters of `/metrics` (apart with
//! `--metrics-listen`, or behind `--metrics-token`), and the relay itself through DNS
//! rebinding (refused with `--public-origin`).
//!
//! The stranger connects from 127.0.0.1, everyone else from 127.0.0.2. Loopback only, a few
//! dozen requests, a few seconds.
#![cfg(target_os = "linux")]

mod common;
#[path = "hostile/harness.rs"]
#[allow(dead_code)] // the suite's harness: this file uses a few of its tools
mod harness;

use std::net::SocketAddr;

use common::{header, parse_response, raw_exchange};
use harness::{ChildRelay, recv, send, user};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const STRANGER: &str = "127.0.0.1";
const GOOD: &str = "127.0.0.2";
/// What the relay's RSS may grow by over a test, and still count as come back.
const RSS_SLACK_KIB: u64 = 50 * 1024;
const TOKEN: &str = "metrics-token-0123456789";

/// The stranger asks about `name` with every frame but `dm`; returns what came back before
/// the answer to a `rooms` sent after them, with `name` spelled `NAME`.
async fn probe(ws: &mut harness::Ws, name: &str) -> Vec<Value> {
    send(ws, json!({"type":"typing","to":name})).await;
    send(ws, json!({"type":"history","with":name,"cid":"h"})).await;
    send(
        ws,
        json!({"type":"history","with":name,"before":5,"limit":1}),
    )
    .await;
    send(ws, json!({"type":"ack","with":name,"seq":1,"cid":"a"})).await;
    send(ws, json!({"type":"rooms"})).await;
    let mut answers = Vec::new();
    loop {
        let mut frame = recv(ws).await;
        if frame["type"] == "rooms" {
            return answers;
        }
        if frame["with"] == name {
            frame["with"] = json!("NAME");
        }
        answers.push(frame);
    }
}

/// The relay still welcomes a newcomer from another address, and its memory came back.
async fn still_serves_and_memory_came_back(relay: &ChildRelay, rss_before: u64, name: &str) {
    let mut ws = user(relay.addr, GOOD, name).await;
    send(&mut ws, json!({"type":"join","room":"after"})).await;
    assert_eq!(recv(&mut ws).await["type"], "joined");
    let rss = relay.rss_kib();
    assert!(
        rss <= rss_before + RSS_SLACK_KIB,
        "RSS {rss} KiB, from {rss_before} KiB"
    );
}

#[tokio::test]
async fn a_stranger_cannot_tell_a_remembered_name_from_an_unknown_one_but_by_dm() {
    let relay = ChildRelay::start(&[]).await;
    let rss_before = relay.rss_kib();
    // alice is remembered and offline; carol is online.
    drop(user(relay.addr, GOOD, "alice").await);
    let mut carol = user(relay.addr, GOOD, "carol").await;
    let mut stranger = user(relay.addr, STRANGER, "mallory").await;

    let unknown = probe(&mut stranger, "nobody").await;
    let empty_page = json!({"type":"history","with":"NAME","messages":[],"more":false});
    assert_eq!(unknown, [empty_page.clone(), empty_page], "{unknown:?}");
    for name in ["alice", "ALICE ", "carol"] {
        assert_eq!(probe(&mut stranger, name).await, unknown, "{name}");
    }
    // carol was told of the typing, as before; the stranger was not told whether she was.
    let told = recv(&mut carol).await;
    assert_eq!(
        (&told["type"], &told["name"]),
        (&json!("typing"), &json!("mallory"))
    );

    // dm alone tells, as the contract says it must.
    send(
        &mut stranger,
        json!({"type":"dm","to":"nobody","text":"x","cid":"d"}),
    )
    .await;
    let refused = recv(&mut stranger).await;
    assert_eq!(
        (&refused["code"], &refused["cid"]),
        (&json!("unknown_user"), &json!("d"))
    );

    still_serves_and_memory_came_back(&relay, rss_before, "dave").await;
}

/// `GET path` with these extra header lines; the status, headers and body.
async fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, Vec<(String, String)>, String) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    let (status, headers, body) = parse_response(&raw_exchange(addr, request.as_bytes()).await);
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn metrics_leave_the_public_address_with_metrics_listen_or_need_the_token() {
    let (relay, line) =
        ChildRelay::start_noting(&["--metrics-listen", "127.0.0.1:0"], "metrics at http://").await;
    let rss_before = relay.rss_kib();
    let private: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/metrics").next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"));
    assert_ne!(private, relay.addr);

    assert_eq!(get(relay.addr, "/metrics", "").await.0, 404);
    let (status, _, body) = get(private, "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("courier_connections "), "{body}");
    assert_eq!(get(private, "/healthz", "").await.0, 200);
    assert_eq!(
        get(private, "/", "").await.0,
        404,
        "the private listener serves no app"
    );
    assert_eq!(get(relay.addr, "/healthz", "").await.0, 200);
    still_serves_and_memory_came_back(&relay, rss_before, "dave").await;
    drop(relay);

    // With a token instead, /metrics stays where it was, for its bearer only.
    let relay = ChildRelay::start(&["--metrics-token", TOKEN]).await;
    let rss_before = relay.rss_kib();
    let (status, headers, _) = get(relay.addr, "/metrics", "").await;
    assert_eq!(status, 401);
    assert!(header(&headers, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
    let wrong = "Authorization: Bearer metrics-token-0123456788\r\n";
    assert_eq!(get(relay.addr, "/metrics", wrong).await.0, 401);
    let right = format!("Authorization: Bearer {TOKEN}\r\n");
    let (status, _, body) = get(relay.addr, "/metrics", &right).await;
    assert_eq!(status, 200);
    assert!(body.contains("courier_connections "), "{body}");
    still_serves_and_memory_came_back(&relay, rss_before, "erin").await;
}

/// A WebSocket handshake by hand with this `Host` and `Origin`; the response's status.
async fn upgrade_status(addr: SocketAddr, host: &str, origin: Option<&str>) -> u16 {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\n{origin}Connection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    parse_response(&head).0
}

/// A request for `path` as a rebound page sends it: `Host` is the attacker's name.
async fn get_for_host(addr: SocketAddr, host: &str, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    parse_response(&raw_exchange(addr, request.as_bytes()).await).0
}

#[tokio::test]
async fn with_public_origin_a_rebound_page_is_refused_and_the_app_still_connects() {
    // Without the flag, the relay trusts Host: the rebound page gets its WebSocket.
    let open = ChildRelay::start(&[]).await;
    let rebound = Some("http://evil.test");
    assert_eq!(upgrade_status(open.addr, "evil.test", rebound).await, 101);
    drop(open);

    let relay = ChildRelay::start(&["--public-origin", "http://chat.test"]).await;
    let rss_before = relay.rss_kib();
    let addr = relay.addr;
    assert_eq!(upgrade_status(addr, "evil.test", rebound).await, 421);
    for path in ["/", "/metrics", "/index.html"] {
        assert_eq!(get_for_host(addr, "evil.test", path).await, 421, "{path}");
    }
    assert_eq!(get_for_host(addr, "evil.test", "/healthz").await, 200);
    // A Host that is not text, or none at all, is not a public origin's either.
    for request in [
        &b"GET / HTTP/1.1\r\nHost: chat.test\xff\r\nConnection: close\r\n\r\n"[..],
        b"GET / HTTP/1.0\r\n\r\n",
    ] {
        let status = parse_response(&raw_exchange(addr, request).await).0;
        assert!(status == 421 || status == 400, "{status}");
    }
    // The public host, from another page: 403, as before.
    assert_eq!(upgrade_status(addr, "chat.test", rebound).await, 403);
    // The app's own origin, and a non-browser client at the public host.
    assert_eq!(
        upgrade_status(addr, "chat.test", Some("http://chat.test")).await,
        101
    );
    assert_eq!(upgrade_status(addr, "chat.test:80", None).await, 101);

    // And it chats: the app's page, through the public host, says hello.
    let mut request = "ws://chat.test/ws".into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static("http://chat.test"));
    let tcp = common::connect_from(harness::ip(GOOD), addr).await;
    let (mut ws, _) = client_async(request, tcp).await.unwrap();
    send(&mut ws, json!({"type":"hello","name":"alice"})).await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    let rss = relay.rss_kib();
    assert!(
        rss <= rss_before + RSS_SLACK_KIB,
        "RSS {rss} KiB, from {rss_before} KiB"
    );
}
