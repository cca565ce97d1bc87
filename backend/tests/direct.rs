//! Private messages, offline delivery, the user list and typing to a user.

mod common;

use common::{Client, Relay};
use serde_json::{Value, json};

#[tokio::test]
async fn a_dm_reaches_both_with_one_seq_per_pair() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;

    alice
        .send(json!({"type":"dm","to":"bob","text":"hi","cid":"c2"}))
        .await;
    let ack = alice.recv_type("message").await;
    let got = bob.recv_type("message").await;
    assert_eq!(ack, got);
    assert_eq!(ack["to"], "bob");
    assert_eq!(ack["from"], "alice");
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["cid"], "c2");
    assert!(ack.get("room").is_none());

    // Both directions share the pair's counter; other pairs have their own.
    bob.send(json!({"type":"dm","to":"alice","text":"hello"}))
        .await;
    assert_eq!(bob.recv_type("message").await["seq"], 2);
    assert_eq!(alice.recv_type("message").await["seq"], 2);
    alice
        .send(json!({"type":"dm","to":"carol","text":"yo"}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);
    assert_eq!(carol.recv_type("message").await["seq"], 1);
    bob.expect_silence(200).await;
}

#[tokio::test]
async fn names_in_dms_are_spelled_as_their_owners_said_them() {
    let relay = Relay::start().await;
    let mut alice = relay.user("Alice").await;
    let mut bob = relay.user("Bob").await;
    alice
        .send(json!({"type":"dm","to":"BOB","text":"hi"}))
        .await;
    let msg = bob.recv_type("message").await;
    assert_eq!(msg["to"], "Bob");
    assert_eq!(msg["from"], "Alice");
    alice.recv_type("message").await;
}

#[tokio::test]
async fn a_dm_to_someone_who_never_said_hello_is_unknown_user() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice
        .send(json!({"type":"dm","to":"nobody","text":"hi","cid":"c"}))
        .await;
    assert_eq!(alice.recv_error("unknown_user").await["cid"], "c");
    // `typing` has no answer, to a name never seen as to one offline.
    alice.send(json!({"type":"typing","to":"nobody"})).await;
    alice.join("lobby").await;
}

#[tokio::test]
async fn dms_to_an_offline_user_arrive_after_their_welcome() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let bob = relay.user("bob").await;
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    for i in 1..=3 {
        alice
            .send(json!({"type":"dm","to":"bob","text":format!("m{i}"),"cid":format!("c{i}")}))
            .await;
        let ack = alice.recv_type("message").await;
        assert_eq!(ack["seq"], i, "the sender's copy comes at once");
    }

    let mut bob = Client::connect(&relay).await;
    bob.send(json!({"type":"hello","name":"BOB"})).await;
    bob.recv_type("welcome").await;
    for i in 1..=3 {
        let msg = bob.recv_type("message").await;
        assert_eq!(msg["seq"], i);
        assert_eq!(msg["text"], format!("m{i}"));
        assert_eq!(msg["from"], "alice");
    }
    bob.expect_silence(200).await;

    // Delivered once: a later session gets them no more.
    let mut again = Client::connect(&relay).await;
    drop(bob);
    again.hello_when_free("bob").await;
    again.expect_silence(200).await;
}

#[tokio::test]
async fn users_lists_who_is_online() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let _bob = relay.user("Bob").await;
    let mut anon = Client::connect(&relay).await;
    anon.send(json!({"type":"join","room":"x"})).await;
    anon.recv_error("not_welcomed").await;
    alice.send(json!({"type":"users"})).await;
    assert_eq!(
        alice.recv_type("users").await,
        json!({"type":"users","online":["Bob","alice"]})
    );
}

#[tokio::test]
async fn typing_to_a_user_reaches_that_user_only() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;
    alice.send(json!({"type":"typing","to":"BOB"})).await;
    assert_eq!(
        bob.recv_type("typing").await,
        json!({"type":"typing","to":"bob","name":"alice"})
    );
    alice.expect_silence(150).await;
    carol.expect_silence(50).await;
    // Typing is not counted in the pair's seq.
    alice
        .send(json!({"type":"dm","to":"bob","text":"hi"}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);
}

#[tokio::test]
async fn a_full_mailbox_refuses_more_and_keeps_what_it_has() {
    let relay = Relay::start_with(|c| c.mailbox = 2).await;
    let mut alice = relay.user("alice").await;
    let bob = relay.user("bob").await;
    bob.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    for i in 1..=2 {
        alice
            .send(json!({"type":"dm","to":"bob","text":format!("m{i}")}))
            .await;
        alice.recv_type("message").await;
    }
    alice
        .send(json!({"type":"dm","to":"bob","text":"m3","cid":"c3"}))
        .await;
    assert_eq!(alice.recv_error("mailbox_full").await["cid"], "c3");
    let mut bob = relay.user("bob").await;
    assert_eq!(bob.recv_type("message").await["text"], "m1");
    assert_eq!(bob.recv_type("message").await["text"], "m2");
}

#[tokio::test]
async fn a_mailbox_is_bounded_in_bytes_too() {
    // A mailbox holds at most half the queue's bytes: 512 KiB here. One sender may fill it
    // (its share is all of it) as fast as it likes.
    let relay = Relay::start_with(|c| {
        c.queue_mib = 1;
        c.mailbox_share = 1000;
        c.dm_rate = 0.0;
    })
    .await;
    let mut alice = relay.user("alice").await;
    relay.user("bob").await.drop_connection().await;
    alice.wait_for_online(&["alice"]).await;
    let text = "字".repeat(4000); // 12,000 bytes
    let mut kept = 0;
    let refused = loop {
        alice
            .send(json!({"type":"dm","to":"bob","text":text}))
            .await;
        let answer = alice.recv().await;
        if answer["type"] == "error" {
            break answer;
        }
        kept += 1;
        assert!(kept <= 50, "512 KiB holds at most 42 such messages");
    };
    assert_eq!(refused["code"], "mailbox_full");
    // Each counts as its text and 256 bytes more.
    assert_eq!(kept, 512 * 1024 / (12_000 + 256));
    // Once bob has had his (a client without acks has them once they are sent), there is
    // room again.
    let mut bob = relay.user("bob").await;
    for _ in 0..kept {
        bob.recv_type("message").await;
    }
    let mut delivered = false;
    for _ in 0..50 {
        alice
            .send(json!({"type":"dm","to":"bob","text":"again"}))
            .await;
        if alice.recv().await["type"] == "message" {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(delivered, "the mailbox empties once bob has his mail");
}

/// Sends a dm and returns the answer with its cid: the sender's copy or an error.
async fn dm(from: &mut Client, to: &str, cid: &str) -> Value {
    from.send(json!({"type":"dm","to":to,"text":cid,"cid":cid}))
        .await;
    let answer = from.recv().await;
    assert_eq!(answer["cid"], cid, "{answer}");
    answer
}

#[tokio::test]
async fn each_sender_has_a_share_of_a_mailbox_by_name_and_by_address() {
    let relay = Relay::start_with(|c| {
        c.mailbox = 10;
        c.mailbox_share = 3;
        c.dm_rate = 0.0;
    })
    .await;
    // Everybody here is on 127.0.0.1 but carol.
    let mut alice = relay.user("alice").await;
    let mut mallory = relay.user("mallory").await;
    let mut carol = Client::connect_from(&relay, "127.0.0.2".parse().unwrap()).await;
    carol.hello("carol").await;
    relay.user("bob").await.drop_connection().await;
    alice.wait_for_online(&["alice", "carol", "mallory"]).await;

    for i in 0..3 {
        assert_eq!(
            dm(&mut alice, "bob", &format!("a{i}")).await["type"],
            "message"
        );
    }
    // Alice's share is used up; and mallory's, by her address, although the mailbox has room.
    assert_eq!(dm(&mut alice, "bob", "a3").await["code"], "mailbox_full");
    assert_eq!(dm(&mut mallory, "bob", "m0").await["code"], "mailbox_full");
    // Carol, from another address, has a share of her own.
    for i in 0..3 {
        assert_eq!(
            dm(&mut carol, "bob", &format!("c{i}")).await["type"],
            "message"
        );
    }
    assert_eq!(dm(&mut carol, "bob", "c3").await["code"], "mailbox_full");
    // A share of another mailbox is another share.
    assert_eq!(dm(&mut alice, "carol", "to carol").await["type"], "message");

    let mut bob = relay.user("bob").await;
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(
            bob.recv_type("message").await["text"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(got, ["a0", "a1", "a2", "c0", "c1", "c2"]);
    // Received mail leaves the share: alice may send again.
    let mut delivered = false;
    for i in 0..50 {
        if dm(&mut alice, "bob", &format!("again{i}")).await["type"] == "message" {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(delivered, "the share empties once bob has his mail");
}

#[tokio::test]
async fn an_address_has_a_rate_of_dms_to_each_user() {
    // Counted by each relay of a cluster for what reaches it.
    let relay = Relay::start_alone(|c| {
        c.dm_rate = 0.5;
        c.dm_burst = 3;
    })
    .await;
    let mut alice = relay.user("alice").await;
    let mut mallory = relay.user("mallory").await;
    let mut bob = relay.user("bob").await;
    let mut carol = Client::connect_from(&relay, "127.0.0.2".parse().unwrap()).await;
    carol.hello("carol").await;
    for i in 0..3 {
        assert_eq!(
            dm(&mut alice, "bob", &format!("a{i}")).await["type"],
            "message"
        );
        bob.recv_type("message").await;
    }
    let refused = dm(&mut alice, "bob", "a3").await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    // Counted by address, not by name: mallory shares alice's.
    assert_eq!(dm(&mut mallory, "bob", "m0").await["code"], "rate_limited");
    // To someone else, or from another address, there is room.
    assert_eq!(dm(&mut alice, "carol", "to carol").await["type"], "message");
    carol.recv_type("message").await;
    assert_eq!(dm(&mut carol, "bob", "c0").await["type"], "message");
}
