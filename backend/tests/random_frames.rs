//! Property test: random sequences of frames (valid, near-valid and junk) sent to a relay
//! session over a real socket never break it. After each sequence the connection still
//! answers, and the relay's state stays within its bounds.

mod common;

use std::time::Duration;

use common::{Client, Relay, metric};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

const TYPES: &[&str] = &[
    "hello", "join", "leave", "say", "rooms", "dm", "users", "typing", "history", "ack", "welcome",
    "nope",
];
const FIELDS: &[&str] = &[
    "name", "token", "room", "text", "to", "cid", "after", "before", "limit", "with", "seq",
    "acks", "from", "type",
];
const NAMES: &[&str] = &["alice", "Bob", "ÄRGER", " pad ", "", "x\u{7}y"];
const ROOMS: &[&str] = &["lobby", "r-1", "大厅", "bad room", "", "a/b"];
const MAX_ROOMS: u32 = 20;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z]{0,6}".prop_map(Value::from),
        "\\PC{0,80}".prop_map(Value::from),
        Just(json!([1, "two"])),
        Just(json!({"nested": {}})),
    ]
}

/// Frames the relay understands, with names and rooms fit and unfit.
fn valid() -> impl Strategy<Value = String> {
    let name = prop::sample::select(NAMES);
    let room = prop::sample::select(ROOMS);
    prop_oneof![
        name.clone().prop_map(|n| json!({"type":"hello","name":n})),
        room.clone().prop_map(|r| json!({"type":"join","room":r})),
        room.clone().prop_map(|r| json!({"type":"leave","room":r})),
        (room.clone(), "\\PC{0,50}")
            .prop_map(|(r, t)| json!({"type":"say","room":r,"text":t,"cid":"c"})),
        (name, "\\PC{0,50}").prop_map(|(n, t)| json!({"type":"dm","to":n,"text":t})),
        room.prop_map(|r| json!({"type":"typing","room":r})),
        Just(json!({"type":"rooms"})),
        Just(json!({"type":"users"})),
    ]
    .prop_map(|v| v.to_string())
}

/// JSON objects with a known or unknown type and random fields of random types.
fn near_valid() -> impl Strategy<Value = String> {
    (
        prop::sample::select(TYPES),
        prop::collection::vec((prop::sample::select(FIELDS), scalar()), 0..5),
    )
        .prop_map(|(kind, fields)| {
            let mut object = Map::new();
            object.insert("type".into(), kind.into());
            for (k, v) in fields {
                object.insert(k.into(), v);
            }
            Value::Object(object).to_string()
        })
}

/// Anything that is text.
fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,100}",
        prop::collection::vec(any::<u8>(), 0..100)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        Just("{".repeat(2000)),
        Just(format!("{}1{}", "[".repeat(300), "]".repeat(300))),
    ]
}

fn frames() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![4 => valid(), 4 => near_valid(), 2 => junk()],
        1..40,
    )
}

#[test]
fn random_frame_sequences_never_break_a_session_nor_grow_the_relay() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Rates off: this test is about what the frames say, not how many there are.
    let relay = rt.block_on(Relay::start_with(|c| {
        c.msg_rate = 0.0;
        c.typing_rate = 0.0;
        c.max_rooms = MAX_ROOMS;
    }));
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&frames(), |frames| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(async {
                let mut c = Client::connect(&relay).await;
                for frame in &frames {
                    c.send_text(frame).await;
                }
                // Still answered: the probe's answer (an error, which echoes the cid) comes
                // after every answer to the frames.
                let probe = format!("probe-{case}");
                c.send(json!({"type":"say","room":"no room","text":"x","cid":probe}))
                    .await;
                loop {
                    let frame = c.recv().await;
                    if frame["cid"] == probe.as_str() {
                        assert!(
                            frame["code"] == "invalid_room" || frame["code"] == "not_welcomed",
                            "{frame}"
                        );
                        break;
                    }
                }
                c.drop_connection().await;
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        assert!(metric(&relay, "courier_rooms").await <= u64::from(MAX_ROOMS));
        // Every connection of the test has ended, and with it its session.
        let mut open = u64::MAX;
        for _ in 0..100 {
            open = metric(&relay, "courier_connections").await;
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(open, 0);
        assert_eq!(metric(&relay, "courier_sessions").await, 0);
        relay.shutdown().await;
    });
}
