//! One person, several connections (docs/PROTOCOL.md) where relays share Redis: what a
//! person's connections do to each other when Redis is slow or a relay is at a limit, and
//! the session's count of connections in `cluster.lua`, which must survive a claim or a
//! release sent again. The rest of the feature is `several.rs`, which also runs on a
//! cluster (`COURIER_TEST_ENGINE=cluster`).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::redis_fixture::Redis;
use common::redis_fixture::messages::connect;
use common::{Client, Relay};
use courier::engine::{Claim, ClaimMode, Claimed};
use serde_json::{Value, json};

/// The rooms with members across the cluster, as `client` is told.
async fn rooms(client: &mut Client) -> Value {
    client.send(json!({"type": "rooms"})).await;
    client.next_but_presence().await["rooms"].clone()
}

/// A claim of alice's name by connection `holder`.
fn claim(holder: &str, attach: bool) -> Claim {
    Claim {
        key: "alice".into(),
        name: "alice".into(),
        token: format!("token-{holder}"),
        given: None,
        mode: ClaimMode::Token,
        forgotten_at: 0,
        attach,
        most: 3,
        holder: holder.into(),
    }
}

fn connections(claimed: Claimed) -> usize {
    match claimed {
        Claimed::Attached { connections, .. } => connections,
        other => panic!("not attached: {other:?}"),
    }
}

/// Alice's session in Redis, as its fields.
async fn session(redis: &Redis) -> HashMap<String, String> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("HGETALL")
        .arg("courier:session:alice")
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_releases_of_a_connection_are_safe_to_repeat() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for node in ["aa", "bb"] {
        let _: () = redis::pipe()
            .cmd("SET")
            .arg(format!("courier:node:{node}"))
            .arg(1)
            .arg("PX")
            .arg(60_000)
            .ignore()
            .cmd("SADD")
            .arg("courier:nodes")
            .arg(node)
            .ignore()
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    assert!(matches!(
        log.claim("aa", &claim("1", false)).await.unwrap(),
        Claimed::Ok { generation: 1, .. }
    ));
    assert_eq!(
        connections(log.claim("aa", &claim("2", true)).await.unwrap()),
        2
    );
    // The same claim again (its answer was lost, say): counted once.
    assert_eq!(
        connections(log.claim("aa", &claim("2", true)).await.unwrap()),
        2
    );
    assert_eq!(
        connections(log.claim("bb", &claim("3", true)).await.unwrap()),
        3
    );
    assert_eq!(
        log.claim("bb", &claim("4", true)).await.unwrap(),
        Claimed::Full
    );
    assert_eq!(session(&redis).await["n:aa"], "2");

    // A release sent twice (its answer was lost, and the committer tried again) takes one
    // connection away, once; so does the release of a claim that never counted.
    for holder in ["2", "2", "4"] {
        log.release("aa", "alice", holder).await.unwrap();
    }
    assert_eq!(session(&redis).await["n:aa"], "1");
    assert_eq!(
        log.session_holder("aa", "alice").await.unwrap(),
        Some((true, 1))
    );
    // Its last connection on aa goes: the session lives on bb.
    log.release("aa", "alice", "1").await.unwrap();
    log.release("aa", "alice", "1").await.unwrap();
    let held = session(&redis).await;
    assert_eq!((held["node"].as_str(), held.get("n:aa")), ("bb", None));
    assert_eq!(
        log.session_holder("aa", "alice").await.unwrap(),
        Some((false, 1))
    );
    assert_eq!(log.online().await.unwrap(), ["alice"]);
    assert_eq!(
        connections(log.claim("aa", &claim("5", true)).await.unwrap()),
        2
    );

    // aa dies: reaping drops its connections, and the session lives on bb with one.
    let _: () = redis::cmd("DEL")
        .arg("courier:node:aa")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(log.reap("bb", "aa", 60_000).await.unwrap());
    let held = session(&redis).await;
    assert!(
        held.keys().all(|f| !f.starts_with("c:aa:") && f != "n:aa"),
        "{held:?}"
    );
    assert_eq!(held["n:bb"], "1", "{held:?}");
    // Its last connection goes, twice: the session ends, and the name is free.
    log.release("bb", "alice", "3").await.unwrap();
    log.release("bb", "alice", "3").await.unwrap();
    assert!(session(&redis).await.is_empty());
    assert!(log.online().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_was_lost_and_is_sent_again_leaves_the_other_connections() {
    let mut redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let b = Relay::start_on_redis(redis.url(), |_| {}).await;
    let mut a1 = a.user("alice").await;
    let (a2, _) = Client::attach(&a, "alice").await;

    // One tab closes while Redis does not answer: the release runs once Redis wakes, but its
    // answer was lost (the response timeout is 2 s), so the relay sends it again.
    redis.pause();
    a2.drop_connection().await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    redis.resume();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Alice still has her first connection: another attaches to it, the second of two.
    let (_a3, welcome) = Client::attach(&b, "alice").await;
    assert_eq!(welcome["connections"], 2, "{welcome}");
    // And the first still acts for her.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        a1.send(json!({"type": "dm", "to": "alice", "text": "note", "cid": "n"}))
            .await;
        let answer = a1.next_but_presence().await;
        if answer["type"] == "message" {
            break;
        }
        assert_eq!(answer["code"], "internal", "{answer}");
        assert!(Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_that_overtakes_the_join_leaves_the_room_in_redis_too() {
    let mut redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let mut bob = a.user("bob").await;
    let mut a1 = a.user("alice").await;
    let (mut a2, _) = Client::attach(&a, "alice").await;

    // Tab 1 joins while Redis is slow; tab 2 leaves before the join reached Redis.
    redis.pause();
    a1.send(json!({"type": "join", "room": "dev"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a2.send(json!({"type": "leave", "room": "dev", "cid": "l"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.resume();
    assert_eq!(
        a1.next_but_presence().await,
        json!({"type": "left", "room": "dev"})
    );

    // Once the join's enter has reached Redis (at once, now that it answers), alice is out of
    // dev across the cluster: it has no members, and bob is alone there.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        rooms(&mut bob).await,
        json!([]),
        "alice stayed in dev in Redis"
    );
    assert_eq!(bob.join("dev").await["members"], json!(["bob"]));
    a2.expect_silence(200).await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_that_fails_is_not_followed_on_the_persons_other_relays() {
    let redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let b = Relay::start_on_redis(redis.url(), |_| {}).await;
    let mut a1 = a.user("alice").await;
    let (mut a2, _) = Client::attach(&b, "alice").await;
    // The room's log cannot be read (not a sorted set): its page fails, after it was entered.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("courier:room-log:dev")
        .arg("not a log")
        .query_async(&mut conn)
        .await
        .unwrap();

    a1.send(json!({"type": "join", "room": "dev", "cid": "j"}))
        .await;
    assert_eq!(a1.recv_error("internal").await["cid"], "j");
    // Her other relay was never told of it: her connection there hears nothing of dev (a
    // `read` told after the join comes after anything told of it), and is not in it.
    a1.send(json!({"type": "read", "room": "dev", "seq": 0}))
        .await;
    assert_eq!(a2.next_but_presence().await["type"], "read");
    a2.send(json!({"type": "say", "room": "dev", "text": "x", "cid": "s"}))
        .await;
    let answer = a2.next_but_presence().await;
    assert_eq!(answer["code"], "not_member", "{answer}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_on_another_relay_leaves_out_a_relay_at_its_limit_of_rooms() {
    let redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |c| c.max_rooms = 1).await;
    let b = Relay::start_on_redis(redis.url(), |c| c.max_rooms = 1).await;
    let mut a1 = a.user("alice").await;
    let (mut a2, _) = Client::attach(&b, "alice").await;
    let mut bob = b.user("bob").await;
    bob.join("x").await;

    // Alice joins y on A; B has its one room already, so her connection there stays out.
    a1.join("y").await;
    // A `read` told after the join comes after it: B has handled the join by then.
    a1.send(json!({"type": "read", "room": "y", "seq": 0}))
        .await;
    assert_eq!(a2.next_but_presence().await["type"], "read");
    a2.send(json!({"type": "say", "room": "y", "text": "x", "cid": "s"}))
        .await;
    let answer = a2.next_but_presence().await;
    assert_eq!(answer["code"], "not_member", "{answer}");
    // Her connection on A is in y all the same.
    assert_eq!(a1.say("y", "hi", "h").await["seq"], 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_person_did_in_another_session_generation_is_not_followed() {
    let redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let mut a1 = a.user("alice").await;
    // Answered once her welcome's work (following her channel) is done.
    a1.send(json!({"type": "users"})).await;
    a1.next_but_presence().await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let generation: u64 = redis::cmd("HGET")
        .arg("courier:session:alice")
        .arg("gen")
        .query_async(&mut conn)
        .await
        .unwrap();
    let read = |seq: u64| json!({"type": "read", "room": "lobby", "seq": seq});
    // What another relay tells of her: from a session of another generation (one taken over
    // since, or one after this), dropped; from hers, or from an older relay that does not
    // say, followed.
    for told in [
        format!("r elsewhere/{} {}", generation + 1, read(1)),
        format!("r elsewhere/{generation} {}", read(2)),
        format!("r elsewhere {}", read(3)),
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("courier:user:alice")
            .arg(told)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(a1.recv().await, read(2));
    assert_eq!(a1.recv().await, read(3));
    a1.expect_silence(200).await;
    a.shutdown().await;
}
