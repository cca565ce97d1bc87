//! The Redis engine's mailboxes against a real redis-server (`redis_fixture`): the limits on
//! a recipient's mailbox, by count, by bytes and by each sender's share, and what acks give
//! back. The rest of the message log is `redis_log.rs`.

mod redis_fixture;

use courier::engine::redis::{MailboxLimits, RedisLog, Sent};
use redis_fixture::Redis;
use redis_fixture::messages::{ALL, config, dm, seqs, stored};

#[tokio::test]
async fn a_full_mailbox_refuses_without_using_a_seq() {
    let redis = Redis::start();
    let mut config = config(&redis);
    config.mailbox = MailboxLimits {
        messages: 4,
        bytes: 1 << 20,
        share_messages: 2,
        share_bytes: 1 << 20,
    };
    let log = RedisLog::connect(config).await.unwrap();
    let send = |from: &'static str, addr: Option<&'static str>| {
        let log = log.clone();
        async move {
            log.store_direct(&dm(from, "carol", "hi"), addr)
                .await
                .unwrap()
        }
    };
    assert_eq!(stored(send("alice", Some("10.0.0.1")).await), 1);
    assert_eq!(stored(send("alice", Some("10.0.0.2")).await), 2);
    // alice's share by name is full, whatever her address.
    assert_eq!(send("alice", Some("10.0.0.3")).await, Sent::MailboxFull);
    // bob's by address: 10.0.0.9 has sent two already, as dave.
    assert_eq!(stored(send("dave", Some("10.0.0.9")).await), 1);
    assert_eq!(stored(send("dave", Some("10.0.0.9")).await), 2);
    assert_eq!(send("bob", Some("10.0.0.9")).await, Sent::MailboxFull);
    // The whole mailbox (4) is full.
    assert_eq!(send("erin", None).await, Sent::MailboxFull);
    let pair = log
        .direct_page(("alice", "carol"), 0, None, ALL)
        .await
        .unwrap();
    assert_eq!((seqs(&pair.messages), pair.last_seq), (vec![1, 2], 2));
    assert_eq!(
        log.direct_page(("bob", "carol"), 0, None, ALL)
            .await
            .unwrap()
            .last_seq,
        0
    );
    let cost = shared_cost("hi");
    assert_eq!(
        log.mailbox_size("carol", "alice").await.unwrap(),
        [4, 4 * cost, 2, 2 * cost]
    );

    let mail = log.mailbox("carol").await.unwrap();
    let from: Vec<(&str, u64)> = mail
        .iter()
        .map(|m| (m.sender_key.as_str(), m.msg.seq))
        .collect();
    assert_eq!(from, [("alice", 1), ("alice", 2), ("dave", 1), ("dave", 2)]);
    assert!(mail.windows(2).all(|w| w[0].id < w[1].id));

    // An ack frees alice's share; her next message takes the next seq, no gap.
    assert_eq!(log.ack("Carol", "ALICE", 1).await.unwrap(), 1);
    assert_eq!(log.ack("carol", "alice", 1).await.unwrap(), 0);
    assert_eq!(
        log.mailbox_size("carol", "alice").await.unwrap(),
        [3, 3 * cost, 1, cost]
    );
    assert_eq!(stored(send("alice", Some("10.0.0.3")).await), 3);
    // Removing by id (mail received without acks), and the address's share freed with it.
    let dave = log.mailbox("carol").await.unwrap();
    let ids: Vec<u64> = dave
        .iter()
        .filter(|m| m.sender_key == "dave")
        .map(|m| m.id)
        .collect();
    assert_eq!(log.received("carol", &ids).await.unwrap(), 2);
    assert_eq!(
        log.mailbox_size("carol", "dave").await.unwrap(),
        [2, 2 * cost, 0, 0]
    );
    assert_eq!(stored(send("bob", Some("10.0.0.9")).await), 1);
    assert_eq!(log.ack("carol", "alice", 99).await.unwrap(), 2);
    assert_eq!(log.ack("carol", "bob", 99).await.unwrap(), 1);
    assert_eq!(
        log.mailbox_size("carol", "bob").await.unwrap(),
        [0, 0, 0, 0]
    );
    assert!(log.mailbox("carol").await.unwrap().is_empty());
}

/// `engine::mail_cost`, which the mailbox's bytes count.
fn shared_cost(text: &str) -> u64 {
    courier::engine::mail_cost(text) as u64
}

#[tokio::test]
async fn a_mailbox_is_limited_by_bytes_too() {
    let redis = Redis::start();
    let mut config = config(&redis);
    let cost = courier::engine::mail_cost("hi");
    config.mailbox = MailboxLimits {
        messages: 100,
        bytes: 3 * cost,
        share_messages: 100,
        share_bytes: 2 * cost,
    };
    let log = RedisLog::connect(config).await.unwrap();
    for _ in 0..2 {
        stored(
            log.store_direct(&dm("alice", "carol", "hi"), None)
                .await
                .unwrap(),
        );
    }
    let refused = log
        .store_direct(&dm("alice", "carol", "hi"), None)
        .await
        .unwrap();
    assert_eq!(refused, Sent::MailboxFull);
    stored(
        log.store_direct(&dm("bob", "carol", "hi"), None)
            .await
            .unwrap(),
    );
    let refused = log
        .store_direct(&dm("erin", "carol", "hi"), None)
        .await
        .unwrap();
    assert_eq!(refused, Sent::MailboxFull);
}
