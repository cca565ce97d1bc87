//! Any bytes a client can put in a text frame, through the relay's decode path:
//! `ClientFrame::parse`, then the checks the hub makes on the fields. Nothing may panic, and a
//! frame that parses must survive a round trip through its own JSON. The `match` on the frame
//! has no wildcard: a new `ClientMsg` variant fails to build here (and `scripts/test` checks
//! this crate) until the target knows it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use shared::{ClientFrame, ClientMsg, validate};

/// The hub's check on a password's length, in characters (not bytes).
fn password_fits(password: &str) -> bool {
    (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password.chars().count())
}

fuzz_target!(|data: &[u8]| {
    // tungstenite refuses a text frame that is not UTF-8 before the relay sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err(e) => {
            // The cid of a refused frame is echoed; the hub checks its length.
            if let Some(cid) = &e.cid {
                let _ = validate::cid(cid);
            }
            assert!(!e.reason.is_empty());
            return;
        }
    };
    if let Some(cid) = &frame.cid {
        let _ = validate::cid(cid);
    }
    match &frame.msg {
        ClientMsg::Hello {
            name,
            token,
            password,
            ..
        } => {
            if let Ok(trimmed) = validate::name(name) {
                assert!(!trimmed.is_empty() && trimmed.chars().count() <= 32);
                let _ = validate::name_key(trimmed);
            }
            let _ = token.as_deref().map(str::len);
            let _ = password.as_deref().map(password_fits);
        }
        ClientMsg::Join { room, .. } | ClientMsg::Leave { room } => {
            let _ = validate::room(room);
        }
        ClientMsg::Say {
            room, text, mid, ..
        } => {
            let _ = validate::room(room);
            let _ = validate::text(text);
            let _ = mid.as_deref().map(validate::mid);
        }
        ClientMsg::Dm { to, text, mid, .. } => {
            let _ = validate::name_key(to);
            let _ = validate::text(text);
            let _ = mid.as_deref().map(validate::mid);
        }
        ClientMsg::Typing { room, to } => {
            if let Some(room) = room {
                let _ = validate::room(room);
            }
            if let Some(to) = to {
                let _ = validate::name_key(to);
            }
        }
        ClientMsg::History { room, with, .. } => {
            if let Some(room) = room {
                let _ = validate::room(room);
            }
            if let Some(with) = with {
                let _ = validate::name_key(with);
            }
        }
        ClientMsg::Ack { with, .. } => {
            let _ = validate::name_key(with);
        }
        ClientMsg::Protect { password } => {
            let _ = password_fits(password);
        }
        ClientMsg::Read { room, with, .. }
        | ClientMsg::Delete { room, with, .. }
        | ClientMsg::Changes { room, with, .. } => {
            if let Some(room) = room {
                let _ = validate::room(room);
            }
            if let Some(with) = with {
                let _ = validate::name_key(with);
            }
        }
        ClientMsg::Edit {
            room, with, text, ..
        } => {
            let _ = room.as_deref().map(validate::room);
            let _ = with.as_deref().map(validate::name_key);
            let _ = validate::text(text);
        }
        ClientMsg::React {
            room, with, emoji, ..
        } => {
            let _ = room.as_deref().map(validate::room);
            let _ = with.as_deref().map(validate::name_key);
            let _ = validate::emoji(emoji);
        }
        ClientMsg::Search { q } => {
            let _ = q.trim().chars().count();
        }
        ClientMsg::Run { hosts, command } => {
            let _ = (hosts.split(',').count(), command.chars().count());
        }
        ClientMsg::Cancel { run } => {
            let _ = run.len();
        }
        ClientMsg::Release { name } => {
            let _ = validate::name(name).map(validate::name_key);
        }
        ClientMsg::Rooms
        | ClientMsg::Users
        | ClientMsg::Watch
        | ClientMsg::Unwatch
        | ClientMsg::Runs => {}
    }
    // What parses, serialises, and parses back to the same frame.
    let json = frame.to_json();
    let again = ClientFrame::parse(&json).expect("a frame's own JSON parses");
    assert_eq!(again, frame, "round trip of {json}");
});
