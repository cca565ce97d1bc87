//! Rooms bigger than `--presence-limit`: their comings and goings are counted (`members`, at
//! most once a second) instead of announced to every member one by one.

mod common;

use common::{Client, Relay, on_redis};
use serde_json::{Value, json};

/// The next `members` frame for `room`; on the way, nothing but `members` frames.
async fn members(client: &mut Client) -> Value {
    client.recv_type("members").await
}

/// Reads `members` frames until one says `count`.
async fn members_until(client: &mut Client, count: u64) -> Value {
    loop {
        let frame = members(client).await;
        if frame["count"] == count {
            return frame;
        }
    }
}

#[tokio::test]
async fn a_room_past_the_limit_counts_instead_of_announcing() {
    let relay = Relay::start_with(|c| c.presence_limit = 3).await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;
    let mut dave = relay.user("dave").await;

    // Up to the limit, the core contract: every name, and presence.
    alice.join("hall").await;
    bob.join("hall").await;
    alice.recv_type("presence").await;
    let joined = carol.join("hall").await;
    assert_eq!(joined["members"], json!(["alice", "bob", "carol"]));
    for member in [&mut alice, &mut bob] {
        let presence = member.recv_type("presence").await;
        assert_eq!(presence["name"], "carol");
    }

    // Past it: the joiner gets some names (its own among them) and the count; the others get
    // the count instead of a presence.
    let joined = dave.join("hall").await;
    let names = joined["members"].as_array().unwrap();
    assert!(names.contains(&json!("dave")), "{joined}");
    assert!(names.len() <= 4, "{joined}");
    assert_eq!(
        members(&mut dave).await,
        json!({"type":"members","room":"hall","count":4})
    );
    for member in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(
            members(member).await,
            json!({"type":"members","room":"hall","count":4})
        );
    }

    // The messages of a big room are the same as any room's.
    let said = bob.say("hall", "hello all", "c1").await;
    for member in [&mut alice, &mut carol] {
        assert_eq!(member.recv_type("message").await, said);
    }

    // Leaving is counted too.
    dave.send(json!({"type":"leave","room":"hall"})).await;
    carol.send(json!({"type":"leave","room":"hall"})).await;
    let told = members_until(&mut alice, 2).await;
    if on_redis() {
        // This relay knows only its own members' names: the count alone.
        assert_eq!(told, json!({"type":"members","room":"hall","count":2}));
    } else {
        // Small again: every name, and presence from now on.
        assert_eq!(
            told,
            json!({"type":"members","room":"hall","count":2,"members":["alice","bob"]})
        );
        dave.send(json!({"type":"join","room":"hall"})).await;
        while dave.recv().await["type"] != "joined" {}
        let presence = alice.recv_type("presence").await;
        assert_eq!(presence["name"], "dave");
    }
}

#[tokio::test]
async fn many_joins_in_one_second_are_one_count() {
    let relay = Relay::start_with(|c| c.presence_limit = 2).await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    alice.join("hall").await;
    bob.join("hall").await;
    alice.recv_type("presence").await;
    let mut others = Vec::new();
    for i in 0..12 {
        let mut c = relay.user(&format!("user-{i}")).await;
        c.join("hall").await;
        others.push(c);
    }
    // Twelve joins, told in a few counts (one per second at most), never a presence each.
    let mut frames = 0;
    loop {
        let frame = members(&mut alice).await;
        frames += 1;
        if frame["count"] == 14 {
            break;
        }
    }
    assert!(frames <= 6, "{frames} counts for 12 joins");
    alice.expect_silence(300).await;
}
