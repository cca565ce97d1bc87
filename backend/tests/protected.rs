//! Protected names: a name with a password needs it (or the live session's token), across
//! restarts; unprotected names work as before.

mod common;

use common::{Client, Relay};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// Says hello as `name` with extra fields and returns the answer.
async fn hello_with(relay: &Relay, name: &str, extra: Value) -> (Client, Value) {
    let mut client = Client::connect(relay).await;
    let mut frame = json!({"type":"hello","name":name,"cid":"h"});
    for (k, v) in extra.as_object().unwrap() {
        frame[k] = v.clone();
    }
    client.send(frame).await;
    let answer = client.recv().await;
    (client, answer)
}

async fn protect(client: &mut Client, password: &str) -> Value {
    client
        .send(json!({"type":"protect","password":password,"cid":"p"}))
        .await;
    client.recv().await
}

#[tokio::test]
async fn a_protected_name_needs_its_password_even_after_a_restart() {
    let relay = Relay::start().await;
    let mut alice = relay.user("Alice").await;
    let answer = protect(&mut alice, PASSWORD).await;
    assert_eq!(answer, json!({"type":"protected","name":"Alice"}));
    alice.drop_connection().await;

    let relay = relay.restart(|_| {}).await;
    // The same answer without a password and with a wrong one.
    let mut answers = Vec::new();
    for extra in [json!({}), json!({"password":"correct horse batterY"})] {
        let (_, answer) = hello_with(&relay, "alice", extra).await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["code"], "password_required");
        assert_eq!(answer["cid"], "h");
        answers.push(answer);
    }
    assert_eq!(answers[0], answers[1]);
    let (mut alice, answer) = hello_with(&relay, "ALICE", json!({"password":PASSWORD})).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
    assert_eq!(answer["name"], "ALICE");
    // Still served, and still protected.
    alice.send(json!({"type":"users"})).await;
    assert_eq!(alice.recv_type("users").await["online"], json!(["ALICE"]));

    // The engine keeps a hash, never the password.
    let stored = relay
        .stored_password("alice")
        .expect("a password is stored");
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
}

#[tokio::test]
async fn the_live_token_or_the_password_takes_over_a_protected_session() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    protect(&mut alice, PASSWORD).await;

    // A reconnect with the token needs no password.
    let (mut second, answer) = hello_with(&relay, "alice", json!({"token":alice.token})).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
    assert_eq!(alice.ended(common::WAIT).await, common::Ended::Close(1000));

    // The password takes it over too; someone without either cannot.
    let (_, answer) = hello_with(&relay, "alice", json!({})).await;
    assert_eq!(answer["code"], "password_required", "{answer}");
    let (_, answer) = hello_with(&relay, "alice", json!({"password":PASSWORD})).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
    assert_eq!(second.ended(common::WAIT).await, common::Ended::Close(1000));
}

#[tokio::test]
async fn protect_checks_its_password_and_needs_a_session() {
    let relay = Relay::start().await;
    let mut stranger = Client::connect(&relay).await;
    stranger
        .send(json!({"type":"protect","password":PASSWORD,"cid":"p"}))
        .await;
    assert_eq!(stranger.recv_error("not_welcomed").await["cid"], "p");

    let mut bob = relay.user("bob").await;
    for bad in ["short", &"x".repeat(129)] {
        let answer = protect(&mut bob, bad).await;
        assert_eq!(answer["code"], "bad_request", "{answer}");
        assert_eq!(answer["cid"], "p");
    }
    bob.send(json!({"type":"protect","cid":"p"})).await;
    assert_eq!(bob.recv_error("bad_request").await["cid"], "p");

    // A new password replaces the old one.
    protect(&mut bob, PASSWORD).await;
    assert_eq!(
        protect(&mut bob, "another good one").await["type"],
        "protected"
    );
    bob.drop_connection().await;
    let mut answer = Value::Null;
    for _ in 0..50 {
        (_, answer) = hello_with(&relay, "bob", json!({"password":PASSWORD})).await;
        if answer["code"] != "name_taken" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(answer["code"], "password_required", "{answer}");
    let (_, answer) = hello_with(&relay, "bob", json!({"password":"another good one"})).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
}

#[tokio::test]
async fn unprotected_names_work_as_before() {
    let relay = Relay::start().await;
    let carol = relay.user("carol").await;
    carol.drop_connection().await;
    let mut again = Client::connect(&relay).await;
    again.hello_when_free("carol").await;
    // A password on an unprotected name is ignored.
    let (_, answer) = hello_with(&relay, "dave", json!({"password":"whatever it is"})).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
}
