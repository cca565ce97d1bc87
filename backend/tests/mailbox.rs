//! Private messages at-least-once: the mailbox, acks and their races, a mailbox's bounds, mail a
//! stalled client never read, restarts, and a forgotten name's private messages.

mod common;

use common::{Client, Relay};
use serde_json::json;

/// Connects and says hello with `acks`.
async fn hello_acking(relay: &Relay, name: &str) -> Client {
    let mut client = Client::connect(relay).await;
    client
        .send(json!({"type":"hello","name":name,"acks":true}))
        .await;
    client.recv_type("welcome").await;
    client
}

#[tokio::test]
async fn unacknowledged_private_messages_come_again_until_acknowledged() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = hello_acking(&relay, "bob").await;
    for text in ["one", "two"] {
        alice
            .send(json!({"type":"dm","to":"bob","text":text}))
            .await;
        alice.recv_type("message").await;
        bob.recv_type("message").await;
    }
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;

    // Not acknowledged: both again, in order.
    let mut bob = hello_acking(&relay, "bob").await;
    let again = [
        bob.recv_type("message").await,
        bob.recv_type("message").await,
    ];
    assert_eq!(again.map(|m| m["seq"].as_u64().unwrap()), [1, 2]);
    bob.send(json!({"type":"ack","with":"Alice","seq":1})).await;
    bob.expect_silence(100).await; // an ack has no answer
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;

    // Only the second, then nothing.
    let mut bob = hello_acking(&relay, "bob").await;
    assert_eq!(bob.recv_type("message").await["seq"], 2);
    bob.send(json!({"type":"ack","with":"alice","seq":2})).await;
    bob.expect_silence(100).await;
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    let mut bob = hello_acking(&relay, "bob").await;
    bob.expect_silence(300).await;
}

/// Each round, the removal (an ack, or the mail written to a client that does not
/// acknowledge) is still on its way to the store when the next hello reads the mailbox: the
/// message must not come again, whichever of the read and the commit ends first.

#[tokio::test]
async fn a_removal_committed_while_the_next_hello_reads_the_mailbox_still_counts() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    for acks in [true, false] {
        let hello = json!({"type":"hello","name":"bob","acks":acks});
        let mut bob = Client::connect(&relay).await;
        bob.send(hello.clone()).await;
        bob.recv_type("welcome").await;
        let mut previous = None;
        for _ in 0..25 {
            // 50 in all: within `--dm-burst`.
            alice
                .send(json!({"type":"dm","to":"bob","text":"again?"}))
                .await;
            let seq = alice.recv_type("message").await["seq"].as_u64().unwrap();
            // Nothing before this one comes again.
            assert_eq!(
                bob.recv_type("message").await["seq"],
                seq,
                "after {previous:?}"
            );
            previous = Some(seq);
            if acks {
                bob.send(json!({"type":"ack","with":"alice","seq":seq}))
                    .await;
            }
            bob.drop_connection().await;
            alice.wait_for_online(&["alice"]).await;
            bob = Client::connect(&relay).await;
            bob.send(hello.clone()).await;
            bob.recv_type("welcome").await;
        }
        bob.expect_silence(200).await;
    }
}

#[tokio::test]
async fn a_client_without_acks_gets_each_private_message_once() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"live"}))
        .await;
    alice.recv_type("message").await;
    bob.recv_type("message").await;
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"kept"}))
        .await;
    alice.recv_type("message").await;

    let mut bob = Client::connect(&relay).await;
    bob.hello("bob").await;
    assert_eq!(bob.recv_type("message").await["text"], "kept");
    bob.expect_silence(200).await;
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    let mut bob = Client::connect(&relay).await;
    bob.hello("bob").await;
    bob.expect_silence(300).await;
}

#[tokio::test]
async fn offline_mail_survives_a_restart_and_is_delivered_once_acknowledged() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    relay.user("bob").await.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    for text in ["one", "two"] {
        alice
            .send(json!({"type":"dm","to":"bob","text":text}))
            .await;
        alice.recv_type("message").await;
    }
    let relay = relay.restart(|_| {}).await;
    // After the restart alice is a new session; bob is still known.
    let mut alice = relay.user("alice").await;
    alice
        .send(json!({"type":"dm","to":"Bob","text":"three"}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 3);

    let mut bob = hello_acking(&relay, "bob").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = bob.recv_type("message").await;
        got.push((
            m["seq"].as_u64().unwrap(),
            m["text"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        got,
        [(1, "one".into()), (2, "two".into()), (3, "three".into())]
    );
    bob.expect_silence(200).await;
    bob.send(json!({"type":"ack","with":"alice","seq":3})).await;
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;

    let relay = relay.restart(|_| {}).await;
    let mut bob = hello_acking(&relay, "bob").await;
    bob.expect_silence(300).await;
}

#[tokio::test]
async fn a_pipelined_burst_cannot_overfill_a_mailbox() {
    let relay = Relay::start_with(|c| c.mailbox = 10).await;
    let mut alice = relay.user("alice").await;
    relay.user("bob").await.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    // Thirty at once, without waiting for any answer: the ones still on their way to the
    // database count against the mailbox too.
    for i in 0..30 {
        alice
            .send(json!({"type":"dm","to":"bob","text":format!("m{i}"),"cid":format!("c{i}")}))
            .await;
    }
    let mut kept = Vec::new();
    for _ in 0..30 {
        let answer = alice.recv().await;
        match answer["type"].as_str() {
            Some("message") => kept.push(answer["text"].as_str().unwrap().to_owned()),
            _ => assert_eq!(answer["code"], "mailbox_full", "{answer}"),
        }
    }
    assert_eq!(kept.len(), 10);
    let mut bob = Client::connect(&relay).await;
    bob.hello("bob").await;
    for text in &kept {
        assert_eq!(bob.recv_type("message").await["text"], text.as_str());
    }
    bob.expect_silence(200).await;
}

#[tokio::test]
async fn mail_a_stalled_client_never_read_is_sent_again() {
    // Bob does not acknowledge and stops reading, on a socket with a small window; his queue
    // holds 8 frames, so his mailbox holds at most 7 messages he has not been sent.
    let relay = Relay::start_with(|c| {
        c.queue_frames = 8;
        c.msg_rate = 0.0;
        c.dm_rate = 0.0;
    })
    .await;
    let mut alice = relay.user("alice").await;
    let mut bob = Client::connect_small_window(&relay).await;
    bob.hello("bob").await;
    // More than the sockets' buffers hold (7 MB).
    let mut acknowledged = Vec::new();
    for i in 0..600 {
        let text = format!("parcel {i} {}", "字".repeat(3980));
        alice
            .send(json!({"type":"dm","to":"bob","text":text}))
            .await;
        let answer = alice.recv().await;
        if answer["type"] == "message" {
            acknowledged.push(text);
        } else {
            assert_eq!(answer["code"], "mailbox_full", "{answer}");
        }
    }
    // What reached bob's socket is his, whether or not the relay gave up on him (1013); the
    // rest comes after his next hello.
    let mut got = Vec::new();
    while let Ok(Some(frame)) =
        tokio::time::timeout(std::time::Duration::from_secs(2), bob.recv_raw()).await
    {
        if frame["type"] == "message" {
            got.push(frame["text"].as_str().unwrap().to_owned());
        }
    }
    let first = got.len();
    drop(bob);
    alice.wait_for_online(&["alice"]).await;
    let mut bob = Client::connect(&relay).await;
    bob.hello("bob").await;
    while let Ok(Some(frame)) =
        tokio::time::timeout(std::time::Duration::from_millis(500), bob.recv_raw()).await
    {
        if frame["type"] == "message" {
            got.push(frame["text"].as_str().unwrap().to_owned());
        }
    }
    eprintln!(
        "{} acknowledged; bob had {first} on his first connection, {} after",
        acknowledged.len(),
        got.len() - first
    );
    for text in &acknowledged {
        assert!(got.contains(text), "{} was lost", &text[..12]);
    }
}

#[tokio::test]
async fn a_forgotten_names_private_messages_are_gone_for_its_next_holder_after_a_restart_too() {
    // --max-users counts the names one relay knows: one relay, on every engine.
    let relay = Relay::start_alone(|c| c.max_users = 2).await;
    let mut bob = relay.user("bob").await;
    let mut alice = relay.user("alice").await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"a secret","cid":"d1"}))
        .await;
    alice.recv_type("message").await;
    bob.recv_type("message").await;
    alice.drop_connection().await;
    bob.wait_for_online(&["bob"]).await;
    // At the cap, carol's name takes the place of the name unused longest: alice's.
    relay.user("carol").await.drop_connection().await;
    bob.wait_for_online(&["bob"]).await;
    // A new alice (in carol's place), then a restart: she is a known user from then on.
    relay.user("alice").await.drop_connection().await;
    drop(bob);
    let relay = relay.restart(|c| c.max_users = 2).await;
    let mut alice = relay.user("alice").await;
    alice.send(json!({"type":"history","with":"bob"})).await;
    let history = alice.recv_type("history").await;
    assert_eq!(history["messages"], json!([]), "{history}");
    relay.shutdown().await;
}
