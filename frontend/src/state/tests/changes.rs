//! Edits and deletions (the changes extension): a `changed` frame, a `changes` answer, and a
//! message seen again in a newer state all update the message held, and a resume asks for
//! what changed meanwhile.

use shared::Ext;

use super::*;

/// Message `seq` of the lobby from bob as it is after change `rev`.
fn changed(seq: u64, text: &str, rev: u64, deleted: bool) -> ChatMessage {
    ChatMessage {
        ext: Ext {
            edited: (!deleted).then_some(1_700_000_000_000),
            deleted,
            rev: Some(rev),
            ..Ext::default()
        },
        ..room_msg("lobby", seq, "bob", text, None)
    }
}

fn held(s: &State, seq: u64) -> &Message {
    lobby(s)
        .messages
        .iter()
        .find(|m| m.seq == Some(seq))
        .expect("held")
}

#[test]
fn a_changed_frame_edits_then_deletes_the_message_held() {
    let s = server(
        &in_lobby(),
        joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
    );
    let s = server(&s, ServerMsg::Changed(changed(2, "fixed", 1, false)));
    assert_eq!(held(&s, 2).text, "fixed");
    assert!(held(&s, 2).edited);
    assert_eq!(lobby(&s).rev, 1);
    let s = server(&s, ServerMsg::Changed(changed(2, "", 2, true)));
    assert!(held(&s, 2).deleted);
    // An older state arriving late changes nothing.
    let s2 = server(&s, ServerMsg::Changed(changed(2, "fixed", 1, false)));
    assert!(held(&s2, 2).deleted);
    assert_eq!(seqs(lobby(&s2)), [1, 2, 3], "nothing else moved");
}

#[test]
fn an_edited_message_in_history_is_the_same_message_not_a_restarted_relay() {
    let s = server(
        &in_lobby(),
        joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
    );
    // A page of history with message 2 edited since: same seq, sender and time.
    let page = history(
        lobby_id(),
        vec![
            room_msgs("lobby", 1..=1, "bob").remove(0),
            changed(2, "fixed", 4, false),
            room_msgs("lobby", 3..=3, "bob").remove(0),
        ],
        false,
    );
    let s = server(&s, page);
    assert_eq!(seqs(lobby(&s)), [1, 2, 3]);
    assert_eq!(held(&s, 2).text, "fixed");
    // A message's own revision is no mark for the conversation: changes 1 to 3 (of other
    // messages) may not have reached us.
    assert_eq!(lobby(&s).rev, 0);
}

#[test]
fn a_resume_asks_for_the_changes_after_the_highest_rev_and_pages_through_them() {
    let s = server(
        &in_lobby(),
        joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
    );
    let s = server(&s, ServerMsg::Changed(changed(1, "one!", 5, false)));
    let s = drop_connection(&s);
    let (s, _) = welcome(&s, "t2");
    let (s, frames) = server_sent(
        &s,
        joined("lobby", &["alice", "bob"], room_msgs("lobby", 4..=4, "bob")),
    );
    assert!(frames.contains(&ClientFrame::new(ClientMsg::Changes {
        room: Some("lobby".into()),
        with: None,
        rev: 5
    })));
    let (s, frames) = server_sent(
        &s,
        ServerMsg::Changes {
            conversation: lobby_id(),
            messages: vec![changed(3, "", 6, true)],
            more: true,
        },
    );
    assert!(held(&s, 3).deleted);
    assert_eq!(
        frames,
        [ClientFrame::new(ClientMsg::Changes {
            room: Some("lobby".into()),
            with: None,
            rev: 6
        })]
    );
}
