//! The example frames of the protocol contract parse to the expected values and serialise back to
//! the same JSON, and every message round-trips.

mod frames;

use frames::{client, server};
use serde_json::{Value, json};
use shared::{
    ChatMessage, ClientFrame, ClientMsg, ConversationId, ErrorCode, RoomInfo, ServerMsg, Target,
    limits::HISTORY_LEN,
};

fn room_message(seq: u64, from: &str, text: &str, cid: Option<&str>) -> ChatMessage {
    ChatMessage {
        target: Target::Room {
            room: "lobby".into(),
        },
        seq,
        from: from.into(),
        text: text.into(),
        ts: 1763700000000,
        cid: cid.map(Into::into),
        mid: None,
        ext: Default::default(),
    }
}

#[test]
fn session_frames() {
    client(
        r#"{"type":"hello","name":"alice"}"#,
        ClientFrame::new(ClientMsg::Hello {
            name: "alice".into(),
            token: None,
            acks: false,
            password: None,
            attach: false,
        }),
    );
    client(
        r#"{"type":"hello","name":"alice","token":"t0k"}"#,
        ClientFrame::new(ClientMsg::Hello {
            name: "alice".into(),
            token: Some("t0k".into()),
            acks: false,
            password: None,
            attach: false,
        }),
    );
    server(
        r#"{"type":"welcome","name":"alice","token":"<opaque>"}"#,
        ServerMsg::Welcome {
            name: "alice".into(),
            token: "<opaque>".into(),
            operator: false,
            attached: false,
            connections: None,
        },
    );
}

#[test]
fn room_frames() {
    client(
        r#"{"type":"join","room":"lobby"}"#,
        ClientFrame::new(ClientMsg::Join {
            room: "lobby".into(),
            after: None,
        }),
    );
    client(
        r#"{"type":"leave","room":"lobby"}"#,
        ClientFrame::new(ClientMsg::Leave {
            room: "lobby".into(),
        }),
    );
    client(
        r#"{"type":"say","room":"lobby","text":"hi","cid":"c1"}"#,
        ClientFrame::with_cid(
            ClientMsg::Say {
                room: "lobby".into(),
                text: "hi".into(),
                mid: None,
                reply: None,
            },
            "c1",
        ),
    );
    client(r#"{"type":"rooms"}"#, ClientFrame::new(ClientMsg::Rooms));
    server(
        r#"{"type":"presence","room":"lobby","name":"alice","online":true}"#,
        ServerMsg::Presence {
            room: "lobby".into(),
            name: "alice".into(),
            online: true,
        },
    );
    server(
        r#"{"type":"presence","room":"lobby","name":"alice","online":false}"#,
        ServerMsg::Presence {
            room: "lobby".into(),
            name: "alice".into(),
            online: false,
        },
    );
    server(
        r#"{"type":"message","room":"lobby","seq":42,"from":"alice","text":"hi","ts":1763700000000,"cid":"c1"}"#,
        ServerMsg::Message(room_message(42, "alice", "hi", Some("c1"))),
    );
    server(
        r#"{"type":"rooms","rooms":[{"room":"lobby","members":2}]}"#,
        ServerMsg::Rooms {
            rooms: vec![RoomInfo {
                room: "lobby".into(),
                members: 2,
            }],
        },
    );
}

#[test]
fn joined_history_holds_whole_message_objects() {
    let text = r#"{"type":"joined","room":"lobby","members":["alice","bob"],"history":[
        {"type":"message","room":"lobby","seq":1,"from":"bob","text":"first","ts":1763700000000},
        {"type":"message","room":"lobby","seq":2,"from":"alice","text":"second","ts":1763700000000,"cid":"c9"}
    ]}"#;
    server(
        text,
        ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into()],
            history: vec![
                room_message(1, "bob", "first", None),
                room_message(2, "alice", "second", Some("c9")),
            ],
            more: false,
        },
    );
    // A history entry is the same object as the live message frame.
    let live = ServerMsg::Message(room_message(1, "bob", "first", None)).to_json();
    let joined: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        joined["history"][0],
        serde_json::from_str::<Value>(&live).unwrap()
    );
    assert_eq!(HISTORY_LEN, 50);
}

#[test]
fn private_frames() {
    client(
        r#"{"type":"dm","to":"bob","text":"hi","cid":"c2"}"#,
        ClientFrame::with_cid(
            ClientMsg::Dm {
                to: "bob".into(),
                text: "hi".into(),
                mid: None,
                reply: None,
            },
            "c2",
        ),
    );
    server(
        r#"{"type":"message","to":"bob","from":"alice","seq":7,"text":"hi","ts":1763700000000,"cid":"c2"}"#,
        ServerMsg::Message(ChatMessage {
            target: Target::User { to: "bob".into() },
            seq: 7,
            from: "alice".into(),
            text: "hi".into(),
            ts: 1763700000000,
            cid: Some("c2".into()),
            mid: None,
            ext: Default::default(),
        }),
    );
    client(r#"{"type":"users"}"#, ClientFrame::new(ClientMsg::Users));
    server(
        r#"{"type":"users","online":["alice","bob"]}"#,
        ServerMsg::Users {
            online: vec!["alice".into(), "bob".into()],
        },
    );
}

#[test]
fn typing_frames() {
    client(
        r#"{"type":"typing","room":"lobby"}"#,
        ClientFrame::new(ClientMsg::Typing {
            room: Some("lobby".into()),
            to: None,
        }),
    );
    client(
        r#"{"type":"typing","to":"bob"}"#,
        ClientFrame::new(ClientMsg::Typing {
            room: None,
            to: Some("bob".into()),
        }),
    );
    server(
        r#"{"type":"typing","room":"lobby","name":"alice"}"#,
        ServerMsg::Typing {
            target: Target::Room {
                room: "lobby".into(),
            },
            name: "alice".into(),
        },
    );
    server(
        r#"{"type":"typing","to":"bob","name":"alice"}"#,
        ServerMsg::Typing {
            target: Target::User { to: "bob".into() },
            name: "alice".into(),
        },
    );
}

#[test]
fn error_frames() {
    server(
        r#"{"type":"error","code":"rate_limited","message":"human readable","cid":"c1"}"#,
        ServerMsg::error(ErrorCode::RateLimited, "human readable", Some("c1".into())),
    );
    for (code, wire) in [
        (ErrorCode::BadRequest, "bad_request"),
        (ErrorCode::NotWelcomed, "not_welcomed"),
        (ErrorCode::NameTaken, "name_taken"),
        (ErrorCode::InvalidName, "invalid_name"),
        (ErrorCode::InvalidRoom, "invalid_room"),
        (ErrorCode::NotMember, "not_member"),
        (ErrorCode::UnknownUser, "unknown_user"),
        (ErrorCode::TooLong, "too_long"),
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::Unsupported, "unsupported"),
        (ErrorCode::Forbidden, "forbidden"),
        (ErrorCode::Internal, "internal"),
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(wire));
        assert_eq!(code.as_str(), wire);
        server(
            &format!(r#"{{"type":"error","code":"{wire}","message":"m"}}"#),
            ServerMsg::error(code, "m", None),
        );
    }
    // A client keeps working when a newer relay sends a code it does not know.
    let newer = ServerMsg::parse(r#"{"type":"error","code":"brand_new","message":"m"}"#).unwrap();
    assert!(matches!(
        newer,
        ServerMsg::Error {
            code: ErrorCode::Other,
            ..
        }
    ));
}

#[test]
fn unknown_fields_are_ignored() {
    let frame = ClientFrame::parse(r#"{"type":"join","room":"lobby","colour":"red","n":1}"#);
    assert_eq!(
        frame.unwrap(),
        ClientFrame::new(ClientMsg::Join {
            room: "lobby".into(),
            after: None,
        })
    );
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    for text in [
        "",
        "hello",
        "[]",
        "42",
        "null",
        r#""hello""#,
        "{}",
        r#"{"type":"nope"}"#,
        r#"{"type":7}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"join","room":5}"#,
        r#"{"type":"say","room":"lobby","text":"hi","cid":5}"#,
        r#"{"type":"hello","name":"a"#,
        "123",
        "hello world!",
        "厉害了",
    ] {
        assert!(ClientFrame::parse(text).is_err(), "{text:?} parsed");
    }
}

#[test]
fn malformed_frames_keep_their_cid() {
    let err = ClientFrame::parse(r#"{"type":"nope","cid":"c7"}"#).unwrap_err();
    assert_eq!(err.cid.as_deref(), Some("c7"));
    let err = ClientFrame::parse(r#"{"type":"say","cid":"c8"}"#).unwrap_err();
    assert_eq!(err.cid.as_deref(), Some("c8"));
    assert_eq!(
        ClientFrame::parse(r#"{"type":"nope"}"#).unwrap_err().cid,
        None
    );
    assert_eq!(ClientFrame::parse("junk").unwrap_err().cid, None);
}

#[test]
fn a_variant_index_is_not_a_type() {
    // serde accepts an integer as an enum tag; the contract does not.
    for n in 0..10 {
        assert!(ClientFrame::parse(&format!(r#"{{"type":{n},"room":"r","name":"a"}}"#)).is_err());
    }
}

#[test]
fn every_client_message_round_trips() {
    let all = [
        ClientMsg::Hello {
            name: "李雷".into(),
            token: Some("t".into()),
            acks: true,
            password: None,
            attach: false,
        },
        ClientMsg::Join {
            room: "r".into(),
            after: None,
        },
        ClientMsg::Join {
            room: "r".into(),
            after: Some(0),
        },
        ClientMsg::History {
            room: Some("r".into()),
            with: None,
            before: Some(3),
            limit: Some(2),
        },
        ClientMsg::History {
            room: None,
            with: Some("bob".into()),
            before: None,
            limit: None,
        },
        ClientMsg::Ack {
            with: "bob".into(),
            seq: 7,
        },
        ClientMsg::Protect {
            password: "correct horse".into(),
        },
        ClientMsg::Leave { room: "r".into() },
        ClientMsg::Say {
            room: "r".into(),
            text: "<img src=x onerror=alert(1)>\n\"quoted\"".into(),
            mid: Some("m-1".into()),
            reply: None,
        },
        ClientMsg::Rooms,
        ClientMsg::Dm {
            to: "bob".into(),
            text: "hi".into(),
            mid: None,
            reply: None,
        },
        ClientMsg::Users,
        ClientMsg::Typing {
            room: None,
            to: Some("bob".into()),
        },
    ];
    for msg in all {
        for frame in [
            ClientFrame::new(msg.clone()),
            ClientFrame::with_cid(msg, "c"),
        ] {
            assert_eq!(ClientFrame::parse(&frame.to_json()).unwrap(), frame);
        }
    }
}

#[test]
fn every_server_message_round_trips() {
    let all = [
        ServerMsg::Welcome {
            name: "a".into(),
            token: "t".into(),
            operator: false,
            attached: false,
            connections: None,
        },
        ServerMsg::Joined {
            room: "r".into(),
            members: vec!["a".into()],
            history: vec![room_message(1, "a", "x", None)],
            more: true,
        },
        ServerMsg::History {
            conversation: ConversationId::With { with: "b".into() },
            messages: vec![],
            more: false,
        },
        ServerMsg::Presence {
            room: "r".into(),
            name: "a".into(),
            online: true,
        },
        ServerMsg::Members {
            room: "r".into(),
            count: 5000,
            members: None,
        },
        ServerMsg::Members {
            room: "r".into(),
            count: 2,
            members: Some(vec!["a".into(), "b".into()]),
        },
        ServerMsg::Message(room_message(3, "a", "x", Some("c"))),
        ServerMsg::Rooms { rooms: vec![] },
        ServerMsg::Users {
            online: vec!["a".into()],
        },
        ServerMsg::Typing {
            target: Target::User { to: "b".into() },
            name: "a".into(),
        },
        ServerMsg::error(ErrorCode::MailboxFull, "full", None),
        ServerMsg::error(ErrorCode::PasswordRequired, "protected", None),
        ServerMsg::Protected { name: "a".into() },
    ];
    for msg in all {
        assert_eq!(ServerMsg::parse(&msg.to_json()).unwrap(), msg);
    }
}

#[test]
fn resume_and_scrollback_frames() {
    client(
        r#"{"type":"join","room":"lobby","after":40}"#,
        ClientFrame::new(ClientMsg::Join {
            room: "lobby".into(),
            after: Some(40),
        }),
    );
    client(
        r#"{"type":"history","room":"lobby","before":41,"limit":2}"#,
        ClientFrame::new(ClientMsg::History {
            room: Some("lobby".into()),
            with: None,
            before: Some(41),
            limit: Some(2),
        }),
    );
    client(
        r#"{"type":"hello","name":"bob","token":"t","acks":true}"#,
        ClientFrame::new(ClientMsg::Hello {
            name: "bob".into(),
            token: Some("t".into()),
            acks: true,
            password: None,
            attach: false,
        }),
    );
    // null means absent, for `acks` as for every optional field.
    assert_eq!(
        ClientFrame::parse(r#"{"type":"hello","name":"bob","acks":null,"token":null}"#).unwrap(),
        ClientFrame::new(ClientMsg::Hello {
            name: "bob".into(),
            token: None,
            acks: false,
            password: None,
            attach: false,
        })
    );
    client(
        r#"{"type":"ack","with":"alice","seq":8}"#,
        ClientFrame::new(ClientMsg::Ack {
            with: "alice".into(),
            seq: 8,
        }),
    );
    server(
        r#"{"type":"joined","room":"lobby","members":["alice"],"history":[
            {"type":"message","room":"lobby","seq":41,"from":"bob","text":"hi","ts":1763700000000}],
            "more":true}"#,
        ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: vec![room_message(41, "bob", "hi", None)],
            more: true,
        },
    );
    server(
        r#"{"type":"history","room":"lobby","messages":[
            {"type":"message","room":"lobby","seq":39,"from":"bob","text":"one","ts":1763700000000}],
            "more":false}"#,
        ServerMsg::History {
            conversation: ConversationId::Room {
                room: "lobby".into(),
            },
            messages: vec![room_message(39, "bob", "one", None)],
            more: false,
        },
    );
}
