//! Admission and abuse limits: the origin policy, per-address connection limits, frame rate
//! limits, the rooms-per-connection cap, the header timeout, and impersonation.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{Client, Relay, connect_from, metric, upgrade_status};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---- origin policy (cross-site WebSocket hijacking) ----

#[tokio::test]
async fn a_page_from_another_origin_is_refused_with_403() {
    let relay = Relay::start_with(|c| c.allow_origins = vec!["https://chat.example".into()]).await;
    let from = ip("127.0.0.1");
    let own = format!("Origin: http://{}\r\n", relay.addr);
    assert_eq!(upgrade_status(relay.addr, from, &own).await, 101);
    let own_tls = format!("Origin: https://{}\r\n", relay.addr);
    assert_eq!(upgrade_status(relay.addr, from, &own_tls).await, 101);
    for dev in ["http://127.0.0.1:8081", "http://localhost:8081"] {
        let h = format!("Origin: {dev}\r\n");
        assert_eq!(upgrade_status(relay.addr, from, &h).await, 101, "{dev}");
    }
    let listed = "Origin: https://chat.example\r\n";
    assert_eq!(upgrade_status(relay.addr, from, listed).await, 101);
    assert_eq!(upgrade_status(relay.addr, from, "").await, 101, "no Origin");
    for evil in [
        "http://evil.example",
        "null",
        "https://chat.example.evil.example",
    ] {
        let h = format!("Origin: {evil}\r\n");
        assert_eq!(upgrade_status(relay.addr, from, &h).await, 403, "{evil}");
    }
    assert_eq!(metric(&relay, "courier_refused_origin_total").await, 3);
}

#[tokio::test]
async fn require_origin_refuses_clients_without_one() {
    let relay = Relay::start_with(|c| c.require_origin = true).await;
    let from = ip("127.0.0.1");
    assert_eq!(upgrade_status(relay.addr, from, "").await, 403);
    let own = format!("Origin: http://{}\r\n", relay.addr);
    assert_eq!(upgrade_status(relay.addr, from, &own).await, 101);
}

// ---- per-address connection limits ----

#[tokio::test]
async fn an_address_may_hold_only_so_many_connections() {
    let relay = Relay::start_with(|c| c.conns_per_ip = 3).await;
    let attacker = ip("127.0.0.3");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::connect_from(&relay, attacker).await);
    }
    assert_eq!(upgrade_status(relay.addr, attacker, "").await, 429);
    // Someone else is not affected.
    let mut other = Client::connect_from(&relay, ip("127.0.0.4")).await;
    other.hello("other").await;
    // A closed connection frees its place (once the relay has seen it go).
    held.pop().unwrap().drop_connection().await;
    let mut freed = false;
    for _ in 0..50 {
        if upgrade_status(relay.addr, attacker, "").await == 101 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "the address got its place back");
    assert!(metric(&relay, "courier_refused_ip_open_total").await >= 1);
}

#[tokio::test]
async fn an_address_may_open_only_so_many_connections_a_second() {
    let relay = Relay::start_with(|c| {
        c.conn_rate_per_ip = 1.0;
        c.conn_burst_per_ip = 5;
    })
    .await;
    let attacker = ip("127.0.0.5");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(upgrade_status(relay.addr, attacker, "").await);
    }
    assert_eq!(&statuses[..5], &[101; 5]);
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    assert_eq!(
        upgrade_status(relay.addr, ip("127.0.0.6"), "").await,
        101,
        "another address"
    );
    assert!(metric(&relay, "courier_refused_ip_rate_total").await >= 1);
}

// ---- frame rates ----

#[tokio::test]
async fn frames_past_the_rate_get_rate_limited_with_their_cid_and_the_connection_stays() {
    let relay = Relay::start_with(|c| {
        c.msg_rate = 1.0;
        c.msg_burst = 5;
    })
    .await;
    let mut alice = relay.user("alice").await; // the hello took one token
    alice.join("lobby").await; // and the join one
    for i in 0..3 {
        alice.say("lobby", "hi", &format!("ok{i}")).await;
    }
    alice
        .send(json!({"type":"say","room":"lobby","text":"one too many","cid":"over"}))
        .await;
    let err = alice.recv_error("rate_limited").await;
    assert_eq!(err["cid"], "over");
    // Junk is counted too, and still gets its cid back.
    alice.send_text(r#"{"type":"nope","cid":"junk"}"#).await;
    assert_eq!(alice.recv_error("rate_limited").await["cid"], "junk");
    alice.send_binary(vec![1, 2, 3]).await;
    alice.recv_error("rate_limited").await;
    // The connection stays, and after a second there is a token again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let msg = alice.say("lobby", "later", "later").await;
    assert_eq!(msg["seq"], 4, "dropped frames were not carried out");
    assert_eq!(metric(&relay, "courier_rate_limited_total").await, 3);
}

#[tokio::test]
async fn typing_has_a_tighter_bucket_of_its_own() {
    let relay = Relay::start_with(|c| {
        c.typing_rate = 0.1;
        c.typing_burst = 2;
    })
    .await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    for _ in 0..2 {
        alice.send(json!({"type":"typing","room":"lobby"})).await;
        bob.recv_type("typing").await;
    }
    alice
        .send(json!({"type":"typing","room":"lobby","cid":"t"}))
        .await;
    assert_eq!(alice.recv_error("rate_limited").await["cid"], "t");
    // Messages are not affected.
    alice.say("lobby", "hi", "c").await;
    assert_eq!(bob.recv_type("message").await["text"], "hi");
}

#[tokio::test]
async fn a_connection_may_be_in_only_so_many_rooms() {
    let relay = Relay::start_with(|c| c.rooms_per_conn = 3).await;
    let mut alice = relay.user("alice").await;
    for room in ["a", "b", "c"] {
        alice.join(room).await;
    }
    alice
        .send(json!({"type":"join","room":"d","cid":"d"}))
        .await;
    let err = alice.recv_error("forbidden").await;
    assert_eq!(err["cid"], "d");
    // Joining one it is in is fine; a bad name is still invalid_room; leaving frees a place.
    alice.join("a").await;
    alice.send(json!({"type":"join","room":"no room"})).await;
    alice.recv_error("invalid_room").await;
    alice.send(json!({"type":"leave","room":"a"})).await;
    alice.join("d").await;
}

// ---- slow clients at the HTTP level ----

#[tokio::test]
async fn a_request_head_sent_too_slowly_or_not_at_all_is_cut_off() {
    let relay = Relay::start_with(|c| c.header_timeout = Duration::from_millis(500)).await;
    let from = ip("127.0.0.1");
    let mut silent = connect_from(from, relay.addr).await;
    let mut slow = connect_from(from, relay.addr).await;
    let started = tokio::time::Instant::now();
    let drip = async {
        for b in b"GET /ws HTTP/1.1\r\nHost: x\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    drip.await;
    let mut buf = [0u8; 256];
    // Both are closed: the relay answers 408 or just closes; either way the read ends.
    for tcp in [&mut silent, &mut slow] {
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the connection was cut off");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(metric(&relay, "courier_header_timeouts_total").await >= 2);
}

// ---- impersonation ----

#[tokio::test]
async fn from_in_a_client_frame_is_ignored() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    alice
        .send(json!({"type":"say","room":"lobby","text":"hi","from":"bob","seq":99,"ts":1}))
        .await;
    let seen = bob.recv_type("message").await;
    assert_eq!(seen["from"], "alice");
    assert_eq!(seen["seq"], 1);
    alice
        .send(json!({"type":"dm","to":"bob","text":"psst","from":"carol"}))
        .await;
    assert_eq!(alice.recv_type("message").await["from"], "alice");
    assert_eq!(bob.recv_type("message").await["from"], "alice");
}

#[tokio::test]
async fn an_online_name_cannot_be_taken_without_its_token_nor_by_a_second_hello() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut mallory = Client::connect(&relay).await;
    for hello in [
        json!({"type":"hello","name":"alice"}),
        json!({"type":"hello","name":"ALICE"}),
        json!({"type":"hello","name":"alice","token":"00000000000000000000000000000000"}),
        json!({"type":"hello","name":"alice","token":""}),
    ] {
        mallory.send(hello).await;
        mallory.recv_error("name_taken").await;
    }
    mallory.hello("mallory").await;
    mallory
        .send(json!({"type":"hello","name":"alice","token":alice.token}))
        .await;
    mallory.recv_error("bad_request").await;
    // Alice still holds her session.
    alice.send(json!({"type":"users"})).await;
    assert_eq!(
        alice.recv_type("users").await["online"],
        json!(["alice", "mallory"])
    );
}

#[tokio::test]
async fn a_third_user_never_receives_a_pairs_private_messages() {
    let relay = Relay::start().await;
    let mut a = relay.user("a").await;
    let mut b = relay.user("b").await;
    let mut eve = relay.user("eve").await;
    for room in ["lobby"] {
        a.join(room).await;
        eve.join(room).await;
        a.recv_type("presence").await;
    }
    a.send(json!({"type":"dm","to":"b","text":"secret"})).await;
    b.send(json!({"type":"dm","to":"a","text":"secret too"}))
        .await;
    a.send(json!({"type":"typing","to":"b"})).await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(b.recv().await["type"].as_str().unwrap().to_owned());
    }
    kinds.sort();
    assert_eq!(kinds, ["message", "message", "typing"]);
    // Eve asks for everything she can think of, and hears none of it.
    eve.send(json!({"type":"typing","to":"a"})).await;
    eve.send(json!({"type":"users"})).await;
    eve.recv_type("users").await;
    eve.expect_silence(300).await;
}
