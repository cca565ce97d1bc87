//! Our own messages, typing notices and acknowledgements: what goes out and when.

use super::*;

#[test]
fn own_message_is_pending_until_its_cid_comes_back() {
    let s = in_lobby();
    let key = ConvKey::Room("lobby".into());
    let (s, cid, sent) = send_sent(&s, key, "hi");
    assert_eq!(cid, "c1");
    assert_eq!(s.next_cid(), "c2");
    let m = &lobby(&s).messages[0];
    assert_eq!((m.delivery.clone(), m.seq), (Delivery::Pending, None));
    assert_eq!(
        sent,
        vec![ClientFrame::with_cid(
            ClientMsg::Say {
                room: "lobby".into(),
                text: "hi".into(),
                mid: Some(mid_for("c1")),
                reply: None,
            },
            "c1"
        )]
    );
    // Someone else's message with the same cid confirms nothing.
    let s = message(&s, room_msg("lobby", 1, "bob", "yo", Some("c1")));
    assert_eq!(lobby(&s).messages.len(), 2);
    assert_eq!(lobby(&s).messages[1].delivery, Delivery::Pending);
    let s = message(&s, room_msg("lobby", 2, "alice", "hi", Some("c1")));
    let conv = lobby(&s);
    assert_eq!(conv.messages.len(), 2);
    assert_eq!(conv.messages[1].delivery, Delivery::Sent);
    assert_eq!(conv.messages[1].seq, Some(2));
}

#[test]
fn error_with_cid_marks_the_message_failed() {
    let (s, cid) = send(&in_lobby(), ConvKey::Room("lobby".into()), "spam");
    let s = server(
        &s,
        ServerMsg::error(ErrorCode::RateLimited, "slow down", Some(cid)),
    );
    assert!(
        matches!(lobby(&s).messages[0].delivery, Delivery::Failed(ref why) if why.contains("slow down"))
    );
    assert!(s.notice.is_none());
}

#[test]
fn messages_typed_offline_wait_and_go_after_the_reconnect_in_order() {
    let s = in_lobby();
    let key = ConvKey::Room("lobby".into());
    let (s, in_flight) = send(&s, key.clone(), "in flight");
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 2_000,
            now_ms: 1_000,
        },
    );
    // Still pending, not failed: it may yet be confirmed by the re-join's history.
    assert_eq!(lobby(&s).messages[0].delivery, Delivery::Pending);
    assert!(s.can_send(&key) && !s.ready(&key));
    let (s, offline, sent) = send_sent(&s, key.clone(), "typed offline");
    assert!(sent.is_empty(), "nothing goes while offline");
    assert_eq!(lobby(&s).messages[1].delivery, Delivery::Pending);
    let s = reduce(&s, Action::Connected);
    let s = server(
        &s,
        ServerMsg::Welcome {
            name: "alice".into(),
            token: "t2".into(),
            operator: false,
            attached: false,
            connections: None,
        },
    );
    assert!(s.due_sends().is_empty(), "not before the room is re-joined");
    // The re-join's history does not have the message in flight: it was lost with the
    // connection, so it goes again, before the one typed offline.
    let s = server(
        &s,
        joined(
            "lobby",
            &["alice", "bob"],
            vec![room_msg("lobby", 1, "bob", "meanwhile", None)],
        ),
    );
    let due = s.due_sends();
    assert_eq!(
        due,
        vec![
            (key.clone(), in_flight.clone()),
            (key.clone(), offline.clone())
        ]
    );
    let (s, sent) = act(&s, Action::SendQueued(due));
    let say = |text: &str, cid: &str| {
        ClientFrame::with_cid(
            ClientMsg::Say {
                room: "lobby".into(),
                text: text.into(),
                // The same mid on every send of a message.
                mid: Some(mid_for(cid)),
                reply: None,
            },
            cid,
        )
    };
    assert_eq!(
        sent,
        vec![say("in flight", &in_flight), say("typed offline", &offline)]
    );
    assert!(s.due_sends().is_empty());
    // Sent live now that the room is back.
    let (s, live, sent) = send_sent(&s, key, "live");
    assert_eq!(sent, vec![say("live", &live)]);
    let s = message(
        &s,
        room_msg("lobby", 2, "alice", "in flight", Some(&in_flight)),
    );
    let s = message(
        &s,
        room_msg("lobby", 3, "alice", "typed offline", Some(&offline)),
    );
    let texts: Vec<_> = lobby(&s)
        .messages
        .iter()
        .map(|m| (m.text.as_str(), m.delivery == Delivery::Sent))
        .collect();
    assert_eq!(
        texts,
        [
            ("meanwhile", true),
            ("in flight", true),
            ("typed offline", true),
            ("live", false)
        ]
    );
}

#[test]
fn typing_is_sent_at_most_every_two_seconds() {
    let s = in_lobby();
    let key = ConvKey::Room("lobby".into());
    let typed = |now_ms| Action::Typed {
        key: key.clone(),
        now_ms,
    };
    let (s, sent) = act(&s, typed(10_000));
    assert_eq!(sent.len(), 1);
    let (s2, sent) = act(&s, typed(11_000));
    assert!(Rc::ptr_eq(&s, &s2));
    assert!(sent.is_empty());
    let (_, sent) = act(&s2, typed(12_000));
    assert_eq!(
        sent,
        vec![ClientFrame::new(ClientMsg::Typing {
            room: Some("lobby".into()),
            to: None
        })]
    );
}

#[test]
fn typing_right_after_sending_is_sent_at_once() {
    let s = in_lobby();
    let key = ConvKey::Room("lobby".into());
    let typed = |now_ms| Action::Typed {
        key: key.clone(),
        now_ms,
    };
    let (s, sent) = act(&s, typed(10_000));
    assert_eq!(sent.len(), 1);
    let s = reduce(
        &s,
        Action::Send {
            key: key.clone(),
            cid: "c1".into(),
            text: "hi".into(),
        },
    );
    let (_, sent) = act(&s, typed(10_500));
    assert_eq!(
        sent,
        vec![ClientFrame::new(ClientMsg::Typing {
            room: Some("lobby".into()),
            to: None
        })]
    );
}

#[test]
fn private_messages_are_acknowledged_once_per_conversation() {
    let s = reduce(&alice(), Action::OpenDm("carol".into()));
    // The mailbox, right after welcome.
    let s = message(&s, dm_msg("alice", 7, "Bob", "hi", None));
    let s = message(&s, dm_msg("alice", 8, "Bob", "there?", None));
    let s = message(&s, dm_msg("alice", 3, "carol", "yo", None));
    let due = s.due_acks();
    assert_eq!(
        due,
        vec![(ConvKey::dm("bob"), 8), (ConvKey::dm("carol"), 3)]
    );
    let (s, sent) = act(&s, Action::SendAcks(due));
    let ack = |with: &str, seq| {
        ClientFrame::new(ClientMsg::Ack {
            with: with.into(),
            seq,
        })
    };
    assert_eq!(sent, vec![ack("Bob", 8), ack("carol", 3)]);
    assert!(s.due_acks().is_empty());
    // A repeat needs nothing; a new one is acknowledged; rooms never are.
    let s = message(&s, dm_msg("alice", 8, "Bob", "there?", None));
    assert!(s.due_acks().is_empty());
    let s = message(&s, dm_msg("Bob", 9, "alice", "yes", Some("c9")));
    assert_eq!(s.due_acks(), vec![(ConvKey::dm("bob"), 9)]);
    // Not while offline; after the next welcome the relay is told again.
    let s = drop_connection(&s);
    assert!(s.due_acks().is_empty());
    let (s, _) = welcome(&s, "t2");
    assert_eq!(
        s.due_acks(),
        vec![(ConvKey::dm("bob"), 9), (ConvKey::dm("carol"), 3)]
    );
}

#[test]
fn a_failed_history_request_does_not_hold_messages_back() {
    let s = reduce(&alice(), Action::OpenDm("bob".into()));
    let s = message(&s, dm_msg("bob", 1, "alice", "hi", Some("c1")));
    let s = drop_connection(&s);
    let (s, frames) = welcome(&s, "t2");
    let cid = frames
        .iter()
        .find(|f| matches!(f.msg, ClientMsg::History { .. }))
        .and_then(|f| f.cid.clone())
        .unwrap();
    let (s, _) = send(&s, ConvKey::dm("bob"), "queued");
    assert!(s.due_sends().is_empty());
    let s = server(&s, ServerMsg::error(ErrorCode::Internal, "oops", Some(cid)));
    assert_eq!(s.due_sends().len(), 1);
    assert!(s.notice.is_none());
}

#[test]
fn an_action_sends_its_frames_even_when_nothing_else_changes_and_a_refused_one_sends_none() {
    // Joining a room we are already waiting for changes nothing, but asks again.
    let s = reduce(&alice(), Action::Join("dev".into()));
    let (s2, sent) = act(&s, Action::Join("dev".into()));
    assert!(Rc::ptr_eq(&s, &s2), "same Rc");
    assert_eq!(
        sent,
        vec![ClientFrame::new(ClientMsg::Join {
            room: "dev".into(),
            after: None,
        })]
    );
    // A second "Load older" while the first is in flight is refused, and sends nothing.
    let s = server(
        &in_lobby(),
        ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: room_msgs("lobby", 51..=100, "bob"),
            more: true,
        },
    );
    let key = ConvKey::Room("lobby".into());
    let (s, sent) = act(&s, Action::LoadOlder(key.clone()));
    assert_eq!(sent.len(), 1);
    let (_, sent) = act(&s, Action::LoadOlder(key));
    assert!(sent.is_empty());
    // So is a second `protect` while the first waits for its answer.
    let s = reduce(&alice(), Action::ShowProtect(true));
    let (s, sent) = act(&s, protect(PASSWORD, PASSWORD));
    assert_eq!(sent.len(), 1);
    let (_, sent) = act(&s, protect(PASSWORD, PASSWORD));
    assert!(sent.is_empty());
}
