//! What operators rely on: keepalive, slow clients, shutdown, health, metrics, static files.

mod common;

use std::time::Duration;

use common::{Client, Ended, Relay, header, metric};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn live_clients_stay_and_silent_ones_are_dropped() {
    let relay = Relay::start_with(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.ping_timeout = Duration::from_millis(300);
    })
    .await;
    let mut live = relay.user("live").await;

    // A client that never reads, so never answers a ping.
    let (mut silent, _) = connect_async(relay.ws_url()).await.unwrap();
    silent
        .send(Message::text(
            json!({"type":"hello","name":"silent"}).to_string(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The live client reads, and tungstenite answers each ping.
    live.expect_silence(1500).await;
    live.send(json!({"type":"users"})).await;
    let users = live.recv_type("users").await;
    assert_eq!(
        users["online"],
        json!(["live"]),
        "the silent client was dropped"
    );

    // What the silent one finds when it finally reads: pings, then the end.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        let mut pings = 0;
        while let Some(Ok(msg)) = silent.next().await {
            if msg.is_ping() {
                pings += 1;
            }
        }
        pings
    })
    .await
    .expect("the silent client's connection ended");
    assert!(ended >= 1, "the relay pinged before giving up");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_cut_off_and_the_room_goes_on() {
    let relay = Relay::start_with(|c| {
        c.queue_frames = 8;
        c.ping_timeout = Duration::from_secs(1);
        // The sender sends as fast as it is acknowledged, past any sane rate limit: this test
        // is about the outbound queue, so the frame rate limit is off.
        c.msg_rate = 0.0;
    })
    .await;
    let mut sender = relay.user("sender").await;
    sender.join("flood").await;
    let mut reader = relay.user("reader").await;
    reader.join("flood").await;
    sender.recv_type("presence").await;
    let (mut slow, _) = connect_async(relay.ws_url()).await.unwrap();
    slow.send(Message::text(
        json!({"type":"hello","name":"slow"}).to_string(),
    ))
    .await
    .unwrap();
    slow.send(Message::text(
        json!({"type":"join","room":"flood"}).to_string(),
    ))
    .await
    .unwrap();
    sender.recv_type("presence").await;
    reader.recv_type("presence").await;

    let text = "x".repeat(4000);
    let mut cut_off = false;
    let mut acked = 0;
    for sent in 1..=5000 {
        sender
            .send(json!({"type":"say","room":"flood","text":text}))
            .await;
        // The acknowledgement of this message, and maybe the news that `slow` is gone.
        while acked < sent {
            let frame = sender.recv().await;
            if frame["type"] == "presence" {
                assert_eq!(
                    frame,
                    json!({"type":"presence","room":"flood","name":"slow","online":false})
                );
                cut_off = true;
                continue;
            }
            acked += 1;
            assert_eq!(
                frame["seq"], acked,
                "the sender sees every message in order"
            );
            let seen = loop {
                let frame = reader.recv().await;
                if frame["type"] != "presence" {
                    break frame;
                }
            };
            assert_eq!(seen["seq"], acked, "so does the other reader");
        }
        if cut_off {
            break;
        }
    }
    let (_, _, metrics) = relay.get("/metrics").await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("courier_closed_too_slow_total 1"),
        "{metrics}"
    );
    // The others carry on.
    let seq = sender.say("flood", "still here", "c").await["seq"].clone();
    assert_eq!(reader.recv_type("message").await["seq"], seq);
}

#[tokio::test]
async fn asking_again_and_again_for_a_long_history_cannot_grow_the_relay() {
    // Pages as large as the whole history, so that 50 of them are far more than the queue
    // and the sockets' buffers together hold, however fast the engine reads.
    let relay = Relay::start_with(|c| {
        c.queue_mib = 1;
        c.page_kib = 1024;
    })
    .await;
    let mut writer = relay.user("writer").await;
    writer.join("long").await;
    let text = "字".repeat(4000);
    for i in 0..50 {
        writer.say("long", &text, &i.to_string()).await;
    }
    // About 600 KB of history in every `joined`; this client asks for it and never reads.
    let (mut greedy, _) = connect_async(relay.ws_url()).await.unwrap();
    let hello = json!({"type":"hello","name":"greedy"}).to_string();
    greedy.send(Message::text(hello)).await.unwrap();
    for _ in 0..50 {
        let join = json!({"type":"join","room":"long"}).to_string();
        if greedy.send(Message::text(join)).await.is_err() {
            break;
        }
    }
    // Past 1 MiB queued for it, it is cut off; the relay did not hold 50 copies.
    writer.recv_type("presence").await; // greedy joined
    let gone = writer.recv_type("presence").await;
    assert_eq!(gone["online"], false, "{gone}");
    let (_, _, metrics) = relay.get("/metrics").await;
    assert!(
        String::from_utf8(metrics)
            .unwrap()
            .contains("courier_closed_too_slow_total 1")
    );
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001() {
    let relay = Relay::start().await;
    let mut a = relay.user("a").await;
    let mut b = Client::connect(&relay).await;
    let addr = relay.addr;
    let shutdown = tokio::spawn(relay.shutdown());
    assert_eq!(a.ended(Duration::from_secs(5)).await, Ended::Close(1001));
    assert_eq!(b.ended(Duration::from_secs(5)).await, Ended::Close(1001));
    shutdown.await.unwrap();
    // And it no longer accepts.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn healthz_and_metrics_answer() {
    let relay = Relay::start().await;
    let _a = relay.user("a").await;
    let (status, headers, body) = relay.get("/healthz").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["sessions"], 1);
    let engine = if common::on_redis() {
        "redis"
    } else {
        "sqlite"
    };
    assert_eq!(health["engine"], engine, "{health}");

    let (status, headers, body) = relay.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("courier_sessions 1\n"), "{text}");
    if !common::on_redis() {
        assert!(text.contains("courier_cluster_relays 1\n"), "{text}");
        assert!(
            text.contains("courier_node{engine=\"sqlite\",node=\"\"} 1\n"),
            "{text}"
        );
    }
    assert!(
        text.contains("courier_connections_opened_total 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_time_each_commit_and_fan_out() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    alice.say("lobby", "hi", "c1").await;
    bob.recv_type("message").await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"psst","cid":"c2"}))
        .await;
    alice.recv_type("message").await;
    bob.recv_type("message").await;

    assert_eq!(metric(&relay, "courier_messages_committed_total").await, 2);
    assert!(metric(&relay, "courier_commit_seconds_count").await >= 1);
    assert_eq!(metric(&relay, "courier_fanout_seconds_count").await, 2);
    let (_, _, body) = relay.get("/metrics").await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("# TYPE courier_fanout_seconds histogram\n"),
        "{text}"
    );
    assert!(text.contains("courier_fanout_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert!(text.contains("courier_commit_seconds_bucket{le=\"0.001\"} "));
    assert!(text.contains("courier_runs_started_total 0\n"));
    assert!(text.contains("courier_runs_active 0\n"));
    assert!(text.contains("courier_runner_hosts_total{status=\"timeout\"} 0\n"));
    // Every sample line is `name{labels} value`, the value a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(name.starts_with("courier_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[tokio::test]
async fn the_client_bundle_is_served_with_the_right_types() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-test");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Courier</title>",
    )
    .unwrap();
    std::fs::write(dir.join("app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("app.js"), "export {}").unwrap();
    let relay = Relay::start_with(|c| c.static_dir = dir.clone()).await;

    let (status, headers, body) = relay.get("/").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&body).contains("Courier"));
    let (status, headers, _) = relay.get("/app_bg.wasm").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    let (_, headers, _) = relay.get("/app.js").await;
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .contains("javascript")
    );
    let (status, _, _) = relay.get("/missing.js").await;
    assert_eq!(status, 404);
    // HEAD answers like GET, without the body.
    let request = format!(
        "HEAD /app_bg.wasm HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        relay.addr
    );
    let (status, headers, body) =
        common::parse_response(&common::raw_exchange(relay.addr, request.as_bytes()).await);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert!(body.is_empty());
}

#[tokio::test]
async fn without_a_bundle_the_page_says_how_to_build_it() {
    let relay = Relay::start().await;
    let (status, _, body) = relay.get("/").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("trunk build --release"));
}
