//! The example frames of two extensions, protected names and one person with several
//! connections (docs/PROTOCOL.md): they parse to the expected values and serialise back to the
//! same JSON.

mod frames;

use frames::{client, server};
use shared::{ClientFrame, ClientMsg, ConversationId, ErrorCode, ServerMsg};

#[test]
fn protected_name_frames() {
    client(
        r#"{"type":"protect","password":"correct horse"}"#,
        ClientFrame::new(ClientMsg::Protect {
            password: "correct horse".into(),
        }),
    );
    client(
        r#"{"type":"hello","name":"alice","password":"correct horse"}"#,
        ClientFrame::new(ClientMsg::Hello {
            name: "alice".into(),
            token: None,
            acks: false,
            password: Some("correct horse".into()),
            attach: false,
        }),
    );
    server(
        r#"{"type":"protected","name":"alice"}"#,
        ServerMsg::Protected {
            name: "alice".into(),
        },
    );
    server(
        r#"{"type":"error","code":"password_required","message":"'alice' is protected"}"#,
        ServerMsg::error(ErrorCode::PasswordRequired, "'alice' is protected", None),
    );
}

#[test]
fn several_connections_frames() {
    client(
        r#"{"type":"hello","name":"alice","acks":true,"attach":true}"#,
        ClientFrame::new(ClientMsg::Hello {
            name: "alice".into(),
            token: None,
            acks: true,
            password: None,
            attach: true,
        }),
    );
    server(
        r#"{"type":"welcome","name":"alice","token":"<opaque>","attached":true,"connections":2}"#,
        ServerMsg::Welcome {
            name: "alice".into(),
            token: "<opaque>".into(),
            operator: false,
            attached: true,
            connections: Some(2),
        },
    );
    client(
        r#"{"type":"read","room":"lobby","seq":42}"#,
        ClientFrame::new(ClientMsg::Read {
            room: Some("lobby".into()),
            with: None,
            seq: 42,
        }),
    );
    client(
        r#"{"type":"read","with":"bob","seq":7}"#,
        ClientFrame::new(ClientMsg::Read {
            room: None,
            with: Some("bob".into()),
            seq: 7,
        }),
    );
    server(
        r#"{"type":"read","room":"lobby","seq":42}"#,
        ServerMsg::Read {
            conversation: ConversationId::Room {
                room: "lobby".into(),
            },
            seq: 42,
        },
    );
    server(
        r#"{"type":"read","with":"bob","seq":7}"#,
        ServerMsg::Read {
            conversation: ConversationId::With { with: "bob".into() },
            seq: 7,
        },
    );
    server(
        r#"{"type":"left","room":"lobby"}"#,
        ServerMsg::Left {
            room: "lobby".into(),
        },
    );
    // `read` needs its seq; `attach: null` is absent.
    assert!(ClientFrame::parse(r#"{"type":"read","room":"lobby"}"#).is_err());
    assert!(
        ClientFrame::parse(r#"{"type":"hello","name":"a","attach":null}"#)
            .is_ok_and(|f| matches!(f.msg, ClientMsg::Hello { attach: false, .. }))
    );
}
