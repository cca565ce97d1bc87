//! `ClientFrame::to_json` (the message's object with `cid` appended, written without serde's
//! `flatten`) writes exactly what the derived `Serialize` writes.

use shared::{ClientFrame, ClientMsg};

#[test]
fn to_json_is_the_derived_serialisation() {
    let msgs = [
        ClientMsg::Hello {
            name: "alice".into(),
            token: Some("t\"1".into()),
            acks: true,
            password: None,
        },
        ClientMsg::Rooms,
        ClientMsg::Say {
            room: "lobby".into(),
            text: "a \\ b\n\u{1b}[31m".into(),
            mid: Some("7f3a".into()),
        },
        ClientMsg::History {
            room: None,
            with: Some("bob".into()),
            before: Some(7),
            limit: Some(50),
        },
        ClientMsg::Watch,
        ClientMsg::Run {
            hosts: "127.0.0.1-3".into(),
            command: "uname -n".into(),
        },
        ClientMsg::Cancel { run: "r1".into() },
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
