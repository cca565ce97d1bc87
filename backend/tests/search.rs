//! `search` (docs/PROTOCOL.md, "Search (extension)"): the messages of the person's rooms and
//! own private conversations, newest first, never anyone else's. On SQLite and on a cluster.

mod common;

use common::{Client, Relay};
use serde_json::{Value, json};
use shared::limits::{MAX_QUERY_CHARS, SEARCH_LEN};

/// Searches `q` and returns the `found` (or `error`), skipping what else comes meanwhile
/// (messages, presence).
async fn search(client: &mut Client, q: &str) -> Value {
    client
        .send(json!({"type": "search", "q": q, "cid": "s"}))
        .await;
    loop {
        let frame = client.recv().await;
        if frame["type"] == "found" || frame["type"] == "error" {
            return frame;
        }
    }
}

/// The texts of a `found`, in its order.
async fn texts(client: &mut Client, q: &str) -> Vec<String> {
    let found = search(client, q).await;
    assert_eq!(found["type"], "found", "{q}: {found}");
    assert_eq!(found["q"], q, "{found}");
    found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends a `dm` and waits for the sender's copy.
async fn dm(from: &mut Client, to: &str, text: &str, cid: &str) {
    from.send(json!({"type": "dm", "to": to, "text": text, "cid": cid}))
        .await;
    loop {
        let frame = from.recv().await;
        if frame["type"] == "message" && frame["cid"] == cid {
            return;
        }
        assert_ne!(frame["type"], "error", "{frame}");
    }
}

#[tokio::test]
async fn finds_room_messages_case_insensitively_newest_first_at_most_a_page() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("ops").await;
    alice.say("ops", "lunch at noon", "n").await;
    for i in 1..=SEARCH_LEN + 5 {
        alice
            .say("ops", &format!("Deploying build {i}"), &format!("c{i}"))
            .await;
    }
    alice.say("ops", "no match here", "x").await;
    let found = search(&mut alice, "deploy").await;
    assert_eq!(found["type"], "found", "{found}");
    assert_eq!(found["cid"], Value::Null, "found carries no cid: {found}");
    let messages = found["messages"].as_array().unwrap();
    assert_eq!(messages.len(), SEARCH_LEN);
    let newest = &messages[0];
    assert_eq!(
        newest["text"],
        format!("Deploying build {}", SEARCH_LEN + 5)
    );
    assert_eq!(newest["room"], "ops");
    assert_eq!(newest["from"], "alice");
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    assert_eq!(texts(&mut alice, "LUNCH AT").await, ["lunch at noon"]);
    assert!(texts(&mut alice, "dinner").await.is_empty());
    // Two characters scan instead of the index, with the same answer's shape.
    assert_eq!(texts(&mut alice, "NO").await.len(), 2);
}

#[tokio::test]
async fn finds_chinese_text_with_short_and_long_queries() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("大厅").await;
    alice.say("大厅", "大家你好吗", "a").await;
    alice.say("大厅", "你好世界", "b").await;
    alice.say("大厅", "再见", "c").await;
    assert_eq!(texts(&mut alice, "你好").await, ["你好世界", "大家你好吗"]);
    assert_eq!(texts(&mut alice, "你好世").await, ["你好世界"]);
    assert_eq!(texts(&mut alice, "见").await, ["再见"]);
}

#[tokio::test]
async fn finds_own_private_messages_both_ways_and_never_another_pairs() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    let mut carol = relay.user("carol").await;
    dm(&mut alice, "bob", "rendezvous at the quay", "a1").await;
    dm(&mut bob, "alice", "Rendezvous confirmed", "b1").await;
    dm(&mut carol, "alice", "nothing to see", "c1").await;
    for (q, both) in [("rendezvous", 2), ("ez", 2)] {
        let found = search(&mut alice, q).await;
        let messages = found["messages"].as_array().unwrap();
        assert_eq!(messages.len(), both, "{found}");
        assert_eq!(messages[0]["from"], "bob");
        assert_eq!(messages[0]["to"], "alice");
        assert_eq!(messages[1]["from"], "alice");
        assert_eq!(messages[1]["to"], "bob");
        assert_eq!(texts(&mut bob, q).await.len(), both);
        // Carol is in neither: nothing, however the query is put.
        assert!(texts(&mut carol, q).await.is_empty(), "{q}");
    }
    for q in ["rendezvous", "Rendezvous confirmed", "quay", "ez", "q"] {
        assert!(texts(&mut carol, q).await.is_empty(), "{q}");
    }
    assert_eq!(texts(&mut carol, "see").await, ["nothing to see"]);
    assert_eq!(texts(&mut alice, "see").await, ["nothing to see"]);
    assert!(texts(&mut bob, "see").await.is_empty());
}

#[tokio::test]
async fn never_finds_a_room_the_person_is_not_in_or_has_left() {
    let relay = Relay::start().await;
    let mut bob = relay.user("bob").await;
    bob.join("secret").await;
    bob.say("secret", "zebra crossing", "z").await;
    let mut carol = relay.user("carol").await;
    for q in ["zebra", "ze", "z"] {
        assert!(texts(&mut carol, q).await.is_empty(), "{q}");
    }
    carol.join("secret").await;
    assert_eq!(texts(&mut carol, "zebra").await, ["zebra crossing"]);
    assert_eq!(texts(&mut carol, "ze").await, ["zebra crossing"]);
    carol.send(json!({"type": "leave", "room": "secret"})).await;
    for q in ["zebra", "ze"] {
        assert!(texts(&mut carol, q).await.is_empty(), "{q}");
    }
}

#[tokio::test]
async fn a_persons_rooms_are_searched_from_each_of_its_connections() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let (mut other, _) = Client::attach(&relay, "alice").await;
    alice.join("ops").await;
    // The attached connection becomes a member too (on a cluster, once told).
    loop {
        let frame = other.recv().await;
        if frame["type"] == "joined" {
            break;
        }
    }
    alice.say("ops", "shared findings", "s").await;
    assert_eq!(texts(&mut other, "findings").await, ["shared findings"]);
}

#[tokio::test]
async fn fts_syntax_in_a_query_is_text() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    alice.join("ops").await;
    alice
        .say("ops", r#"he said "OR" NEAR(x, y) -z * col:a"#, "q")
        .await;
    for q in [
        "\"",
        "\"\"",
        "*",
        "NEAR(",
        "OR",
        "-",
        "AND",
        "NOT",
        "\"OR\" NEAR(",
        "col:a",
        "x, y)",
        "a OR b",
        "^",
        "(",
        ")",
        "{a b}",
        "NEAR(a b, 2)",
        "'",
        "\\",
        "%",
        "_",
        "a\0bc",
        "\0\0\0",
        "\u{1}\n",
    ] {
        let found = search(&mut alice, q).await;
        assert_eq!(found["type"], "found", "{q}: {found}");
    }
    for q in ["\"OR\" NEAR(", "NEAR(x", "-z *", "col:a", "\"", "OR"] {
        assert_eq!(texts(&mut alice, q).await.len(), 1, "{q}");
    }
    assert!(texts(&mut alice, "\"OR\" AND").await.is_empty());
}

#[tokio::test]
async fn empty_and_oversized_queries_are_refused() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    for q in ["", "   ", "\t\n"] {
        let answer = search(&mut alice, q).await;
        assert_eq!(answer["code"], "bad_request", "{answer}");
        assert_eq!(answer["cid"], "s", "{answer}");
    }
    let longest = "é".repeat(MAX_QUERY_CHARS);
    assert_eq!(search(&mut alice, &longest).await["type"], "found");
    let padded = format!("  {longest}  ");
    assert_eq!(search(&mut alice, &padded).await["type"], "found");
    let answer = search(&mut alice, &"é".repeat(MAX_QUERY_CHARS + 1)).await;
    assert_eq!(answer["code"], "too_long", "{answer}");
    // Before hello: like any frame.
    let mut stranger = Client::connect(&relay).await;
    let answer = search(&mut stranger, "x").await;
    assert_eq!(answer["code"], "not_welcomed", "{answer}");
}

#[tokio::test]
async fn messages_stored_before_the_index_are_found_after_the_upgrade() {
    let relay = Relay::start_sqlite(|_| {}).await;
    let mut alice = relay.user("alice").await;
    let bob = relay.user("bob").await;
    alice.join("ops").await;
    alice.say("ops", "Deploy before the upgrade", "a").await;
    dm(&mut alice, "bob", "你好 from before", "d").await;
    drop((alice, bob));
    // The file as a relay without search left it: no index, no users.since, schema version 8.
    let relay = relay
        .restart(|c| {
            let db = rusqlite::Connection::open(&c.db).unwrap();
            db.execute_batch(
                "DROP TRIGGER room_messages_search_insert;
                 DROP TRIGGER room_messages_search_update;
                 DROP TRIGGER room_messages_search_delete;
                 DROP TRIGGER direct_messages_search_insert;
                 DROP TRIGGER direct_messages_search_update;
                 DROP TRIGGER direct_messages_search_delete;
                 DROP TABLE search_text;
                 DROP TABLE search_rows;
                 DROP TABLE search_indexed;
                 DROP INDEX pairs_by_high;
                 ALTER TABLE users DROP COLUMN since;
                 PRAGMA user_version = 8;",
            )
            .unwrap();
        })
        .await;
    let mut alice = relay.user("alice").await;
    alice.join("ops").await;
    assert_eq!(
        texts(&mut alice, "deploy").await,
        ["Deploy before the upgrade"]
    );
    assert_eq!(texts(&mut alice, "你好 f").await, ["你好 from before"]);
    assert_eq!(texts(&mut alice, "你好").await, ["你好 from before"]);
    let mut bob = relay.user("bob").await;
    assert_eq!(texts(&mut bob, "FROM BEFORE").await, ["你好 from before"]);
}
