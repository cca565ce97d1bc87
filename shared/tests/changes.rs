//! The frames of the changes extension (replies, edits, deletions, reactions) and of search:
//! docs/PROTOCOL.md's examples parse to the expected values and serialise back to the same
//! JSON.

mod frames;

use frames::server;
use shared::{
    ChatMessage, ClientFrame, ClientMsg, ConversationId, ErrorCode, Ext, Quote, Reaction,
    ServerMsg, Target,
};

fn client(text: &str, expected: ClientMsg) {
    frames::client(text, ClientFrame::new(expected));
}

fn message(target: Target, seq: u64, from: &str, text: &str, ext: Ext) -> ChatMessage {
    ChatMessage {
        target,
        seq,
        from: from.into(),
        text: text.into(),
        ts: 1763700000000,
        cid: None,
        mid: None,
        ext,
    }
}

fn lobby() -> Target {
    Target::Room {
        room: "lobby".into(),
    }
}

#[test]
fn a_reply_names_the_seq_and_comes_back_with_its_quote() {
    client(
        r#"{"type":"say","room":"lobby","text":"yes","reply":41}"#,
        ClientMsg::Say {
            room: "lobby".into(),
            text: "yes".into(),
            mid: None,
            reply: Some(41),
        },
    );
    client(
        r#"{"type":"dm","to":"bob","text":"ok","reply":2}"#,
        ClientMsg::Dm {
            to: "bob".into(),
            text: "ok".into(),
            mid: None,
            reply: Some(2),
        },
    );
    server(
        r#"{"type":"message","room":"lobby","seq":42,"from":"bob","text":"yes","ts":1763700000000,
            "reply":{"seq":41,"from":"alice","text":"ship it?"}}"#,
        ServerMsg::Message(message(
            lobby(),
            42,
            "bob",
            "yes",
            Ext {
                reply: Some(Quote {
                    seq: 41,
                    from: "alice".into(),
                    text: "ship it?".into(),
                }),
                ..Ext::default()
            },
        )),
    );
}

#[test]
fn edit_delete_and_react_address_a_message_by_conversation_and_seq() {
    client(
        r#"{"type":"edit","room":"lobby","seq":41,"text":"ship it!"}"#,
        ClientMsg::Edit {
            room: Some("lobby".into()),
            with: None,
            seq: 41,
            text: "ship it!".into(),
        },
    );
    client(
        r#"{"type":"delete","with":"bob","seq":3}"#,
        ClientMsg::Delete {
            room: None,
            with: Some("bob".into()),
            seq: 3,
        },
    );
    client(
        r#"{"type":"react","room":"lobby","seq":41,"emoji":"👍"}"#,
        ClientMsg::React {
            room: Some("lobby".into()),
            with: None,
            seq: 41,
            emoji: "👍".into(),
            remove: false,
        },
    );
    client(
        r#"{"type":"react","room":"lobby","seq":41,"emoji":"👍","remove":true}"#,
        ClientMsg::React {
            room: Some("lobby".into()),
            with: None,
            seq: 41,
            emoji: "👍".into(),
            remove: true,
        },
    );
}

#[test]
fn changed_is_the_whole_message_with_its_rev() {
    server(
        r#"{"type":"changed","room":"lobby","seq":41,"from":"alice","text":"ship it!",
            "ts":1763700000000,"edited":1763700060000,
            "reactions":[{"emoji":"👍","names":["bob","carol"]}],"rev":7}"#,
        ServerMsg::Changed(message(
            lobby(),
            41,
            "alice",
            "ship it!",
            Ext {
                edited: Some(1763700060000),
                reactions: vec![Reaction {
                    emoji: "👍".into(),
                    names: vec!["bob".into(), "carol".into()],
                }],
                rev: Some(7),
                ..Ext::default()
            },
        )),
    );
    server(
        r#"{"type":"changed","to":"bob","seq":3,"from":"alice","text":"","ts":1763700000000,
            "deleted":true,"rev":2}"#,
        ServerMsg::Changed(message(
            Target::User { to: "bob".into() },
            3,
            "alice",
            "",
            Ext {
                deleted: true,
                rev: Some(2),
                ..Ext::default()
            },
        )),
    );
}

#[test]
fn changes_asks_after_a_rev_and_gets_messages_in_their_state_now() {
    client(
        r#"{"type":"changes","room":"lobby","rev":5}"#,
        ClientMsg::Changes {
            room: Some("lobby".into()),
            with: None,
            rev: 5,
        },
    );
    server(
        r#"{"type":"changes","with":"bob","more":false,"messages":[
            {"type":"message","to":"bob","seq":3,"from":"alice","text":"","ts":1763700000000,
             "deleted":true,"rev":2}]}"#,
        ServerMsg::Changes {
            conversation: ConversationId::With { with: "bob".into() },
            messages: vec![message(
                Target::User { to: "bob".into() },
                3,
                "alice",
                "",
                Ext {
                    deleted: true,
                    rev: Some(2),
                    ..Ext::default()
                },
            )],
            more: false,
        },
    );
}

#[test]
fn search_and_found() {
    client(
        r#"{"type":"search","q":"deploy"}"#,
        ClientMsg::Search { q: "deploy".into() },
    );
    server(
        r#"{"type":"found","q":"deploy","messages":[
            {"type":"message","room":"lobby","seq":9,"from":"bob","text":"deploy at 5","ts":1763700000000}]}"#,
        ServerMsg::Found {
            q: "deploy".into(),
            messages: vec![message(lobby(), 9, "bob", "deploy at 5", Ext::default())],
        },
    );
}

#[test]
fn the_new_error_codes_are_known() {
    for (code, wire) in [
        (ErrorCode::UnknownMessage, "unknown_message"),
        (ErrorCode::TooMany, "too_many"),
    ] {
        assert_eq!(code.as_str(), wire);
        let frame = format!(r#"{{"type":"error","code":"{wire}","message":"m"}}"#);
        server(&frame, ServerMsg::error(code, "m", None));
    }
}
