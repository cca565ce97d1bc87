//! Three relays on one Redis act as one chat (docs/CLUSTER.md): names, takeover, members and
//! presence, rooms and users, one order of messages for everybody, private messages online and
//! offline, acks and typing, with the clients spread over the relays; a room's edits made while
//! a relay's pub/sub connection was down.

mod common;

use std::time::Duration;

use common::redis_fixture::Redis;
use common::{Client, Ended, Relay};
use serde_json::{Value, json};

/// Three relays on one new Redis.
async fn three() -> (Redis, [Relay; 3]) {
    let redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let b = Relay::start_on_redis(redis.url(), |_| {}).await;
    let c = Relay::start_on_redis(redis.url(), |_| {}).await;
    (redis, [a, b, c])
}

async fn shutdown(relays: [Relay; 3]) {
    for relay in relays {
        relay.shutdown().await;
    }
}

/// The next frame of `kind`, skipping others (presence and typing come as they come).
async fn next_of(client: &mut Client, kind: &str) -> Value {
    loop {
        let frame = client.recv().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_unique_across_relays_and_its_token_takes_it_over_on_another() {
    let (_redis, [a, b, c]) = three().await;
    let mut alice = a.user("Alice").await;

    let mut other = Client::connect(&b).await;
    other.send(json!({"type":"hello","name":"ALICE"})).await;
    other.recv_error("name_taken").await;
    other
        .send(json!({"type":"hello","name":"alice","token":"not the token"}))
        .await;
    other.recv_error("name_taken").await;

    // The token from relay A takes the name over on relay C; A closes the old one with 1000.
    let mut moved = Client::connect(&c).await;
    moved
        .send(json!({"type":"hello","name":"Alice","token":alice.token}))
        .await;
    let welcome = moved.recv_type("welcome").await;
    assert_eq!(welcome["name"], "Alice");
    assert_ne!(welcome["token"], alice.token.as_str(), "a new token");
    assert_eq!(
        alice.ended(Duration::from_secs(5)).await,
        Ended::Close(1000)
    );

    // The old token is spent; the name is held on C.
    let mut late = Client::connect(&a).await;
    late.send(json!({"type":"hello","name":"alice","token":alice.token}))
        .await;
    late.recv_error("name_taken").await;

    // Once its holder leaves, the name is free on every relay.
    drop(moved);
    let mut again = Client::connect(&b).await;
    again.hello_when_free("alice").await;

    // A name protected on one relay needs its password on the others at once.
    again
        .send(json!({"type":"protect","password":"correct horse battery"}))
        .await;
    again.recv_type("protected").await;
    drop(again);
    let mut thief = Client::connect(&a).await;
    let mut refused = false;
    for _ in 0..50 {
        thief.send(json!({"type":"hello","name":"alice"})).await;
        let answer = thief.recv().await;
        assert_eq!(
            answer["type"], "error",
            "taken without its password: {answer}"
        );
        if answer["code"] == "password_required" {
            refused = true;
            break;
        }
        assert_eq!(answer["code"], "name_taken", "{answer}"); // until its holder is gone
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused);
    let mut owner = Client::connect(&c).await;
    owner
        .send(json!({"type":"hello","name":"alice","password":"correct horse battery"}))
        .await;
    owner.recv_type("welcome").await;
    shutdown([a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protection_not_yet_heard_of_takes_its_password_at_once() {
    let (redis, [a, b, c]) = three().await;
    drop(a.user("alice").await);
    // Protected on some relay, and none has heard of it yet: only Redis knows.
    let hash = courier::passwords::hash("correct horse battery", &mut Vec::new()).unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg("courier:user:alice")
        .arg("password")
        .arg(&hash)
        .arg("password_at")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();

    let mut thief = Client::connect(&b).await;
    thief.send(json!({"type":"hello","name":"alice"})).await;
    thief.recv_error("password_required").await;
    let mut owner = Client::connect(&c).await;
    owner
        .send(json!({"type":"hello","name":"alice","password":"wrong horse"}))
        .await;
    owner.recv_error("password_required").await;
    owner
        .send(json!({"type":"hello","name":"alice","password":"correct horse battery"}))
        .await;
    owner.recv_type("welcome").await;
    shutdown([a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_presence_rooms_and_users_span_the_relays() {
    let (_redis, [a, b, c]) = three().await;
    let mut alice = a.user("alice").await;
    let mut bob = b.user("bob").await;
    let mut carol = c.user("carol").await;

    assert_eq!(names(&alice.join("lobby").await["members"]), ["alice"]);
    assert_eq!(names(&bob.join("lobby").await["members"]), ["alice", "bob"]);
    let presence = next_of(&mut alice, "presence").await;
    assert_eq!(
        presence,
        json!({"type":"presence","room":"lobby","name":"bob","online":true})
    );
    carol.join("other").await;

    carol.send(json!({"type":"rooms"})).await;
    assert_eq!(
        carol.recv_type("rooms").await["rooms"],
        json!([{"room":"lobby","members":2},{"room":"other","members":1}])
    );
    carol.wait_for_online(&["alice", "bob", "carol"]).await;

    // Leaving, and disconnecting, are told on the other relays.
    bob.send(json!({"type":"leave","room":"lobby"})).await;
    let presence = next_of(&mut alice, "presence").await;
    assert_eq!(presence["name"], "bob");
    assert_eq!(presence["online"], false);
    bob.join("lobby").await;
    assert_eq!(next_of(&mut alice, "presence").await["online"], true);
    bob.drop_connection().await;
    let presence = next_of(&mut alice, "presence").await;
    assert_eq!(
        (presence["name"].clone(), presence["online"].clone()),
        (json!("bob"), json!(false))
    );
    carol.wait_for_online(&["alice", "carol"]).await;
    carol.send(json!({"type":"rooms"})).await;
    assert_eq!(
        carol.recv_type("rooms").await["rooms"],
        json!([{"room":"lobby","members":1},{"room":"other","members":1}])
    );
    shutdown([a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_senders_on_three_relays_give_every_member_one_order() {
    let (_redis, relays) = three().await;
    let mut members = Vec::new();
    for (i, relay) in relays.iter().enumerate() {
        for j in 0..2 {
            let mut client = relay.user(&format!("m{i}{j}")).await;
            client.join("busy").await;
            members.push(client);
        }
    }
    let per_sender = 30;
    let mut senders = Vec::new();
    for (i, relay) in relays.iter().enumerate() {
        let mut sender = relay.user(&format!("s{i}")).await;
        sender.join("busy").await;
        senders.push(sender);
    }
    let mut tasks = Vec::new();
    for (i, mut sender) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..per_sender {
                let (text, cid) = (format!("{i}:{n}"), format!("c{n}"));
                sender
                    .send(json!({"type":"say","room":"busy","text":text,"cid":cid}))
                    .await;
            }
            // Every acknowledgement comes back to the sender, wherever it was stored.
            let mut acked = 0;
            while acked < per_sender {
                let frame = next_of(&mut sender, "message").await;
                if frame["from"] == format!("s{i}") {
                    acked += 1;
                }
            }
            sender
        }));
    }
    let mut senders = Vec::new();
    for task in tasks {
        senders.push(task.await.unwrap());
    }
    let total = 3 * per_sender;
    let mut orders = Vec::new();
    for member in &mut members {
        let mut texts = Vec::new();
        while texts.len() < total {
            let frame = next_of(member, "message").await;
            assert_eq!(
                frame["seq"],
                texts.len() as u64 + 1,
                "seqs 1..n, no gap, no repeat"
            );
            texts.push(frame["text"].as_str().unwrap().to_owned());
        }
        member.expect_silence(200).await;
        orders.push(texts);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "one order everywhere"
    );
    drop(senders);
    shutdown(relays).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_acks_and_typing_cross_relays() {
    let (_redis, [a, b, c]) = three().await;
    let mut alice = a.user("alice").await;
    let mut bob = Client::connect(&b).await;
    bob.send(json!({"type":"hello","name":"bob","acks":true}))
        .await;
    bob.recv_type("welcome").await;

    // Online: bob on B gets it, alice on A gets her acknowledgement with the same seq.
    alice
        .send(json!({"type":"dm","to":"bob","text":"hi bob","cid":"d1"}))
        .await;
    let ack = alice.recv_type("message").await;
    assert_eq!(
        (ack["seq"].clone(), ack["cid"].clone()),
        (json!(1), json!("d1"))
    );
    let got = bob.recv_type("message").await;
    assert_eq!(
        (got["from"].clone(), got["seq"].clone()),
        (json!("alice"), json!(1))
    );

    // Typing, to a person and in a room, crosses relays and is never stored.
    alice.send(json!({"type":"typing","to":"bob"})).await;
    assert_eq!(
        bob.recv_type("typing").await,
        json!({"type":"typing","to":"bob","name":"alice"})
    );
    alice.join("lobby").await;
    bob.join("lobby").await;
    next_of(&mut alice, "presence").await;
    bob.send(json!({"type":"typing","room":"lobby"})).await;
    assert_eq!(
        alice.recv_type("typing").await,
        json!({"type":"typing","room":"lobby","name":"bob"})
    );

    // Offline: carol has been here (on C), and gets it after her next welcome, on A.
    let carol = c.user("carol").await;
    drop(carol);
    alice.wait_for_online(&["alice", "bob"]).await;
    bob.send(json!({"type":"dm","to":"carol","text":"while you were out","cid":"d2"}))
        .await;
    assert_eq!(next_of(&mut bob, "message").await["cid"], "d2");
    let mut carol = Client::connect(&a).await;
    carol
        .send(json!({"type":"hello","name":"carol","acks":true}))
        .await;
    carol.recv_type("welcome").await;
    let mail = carol.recv_type("message").await;
    assert_eq!(
        (mail["from"].clone(), mail["text"].clone()),
        (json!("bob"), json!("while you were out"))
    );

    // Acknowledged on A, it is not delivered again after a hello on C.
    carol
        .send(json!({"type":"ack","with":"bob","seq":mail["seq"]}))
        .await;
    carol.expect_silence(300).await;
    drop(carol);
    let mut carol = Client::connect(&c).await;
    carol.hello_when_free("carol").await;
    carol.expect_silence(300).await;
    shutdown([a, b, c]).await;
}

/// `relay`'s /healthz once it sees `relays` relays (within 5 s).
/// A room's edit made while a relay's pub/sub connection was down reaches that relay's
/// members once it is back (its feed reads the room's changes it missed), once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_while_a_relays_pub_sub_was_down_reaches_its_members() {
    let redis = Redis::start();
    let a = Relay::start_on_redis(redis.url(), |_| {}).await;
    let b = Relay::start_on_redis(redis.url(), |_| {}).await;
    let (mut alice, mut bob) = (a.user("alice").await, b.user("bob").await);
    alice.join("lobby").await;
    bob.join("lobby").await;
    bob.send(json!({"type":"say","room":"lobby","text":"v0","cid":"s"}))
        .await;
    let seq = next_of(&mut alice, "message").await["seq"].clone();
    let admin = redis::Client::open(redis.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let mut last_rev = 0;
    for i in 1..=20 {
        // Both relays lose pub/sub and connect again at once; the edit, stored over another
        // connection, may be published before or after alice's relay subscribes again.
        let _: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await
            .unwrap();
        let text = format!("v{i}");
        bob.send(json!({"type":"edit","room":"lobby","seq":seq,"text":text}))
            .await;
        loop {
            let changed = next_of(&mut alice, "changed").await;
            let rev = changed["rev"].as_u64().unwrap();
            assert!(rev > last_rev, "a change again: {changed}");
            last_rev = rev;
            if changed["text"] == text.as_str() {
                break;
            }
        }
    }
    shutdown_two([a, b]).await;
}

async fn health_seeing(relay: &Relay, relays: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, body) = relay.get("/healthz").await;
        let health: Value = serde_json::from_slice(&body).unwrap();
        if status == 200 && health["relays"] == relays {
            return health;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_name_the_node_and_count_the_relays() {
    let (_redis, [a, b, c]) = three().await;
    let mut ids = Vec::new();
    for relay in [&a, &b, &c] {
        let health = health_seeing(relay, 3).await;
        assert_eq!(health["engine"], "redis", "{health}");
        assert_eq!(health["redis"], "up", "{health}");
        let node = health["node"].as_str().unwrap().to_owned();
        assert_eq!(node.len(), 16, "{health}");
        let (_, _, body) = relay.get("/metrics").await;
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("courier_cluster_relays 3\n"), "{text}");
        assert!(text.contains("courier_redis_up 1\n"), "{text}");
        let info = format!("courier_node{{engine=\"redis\",node=\"{node}\"}} 1\n");
        assert!(text.contains(&info), "{text}");
        ids.push(node);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every relay has its own id");
    // A relay that stops leaves the cluster at once.
    c.shutdown().await;
    health_seeing(&a, 2).await;
    shutdown_two([a, b]).await;
}

async fn shutdown_two(relays: [Relay; 2]) {
    for relay in relays {
        relay.shutdown().await;
    }
}
