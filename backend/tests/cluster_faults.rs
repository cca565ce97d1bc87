//! Faults in a cluster of relays on one Redis (docs/CLUSTER.md), each asserting that nothing
//! acknowledged is lost, with no gap and no repeat: a relay killed with SIGKILL mid-traffic
//! (its clients resume on another with their tokens and `join … after`), a relay paused past
//! its lease (it cannot act for the sessions that moved), and Redis killed and restarted from
//! its append-only file. Redis paused is `redis_engine.rs`.
#![cfg(unix)]

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::redis_fixture::Redis;
use common::{Client, Relay, seqs};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The relay binary on Redis, as a child process (killed when dropped), so that a test can
/// kill or pause it.
struct ChildRelay {
    child: Child,
    relay: Relay,
    _dir: tempfile::TempDir,
}

impl ChildRelay {
    async fn start(redis: &Redis) -> Self {
        let dir = common::temp_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
            .arg("--db")
            .arg(dir.path().join("courier.db"))
            .args(["--redis", &redis.url()])
            .args(["--msg-rate", "0", "--names-per-ip-hour", "0"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the relay binary");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(at) = line.find("listening on http://") {
                    return line[at + "listening on http://".len()..].trim().to_owned();
                }
            }
            panic!("the relay ended before listening");
        })
        .await
        .expect("the relay listens within 10 s");
        // Keep reading its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let relay = Relay::at(addr.parse().expect("an address"));
        Self {
            child,
            relay,
            _dir: dir,
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

/// Says hello as `name` with acks (and `token`, if any) and expects `welcome`.
async fn hello(client: &mut Client, name: &str, token: Option<&str>) {
    let mut hello = json!({"type":"hello","name":name,"acks":true});
    if let Some(token) = token {
        hello["token"] = json!(token);
    }
    client.send(hello).await;
    let welcome = client.recv_type("welcome").await;
    client.token = welcome["token"].as_str().unwrap().to_owned();
}

/// The next frame of `kind`, skipping others.
async fn next_of(client: &mut Client, kind: &str) -> Value {
    loop {
        let frame = client.recv().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// The next frame of `kind` (`*`: any) within `within` (longer than a single frame's wait).
async fn next_within(client: &mut Client, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {kind} within {within:?}");
        let wait = left.min(Duration::from_secs(2));
        if let Ok(frame) = tokio::time::timeout(wait, client.recv()).await
            && (kind == "*" || frame["type"] == kind)
        {
            return frame;
        }
    }
}

/// Sends `say` with `mid` until it is acknowledged (an `internal` error means "not stored":
/// send it again); its seq.
async fn say_until_stored(client: &mut Client, room: &str, mid: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        client
            .send(json!({"type":"say","room":room,"text":mid,"cid":mid,"mid":mid}))
            .await;
        // No answer for a while (the acknowledgement comes by pub/sub, which may be
        // reconnecting): send it again, as a client would; the mid keeps it stored once.
        while let Ok(frame) = tokio::time::timeout(Duration::from_secs(3), client.recv()).await {
            if frame["cid"] != mid {
                continue;
            }
            if frame["type"] == "message" {
                return frame["seq"].as_u64().unwrap();
            }
            assert_eq!(frame["code"], "internal", "{frame}");
            break;
        }
        assert!(Instant::now() < deadline, "{mid} never stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A room's whole history as one relay reads it: its seqs, and its texts.
async fn history(client: &mut Client, room: &str) -> (Vec<u64>, Vec<String>) {
    client
        .send(json!({"type":"history","room":room,"limit":100}))
        .await;
    let page = next_of(client, "history").await;
    let texts = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    (seqs(&page["messages"]), texts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_traffic_is_noticed_and_its_clients_resume_on_another() {
    let redis = Redis::start();
    let doomed = ChildRelay::start(&redis).await;
    let other = Relay::start_on_redis(redis.url(), |_| {}).await;

    let mut alice = Client::connect(&doomed.relay).await;
    hello(&mut alice, "alice", None).await;
    alice.join("lobby").await;
    let mut bob = other.user("bob").await;
    bob.join("lobby").await;
    next_of(&mut alice, "presence").await;

    // Alice sends; some are acknowledged, then her relay is killed mid-stream.
    let mut acked = BTreeSet::new();
    for i in 0..10 {
        acked.insert(say_until_stored(&mut alice, "lobby", &format!("a{i}")).await);
    }
    for i in 10..20 {
        let mid = format!("a{i}");
        alice
            .send(json!({"type":"say","room":"lobby","text":mid,"cid":mid,"mid":mid}))
            .await;
    }
    doomed.signal("-KILL");
    let killed = Instant::now();

    // Bob's relay notices within the lease (9 s) and a second of checking. What alice sent
    // before her relay died reaches bob meanwhile.
    let mut live = Vec::new();
    let presence = loop {
        let frame = next_within(&mut bob, "*", Duration::from_secs(15)).await;
        match frame["type"].as_str() {
            Some("message") => live.push(frame["seq"].as_u64().unwrap()),
            Some("presence") => break frame,
            _ => {}
        }
    };
    assert_eq!(
        (presence["name"].clone(), presence["online"].clone()),
        (json!("alice"), json!(false))
    );
    assert!(
        killed.elapsed() < Duration::from_secs(12),
        "noticed after {:?}",
        killed.elapsed()
    );

    // Alice resumes on the other relay with her token, catches up, and sends again what was
    // not acknowledged, with the same mids.
    let mut alice = {
        let token = alice.token.clone();
        let mut again = Client::connect(&other).await;
        hello(&mut again, "alice", Some(&token)).await;
        again
    };
    alice
        .send(json!({"type":"join","room":"lobby","after":acked.iter().max().unwrap()}))
        .await;
    next_of(&mut alice, "joined").await;
    for i in 10..20 {
        acked.insert(say_until_stored(&mut alice, "lobby", &format!("a{i}")).await);
    }

    // Bob, who watched live, saw each once, 1..20; and that is all there is.
    while live.len() < 20 {
        let frame = next_of(&mut bob, "message").await;
        live.push(frame["seq"].as_u64().unwrap());
    }
    assert_eq!(live, (1..=20).collect::<Vec<_>>());
    let (seqs, texts) = history(&mut bob, "lobby").await;
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<_>>(),
        "each stored once: {texts:?}"
    );
    assert_eq!(acked, (1..=20).collect::<BTreeSet<_>>());
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_paused_past_its_lease_cannot_act_for_the_sessions_that_moved() {
    let redis = Redis::start();
    let paused = ChildRelay::start(&redis).await;
    let other = Relay::start_on_redis(redis.url(), |_| {}).await;

    let mut stale = Client::connect(&paused.relay).await;
    hello(&mut stale, "alice", None).await;
    stale.join("lobby").await;
    let mut bob = other.user("bob").await;
    bob.join("lobby").await;

    paused.signal("-STOP");
    let presence = next_within(&mut bob, "presence", Duration::from_secs(15)).await;
    assert_eq!(
        (presence["name"].clone(), presence["online"].clone()),
        (json!("alice"), json!(false))
    );

    // Alice moves to the other relay with her token while the first sleeps.
    let mut alice = Client::connect(&other).await;
    hello(&mut alice, "alice", Some(&stale.token.clone())).await;
    alice.join("lobby").await;
    // Her old connection still has a frame in flight to the sleeping relay.
    stale
        .send(json!({"type":"say","room":"lobby","text":"stale","cid":"s1"}))
        .await;
    paused.signal("-CONT");

    // The woken relay ends the old session, and stores nothing for it.
    let ended = stale.ended(Duration::from_secs(10)).await;
    assert!(
        matches!(
            ended,
            common::Ended::Close(1000 | 1013) | common::Ended::Dropped
        ),
        "{ended:?}"
    );
    assert_eq!(say_until_stored(&mut alice, "lobby", "fresh").await, 1);
    let (seqs, texts) = history(&mut bob, "lobby").await;
    assert_eq!((seqs, texts), (vec![1], vec!["fresh".to_owned()]));
    // And alice, on the other relay, is still alice.
    alice.send(json!({"type":"users"})).await;
    assert_eq!(
        next_of(&mut alice, "users").await["online"],
        json!(["alice", "bob"])
    );
    drop(paused);
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_from_its_aof_keeps_every_acknowledged_message() {
    let mut redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let b = Relay::start_on_redis(redis.url(), |_| {}).await;
    let mut alice = Client::connect(&a).await;
    hello(&mut alice, "alice", None).await;
    alice.join("lobby").await;
    let mut bob = Client::connect(&b).await;
    hello(&mut bob, "bob", None).await;
    bob.join("lobby").await;

    let mut acked = BTreeSet::new();
    for i in 0..10 {
        acked.insert(say_until_stored(&mut alice, "lobby", &format!("m{i}")).await);
    }
    redis.kill9();
    redis.restart();
    // The relays reconnect by themselves; sending works again, and nothing acknowledged before
    // is lost or doubled.
    for i in 10..15 {
        acked.insert(say_until_stored(&mut alice, "lobby", &format!("m{i}")).await);
    }
    // Bob, on the other relay, saw every one once, in order; and that is all there is.
    let mut live = Vec::new();
    while live.len() < 15 {
        live.push(next_of(&mut bob, "message").await["seq"].as_u64().unwrap());
    }
    assert_eq!(live, (1..=15).collect::<Vec<_>>());
    let (seqs, texts) = history(&mut bob, "lobby").await;
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>(), "{texts:?}");
    assert_eq!(acked, (1..=15).collect::<BTreeSet<_>>());
    a.shutdown().await;
    b.shutdown().await;
}

/// One person on two relays (`hello` … `attach`, docs/PROTOCOL.md): the relay of one of
/// its connections dies, and the person stays, on the other, in its room and online, with no
/// `presence` offline until its last connection goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_under_one_of_a_persons_connections_leaves_the_person_on_the_other() {
    let redis = Redis::start();
    let doomed = ChildRelay::start(&redis).await;
    let other = Relay::start_on_redis(redis.url(), |_| {}).await;

    let mut bob = other.user("bob").await;
    bob.join("lobby").await;
    let mut a1 = Client::connect(&doomed.relay).await;
    hello(&mut a1, "alice", None).await;
    a1.join("lobby").await;
    assert_eq!(next_of(&mut bob, "presence").await["online"], true);
    let mut a2 = Client::connect(&other).await;
    a2.send(json!({"type":"hello","name":"alice","acks":true,"attach":true}))
        .await;
    let welcome = a2.recv_type("welcome").await;
    assert_eq!(welcome["attached"], true, "{welcome}");
    assert_eq!(a2.recv_type("joined").await["room"], "lobby");

    doomed.signal("-KILL");
    // Reaped within the lease and a second: nothing for bob, alice is still here.
    bob.expect_silence(12_000).await;
    let (_, _, body) = other.get("/healthz").await;
    let health: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["relays"], 1, "not reaped yet: {health}");
    bob.send(json!({"type":"users"})).await;
    assert_eq!(
        next_of(&mut bob, "users").await["online"],
        json!(["alice", "bob"])
    );
    bob.send(json!({"type":"rooms"})).await;
    assert_eq!(
        next_of(&mut bob, "rooms").await["rooms"],
        json!([{"room":"lobby","members":2}])
    );
    // Her connection there still acts for her (its relay still holds the session).
    let seq = say_until_stored(&mut a2, "lobby", "still here").await;
    assert_eq!(next_of(&mut bob, "message").await["seq"], seq);
    // Her last connection goes: now she has left.
    a2.drop_connection().await;
    let presence = next_of(&mut bob, "presence").await;
    assert_eq!(
        (presence["name"].clone(), presence["online"].clone()),
        (json!("alice"), json!(false))
    );
    other.shutdown().await;
}
