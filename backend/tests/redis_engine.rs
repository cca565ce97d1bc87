//! The Redis engine through the relay, where it differs from SQLite: what clients see while
//! Redis does not answer (docs/CLUSTER.md). Several relays on one Redis are `cluster.rs`;
//! everything else is the relay's whole suite, which `scripts/test` runs on Redis too.

mod common;

use std::time::{Duration, Instant};

use common::redis_fixture::Redis;
use common::{Relay, seqs};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_paused_sends_fail_and_after_it_nothing_is_lost_or_doubled() {
    let mut redis = Redis::start();
    let relay = Relay::start_on_redis(redis.url(), |_| {}).await;
    let (mut alice, mut bob) = (relay.user("alice").await, relay.user("bob").await);
    alice.join("lobby").await;
    bob.join("lobby").await;
    alice.recv_type("presence").await;
    alice
        .send(json!({"type":"say","room":"lobby","text":"before","cid":"c0","mid":"m0"}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);

    redis.pause();
    let started = Instant::now();
    for i in 1..=3 {
        let (cid, mid) = (format!("c{i}"), format!("m{i}"));
        alice
            .send(json!({"type":"say","room":"lobby","text":format!("during {i}"),"cid":cid,"mid":mid}))
            .await;
    }
    for i in 1..=3 {
        let error = alice.recv_error("internal").await;
        assert_eq!(error["cid"], format!("c{i}"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused within the timeout"
    );
    // The connections stay open meanwhile, and answer what needs no Redis.
    alice.send(json!({"type":"no such frame"})).await;
    alice.recv_error("bad_request").await;
    // /healthz says why.
    let (status, body) = health_until(&relay, 503).await;
    assert!(body.contains("Redis"), "{body}");
    // Paused for 5 s in all: shorter than a relay's lease, so nobody is reaped.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(started.elapsed())).await;
    redis.resume();
    assert_eq!(status, 503);
    health_until(&relay, 200).await;

    // The client sends again what was not acknowledged, with the same mids, until stored.
    let mut acked = Vec::new();
    for i in 1..=3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (cid, mid) = (format!("r{i}"), format!("m{i}"));
            alice
                .send(json!({"type":"say","room":"lobby","text":format!("during {i}"),"cid":cid,"mid":mid}))
                .await;
            let answer = loop {
                let frame = alice.recv().await;
                if frame["cid"] == format!("r{i}") {
                    break frame;
                }
            };
            if answer["type"] == "message" {
                acked.push(answer["seq"].as_u64().unwrap());
                break;
            }
            assert!(Instant::now() < deadline, "never stored: {answer}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut sorted = acked.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "three messages, three seqs: {acked:?}");

    // Each stored once, with no gap, and bob, who watched live, has the same.
    alice.send(json!({"type":"history","room":"lobby"})).await;
    let history = alice.recv_type("history").await;
    assert_eq!(seqs(&history["messages"]), [1, 2, 3, 4]);
    let mut live = Vec::new();
    while live.len() < 4 {
        let frame = bob.recv().await;
        if frame["type"] == "message" {
            live.push(frame["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(live, [1, 2, 3, 4]);
    relay.shutdown().await;
}

/// Asks `/healthz` until it answers `status` (within 10 s); the status and body.
async fn health_until(relay: &Relay, status: u16) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (got, _, body) = relay.get("/healthz").await;
        if got == status {
            return (got, String::from_utf8_lossy(&body).into_owned());
        }
        assert!(Instant::now() < deadline, "/healthz stayed {got}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
