//! Sessions: hello, names, tokens and takeover, frames before hello, and the hello timeout.

mod common;

use std::time::Duration;

use common::{Client, Ended, Relay};
use serde_json::json;

#[tokio::test]
async fn hello_is_welcomed_with_the_trimmed_name_and_a_token() {
    let relay = Relay::start().await;
    let mut c = Client::connect(&relay).await;
    let welcome = c.hello("  alice \t").await;
    assert_eq!(welcome["name"], "alice");
    assert!(welcome["token"].as_str().unwrap().len() >= 16, "{welcome}");
}

#[tokio::test]
async fn unfit_names_get_invalid_name_and_the_connection_stays() {
    let relay = Relay::start().await;
    let mut c = Client::connect(&relay).await;
    for name in ["", "   ", &"x".repeat(33), "bad\u{7}name", "new\nline"] {
        c.send(json!({"type": "hello", "name": name})).await;
        c.recv_error("invalid_name").await;
    }
    // 32 characters are fine even when they are 96 bytes.
    let welcome = c.hello(&"雷".repeat(32)).await;
    assert_eq!(welcome["name"], "雷".repeat(32));
}

#[tokio::test]
async fn names_are_unique_case_insensitively_across_unicode() {
    let relay = Relay::start().await;
    let _a = relay.user("Ärger").await;
    let mut b = Client::connect(&relay).await;
    b.send(json!({"type": "hello", "name": "äRGER"})).await;
    b.recv_error("name_taken").await;
    b.send(json!({"type": "hello", "name": " ärger "})).await;
    b.recv_error("name_taken").await;
    b.hello("other").await;
}

#[tokio::test]
async fn a_name_is_free_again_after_its_session_ends() {
    let relay = Relay::start().await;
    let a = relay.user("alice").await;
    a.drop_connection().await;
    let mut b = Client::connect(&relay).await;
    b.hello_when_free("alice").await;
    assert_eq!(b.name, "alice");
}

#[tokio::test]
async fn the_token_takes_a_session_over_and_closes_the_old_connection() {
    let relay = Relay::start().await;
    let mut old = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    old.join("lobby").await;
    bob.join("lobby").await;
    old.recv_type("presence").await;

    let mut new = Client::connect(&relay).await;
    new.send(json!({"type": "hello", "name": "ALICE", "token": old.token}))
        .await;
    let welcome = new.recv_type("welcome").await;
    assert_eq!(welcome["name"], "ALICE");
    assert_ne!(
        welcome["token"],
        old.token.as_str(),
        "a takeover issues a new token"
    );

    assert_eq!(old.ended(common::WAIT).await, Ended::Close(1000));
    // As if the old connection had dropped: it left the room.
    let presence = bob.recv_type("presence").await;
    assert_eq!(
        presence,
        json!({"type":"presence","room":"lobby","name":"alice","online":false})
    );
    // The client joins its rooms again.
    new.join("lobby").await;
    let presence = bob.recv_type("presence").await;
    assert_eq!(
        presence,
        json!({"type":"presence","room":"lobby","name":"ALICE","online":true})
    );
}

#[tokio::test]
async fn a_wrong_token_does_not_take_a_name() {
    let relay = Relay::start().await;
    let alice = relay.user("alice").await;
    let mut mallory = Client::connect(&relay).await;
    mallory
        .send(json!({"type": "hello", "name": "alice", "token": "guess"}))
        .await;
    mallory.recv_error("name_taken").await;
    let stale = format!("{}0", alice.token);
    mallory
        .send(json!({"type": "hello", "name": "alice", "token": stale}))
        .await;
    mallory.recv_error("name_taken").await;
}

#[tokio::test]
async fn an_old_token_is_spent_after_a_takeover() {
    let relay = Relay::start().await;
    let first = relay.user("alice").await;
    let token = first.token.clone();
    let mut second = Client::connect(&relay).await;
    second
        .send(json!({"type": "hello", "name": "alice", "token": token}))
        .await;
    second.recv_type("welcome").await;
    let mut third = Client::connect(&relay).await;
    third
        .send(json!({"type": "hello", "name": "alice", "token": token}))
        .await;
    third.recv_error("name_taken").await;
}

#[tokio::test]
async fn frames_before_hello_get_not_welcomed_with_their_cid() {
    let relay = Relay::start().await;
    let mut c = Client::connect(&relay).await;
    for frame in [
        json!({"type": "join", "room": "lobby", "cid": "j1"}),
        json!({"type": "say", "room": "lobby", "text": "hi", "cid": "s1"}),
        json!({"type": "dm", "to": "bob", "text": "hi", "cid": "d1"}),
        json!({"type": "rooms", "cid": "r1"}),
        json!({"type": "users", "cid": "u1"}),
        json!({"type": "leave", "room": "lobby", "cid": "l1"}),
        json!({"type": "typing", "room": "lobby", "cid": "t1"}),
    ] {
        c.send(frame.clone()).await;
        let err = c.recv_error("not_welcomed").await;
        assert_eq!(err["cid"], frame["cid"]);
    }
    c.hello("alice").await;
}

#[tokio::test]
async fn a_second_hello_is_a_bad_request() {
    let relay = Relay::start().await;
    let mut c = relay.user("alice").await;
    c.send(json!({"type": "hello", "name": "alice2", "cid": "h2"}))
        .await;
    let err = c.recv_error("bad_request").await;
    assert_eq!(err["cid"], "h2");
    // Still alice.
    c.send(json!({"type": "users"})).await;
    assert_eq!(c.recv_type("users").await["online"], json!(["alice"]));
}

#[tokio::test]
async fn no_hello_in_time_closes_with_1008() {
    let relay = Relay::start_with(|c| c.hello_timeout = Duration::from_millis(300)).await;
    let mut silent = Client::connect(&relay).await;
    let mut refused = Client::connect(&relay).await;
    // Failed hellos do not count: the deadline is for a welcome.
    refused.send(json!({"type": "hello", "name": ""})).await;
    refused.recv_error("invalid_name").await;
    let mut welcomed = Client::connect(&relay).await;
    welcomed.hello("alice").await;

    assert_eq!(
        silent.ended(Duration::from_secs(3)).await,
        Ended::Close(1008)
    );
    assert_eq!(
        refused.ended(Duration::from_secs(3)).await,
        Ended::Close(1008)
    );
    welcomed.expect_silence(500).await;
    welcomed.send(json!({"type": "users"})).await;
    welcomed.recv_type("users").await;
}

#[tokio::test]
async fn the_default_hello_timeout_is_ten_seconds() {
    let relay = Relay::start().await;
    let mut c = Client::connect(&relay).await;
    let started = tokio::time::Instant::now();
    assert_eq!(c.ended(Duration::from_secs(15)).await, Ended::Close(1008));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(9_500), "{waited:?}");
}
