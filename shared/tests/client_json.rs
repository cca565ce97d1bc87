//! `ClientFrame::to_json` (the message's object with `cid` appended, written by hand) writes
//! exactly what the derived `Serialize` writes, for every message type.

use shared::{ClientFrame, ClientMsg};

#[test]
fn to_json_is_the_derived_serialisation() {
    let some = |s: &str| Some(s.to_owned());
    let msgs = [
        ClientMsg::Hello {
            name: "alice".into(),
            token: some("t\"1"),
            acks: true,
            password: None,
            attach: false,
        },
        ClientMsg::Hello {
            name: "Åsa".into(),
            token: None,
            acks: false,
            password: some("pass\\word"),
            attach: false,
        },
        ClientMsg::Join {
            room: "lobby".into(),
            after: Some(41),
        },
        ClientMsg::Join {
            room: "lobby".into(),
            after: None,
        },
        ClientMsg::Leave { room: "dev".into() },
        ClientMsg::Rooms,
        ClientMsg::Say {
            room: "lobby".into(),
            text: "a \\ b\n\u{1b}[31m \u{7f}\u{0}\u{8}\u{c}\r\t 字 😀".into(),
            mid: Some("7f3a".into()),
            reply: Some(3),
        },
        ClientMsg::Say {
            room: "lobby".into(),
            text: "no mid".into(),
            mid: None,
            reply: None,
        },
        ClientMsg::Dm {
            to: "bob".into(),
            text: "hi".into(),
            mid: some("m1"),
            reply: None,
        },
        ClientMsg::Dm {
            to: "bob".into(),
            text: "hi".into(),
            mid: None,
            reply: None,
        },
        ClientMsg::Users,
        ClientMsg::Edit {
            room: some("lobby"),
            with: None,
            seq: 4,
            text: "fixed \"typo\"".into(),
        },
        ClientMsg::Delete {
            room: None,
            with: some("bob"),
            seq: 9,
        },
        ClientMsg::React {
            room: some("lobby"),
            with: None,
            seq: 1,
            emoji: "👍".into(),
            remove: false,
        },
        ClientMsg::React {
            room: None,
            with: some("bob"),
            seq: 2,
            emoji: "🎉".into(),
            remove: true,
        },
        ClientMsg::Changes {
            room: some("lobby"),
            with: None,
            rev: 17,
        },
        ClientMsg::Search {
            q: "deploy \"x\"".into(),
        },
        ClientMsg::Typing {
            room: some("lobby"),
            to: None,
        },
        ClientMsg::Typing {
            room: None,
            to: some("bob"),
        },
        ClientMsg::History {
            room: None,
            with: Some("bob".into()),
            before: Some(7),
            limit: Some(50),
        },
        ClientMsg::History {
            room: some("lobby"),
            with: None,
            before: None,
            limit: None,
        },
        ClientMsg::Ack {
            with: "bob".into(),
            seq: u64::MAX,
        },
        ClientMsg::Protect {
            password: "correct horse".into(),
        },
        ClientMsg::Hello {
            name: "alice".into(),
            token: None,
            acks: true,
            password: some("pw"),
            attach: true,
        },
        ClientMsg::Read {
            room: some("lobby"),
            with: None,
            seq: 42,
        },
        ClientMsg::Read {
            room: None,
            with: some("bob"),
            seq: 7,
        },
        ClientMsg::Watch,
        ClientMsg::Unwatch,
        ClientMsg::Run {
            hosts: "127.0.0.1-3".into(),
            command: "uname -n".into(),
        },
        ClientMsg::Cancel { run: "r1".into() },
        ClientMsg::Runs,
        ClientMsg::Release {
            name: "squatter".into(),
        },
    ];
    for msg in msgs {
        for frame in [
            ClientFrame::new(msg.clone()),
            ClientFrame::with_cid(msg.clone(), "c\"9"),
        ] {
            assert_eq!(frame.to_json(), serde_json::to_string(&frame).unwrap());
        }
    }
}
