//! One person, several connections (docs/PROTOCOL.md, "One person, several connections"): a
//! `hello` with `attach` joins a live session instead of taking it over, and the person's
//! connections share rooms, private messages, presence and read state. On a cluster
//! (`COURIER_TEST_ENGINE=cluster`) each new client connects to the next relay, so a person's
//! connections are on different relays.

mod common;

use std::time::Duration;

use common::{Client, Ended, Relay};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A new connection's hello with `extra` fields; the answer.
async fn hello_with(relay: &Relay, name: &str, extra: Value) -> (Client, Value) {
    let mut client = Client::connect(relay).await;
    let mut frame = json!({"type": "hello", "name": name});
    for (k, v) in extra.as_object().unwrap() {
        frame[k] = v.clone();
    }
    client.send(frame).await;
    let answer = client.recv().await;
    client.name = name.to_owned();
    if let Some(token) = answer["token"].as_str() {
        client.token = token.to_owned();
    }
    (client, answer)
}

#[tokio::test]
async fn two_connections_of_an_unprotected_name_are_both_welcomed_and_stay_open() {
    let relay = Relay::start().await;
    let mut a1 = relay.user("alice").await;
    let (mut a2, welcome) = Client::attach(&relay, "ALICE").await;
    // The session's name and token, unchanged, and how many connections it has.
    assert_eq!(welcome["name"], "alice", "{welcome}");
    assert_eq!(welcome["token"], a1.token.as_str(), "{welcome}");
    assert_eq!(welcome["connections"], 2, "{welcome}");
    // Both open, and the person is online once.
    for client in [&mut a1, &mut a2] {
        client.send(json!({"type": "users"})).await;
        assert_eq!(client.recv_type("users").await["online"], json!(["alice"]));
    }
    // The token still takes the name over later: attaching did not spend it.
    let (_a3, welcome) = Client::attach(&relay, "alice").await;
    assert_eq!(welcome["connections"], 3, "{welcome}");
    // Without `attach`, a live name is taken as before.
    let (_, answer) = hello_with(&relay, "alice", json!({})).await;
    assert_eq!(answer["code"], "name_taken", "{answer}");
    // With `attach` and a name nobody holds: an ordinary hello.
    let (_, welcome) = hello_with(&relay, "carol", json!({"attach": true})).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert!(welcome.get("attached").is_none(), "{welcome}");
    relay.shutdown().await;
}

#[tokio::test]
async fn attaching_a_protected_name_needs_its_password_or_token() {
    let relay = Relay::start().await;
    let mut a1 = relay.user("alice").await;
    a1.send(json!({"type": "protect", "password": PASSWORD}))
        .await;
    a1.recv_type("protected").await;
    for extra in [
        json!({"attach": true}),
        json!({"attach": true, "password": "correct horse batterY"}),
        json!({"attach": true, "token": "00000000000000000000000000000000"}),
    ] {
        let (_, answer) = hello_with(&relay, "alice", extra).await;
        assert_eq!(answer["code"], "password_required", "{answer}");
    }
    let token = a1.token.clone();
    let (_a2, welcome) = hello_with(&relay, "alice", json!({"attach": true, "token": token})).await;
    assert_eq!(welcome["attached"], true, "{welcome}");
    assert_eq!(welcome["token"], token.as_str());
    let (_a3, welcome) = hello_with(
        &relay,
        "alice",
        json!({"attach": true, "password": PASSWORD}),
    )
    .await;
    assert_eq!(welcome["attached"], true, "{welcome}");
    assert_eq!(welcome["token"], token.as_str());
    assert_eq!(welcome["connections"], 3, "{welcome}");
    // The first connection is still served.
    a1.send(json!({"type": "users"})).await;
    assert_eq!(a1.recv_type("users").await["online"], json!(["alice"]));
    relay.shutdown().await;
}

#[tokio::test]
async fn a_dm_reaches_every_connection_of_both_people() {
    let relay = Relay::start().await;
    let mut a1 = relay.user("alice").await;
    let (mut a2, _) = Client::attach(&relay, "alice").await;
    let mut b1 = relay.user("bob").await;
    let (mut b2, _) = Client::attach(&relay, "bob").await;
    a1.send(json!({"type": "dm", "to": "bob", "text": "hi", "cid": "d1"}))
        .await;
    for client in [&mut a1, &mut a2, &mut b1, &mut b2] {
        let msg = client.recv_type("message").await;
        assert_eq!(msg["from"], "alice", "{msg}");
        assert_eq!(msg["to"], "bob", "{msg}");
        assert_eq!(msg["seq"], 1, "{msg}");
        assert_eq!(msg["text"], "hi", "{msg}");
    }
    // A reply from bob's second connection, the same way back.
    b2.send(json!({"type": "dm", "to": "alice", "text": "yo"}))
        .await;
    for client in [&mut a1, &mut a2, &mut b1, &mut b2] {
        let msg = client.recv_type("message").await;
        assert_eq!(
            (msg["from"].clone(), msg["seq"].clone()),
            (json!("bob"), json!(2))
        );
    }
    // Typing to alice reaches both of hers, and none of bob's.
    b1.send(json!({"type": "typing", "to": "alice"})).await;
    for client in [&mut a1, &mut a2] {
        let typing = client.recv_type("typing").await;
        assert_eq!(typing["name"], "bob", "{typing}");
    }
    b2.expect_silence(200).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn rooms_belong_to_the_person() {
    let relay = Relay::start().await;
    let mut a1 = relay.user("alice").await;
    let (mut a2, _) = Client::attach(&relay, "alice").await;
    // A join on one is a join on the other, with the same `joined`.
    let joined = a1.join("lobby").await;
    assert_eq!(joined["members"], json!(["alice"]), "{joined}");
    let other = a2.recv_type("joined").await;
    assert_eq!(other["room"], "lobby", "{other}");
    assert_eq!(other["members"], json!(["alice"]), "{other}");
    // Both are members: a message from the second reaches both.
    let msg = a2.say("lobby", "hello", "s1").await;
    assert_eq!(a1.recv_type("message").await, msg);
    // A connection attached later is in every room of the person, right after its welcome.
    a1.join("dev").await;
    assert_eq!(a2.recv_type("joined").await["room"], "dev");
    let (mut a3, _) = Client::attach(&relay, "alice").await;
    let mut rooms = Vec::new();
    for _ in 0..2 {
        let joined = a3.next_but_presence().await;
        assert_eq!(joined["type"], "joined", "{joined}");
        if joined["room"] == "lobby" {
            assert_eq!(joined["history"][0]["text"], "hello", "{joined}");
        }
        rooms.push(joined["room"].as_str().unwrap().to_owned());
    }
    rooms.sort();
    assert_eq!(rooms, ["dev", "lobby"]);
    // A leave from one is a leave for all: the others get `left`.
    a3.send(json!({"type": "leave", "room": "dev"})).await;
    for client in [&mut a1, &mut a2] {
        assert_eq!(
            client.next_but_presence().await,
            json!({"type": "left", "room": "dev"})
        );
    }
    a1.send(json!({"type": "say", "room": "dev", "text": "x", "cid": "n"}))
        .await;
    assert_eq!(a1.recv_error("not_member").await["cid"], "n");
    relay.shutdown().await;
}

#[tokio::test]
async fn presence_counts_the_person_once() {
    let relay = Relay::start().await;
    let mut bob = relay.user("bob").await;
    bob.join("lobby").await;
    let mut a1 = relay.user("alice").await;
    a1.join("lobby").await;
    let presence = bob.recv_type("presence").await;
    assert_eq!(
        presence,
        json!({"type": "presence", "room": "lobby", "name": "alice", "online": true})
    );
    let (mut a2, _) = Client::attach(&relay, "alice").await;
    let joined = a2.recv_type("joined").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]), "{joined}");
    // The same person: no second presence, and counted once.
    bob.expect_silence(300).await;
    bob.send(json!({"type": "rooms"})).await;
    assert_eq!(
        bob.recv_type("rooms").await["rooms"],
        json!([{"room": "lobby", "members": 2}])
    );
    bob.send(json!({"type": "users"})).await;
    assert_eq!(
        bob.recv_type("users").await["online"],
        json!(["alice", "bob"])
    );
    // One connection goes: alice is still there.
    a1.drop_connection().await;
    bob.expect_silence(500).await;
    // The last one goes: now she has left.
    a2.drop_connection().await;
    let presence = bob.recv_type("presence").await;
    assert_eq!(
        presence,
        json!({"type": "presence", "room": "lobby", "name": "alice", "online": false})
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn read_goes_to_the_other_connections_only() {
    let relay = Relay::start().await;
    let mut a1 = relay.user("alice").await;
    let (mut a2, _) = Client::attach(&relay, "alice").await;
    let (mut a3, _) = Client::attach(&relay, "alice").await;
    let mut bob = relay.user("bob").await;
    a1.send(json!({"type": "read", "room": "lobby", "seq": 42}))
        .await;
    a1.send(json!({"type": "read", "with": "bob", "seq": 7}))
        .await;
    for client in [&mut a2, &mut a3] {
        assert_eq!(
            client.recv().await,
            json!({"type": "read", "room": "lobby", "seq": 42})
        );
        assert_eq!(
            client.recv().await,
            json!({"type": "read", "with": "bob", "seq": 7})
        );
    }
    a1.expect_silence(200).await;
    bob.expect_silence(100).await;
    // Bad frames.
    for (frame, code) in [
        (
            json!({"type": "read", "room": "lobby", "with": "bob", "seq": 1, "cid": "r"}),
            "bad_request",
        ),
        (json!({"type": "read", "seq": 1, "cid": "r"}), "bad_request"),
        (
            json!({"type": "read", "room": "lobby", "cid": "r"}),
            "bad_request",
        ),
        (
            json!({"type": "read", "room": "lobby", "seq": -1, "cid": "r"}),
            "bad_request",
        ),
        (
            json!({"type": "read", "room": "no room", "seq": 1, "cid": "r"}),
            "invalid_room",
        ),
        (
            json!({"type": "read", "with": "", "seq": 1, "cid": "r"}),
            "invalid_name",
        ),
    ] {
        a1.send(frame).await;
        assert_eq!(a1.recv_error(code).await["cid"], "r");
    }
    a2.expect_silence(100).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_plain_hello_with_the_token_still_takes_the_whole_session_over() {
    let relay = Relay::start().await;
    let mut a1 = relay.user("alice").await;
    let (mut a2, _) = Client::attach(&relay, "alice").await;
    let token = a1.token.clone();
    let (mut a3, welcome) = hello_with(&relay, "alice", json!({"token": token})).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert!(welcome.get("attached").is_none(), "{welcome}");
    assert_ne!(welcome["token"], token.as_str());
    for client in [&mut a1, &mut a2] {
        assert_eq!(
            client.ended(Duration::from_secs(5)).await,
            Ended::Close(1000)
        );
    }
    a3.send(json!({"type": "users"})).await;
    assert_eq!(a3.recv_type("users").await["online"], json!(["alice"]));
    relay.shutdown().await;
}

#[tokio::test]
async fn a_person_has_at_most_connections_per_name() {
    let relay = Relay::start_with(|c| c.connections_per_name = 2).await;
    let mut a1 = relay.user("alice").await;
    let (a2, _) = Client::attach(&relay, "alice").await;
    let (_, answer) = hello_with(&relay, "alice", json!({"attach": true, "cid": "h"})).await;
    assert_eq!(answer["code"], "forbidden", "{answer}");
    assert_eq!(answer["cid"], "h", "{answer}");
    // One goes: there is room again (once the relays have noticed).
    a2.drop_connection().await;
    let mut welcomed = false;
    for _ in 0..50 {
        let (_, answer) = hello_with(&relay, "alice", json!({"attach": true})).await;
        if answer["type"] == "welcome" {
            welcomed = true;
            break;
        }
        assert_eq!(answer["code"], "forbidden", "{answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(welcomed);
    a1.send(json!({"type": "users"})).await;
    assert_eq!(a1.recv_type("users").await["online"], json!(["alice"]));
    relay.shutdown().await;
}

#[tokio::test]
async fn mail_goes_to_each_welcomed_connection_until_any_acknowledges_it() {
    let relay = Relay::start().await;
    let mut bob = relay.user("bob").await;
    let (a1, _) = hello_with(&relay, "alice", json!({"acks": true})).await;
    a1.drop_connection().await;
    // Wait until alice is offline, then write to her mailbox.
    bob.wait_for_online(&["bob"]).await;
    bob.send(json!({"type": "dm", "to": "alice", "text": "one"}))
        .await;
    bob.recv_type("message").await;
    let (mut a1, welcome) = hello_with(&relay, "alice", json!({"acks": true})).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(a1.recv_type("message").await["text"], "one");
    // Not acknowledged yet: an attached connection gets it after its welcome too.
    let (mut a2, _) = hello_with(&relay, "alice", json!({"acks": true, "attach": true})).await;
    assert_eq!(a2.recv_type("message").await["text"], "one");
    // Acknowledged by the second: a third gets nothing.
    a2.send(json!({"type": "ack", "with": "bob", "seq": 1}))
        .await;
    // Stored meanwhile (on a cluster, by another relay than the next hello's).
    a2.send(json!({"type": "users"})).await;
    a2.recv_type("users").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut a3, _) = hello_with(&relay, "alice", json!({"acks": true, "attach": true})).await;
    a3.expect_silence(300).await;
    a1.expect_silence(10).await;
    relay.shutdown().await;
}
