//! Property test: random sequences of frames (valid, near-valid and junk) sent to a relay
//! session over a real socket never break it. After each sequence the connection still
//! answers, and the relay's state stays within its bounds. The frame types follow `ClientMsg`
//! by construction: serde's list of its variants, and a `match` with no wildcard.

mod common;

use std::time::Duration;

use common::{Client, Relay, metric};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use shared::{ClientFrame, ClientMsg};

/// Types that are not client frames: a server frame's, and one nobody knows.
const OTHER_TYPES: &[&str] = &["welcome", "nope"];
const FIELDS: &[&str] = &[
    "name", "token", "room", "text", "to", "cid", "after", "before", "limit", "with", "seq",
    "acks", "from", "type", "password", "reply", "emoji", "remove", "rev", "q",
];
const NAMES: &[&str] = &["alice", "Bob", "ÄRGER", " pad ", "", "x\u{7}y"];
const ROOMS: &[&str] = &["lobby", "r-1", "大厅", "bad room", "", "a/b"];
const MAX_ROOMS: u32 = 20;

/// The `type` of every frame a client may send, as serde spells them. Read from serde's own
/// list of `ClientMsg`'s variants (its error for an unknown type names them all), so that a new
/// frame type is here without anyone adding it.
fn client_types() -> Vec<String> {
    let err = serde_json::from_value::<ClientMsg>(json!({"type": "?"})).unwrap_err();
    let err = err.to_string();
    let (_, list) = err
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("serde's error no longer lists the variants: {err}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// One frame of each type (with placeholder fields); [`fill`] makes random ones like it.
fn templates() -> Vec<ClientMsg> {
    let s = String::new;
    vec![
        ClientMsg::Hello {
            name: s(),
            token: None,
            acks: false,
            password: None,
            attach: false,
        },
        ClientMsg::Join {
            room: s(),
            after: None,
        },
        ClientMsg::Leave { room: s() },
        ClientMsg::Say {
            room: s(),
            text: s(),
            mid: None,
            reply: None,
        },
        ClientMsg::Rooms,
        ClientMsg::Dm {
            to: s(),
            text: s(),
            mid: None,
            reply: None,
        },
        ClientMsg::Users,
        ClientMsg::Typing {
            room: None,
            to: None,
        },
        ClientMsg::History {
            room: None,
            with: None,
            before: None,
            limit: None,
        },
        ClientMsg::Ack { with: s(), seq: 0 },
        ClientMsg::Protect { password: s() },
        ClientMsg::Read {
            room: None,
            with: None,
            seq: 0,
        },
        ClientMsg::Edit {
            room: None,
            with: None,
            seq: 0,
            text: s(),
        },
        ClientMsg::Delete {
            room: None,
            with: None,
            seq: 0,
        },
        ClientMsg::React {
            room: None,
            with: None,
            seq: 0,
            emoji: s(),
            remove: false,
        },
        ClientMsg::Changes {
            room: None,
            with: None,
            rev: 0,
        },
        ClientMsg::Search { q: s() },
        ClientMsg::Watch,
        ClientMsg::Unwatch,
        ClientMsg::Run {
            hosts: s(),
            command: s(),
        },
        ClientMsg::Cancel { run: s() },
        ClientMsg::Runs,
        ClientMsg::Release { name: s() },
    ]
}

/// Random frames of `template`'s type, with names and rooms fit and unfit. The `match` has no
/// wildcard: a new `ClientMsg` variant fails to build here until it has its strategy, and
/// `every_client_type_has_a_template` fails until [`templates`] has it.
fn fill(template: &ClientMsg) -> BoxedStrategy<ClientMsg> {
    let name = || prop::sample::select(NAMES).prop_map(str::to_owned);
    let room = || prop::sample::select(ROOMS).prop_map(str::to_owned);
    let text = || "\\PC{0,50}";
    let seq = || prop::option::of(0u64..50);
    // Few distinct ids, so that repeats happen.
    let mid = || prop::option::of("m[0-3]");
    match template {
        ClientMsg::Hello { .. } => (
            name(),
            prop::option::of("[a-f0-9]{0,32}"),
            any::<bool>(),
            prop::option::of("[a-z]{8}"),
            any::<bool>(),
        )
            .prop_map(|(name, token, acks, password, attach)| ClientMsg::Hello {
                name,
                token,
                acks,
                password,
                attach,
            })
            .boxed(),
        ClientMsg::Join { .. } => (room(), seq())
            .prop_map(|(room, after)| ClientMsg::Join { room, after })
            .boxed(),
        ClientMsg::Leave { .. } => room().prop_map(|room| ClientMsg::Leave { room }).boxed(),
        ClientMsg::Say { .. } => (room(), text(), mid(), seq())
            .prop_map(|(room, text, mid, reply)| ClientMsg::Say {
                room,
                text,
                mid,
                reply,
            })
            .boxed(),
        ClientMsg::Rooms => Just(ClientMsg::Rooms).boxed(),
        ClientMsg::Dm { .. } => (name(), text(), mid(), seq())
            .prop_map(|(to, text, mid, reply)| ClientMsg::Dm {
                to,
                text,
                mid,
                reply,
            })
            .boxed(),
        ClientMsg::Users => Just(ClientMsg::Users).boxed(),
        ClientMsg::Typing { .. } => prop_oneof![
            room().prop_map(|room| ClientMsg::Typing {
                room: Some(room),
                to: None
            }),
            name().prop_map(|to| ClientMsg::Typing {
                room: None,
                to: Some(to)
            }),
        ]
        .boxed(),
        ClientMsg::History { .. } => (
            prop::option::of(room()),
            prop::option::of(name()),
            seq(),
            prop::option::of(0usize..120),
        )
            .prop_map(|(room, with, before, limit)| ClientMsg::History {
                room,
                with,
                before,
                limit,
            })
            .boxed(),
        ClientMsg::Ack { .. } => (name(), 0u64..50)
            .prop_map(|(with, seq)| ClientMsg::Ack { with, seq })
            .boxed(),
        // Short, so that the relay hashes few passwords: a valid one costs an Argon2id check.
        ClientMsg::Protect { .. } => prop_oneof!["[a-z]{0,3}", "[a-z]{8}"]
            .prop_map(|password| ClientMsg::Protect { password })
            .boxed(),
        ClientMsg::Read { .. } => (prop::option::of(room()), prop::option::of(name()), 0u64..50)
            .prop_map(|(room, with, seq)| ClientMsg::Read { room, with, seq })
            .boxed(),
        ClientMsg::Edit { .. } => (
            prop::option::of(room()),
            prop::option::of(name()),
            0u64..50,
            text(),
        )
            .prop_map(|(room, with, seq, text)| ClientMsg::Edit {
                room,
                with,
                seq,
                text,
            })
            .boxed(),
        ClientMsg::Delete { .. } => (prop::option::of(room()), prop::option::of(name()), 0u64..50)
            .prop_map(|(room, with, seq)| ClientMsg::Delete { room, with, seq })
            .boxed(),
        ClientMsg::React { .. } => (
            prop::option::of(room()),
            prop::option::of(name()),
            0u64..50,
            prop_oneof!["👍", "🎉", "\\PC{0,40}"],
            any::<bool>(),
        )
            .prop_map(|(room, with, seq, emoji, remove)| ClientMsg::React {
                room,
                with,
                seq,
                emoji,
                remove,
            })
            .boxed(),
        ClientMsg::Changes { .. } => (prop::option::of(room()), prop::option::of(name()), 0u64..50)
            .prop_map(|(room, with, rev)| ClientMsg::Changes { room, with, rev })
            .boxed(),
        ClientMsg::Search { .. } => "\\PC{0,120}".prop_map(|q| ClientMsg::Search { q }).boxed(),
        // Operators' frames: every sender here is not one, so each must get `forbidden`.
        ClientMsg::Watch => Just(ClientMsg::Watch).boxed(),
        ClientMsg::Unwatch => Just(ClientMsg::Unwatch).boxed(),
        ClientMsg::Run { .. } => ("[0-9.,/-]{0,20}", text())
            .prop_map(|(hosts, command)| ClientMsg::Run { hosts, command })
            .boxed(),
        ClientMsg::Cancel { .. } => "[0-9a-f]{0,8}"
            .prop_map(|run| ClientMsg::Cancel { run })
            .boxed(),
        ClientMsg::Runs => Just(ClientMsg::Runs).boxed(),
        ClientMsg::Release { .. } => name().prop_map(|name| ClientMsg::Release { name }).boxed(),
    }
}

/// Frames the relay understands, of every type a client may send.
fn valid() -> impl Strategy<Value = String> {
    prop::sample::select(templates())
        .prop_flat_map(|template| fill(&template))
        .prop_map(|msg| ClientFrame::with_cid(msg, "c").to_json())
}

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

/// Every client type, and [`OTHER_TYPES`].
fn types() -> Vec<String> {
    let mut types = client_types();
    types.extend(OTHER_TYPES.iter().map(|&t| t.to_owned()));
    types
}

/// JSON objects with a known or unknown type and random fields of random types.
fn near_valid() -> impl Strategy<Value = String> {
    (
        prop::sample::select(types()),
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
fn every_client_type_has_a_template() {
    let types = client_types();
    assert!(
        types.len() >= 11 && types.contains(&"protect".to_owned()),
        "{types:?}"
    );
    let mut covered: Vec<String> = templates()
        .into_iter()
        .map(|msg| {
            let frame: Value = serde_json::from_str(&ClientFrame::new(msg).to_json()).unwrap();
            frame["type"].as_str().unwrap().to_owned()
        })
        .collect();
    covered.sort();
    let mut types = types;
    types.sort();
    assert_eq!(
        covered, types,
        "templates() must have one frame of each type"
    );
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
