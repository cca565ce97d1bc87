//! The Redis engine's message log against a real redis-server (`redis_fixture`): seqs without
//! gap or repeat under concurrent senders, idempotent sends by `mid`, pages, retention,
//! validation before the first write, scripts reloaded after SCRIPT FLUSH. Mailbox limits and
//! acks are in `redis_mailbox.rs`; faults and durability in `redis_faults.rs`.

mod redis_fixture;

use std::collections::BTreeMap;

use courier::engine::redis::{RedisLog, RedisLogError, Sent};
use redis_fixture::Redis;
use redis_fixture::messages::{ALL, config, connect, dm, room_msg, seqs, stored};
use shared::ChatMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_get_every_seq_once() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    let mut tasks = Vec::new();
    for sender in 0..4 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..200 {
                let text = format!("{sender}-{i}");
                let mid = format!("m{i}");
                let msg = room_msg("lobby", &format!("user{sender}"), &text, Some(&mid));
                got.push((stored(log.store_room(&msg).await.expect("store")), text));
            }
            got
        }));
    }
    let mut acked = BTreeMap::new();
    for task in tasks {
        for (seq, text) in task.await.expect("sender") {
            assert!(acked.insert(seq, text).is_none(), "seq {seq} given twice");
        }
    }
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        (1..=800).collect::<Vec<_>>()
    );
    let page = log.room_page("lobby", 0, None, ALL).await.expect("page");
    assert_eq!((page.last_seq, page.more), (800, false));
    assert_eq!(seqs(&page.messages), (1..=800).collect::<Vec<_>>());
    for msg in &page.messages {
        assert_eq!(
            acked[&msg.seq], msg.text,
            "seq {} holds another message",
            msg.seq
        );
    }
}

#[tokio::test]
async fn a_repeated_mid_gets_the_original_and_is_stored_once() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    let first = room_msg("lobby", "Alice", "hello", Some("m-1"));
    assert_eq!(
        log.store_room(&first).await.unwrap(),
        Sent::Stored {
            seq: 1,
            ts: first.ts,
            mail_id: 0
        }
    );
    stored(
        log.store_room(&room_msg("lobby", "bob", "hi", Some("m-1")))
            .await
            .unwrap(),
    );
    // The same mid from the same user (any case of the name), later and with another text.
    let again = ChatMessage {
        ts: first.ts + 5000,
        ..room_msg("lobby", "ALICE", "hello again", Some("m-1"))
    };
    assert_eq!(
        log.store_room(&again).await.unwrap(),
        Sent::Repeat {
            seq: 1,
            ts: first.ts
        }
    );
    let page = log.room_page("lobby", 0, None, ALL).await.unwrap();
    assert_eq!(seqs(&page.messages), [1, 2]);
    assert_eq!(page.messages[0], ChatMessage { seq: 1, ..first });
    // The same mid for another conversation is refused, not taken for the first one.
    let elsewhere = room_msg("other", "alice", "hello", Some("m-1"));
    assert!(matches!(
        log.store_room(&elsewhere).await,
        Err(RedisLogError::MidReused { .. })
    ));
    assert_eq!(
        log.room_page("other", 0, None, ALL).await.unwrap().last_seq,
        0
    );
    // Private messages too.
    let d = ChatMessage {
        mid: Some("d-1".into()),
        ..dm("alice", "bob", "psst")
    };
    assert_eq!(stored(log.store_direct(&d, None).await.unwrap()), 1);
    assert!(matches!(
        log.store_direct(&d, None).await.unwrap(),
        Sent::Repeat { seq: 1, .. }
    ));
    assert_eq!(log.mailbox("bob").await.unwrap().len(), 1);
    // A bad mid is refused before Redis sees it.
    let long = room_msg("lobby", "alice", "x", Some(&"m".repeat(65)));
    assert!(matches!(
        log.store_room(&long).await,
        Err(RedisLogError::Invalid(_))
    ));
}

/// Copies of one message sent at once (a client retrying on several connections): one is
/// stored, every other copy gets its seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_are_stored_once() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    let msg = room_msg("lobby", "alice", "once", Some("same"));
    let copies: Vec<_> = (0..16)
        .map(|_| {
            let (log, msg) = (log.clone(), msg.clone());
            tokio::spawn(async move { log.store_room(&msg).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for copy in copies {
        answers.push(copy.await.unwrap());
    }
    let fresh = answers
        .iter()
        .filter(|a| matches!(a, Sent::Stored { .. }))
        .count();
    assert_eq!(fresh, 1, "{answers:?}");
    assert!(
        answers.iter().all(|a| a.seq_ts() == Some((1, msg.ts))),
        "{answers:?}"
    );
    let page = log.room_page("lobby", 0, None, ALL).await.unwrap();
    assert_eq!((page.messages.len(), page.last_seq), (1, 1));
}

#[tokio::test]
async fn pages_by_before_and_after() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    for i in 1..=10 {
        let msg = room_msg("lobby", "alice", &format!("message {i}"), None);
        assert_eq!(stored(log.store_room(&msg).await.unwrap()), i);
        stored(
            log.store_direct(&dm("bob", "alice", &format!("dm {i}")), None)
                .await
                .unwrap(),
        );
    }
    let page = |after, before, limit| log.room_page("lobby", after, before, (limit, usize::MAX));
    let newest = page(0, None, 3).await.unwrap();
    assert_eq!(
        (seqs(&newest.messages), newest.more, newest.last_seq),
        (vec![8, 9, 10], true, 10)
    );
    let older = page(0, Some(8), 3).await.unwrap();
    assert_eq!((seqs(&older.messages), older.more), (vec![5, 6, 7], true));
    let oldest = page(0, Some(3), 3).await.unwrap();
    assert_eq!((seqs(&oldest.messages), oldest.more), (vec![1, 2], false));
    let resume = page(7, None, 100).await.unwrap();
    assert_eq!(
        (seqs(&resume.messages), resume.more),
        (vec![8, 9, 10], false)
    );
    let between = page(2, Some(6), 100).await.unwrap();
    assert_eq!(
        (seqs(&between.messages), between.more),
        (vec![3, 4, 5], false)
    );
    let cut = page(2, Some(6), 2).await.unwrap();
    assert_eq!((seqs(&cut.messages), cut.more), (vec![4, 5], true));
    assert!(page(10, None, 5).await.unwrap().messages.is_empty());
    // A page stops at its bytes, but holds at least one message.
    let small = log.room_page("lobby", 0, None, (100, 1)).await.unwrap();
    assert_eq!((seqs(&small.messages), small.more), (vec![10], true));
    let empty = log.room_page("nowhere", 0, None, ALL).await.unwrap();
    assert_eq!(
        (empty.messages.len(), empty.more, empty.last_seq),
        (0, false, 0)
    );
    // A pair's page is the same from either side.
    let pair = log
        .direct_page(("Alice", "bob"), 0, Some(4), (2, usize::MAX))
        .await
        .unwrap();
    assert_eq!(
        (seqs(&pair.messages), pair.more, pair.last_seq),
        (vec![2, 3], true, 10)
    );
    assert_eq!(
        pair,
        log.direct_page(("bob", "alice"), 0, Some(4), (2, usize::MAX))
            .await
            .unwrap()
    );
    assert_eq!(pair.messages[0].text, "dm 2");
}

#[tokio::test]
async fn retention_keeps_the_newest_messages() {
    let redis = Redis::start();
    let mut config = config(&redis);
    config.retention = 5;
    let log = RedisLog::connect(config).await.unwrap();
    for i in 1..=12 {
        stored(
            log.store_room(&room_msg("lobby", "alice", &format!("{i}"), None))
                .await
                .unwrap(),
        );
        stored(
            log.store_direct(&dm("alice", "bob", &format!("{i}")), None)
                .await
                .unwrap(),
        );
    }
    let page = log.room_page("lobby", 0, None, ALL).await.unwrap();
    assert_eq!(
        (seqs(&page.messages), page.last_seq),
        ((8..=12).collect(), 12)
    );
    // The mailbox keeps its own copies: trimming the log loses no mail.
    let mail = log.mailbox("bob").await.unwrap();
    assert_eq!(
        mail.iter().map(|m| m.msg.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn messages_past_the_retained_age_are_dropped_from_every_log_but_not_from_mailboxes() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    let at = |ts: u64, msg: ChatMessage| ChatMessage { ts, ..msg };
    for (i, ts) in [1_000, 2_000, 3_000, 4_000].into_iter().enumerate() {
        let text = format!("{i}");
        stored(
            log.store_room(&at(ts, room_msg("lobby", "alice", &text, None)))
                .await
                .unwrap(),
        );
        stored(
            log.store_room(&at(ts, room_msg("other", "alice", &text, None)))
                .await
                .unwrap(),
        );
        stored(
            log.store_direct(&at(ts, dm("alice", "bob", &text)), None)
                .await
                .unwrap(),
        );
    }
    // Older than 3 000 ms: the first two of each log.
    assert_eq!(log.prune_older_than(3_000).await.unwrap(), 6);
    for room in ["lobby", "other"] {
        let page = log.room_page(room, 0, None, ALL).await.unwrap();
        assert_eq!((seqs(&page.messages), page.last_seq), (vec![3, 4], 4));
    }
    let pair = log
        .direct_page(("alice", "bob"), 0, None, ALL)
        .await
        .unwrap();
    assert_eq!(seqs(&pair.messages), [3, 4]);
    assert_eq!(
        log.mailbox("bob").await.unwrap().len(),
        4,
        "the mail is a copy"
    );
    assert_eq!(log.prune_older_than(3_000).await.unwrap(), 0);
}

#[tokio::test]
async fn a_call_the_script_refuses_writes_nothing() {
    let redis = Redis::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let script = redis::Script::new(include_str!("../src/engine/redis/lua/store.lua"));
    let keys = [
        "t:seq",
        "t:log",
        "t:mid",
        "t:mail",
        "t:size",
        "t:pairs-a",
        "t:pairs-b",
        "t:session",
    ];
    let good = [
        "{\"to\":\"bob\",\"seq\":",
        ",\"from\":\"al\",\"text\":\"x\",\"ts\":1}",
        "1",
        "m",
        "60",
        "0",
        "t:chan",
        "direct",
        "al",
        "",
        "257",
        "10",
        "100000",
        "10",
        "100000",
        "bob",
        "t:chan-bob",
        "",
        "0",
    ];
    // Each argument made bad in turn (the last share limit is checked last of all).
    for (i, bad) in [
        (2, "-1"),
        (4, "0"),
        (5, "x"),
        (7, "dm"),
        (8, ""),
        (14, "1.5"),
        (16, ""),
    ] {
        let mut args = good;
        args[i] = bad;
        let mut call = script.prepare_invoke();
        call.key(&keys[..]).arg(&args[..]);
        let refused: redis::RedisResult<redis::Value> = call.invoke_async(&mut conn).await;
        assert!(
            refused.is_err(),
            "argument {} = {bad:?} was accepted",
            i + 1
        );
        let size: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        assert_eq!(size, 0, "argument {} = {bad:?} wrote something", i + 1);
    }
    let mut call = script.prepare_invoke();
    call.key(&keys[..]).arg(&good[..]);
    let ok: redis::Value = call.invoke_async(&mut conn).await.unwrap();
    assert!(format!("{ok:?}").contains("stored"), "{ok:?}");
}

#[tokio::test]
async fn scripts_are_loaded_again_after_a_script_flush() {
    let redis = Redis::start();
    let log = connect(&redis).await;
    stored(
        log.store_room(&room_msg("lobby", "alice", "one", None))
            .await
            .unwrap(),
    );
    let client = redis::Client::open(redis.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let scripts = || {
        redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(STORE_SHA.as_str())
            .clone()
    };
    let before: Vec<bool> = scripts().query_async(&mut admin).await.unwrap();
    assert_eq!(before, [true], "the store script is loaded under its SHA1");
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut admin)
        .await
        .unwrap();
    let flushed: Vec<bool> = scripts().query_async(&mut admin).await.unwrap();
    assert_eq!(flushed, [false]);
    // EVALSHA meets NOSCRIPT; redis-rs loads the script and runs it once.
    assert_eq!(
        stored(
            log.store_room(&room_msg("lobby", "alice", "two", None))
                .await
                .unwrap()
        ),
        2
    );
    let after: Vec<bool> = scripts().query_async(&mut admin).await.unwrap();
    assert_eq!(after, [true]);
    let page = log.room_page("lobby", 0, None, ALL).await.unwrap();
    assert_eq!(seqs(&page.messages), [1, 2]);
}

/// The SHA1 of `lua/store.lua`, as EVALSHA names it.
static STORE_SHA: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    redis::Script::new(include_str!("../src/engine/redis/lua/store.lua"))
        .get_hash()
        .to_owned()
});

/// The keys, their types and the mailbox's fields are those of the table in
/// `engine/redis/mod.rs`; each stored message is published once on its conversation's channel,
/// and a repeat is not published again.
#[tokio::test]
async fn keys_and_channels_are_those_of_the_layout() {
    use futures_util::StreamExt;
    use std::collections::BTreeSet;

    let redis = Redis::start();
    let log = connect(&redis).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("courier:room:lobby").await.unwrap();
    pubsub.subscribe("courier:user:alice").await.unwrap();
    pubsub.subscribe("courier:user:bob").await.unwrap();
    let said = room_msg("lobby", "Alice", "hello", Some("m1"));
    let told = ChatMessage {
        mid: Some("m2".into()),
        ..dm("alice", "Bob", "psst")
    };
    for _ in 0..2 {
        log.store_room(&said).await.unwrap();
        log.store_direct(&told, Some("10.0.0.1")).await.unwrap();
    }
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut typed = BTreeSet::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        typed.insert((key, kind));
    }
    let expected: BTreeSet<(String, String)> = [
        ("courier:room-seq:lobby", "string"),
        ("courier:room-log:lobby", "zset"),
        ("courier:mid:5:alice:m1", "string"),
        ("courier:pair-seq:5:alice:bob", "string"),
        ("courier:pair-log:5:alice:bob", "zset"),
        ("courier:mail:bob", "zset"),
        ("courier:mail-size:bob", "hash"),
        ("courier:pairs:alice", "set"),
        ("courier:pairs:bob", "set"),
        ("courier:mid:5:alice:m2", "string"),
    ]
    .into_iter()
    .map(|(k, t)| (k.to_owned(), t.to_owned()))
    .collect();
    assert_eq!(typed, expected);
    let ttl: i64 = redis::cmd("TTL")
        .arg("courier:mid:5:alice:m1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (86_000..=86_400).contains(&ttl),
        "the mid expires in {ttl} s"
    );
    let mid: String = redis::cmd("GET")
        .arg("courier:mid:5:alice:m2")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(mid, format!("1 {} courier:pair-log:5:alice:bob", told.ts));
    let sizes: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg("courier:mail-size:bob")
        .query_async(&mut conn)
        .await
        .unwrap();
    let fields: Vec<&str> = sizes.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "b",
            "b:a:10.0.0.1",
            "b:s:alice",
            "id",
            "n",
            "n:a:10.0.0.1",
            "n:s:alice"
        ]
    );

    let mut published = pubsub.on_message();
    let next = async |published: &mut _| {
        let msg: redis::Msg = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            StreamExt::next(published),
        )
        .await
        .expect("published")
        .unwrap();
        let payload: String = msg.get_payload().unwrap();
        (msg.get_channel_name().to_owned(), payload)
    };
    let (channel, json) = next(&mut published).await;
    assert_eq!(channel, "courier:room:lobby");
    assert_eq!(
        serde_json::from_str::<ChatMessage>(&json).unwrap(),
        ChatMessage { seq: 1, ..said }
    );
    // A private message goes to both its users' channels, with its mail id and who is who.
    for user in ["alice", "bob"] {
        let (channel, json) = next(&mut published).await;
        assert_eq!(channel, format!("courier:user:{user}"));
        let envelope: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (envelope["f"].as_str(), envelope["t"].as_str()),
            (Some("alice"), Some("bob"))
        );
        assert_eq!(envelope["i"], 1);
        let message: ChatMessage = serde_json::from_str(envelope["m"].as_str().unwrap()).unwrap();
        assert_eq!(
            message,
            ChatMessage {
                seq: 1,
                ..told.clone()
            }
        );
    }
    // The two repeats published nothing.
    let more = tokio::time::timeout(std::time::Duration::from_millis(300), published.next()).await;
    assert!(more.is_err(), "a repeat was published: {more:?}");
}
