//! Rooms: join, presence, say, seq, history, leave, the room list and typing.

mod common;

use common::{Client, Relay, now_ms};
use serde_json::json;

#[tokio::test]
async fn join_answers_members_and_tells_the_others() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;

    let joined = alice.join("lobby").await;
    assert_eq!(
        joined,
        json!({"type":"joined","room":"lobby","members":["alice"],"history":[]})
    );
    let joined = bob.join("lobby").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]));
    let presence = alice.recv_type("presence").await;
    assert_eq!(
        presence,
        json!({"type":"presence","room":"lobby","name":"bob","online":true})
    );
    // The joiner hears nothing about itself.
    bob.expect_silence(200).await;
}

#[tokio::test]
async fn joining_again_answers_joined_and_announces_nothing() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    let again = bob.join("lobby").await;
    assert_eq!(again["members"], json!(["alice", "bob"]));
    alice.expect_silence(200).await;
}

#[tokio::test]
async fn say_reaches_every_member_with_gap_free_seqs() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    alice.recv_type("presence").await;
    carol.join("elsewhere").await;

    let before = now_ms();
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        let cid = format!("c{i}");
        let ack = alice.say("lobby", text, &cid).await;
        let seen = bob.recv_type("message").await;
        assert_eq!(ack, seen, "every member gets the same message");
        assert_eq!(ack["seq"], i as u64 + 1);
        assert_eq!(ack["from"], "alice");
        assert_eq!(ack["room"], "lobby");
        assert_eq!(ack["text"], text);
        let ts = ack["ts"].as_u64().unwrap();
        assert!(
            ts >= before && ts <= now_ms(),
            "ts is the relay's clock: {ts}"
        );
    }
    // The other room's member hears none of it.
    carol.expect_silence(200).await;
}

#[tokio::test]
async fn the_sender_cannot_choose_from_seq_or_ts() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    alice
        .send(json!({"type":"say","room":"lobby","text":"hi","from":"bob","seq":99,"ts":1}))
        .await;
    let msg = alice.recv_type("message").await;
    assert_eq!(msg["from"], "alice");
    assert_eq!(msg["seq"], 1);
    assert_ne!(msg["ts"], 1);
    assert!(msg.get("cid").is_none(), "no cid sent, none echoed: {msg}");
}

#[tokio::test]
async fn concurrent_senders_give_every_member_the_same_order() {
    let relay = Relay::start().await;
    let mut readers = Vec::new();
    for name in ["r1", "r2", "r3"] {
        let mut c = relay.user(name).await;
        c.join("busy").await;
        readers.push(c);
    }
    let senders = 4;
    let per_sender = 50;
    let mut tasks = Vec::new();
    for s in 0..senders {
        let mut c = relay.user(&format!("s{s}")).await;
        c.join("busy").await;
        tasks.push(tokio::spawn(async move {
            for i in 0..per_sender {
                c.send(json!({"type":"say","room":"busy","text":format!("{s}:{i}")}))
                    .await;
            }
            c
        }));
    }
    // The senders stay connected until the readers have everything: one dropped with frames
    // unread resets its connection, and what its kernel still held back (Nagle) is lost with it.
    let mut senders_connected = Vec::new();
    for t in tasks {
        senders_connected.push(t.await.unwrap());
    }
    let total = senders * per_sender;
    let mut orders = Vec::new();
    for reader in &mut readers {
        let mut texts = Vec::new();
        while texts.len() < total {
            let frame = reader.recv().await;
            if frame["type"] == "message" {
                assert_eq!(
                    frame["seq"],
                    texts.len() as u64 + 1,
                    "seqs 1..n without gaps"
                );
                texts.push(frame["text"].as_str().unwrap().to_owned());
            }
        }
        orders.push(texts);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "one order for everyone"
    );
}

#[tokio::test]
async fn what_a_client_said_before_it_hung_up_reaches_the_room() {
    let relay = Relay::start().await;
    let mut leaver = relay.user("leaver").await;
    leaver.join("door").await;
    let mut stayer = relay.user("stayer").await;
    stayer.join("door").await;
    // The leaver hangs up with the stayer's `presence` unread, which resets the connection:
    // the relay's first write to it fails while what it said waits to be read.
    let said = 150;
    let says: Vec<_> = (0..said)
        .map(|i| json!({"type": "say", "room": "door", "text": i.to_string()}))
        .collect();
    leaver.send_in_one_write(&says).await;
    leaver.drop_connection().await;
    let mut heard = 0;
    while heard < said {
        let frame = stayer.recv().await;
        if frame["type"] == "message" {
            assert_eq!(frame["text"], heard.to_string(), "in order, none lost");
            heard += 1;
        }
    }
}

#[tokio::test]
async fn history_holds_the_last_fifty_oldest_first_and_outlives_the_members() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("log").await;
    for i in 1..=55 {
        alice.say("log", &format!("m{i}"), &format!("c{i}")).await;
    }
    alice.send(json!({"type":"leave","room":"log"})).await;
    alice.expect_silence(100).await;

    let mut bob = relay.user("bob").await;
    let joined = bob.join("log").await;
    let history = joined["history"].as_array().unwrap();
    assert_eq!(history.len(), 50);
    assert_eq!(history[0]["seq"], 6);
    assert_eq!(history[0]["text"], "m6");
    assert_eq!(history[49]["seq"], 55);
    assert_eq!(history[49]["type"], "message");
    assert_eq!(history[49]["from"], "alice");
    assert_eq!(history[49]["cid"], "c55");
    // Numbering goes on from where it was.
    assert_eq!(bob.say("log", "next", "n").await["seq"], 56);
}

#[tokio::test]
async fn leave_and_disconnect_tell_the_others() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("lobby").await;
    }
    alice.recv_type("presence").await;
    alice.recv_type("presence").await;
    bob.recv_type("presence").await;

    bob.send(json!({"type":"leave","room":"lobby"})).await;
    let gone = json!({"type":"presence","room":"lobby","name":"bob","online":false});
    assert_eq!(alice.recv_type("presence").await, gone);
    assert_eq!(carol.recv_type("presence").await, gone);
    bob.send(json!({"type":"say","room":"lobby","text":"hi","cid":"x"}))
        .await;
    assert_eq!(bob.recv_error("not_member").await["cid"], "x");

    carol.drop_connection().await;
    let gone = json!({"type":"presence","room":"lobby","name":"carol","online":false});
    assert_eq!(alice.recv_type("presence").await, gone);
}

#[tokio::test]
async fn not_member_for_say_leave_and_typing() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    for frame in [
        json!({"type":"say","room":"lobby","text":"hi","cid":"a"}),
        json!({"type":"leave","room":"lobby","cid":"b"}),
        json!({"type":"typing","room":"lobby","cid":"c"}),
    ] {
        alice.send(frame.clone()).await;
        assert_eq!(alice.recv_error("not_member").await["cid"], frame["cid"]);
    }
}

#[tokio::test]
async fn unfit_room_names_get_invalid_room() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let long = "r".repeat(65);
    for room in [
        "",
        "with space",
        "slash/room",
        "<b>",
        "emoji😀",
        long.as_str(),
    ] {
        for frame in [
            json!({"type":"join","room":room}),
            json!({"type":"say","room":room,"text":"x"}),
            json!({"type":"leave","room":room}),
            json!({"type":"typing","room":room}),
        ] {
            alice.send(frame).await;
            alice.recv_error("invalid_room").await;
        }
    }
    // Letters and digits of any script, '-', '_' and '.'; case-sensitive.
    for room in ["大厅", "Room-1_a.b", &"r".repeat(64)] {
        alice.join(room).await;
    }
    let lower = alice.join("lobby").await;
    let upper = alice.join("LOBBY").await;
    assert_eq!(lower["room"], "lobby");
    assert_eq!(upper["room"], "LOBBY");
}

#[tokio::test]
async fn rooms_lists_the_rooms_that_have_members() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    alice.join("b-room").await;
    alice.join("a-room").await;
    bob.join("a-room").await;
    alice.recv_type("presence").await;
    bob.join("empty-soon").await;
    bob.send(json!({"type":"leave","room":"empty-soon"})).await;

    bob.send(json!({"type":"rooms"})).await;
    let rooms = bob.recv_type("rooms").await;
    assert_eq!(
        rooms,
        json!({"type":"rooms","rooms":[{"room":"a-room","members":2},{"room":"b-room","members":1}]})
    );
}

#[tokio::test]
async fn typing_reaches_the_others_in_the_room_only() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;

    alice.send(json!({"type":"typing","room":"lobby"})).await;
    assert_eq!(
        bob.recv_type("typing").await,
        json!({"type":"typing","room":"lobby","name":"alice"})
    );
    alice.expect_silence(200).await;
    // Typing is never stored nor counted.
    assert_eq!(alice.say("lobby", "hi", "c").await["seq"], 1);
    assert_eq!(bob.recv_type("message").await["seq"], 1);
    assert_eq!(
        bob.join("lobby").await["history"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_room_can_be_joined_by_many_and_each_leaves_cleanly() {
    let relay = Relay::start().await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let mut c = relay.user(&format!("u{i}")).await;
        c.join("big").await;
        clients.push(c);
    }
    let mut last = Client::connect(&relay).await;
    last.hello("last").await;
    let joined = last.join("big").await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 21);
}
