//! Replies, edits, deletions and reactions (the changes extension): against a real relay with
//! real clients, on SQLite and (`COURIER_TEST_ENGINE=cluster`) on three relays on one Redis.

mod common;

use common::{Client, Relay, seqs};
use serde_json::{Value, json};

/// The next frame of `kind`, skipping presence and members.
async fn next(client: &mut Client, kind: &str) -> Value {
    let frame = client.next_but_presence().await;
    assert_eq!(frame["type"], kind, "{frame}");
    frame
}

#[tokio::test]
async fn an_edit_a_reaction_and_a_delete_reach_every_member() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    alice.say("lobby", "ship it?", "c1").await;
    next(&mut bob, "message").await;

    alice
        .send(json!({"type":"edit","room":"lobby","seq":1,"text":"ship it!","cid":"e1"}))
        .await;
    let mine = next(&mut alice, "changed").await;
    let theirs = next(&mut bob, "changed").await;
    assert_eq!(mine["cid"], "e1");
    assert!(theirs.get("cid").is_none(), "{theirs}");
    assert_eq!(theirs["text"], "ship it!");
    assert_eq!(theirs["seq"], 1);
    assert_eq!(theirs["rev"], 1);
    assert!(theirs["edited"].as_u64().is_some());

    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍"}))
        .await;
    let changed = next(&mut alice, "changed").await;
    assert_eq!(
        changed["reactions"],
        json!([{"emoji":"👍","names":["bob"]}])
    );
    assert_eq!(changed["rev"], 2);
    next(&mut bob, "changed").await;
    // The same reaction again changes nothing: nothing is sent, the rev stays.
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍"}))
        .await;
    bob.expect_silence(200).await;
    alice.expect_silence(0).await;
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍","remove":true}))
        .await;
    let changed = next(&mut alice, "changed").await;
    assert!(changed.get("reactions").is_none(), "{changed}");
    assert_eq!(changed["rev"], 3);
    next(&mut bob, "changed").await;
    // Removing one that is not there changes nothing either.
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍","remove":true}))
        .await;
    bob.expect_silence(200).await;

    alice
        .send(json!({"type":"delete","room":"lobby","seq":1}))
        .await;
    let gone = next(&mut bob, "changed").await;
    assert_eq!(
        (
            gone["deleted"].clone(),
            gone["text"].clone(),
            gone["rev"].clone()
        ),
        (json!(true), json!(""), json!(4))
    );
    next(&mut alice, "changed").await;
    // A deleted message is gone for every change, and for replies.
    for frame in [
        json!({"type":"delete","room":"lobby","seq":1,"cid":"d"}),
        json!({"type":"edit","room":"lobby","seq":1,"text":"x","cid":"d"}),
        json!({"type":"react","room":"lobby","seq":1,"emoji":"👍","cid":"d"}),
        json!({"type":"say","room":"lobby","text":"x","reply":1,"cid":"d"}),
    ] {
        alice.send(frame).await;
        assert_eq!(alice.recv_error("unknown_message").await["cid"], "d");
    }
    // The say was refused: the next message is seq 2, with no gap.
    assert_eq!(alice.say("lobby", "next", "c2").await["seq"], 2);

    // History shows the final state.
    alice.send(json!({"type":"history","room":"lobby"})).await;
    let page = next(&mut alice, "history").await;
    assert_eq!(page["messages"][0]["deleted"], true);
    assert_eq!(page["messages"][0]["rev"], 4);
    assert_eq!(seqs(&page["messages"]), [1, 2]);
}

#[tokio::test]
async fn a_reply_carries_its_quote_live_in_history_and_after_a_join() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    let long = "q".repeat(300);
    alice.say("lobby", &long, "c1").await;
    next(&mut bob, "message").await;
    bob.send(json!({"type":"say","room":"lobby","text":"yes","reply":1,"cid":"r"}))
        .await;
    let reply = next(&mut alice, "message").await;
    let quote = json!({"seq":1,"from":"alice","text":"q".repeat(shared::limits::QUOTE_CHARS)});
    assert_eq!(reply["reply"], quote);
    assert_eq!(next(&mut bob, "message").await["reply"], quote);
    // A reply to a seq that is not there is refused, and takes no seq.
    bob.send(json!({"type":"say","room":"lobby","text":"?","reply":99,"cid":"x"}))
        .await;
    assert_eq!(bob.recv_error("unknown_message").await["cid"], "x");

    // The quote is a snapshot: editing the original does not change it.
    alice
        .send(json!({"type":"edit","room":"lobby","seq":1,"text":"new"}))
        .await;
    next(&mut alice, "changed").await;
    let mut carol = relay.user("carol").await;
    let joined = carol.join("lobby").await;
    assert_eq!(joined["history"][0]["text"], "new");
    assert_eq!(joined["history"][1]["reply"], quote);
    carol.send(json!({"type":"history","room":"lobby"})).await;
    assert_eq!(
        next(&mut carol, "history").await["messages"][1]["reply"],
        quote
    );
}

#[tokio::test]
async fn only_the_author_edits_and_bad_changes_are_refused() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    alice.say("lobby", "mine", "c1").await;
    next(&mut bob, "message").await;
    let refusals = [
        (
            json!({"type":"edit","room":"lobby","seq":1,"text":"theirs","cid":"a"}),
            "forbidden",
        ),
        (
            json!({"type":"delete","room":"lobby","seq":1,"cid":"a"}),
            "forbidden",
        ),
        (
            json!({"type":"edit","room":"lobby","seq":7,"text":"x","cid":"a"}),
            "unknown_message",
        ),
        (
            json!({"type":"react","room":"lobby","seq":7,"emoji":"👍","cid":"a"}),
            "unknown_message",
        ),
        (
            json!({"type":"edit","room":"lobby","seq":1,"text":"x".repeat(4001),"cid":"a"}),
            "too_long",
        ),
        (
            json!({"type":"edit","room":"lobby","seq":1,"text":"","cid":"a"}),
            "bad_request",
        ),
        (
            json!({"type":"react","room":"lobby","seq":1,"emoji":"a b","cid":"a"}),
            "bad_request",
        ),
        (
            json!({"type":"react","room":"lobby","seq":1,"emoji":"","cid":"a"}),
            "bad_request",
        ),
        (
            json!({"type":"react","room":"other","seq":1,"emoji":"👍","cid":"a"}),
            "not_member",
        ),
        (
            json!({"type":"react","room":"lobby","with":"alice","seq":1,"emoji":"👍","cid":"a"}),
            "bad_request",
        ),
        (
            json!({"type":"react","with":"nobody","seq":1,"emoji":"👍","cid":"a"}),
            "unknown_user",
        ),
        (json!({"type":"changes","rev":0,"cid":"a"}), "bad_request"),
    ];
    for (frame, code) in refusals {
        bob.send(frame.clone()).await;
        assert_eq!(bob.recv_error(code).await["cid"], "a", "{frame}");
    }
    alice.expect_silence(200).await;
}

#[tokio::test]
async fn reaction_spam_is_too_many_then_rate_limited() {
    let relay = Relay::start_with(|c| {
        c.msg_rate = 20.0;
        c.msg_burst = 40;
    })
    .await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    alice.say("lobby", "react to me", "c1").await;
    next(&mut bob, "message").await;
    let kinds = shared::limits::MAX_EMOJIS;
    for i in 0..kinds {
        bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":format!("e{i}")}))
            .await;
        next(&mut bob, "changed").await;
    }
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"one-more","cid":"m"}))
        .await;
    assert_eq!(bob.recv_error("too_many").await["cid"], "m");
    // A flood past the burst is dropped with rate_limited.
    for _ in 0..60 {
        bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"e0","remove":true}))
            .await;
    }
    let mut limited = false;
    for _ in 0..60 {
        let frame = bob.next_but_presence().await;
        if frame["code"] == "rate_limited" {
            limited = true;
            break;
        }
    }
    assert!(limited, "a flood of react frames was not rate limited");
}

#[tokio::test]
async fn changes_after_a_rev_brings_one_who_was_away_to_the_same_state() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    for i in 1..=4 {
        alice.say("lobby", &format!("m{i}"), &format!("c{i}")).await;
        next(&mut bob, "message").await;
    }
    alice
        .send(json!({"type":"edit","room":"lobby","seq":2,"text":"m2'"}))
        .await;
    next(&mut alice, "changed").await;
    let watched = next(&mut bob, "changed").await;
    assert_eq!(watched["rev"], 1);
    // Bob goes away; meanwhile message 2 changes again, 3 is deleted, 4 reacted to, 5 sent.
    bob.drop_connection().await;
    alice
        .send(json!({"type":"edit","room":"lobby","seq":2,"text":"m2''"}))
        .await;
    next(&mut alice, "changed").await;
    alice
        .send(json!({"type":"delete","room":"lobby","seq":3}))
        .await;
    next(&mut alice, "changed").await;
    alice
        .send(json!({"type":"react","room":"lobby","seq":4,"emoji":"🎉"}))
        .await;
    let live_4 = next(&mut alice, "changed").await;
    alice.say("lobby", "m5", "c5").await;

    // A core client sees gap-free seqs: the changes took none.
    let mut carol = relay.user("carol").await;
    let joined = carol.join("lobby").await;
    assert_eq!(seqs(&joined["history"]), [1, 2, 3, 4, 5]);

    // Bob resumes: join after what he had, then changes after the rev he had.
    let mut bob = relay.user("bob").await;
    bob.send(json!({"type":"join","room":"lobby","after":4}))
        .await;
    let joined = next(&mut bob, "joined").await;
    assert_eq!(seqs(&joined["history"]), [5]);
    bob.send(json!({"type":"changes","room":"lobby","rev":1}))
        .await;
    let changes = next(&mut bob, "changes").await;
    assert_eq!(changes["more"], false);
    assert_eq!(changes["room"], "lobby");
    let got = changes["messages"].as_array().unwrap();
    assert_eq!(
        got.iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(got[0]["text"], "m2''");
    assert_eq!(got[0]["rev"], 2);
    assert_eq!(got[1]["deleted"], true);
    assert_eq!(got[2]["reactions"], live_4["reactions"]);
    assert_eq!(got[2]["rev"], 4);
    // And the whole history as one who watched live would have it.
    alice
        .send(json!({"type":"changes","room":"lobby","rev":4}))
        .await;
    let none = next(&mut alice, "changes").await;
    assert_eq!(none["messages"], json!([]));
}

#[tokio::test]
async fn dm_edits_deletes_and_reactions_reach_an_offline_recipient_later() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"one"}))
        .await;
    next(&mut alice, "message").await;
    next(&mut bob, "message").await;
    bob.send(json!({"type":"dm","to":"alice","text":"two","reply":1}))
        .await;
    let reply = next(&mut alice, "message").await;
    assert_eq!(reply["reply"], json!({"seq":1,"from":"alice","text":"one"}));
    next(&mut bob, "message").await;

    alice
        .send(json!({"type":"react","with":"bob","seq":2,"emoji":"❤️","cid":"r"}))
        .await;
    assert_eq!(next(&mut alice, "changed").await["cid"], "r");
    let seen = next(&mut bob, "changed").await;
    assert_eq!(seen["to"], "alice");
    assert_eq!(seen["reactions"], json!([{"emoji":"❤️","names":["alice"]}]));
    // Bob cannot edit alice's message.
    bob.send(json!({"type":"edit","with":"alice","seq":1,"text":"x"}))
        .await;
    bob.recv_error("forbidden").await;

    // Bob goes offline; alice sends, then edits, then deletes the first message.
    bob.drop_connection().await;
    alice
        .send(json!({"type":"dm","to":"bob","text":"three"}))
        .await;
    next(&mut alice, "message").await;
    alice
        .send(json!({"type":"edit","with":"bob","seq":3,"text":"three!"}))
        .await;
    next(&mut alice, "changed").await;
    alice
        .send(json!({"type":"delete","with":"bob","seq":1}))
        .await;
    next(&mut alice, "changed").await;

    // The mailbox shows the current state; changes {with} catches up.
    let mut bob = Client::connect(&relay).await;
    bob.send(json!({"type":"hello","name":"bob"})).await;
    next(&mut bob, "welcome").await;
    let mail = next(&mut bob, "message").await;
    assert_eq!(
        (mail["seq"].clone(), mail["text"].clone()),
        (json!(3), json!("three!"))
    );
    bob.send(json!({"type":"changes","with":"alice","rev":1}))
        .await;
    let changes = next(&mut bob, "changes").await;
    assert_eq!(changes["with"], "alice");
    let got = changes["messages"].as_array().unwrap();
    assert_eq!(got.len(), 2, "{changes}");
    assert_eq!(
        (got[0]["seq"].clone(), got[0]["text"].clone()),
        (json!(3), json!("three!"))
    );
    assert_eq!(got[1]["deleted"], true);
    assert_eq!(got[1]["rev"], 3);
    bob.send(json!({"type":"history","with":"alice"})).await;
    let page = next(&mut bob, "history").await;
    assert_eq!(page["messages"][0]["deleted"], true);
    assert_eq!(page["messages"][1]["reactions"][0]["emoji"], "❤️");
}

#[tokio::test]
async fn changes_survive_a_restart() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    alice.say("lobby", "before", "c1").await;
    alice.say("lobby", "reply", "c2").await;
    alice
        .send(json!({"type":"edit","room":"lobby","seq":1,"text":"after"}))
        .await;
    next(&mut alice, "changed").await;
    alice
        .send(json!({"type":"react","room":"lobby","seq":2,"emoji":"👍"}))
        .await;
    next(&mut alice, "changed").await;
    drop(alice);
    let relay = relay.restart(|_| {}).await;
    let mut alice = relay.user("alice").await;
    let joined = alice.join("lobby").await;
    assert_eq!(joined["history"][0]["text"], "after");
    assert_eq!(
        joined["history"][1]["reactions"][0]["names"],
        json!(["alice"])
    );
    // The revision goes on from where it was.
    alice
        .send(json!({"type":"delete","room":"lobby","seq":2}))
        .await;
    assert_eq!(next(&mut alice, "changed").await["rev"], 3);
}

#[tokio::test]
async fn a_member_joining_while_a_message_changes_ends_in_its_final_state() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    alice.say("lobby", "v0", "c0").await;
    let mut carol = relay.user("carol").await;
    // Edits go in while carol's join is read: whichever the page has, the rest come after it.
    const EDITS: u64 = 30;
    for i in 1..=EDITS {
        alice
            .send(json!({"type":"edit","room":"lobby","seq":1,"text":format!("v{i}")}))
            .await;
        if i == 5 {
            carol.send(json!({"type":"join","room":"lobby"})).await;
        }
    }
    let joined = next(&mut carol, "joined").await;
    let mut state = (
        joined["history"][0]["rev"].as_u64().unwrap_or(0),
        joined["history"][0]["text"].as_str().unwrap().to_owned(),
    );
    while state.0 < EDITS {
        let changed = next(&mut carol, "changed").await;
        let rev = changed["rev"].as_u64().unwrap();
        assert!(rev > 0);
        if rev > state.0 {
            state = (rev, changed["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(state, (EDITS, format!("v{EDITS}")));
    carol.expect_silence(200).await;
}

#[tokio::test]
async fn a_changes_answer_is_bounded_in_bytes_and_pages_on() {
    // 1 KiB pages: two edited messages of 700 characters do not fit one answer.
    let relay = Relay::start_with(|c| c.page_kib = 1).await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    for i in 1..=3u64 {
        alice
            .say("lobby", &format!("short {i}"), &format!("s{i}"))
            .await;
        let long = "x".repeat(700);
        alice
            .send(json!({"type":"edit","room":"lobby","seq":i,"text":long,"cid":format!("e{i}")}))
            .await;
        next(&mut alice, "changed").await;
    }
    bob.send(json!({"type":"changes","room":"lobby","rev":0}))
        .await;
    let mut got = Vec::new();
    loop {
        let page = loop {
            let frame = bob.next_but_presence().await;
            if frame["type"] == "changes" {
                break frame;
            }
        };
        let messages = page["messages"].as_array().unwrap().clone();
        assert!(
            messages.len() == 1 || !page["more"].as_bool().unwrap(),
            "one 700-character message fills a 1 KiB answer: {page}"
        );
        got.extend(messages.iter().map(|m| m["seq"].as_u64().unwrap()));
        if !page["more"].as_bool().unwrap() {
            break;
        }
        let last = messages.last().unwrap()["rev"].as_u64().unwrap();
        bob.send(json!({"type":"changes","room":"lobby","rev":last}))
            .await;
    }
    assert_eq!(got, [1, 2, 3]);
}

/// SQLite only for now: on Redis a repeat is answered with the repeat's own text and seq, not
/// the original as it is now (store.lua answers from the `mid` record; docs/CLUSTER.md).
#[tokio::test]
async fn a_repeated_say_gets_its_original_as_it_is_now() {
    if common::on_redis() {
        return;
    }
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    let say = json!({"type":"say","room":"lobby","text":"draft","mid":"m-1","cid":"c1"});
    alice.send(say.clone()).await;
    next(&mut alice, "message").await;
    next(&mut bob, "message").await;
    alice
        .send(json!({"type":"edit","room":"lobby","seq":1,"text":"final","cid":"e1"}))
        .await;
    next(&mut alice, "changed").await;
    // The same say again (a retry after a lost answer): the original, edited, not a new one.
    alice.send(say).await;
    let again = next(&mut alice, "message").await;
    assert_eq!(again["seq"], 1, "{again}");
    assert_eq!(again["text"], "final", "{again}");
    assert!(again["edited"].as_u64().is_some(), "{again}");
    assert!(again["rev"].as_u64().is_some(), "{again}");
}

#[tokio::test]
async fn a_reaction_to_a_received_dm_needs_nothing_sent_first() {
    // On a cluster, alice's relay may never have heard of bob: his message came from his.
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    bob.send(json!({"type":"dm","to":"alice","text":"lunch?"}))
        .await;
    next(&mut bob, "message").await;
    assert_eq!(next(&mut alice, "message").await["seq"], 1);

    alice
        .send(json!({"type":"react","with":"Bob","seq":1,"emoji":"👍","cid":"r"}))
        .await;
    assert_eq!(next(&mut alice, "changed").await["cid"], "r");
    let seen = next(&mut bob, "changed").await;
    assert_eq!(seen["reactions"], json!([{"emoji":"👍","names":["alice"]}]));
    // A name that never said hello anywhere is still unknown.
    alice
        .send(json!({"type":"react","with":"nobody","seq":1,"emoji":"👍"}))
        .await;
    alice.recv_error("unknown_user").await;
}

#[tokio::test]
async fn a_person_signed_in_spelled_otherwise_has_one_reaction() {
    let relay = Relay::start().await;
    let (mut alice, mut bob) = relay.two_in("lobby").await;
    alice.say("lobby", "hi", "c1").await;
    next(&mut bob, "message").await;
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍"}))
        .await;
    next(&mut bob, "changed").await;
    next(&mut alice, "changed").await;

    bob.drop_connection().await;
    let mut bob = Client::connect(&relay).await;
    bob.hello_when_free("BOB").await;
    bob.join("lobby").await;
    // The same reaction from "BOB" is bob's, already there: nothing changes.
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍"}))
        .await;
    bob.expect_silence(300).await;
    // Taking it back as "BOB" takes back what "bob" added.
    bob.send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍","remove":true}))
        .await;
    let changed = next(&mut bob, "changed").await;
    assert!(changed.get("reactions").is_none(), "{changed}");
}

#[tokio::test]
async fn a_name_forgotten_and_taken_again_cannot_edit_or_delete_its_earlier_holders_messages() {
    // --max-users counts the names one relay knows: one relay, on every engine.
    let relay = Relay::start_alone(|c| c.max_users = 2).await;
    let mut bob = relay.user("bob").await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    alice.say("lobby", "the first alice", "c1").await;
    alice.drop_connection().await;
    bob.wait_for_online(&["bob"]).await;
    // At the cap, carol's name takes the place of the name unused longest: alice's. The new
    // alice then takes carol's, a millisecond or more after the first alice's message.
    relay.user("carol").await.drop_connection().await;
    bob.wait_for_online(&["bob"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    for frame in [
        json!({"type":"edit","room":"lobby","seq":1,"text":"mine now","cid":"e"}),
        json!({"type":"delete","room":"lobby","seq":1,"cid":"e"}),
    ] {
        alice.send(frame.clone()).await;
        let refused = alice.recv_error("forbidden").await;
        assert_eq!(refused["cid"], "e", "{frame}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("earlier holder"),
            "{refused}"
        );
    }
    // A reaction is anyone's; and what the new alice says is hers to edit.
    alice
        .send(json!({"type":"react","room":"lobby","seq":1,"emoji":"👍"}))
        .await;
    next(&mut alice, "changed").await;
    alice.say("lobby", "the second alice", "c2").await;
    drop(bob);
    drop(alice);
    // It is stored: the same after a restart.
    let relay = relay.restart(|c| c.max_users = 2).await;
    let mut alice = relay.user("alice").await;
    alice.join("lobby").await;
    alice
        .send(json!({"type":"delete","room":"lobby","seq":1,"cid":"d"}))
        .await;
    assert_eq!(alice.recv_error("forbidden").await["cid"], "d");
    alice
        .send(json!({"type":"edit","room":"lobby","seq":2,"text":"edited","cid":"e2"}))
        .await;
    let changed = next(&mut alice, "changed").await;
    assert_eq!(
        (&changed["seq"], &changed["cid"]),
        (&json!(2), &json!("e2"))
    );
    relay.shutdown().await;
}
