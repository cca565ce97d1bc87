//! Nothing lost: resume after a drop, scrollback, retention and pages, and everything
//! surviving a restart of the relay on the same database. Private messages' mailbox and acks
//! are in `mailbox.rs`.

mod common;

use common::{Client, Relay, seqs};
use serde_json::json;

/// Says `n` numbered messages in `room` and returns the last seq.
async fn say_many(client: &mut Client, room: &str, n: usize) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = client.say(room, &format!("m{i}"), &format!("c{i}")).await["seq"]
            .as_u64()
            .unwrap();
    }
    last
}

#[tokio::test]
async fn a_dropped_client_resumes_with_exactly_what_it_missed() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    let mut bob = relay.user("bob").await;
    bob.join("lobby").await;
    alice.recv_type("presence").await;
    let seen = say_many(&mut alice, "lobby", 3).await;
    for _ in 0..3 {
        bob.recv_type("message").await;
    }
    bob.drop_connection().await;
    alice.recv_type("presence").await; // bob offline
    say_many(&mut alice, "lobby", 4).await;

    let mut bob = Client::connect(&relay).await;
    bob.hello_when_free("bob").await;
    bob.send(json!({"type":"join","room":"lobby","after":seen}))
        .await;
    let joined = bob.recv_type("joined").await;
    assert_eq!(seqs(&joined["history"]), [4, 5, 6, 7]);
    assert!(joined.get("more").is_none(), "{joined}");
    // And then live, with nothing repeated.
    alice.recv_type("presence").await;
    alice.say("lobby", "live", "l").await;
    assert_eq!(bob.recv_type("message").await["seq"], 8);

    // Nothing missed: an empty history.
    bob.send(json!({"type":"join","room":"lobby","after":8}))
        .await;
    assert_eq!(bob.recv_type("joined").await["history"], json!([]));
}

#[tokio::test]
async fn a_long_absence_is_replayed_in_part_and_paged_back() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    say_many(&mut alice, "lobby", 125).await;

    let mut bob = relay.user("bob").await;
    bob.send(json!({"type":"join","room":"lobby","after":5}))
        .await;
    let joined = bob.recv_type("joined").await;
    assert_eq!(seqs(&joined["history"]), (26..=125).collect::<Vec<_>>());
    assert_eq!(joined["more"], true);

    bob.send(json!({"type":"history","room":"lobby","before":26,"limit":100}))
        .await;
    let page = bob.recv_type("history").await;
    assert_eq!(page["room"], "lobby");
    assert_eq!(seqs(&page["messages"]), (1..=25).collect::<Vec<_>>());
    assert_eq!(page["more"], false);
    assert_eq!(page["messages"][0]["type"], "message");

    // A plain join: the newest 50, and more before them.
    let joined = bob.join("lobby").await;
    assert_eq!(seqs(&joined["history"]), (76..=125).collect::<Vec<_>>());
    assert_eq!(joined["more"], true);
}

#[tokio::test]
async fn scrollback_pages_through_a_room_without_joining_it() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    say_many(&mut alice, "lobby", 7).await;
    let mut bob = relay.user("bob").await;
    let mut got = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut ask = json!({"type":"history","room":"lobby","limit":3});
        if let Some(b) = before {
            ask["before"] = b.into();
        }
        bob.send(ask).await;
        let page = bob.recv_type("history").await;
        let mut page_seqs = seqs(&page["messages"]);
        before = page_seqs.first().copied();
        page_seqs.extend(got);
        got = page_seqs;
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(got, (1..=7).collect::<Vec<_>>());
    // A room nobody spoke in has no history.
    bob.send(json!({"type":"history","room":"quiet"})).await;
    let page = bob.recv_type("history").await;
    assert_eq!(page["messages"], json!([]));
    assert_eq!(page["more"], false);
}

#[tokio::test]
async fn private_scrollback_is_the_pair_s_own() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;
    for text in ["one", "two"] {
        alice
            .send(json!({"type":"dm","to":"bob","text":text}))
            .await;
        alice.recv_type("message").await;
        bob.recv_type("message").await;
    }
    bob.send(json!({"type":"dm","to":"alice","text":"three"}))
        .await;
    bob.recv_type("message").await;
    alice.recv_type("message").await;

    bob.send(json!({"type":"history","with":"ALICE","before":3}))
        .await;
    let page = bob.recv_type("history").await;
    assert_eq!(page["with"], "ALICE");
    assert_eq!(seqs(&page["messages"]), [1, 2]);
    assert_eq!(page["messages"][0]["to"], "bob");
    assert_eq!(page["messages"][0]["from"], "alice");

    // Carol asking about alice sees her own conversation with alice: none.
    carol.send(json!({"type":"history","with":"alice"})).await;
    assert_eq!(carol.recv_type("history").await["messages"], json!([]));
}

#[tokio::test]
async fn bad_history_requests_are_refused_with_reasons() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    for (frame, code) in [
        (json!({"type":"history","cid":"h"}), "bad_request"),
        (
            json!({"type":"history","room":"a","with":"b","cid":"h"}),
            "bad_request",
        ),
        (
            json!({"type":"history","room":"a","limit":0,"cid":"h"}),
            "bad_request",
        ),
        (
            json!({"type":"history","room":"a","limit":101,"cid":"h"}),
            "bad_request",
        ),
        (
            json!({"type":"history","room":"a b","cid":"h"}),
            "invalid_room",
        ),
        (
            json!({"type":"ack","with":"alice","seq":-1,"cid":"h"}),
            "bad_request",
        ),
        (
            json!({"type":"join","room":"a","after":"x","cid":"h"}),
            "bad_request",
        ),
    ] {
        alice.send(frame.clone()).await;
        let error = alice.recv_error(code).await;
        assert_eq!(error["cid"], "h", "{frame}");
    }
    // Still served.
    alice.join("a").await;
}

#[tokio::test]
async fn history_and_ack_with_a_name_never_seen_answer_as_for_a_stranger() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    // Like a remembered name never written to: an empty page, and `ack` has no answer.
    alice
        .send(json!({"type":"history","with":"Nobody","cid":"h"}))
        .await;
    let page = alice.recv_type("history").await;
    assert_eq!(page["with"], "Nobody");
    assert_eq!(
        (&page["messages"], &page["more"]),
        (&json!([]), &json!(false))
    );
    alice
        .send(json!({"type":"ack","with":"nobody","seq":1,"cid":"a"}))
        .await;
    alice.join("a").await; // the next answer is the join's: the ack had none
}

#[tokio::test]
async fn seqs_and_history_go_on_after_a_restart() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    say_many(&mut alice, "lobby", 3).await;
    let mut bob = relay.user("bob").await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"hi"}))
        .await;
    alice.recv_type("message").await;
    bob.recv_type("message").await;

    let relay = relay.restart(|_| {}).await;
    let mut alice = relay.user("alice").await;
    let joined = alice.join("lobby").await;
    assert_eq!(seqs(&joined["history"]), [1, 2, 3]);
    assert_eq!(alice.say("lobby", "after", "a").await["seq"], 4);
    alice
        .send(json!({"type":"dm","to":"bob","text":"again"}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 2);
    // The room is empty and forgotten in memory, but not its seq.
    alice.send(json!({"type":"leave","room":"lobby"})).await;
    alice.send(json!({"type":"rooms"})).await;
    assert_eq!(alice.recv_type("rooms").await["rooms"], json!([]));
    alice.join("lobby").await;
    assert_eq!(alice.say("lobby", "back", "b").await["seq"], 5);
}

#[tokio::test]
async fn retention_keeps_the_newest_messages_of_a_room() {
    let relay = Relay::start_with(|c| {
        c.retain_messages = 100;
        c.msg_rate = 0.0;
    })
    .await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    say_many(&mut alice, "lobby", 200).await;
    // The newest 100 are all there.
    alice
        .send(json!({"type":"history","room":"lobby","limit":100}))
        .await;
    let page = alice.recv_type("history").await;
    assert_eq!(seqs(&page["messages"]), (101..=200).collect::<Vec<_>>());
    // Older ones go, though an engine may trim in steps: SQLite trims when the seq passes a
    // multiple of 64 (at 192, everything up to 92 went), Redis at every message.
    alice
        .send(json!({"type":"history","room":"lobby","before":101,"limit":100}))
        .await;
    let page = alice.recv_type("history").await;
    let older = seqs(&page["messages"]);
    assert!(older.len() < 64, "{older:?}");
    assert!(older.iter().all(|&s| s > 36), "{older:?}");
    assert_eq!(page["more"], false);
}

#[tokio::test]
async fn a_room_of_long_messages_can_be_joined_and_paged() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("essays").await;
    let long = "字".repeat(4000); // 12,000 bytes
    for i in 0..100 {
        alice
            .send(json!({"type":"say","room":"essays","text":long,"cid":format!("c{i}")}))
            .await;
        alice.recv_type("message").await;
    }
    // 50 or 100 of them would be 600 KB or 1.2 MB: pages stop at --page-kib (64 KiB), five
    // messages here, and say `more`.
    let mut bob = relay.user("bob").await;
    let joined = bob.join("essays").await;
    assert_eq!(seqs(&joined["history"]), (96..=100).collect::<Vec<_>>());
    assert_eq!(joined["more"], true);
    let mut have = seqs(&joined["history"]);
    while have[0] > 1 {
        bob.send(json!({"type":"history","room":"essays","before":have[0],"limit":100}))
            .await;
        let page = bob.recv_type("history").await;
        let mut got = seqs(&page["messages"]);
        assert_eq!(got.len(), 5.min(have[0] as usize - 1));
        got.extend(have);
        have = got;
    }
    assert_eq!(have, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn pages_stop_at_their_bytes_and_say_more() {
    // 8 KiB a page: two messages of 3,000 characters (each counts as its text and 256 bytes).
    let relay = Relay::start_with(|c| c.page_kib = 8).await;
    let mut alice = relay.user("alice").await;
    alice.join("long").await;
    for i in 1..=5 {
        alice.say("long", &"x".repeat(3000), &i.to_string()).await;
    }
    let mut bob = relay.user("bob").await;
    let joined = bob.join("long").await;
    assert_eq!(seqs(&joined["history"]), [4, 5]);
    assert_eq!(joined["more"], true);
    let mut have = vec![4, 5];
    while have[0] > 1 {
        bob.send(json!({"type":"history","room":"long","before":have[0],"limit":100}))
            .await;
        let page = bob.recv_type("history").await;
        let mut got = seqs(&page["messages"]);
        assert!(got.len() <= 2, "{got:?}");
        assert_eq!(page["more"], got[0] > 1, "{page}");
        got.extend(have);
        have = got;
    }
    assert_eq!(have, [1, 2, 3, 4, 5]);
    // A message larger than a page still comes, alone.
    let relay = Relay::start_with(|c| c.page_kib = 1).await;
    let mut alice = relay.user("alice").await;
    alice.join("long").await;
    alice.say("long", &"y".repeat(2000), "big").await;
    alice.send(json!({"type":"history","room":"long"})).await;
    let page = alice.recv_type("history").await;
    assert_eq!(seqs(&page["messages"]), [1]);
    // Private history too.
    let mut bob = relay.user("bob").await;
    for i in 0..2 {
        alice
            .send(json!({"type":"dm","to":"bob","text":"z".repeat(900),"cid":i.to_string()}))
            .await;
        alice.recv_type("message").await;
        bob.recv_type("message").await;
    }
    bob.send(json!({"type":"history","with":"alice"})).await;
    let page = bob.recv_type("history").await;
    assert_eq!(seqs(&page["messages"]), [2]);
    assert_eq!(page["more"], true);
}
