//! Nothing lost: resume after a drop, scrollback, private messages at-least-once, and
//! everything surviving a restart of the relay on the same database.

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
