//! Idempotent sends (docs/PROTOCOL.md, "Message ids"): a `say` or `dm` sent again with the
//! same `mid` by the same user is stored once, and the repeat is answered with the original's
//! `message`, seq included, carrying the repeat's `cid`.

mod common;

use common::{Client, Relay};
use serde_json::{Value, json};

/// Sends a `say` with a `mid` and returns the `message` that answers it.
async fn say_mid(client: &mut Client, room: &str, text: &str, cid: &str, mid: &str) -> Value {
    client
        .send(json!({"type":"say","room":room,"text":text,"cid":cid,"mid":mid}))
        .await;
    let answer = client.recv_type("message").await;
    assert_eq!(answer["cid"], cid, "{answer}");
    answer
}

/// The seqs and texts of a `joined`'s or `history`'s messages.
fn listed(messages: &Value) -> Vec<(u64, String)> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_say_repeated_with_its_mid_is_stored_and_delivered_once() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    let first = say_mid(&mut alice, "lobby", "hi", "c1", "m-1").await;
    assert_eq!(first["seq"], 1);
    assert_eq!(first["mid"], "m-1", "the message carries its mid: {first}");
    let got = bob.recv_type("message").await;
    assert_eq!(
        (got["seq"].clone(), got["mid"].clone()),
        (json!(1), json!("m-1"))
    );

    let repeat = say_mid(&mut alice, "lobby", "hi", "c2", "m-1").await;
    assert_eq!(repeat["seq"], 1, "the original's seq: {repeat}");
    assert_eq!(repeat["ts"], first["ts"], "and its time");
    let next = say_mid(&mut alice, "lobby", "next", "c3", "m-2").await;
    assert_eq!(next["seq"], 2, "the repeat used no seq");
    let got = bob.recv_type("message").await;
    assert_eq!(got["seq"], 2, "bob never saw the repeat: {got}");

    alice.send(json!({"type":"history","room":"lobby"})).await;
    let history = alice.recv_type("history").await;
    assert_eq!(
        listed(&history["messages"]),
        [(1, "hi".to_owned()), (2, "next".to_owned())]
    );
    assert_eq!(history["messages"][0]["mid"], "m-1");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_dm_repeated_with_its_mid_is_stored_once_and_mailed_once() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    relay.user("bob").await.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    for cid in ["c1", "c2", "c3"] {
        alice
            .send(json!({"type":"dm","to":"bob","text":"hi","cid":cid,"mid":"d-1"}))
            .await;
        let answer = alice.recv_type("message").await;
        assert_eq!(
            (answer["seq"].clone(), answer["cid"].clone()),
            (json!(1), json!(cid))
        );
    }
    let mut bob = Client::connect(&relay).await;
    bob.hello_when_free("bob").await;
    let mail = bob.recv_type("message").await;
    assert_eq!(
        (mail["seq"].clone(), mail["mid"].clone()),
        (json!(1), json!("d-1"))
    );
    bob.expect_silence(200).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_repeat_after_a_reconnect_and_a_restart_is_still_recognised() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    say_mid(&mut alice, "lobby", "kept", "c1", "m-1").await;
    alice.drop_connection().await;
    let relay = relay.restart(|_| {}).await;

    let mut alice = Client::connect(&relay).await;
    alice.hello_when_free("alice").await;
    alice.join("lobby").await;
    let repeat = say_mid(&mut alice, "lobby", "kept", "c9", "m-1").await;
    assert_eq!(repeat["seq"], 1);
    let other = say_mid(&mut alice, "lobby", "new", "c10", "m-2").await;
    assert_eq!(other["seq"], 2);
    relay.shutdown().await;
}

#[tokio::test]
async fn mids_are_each_senders_own() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    let a = say_mid(&mut alice, "lobby", "from alice", "c1", "same").await;
    bob.recv_type("message").await;
    let b = say_mid(&mut bob, "lobby", "from bob", "c1", "same").await;
    assert_eq!((a["seq"].clone(), b["seq"].clone()), (json!(1), json!(2)));
    relay.shutdown().await;
}

#[tokio::test]
async fn a_mid_that_is_empty_or_too_long_is_refused() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    for mid in [String::new(), "m".repeat(65)] {
        alice
            .send(json!({"type":"say","room":"lobby","text":"hi","cid":"c1","mid":mid}))
            .await;
        let error = alice.recv_error("bad_request").await;
        assert_eq!(error["cid"], "c1");
    }
    alice
        .send(json!({"type":"dm","to":"alice","text":"hi","cid":"c2","mid":""}))
        .await;
    assert_eq!(alice.recv_error("bad_request").await["cid"], "c2");
    let ok = say_mid(&mut alice, "lobby", "fine", "c3", &"m".repeat(64)).await;
    assert_eq!(ok["seq"], 1, "nothing refused used a seq");
    relay.shutdown().await;
}
