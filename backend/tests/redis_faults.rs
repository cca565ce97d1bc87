//! The Redis engine's message log when Redis fails, against a real redis-server
//! (`redis_fixture`): what each persistence setting promises, a send to a frozen Redis
//! (SIGSTOP) and its retry, kill -9 and a restart from the AOF; and what each setting costs.

mod redis_fixture;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use courier::engine::redis::{Persistence, Sent};
use redis_fixture::Redis;
use redis_fixture::messages::{ALL, connect, dm, room_msg, seqs, stored};

#[tokio::test]
async fn durability_follows_the_aof_settings() {
    for (appendonly, appendfsync, persistence, names) in [
        ("yes", "always", Persistence::Fsynced, None),
        (
            "yes",
            "everysec",
            Persistence::Written,
            Some("appendfsync always"),
        ),
        ("no", "always", Persistence::Memory, Some("appendonly yes")),
    ] {
        let redis = Redis::start_with(appendonly, appendfsync);
        let durability = connect(&redis).await.durability().await.unwrap();
        assert_eq!(
            (
                durability.appendonly.as_str(),
                durability.appendfsync.as_str()
            ),
            (appendonly, appendfsync)
        );
        assert_eq!(durability.persistence, persistence);
        assert_eq!(durability.survives_crash(), names.is_none());
        match (durability.warning(), names) {
            (None, None) => {}
            (Some(warning), Some(setting)) => {
                assert!(
                    warning.contains(setting),
                    "{warning:?} should name {setting}"
                );
            }
            (warning, _) => panic!("{appendonly}/{appendfsync}: unexpected warning {warning:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_frozen_redis_fails_and_its_retry_is_stored_once() {
    let mut redis = Redis::start();
    let log = connect(&redis).await;
    stored(
        log.store_room(&room_msg("lobby", "alice", "before", Some("a")))
            .await
            .unwrap(),
    );
    redis.pause();
    let msg = room_msg("lobby", "alice", "during", Some("b"));
    let started = Instant::now();
    let failed = log.store_room(&msg).await;
    let took = started.elapsed();
    let error = failed.expect_err("nothing is acknowledged while Redis is frozen");
    assert!(error.is_unavailable(), "{error}");
    assert!(
        took < Duration::from_secs(3),
        "the send failed only after {took:?}"
    );
    // Still frozen: the retry fails too.
    assert!(log.store_room(&msg).await.is_err());
    redis.resume();
    // The first attempt was in the socket when it timed out: Redis ran it when thawed, and
    // ran the second as a repeat. The retry after the thaw gets the original's seq, and the
    // late answers to the two attempts that timed out answer nothing else.
    let retried = log.store_room(&msg).await.expect("retry after resume");
    assert_eq!(retried, Sent::Repeat { seq: 2, ts: msg.ts });
    stored(
        log.store_room(&room_msg("lobby", "alice", "after", Some("c")))
            .await
            .unwrap(),
    );
    let page = log.room_page("lobby", 0, None, ALL).await.unwrap();
    let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["before", "during", "after"]);
    assert_eq!(seqs(&page.messages), [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_kill9_and_a_restart_from_the_aof() {
    let mut redis = Redis::start();
    let log = connect(&redis).await;
    // A sender that keeps going through the crash, keeping what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (log, stop) = (log.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut acked, mut failures) = (BTreeMap::new(), 0);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let text = format!("message {i}");
                match log
                    .store_room(&room_msg("lobby", "alice", &text, None))
                    .await
                {
                    Ok(sent) => {
                        acked.insert(stored(sent), text);
                    }
                    Err(_) => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (acked, failures)
        })
    };
    for i in 1..=5 {
        stored(
            log.store_direct(&dm("alice", "bob", &format!("dm {i}")), None)
                .await
                .unwrap(),
        );
    }
    while log
        .room_page("lobby", 0, None, (1, usize::MAX))
        .await
        .unwrap()
        .last_seq
        < 200
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();
    // The same log reconnects by itself.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if log
            .room_page("lobby", 0, None, (1, usize::MAX))
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < until, "the log did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failures) = sender.await.unwrap();
    assert!(failures > 0, "the sender should have seen Redis gone");
    let page = log.room_page("lobby", 0, None, ALL).await.unwrap();
    // No gap, no repeat; every acknowledged message with its seq and text.
    assert_eq!(
        seqs(&page.messages),
        (1..=page.last_seq).collect::<Vec<_>>()
    );
    for (seq, text) in &acked {
        assert_eq!(&page.messages[*seq as usize - 1].text, text, "seq {seq}");
    }
    assert!(acked.len() >= 200, "only {} acknowledged", acked.len());
    let mail = log.mailbox("bob").await.unwrap();
    assert_eq!(
        mail.iter().map(|m| m.msg.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        stored(
            log.store_direct(&dm("alice", "bob", "dm 6"), None)
                .await
                .unwrap()
        ),
        6
    );
}
