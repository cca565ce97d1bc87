//! Idempotent sends: every message of ours has a `mid`, the same on every resend and across a
//! reload, and the relay's copy with it confirms the pending message, live or in a catch-up.

use super::*;

fn say(text: &str, cid: &str, mid: &str) -> ClientFrame {
    ClientFrame::with_cid(
        ClientMsg::Say {
            room: "lobby".into(),
            text: text.into(),
            mid: Some(mid.into()),
            reply: None,
        },
        cid,
    )
}

/// The mids of the say and dm frames among `frames`.
fn mids(frames: &[ClientFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match &f.msg {
            ClientMsg::Say { mid, .. } | ClientMsg::Dm { mid, .. } => mid.clone(),
            _ => None,
        })
        .collect()
}

/// With `mid`, as the relay stores and sends it back.
fn with_mid(m: ChatMessage, mid: &str) -> ChatMessage {
    ChatMessage {
        mid: Some(mid.into()),
        ..m
    }
}

/// Drops the connection, reconnects and is welcomed again: the frames the welcome caused.
fn reconnect(s: &Rc<State>, token: &str) -> (Rc<State>, Vec<ClientFrame>) {
    welcome(&drop_connection(s), token)
}

fn lobby_key() -> ConvKey {
    ConvKey::Room("lobby".into())
}

#[test]
fn every_message_has_its_own_mid_and_keeps_it_on_every_resend() {
    let (s, one, sent) = send_sent(&in_lobby(), lobby_key(), "one");
    let first = mid_for(&one);
    assert_eq!(sent, vec![say("one", &one, &first)]);
    assert!(first.len() >= 16 && first.chars().all(|c| c.is_ascii_hexdigit()));
    let (s, two, sent) = send_sent(&s, lobby_key(), "two");
    let second = mid_for(&two);
    assert_ne!(first, second);
    assert_eq!(mids(&sent), vec![second.clone()]);
    assert_eq!(lobby(&s).messages[0].mid.as_deref(), Some(first.as_str()));

    // Twice lost with the connection: each resend carries the message's own mid again.
    let mut s = s;
    for token in ["t2", "t3"] {
        let (next, _) = reconnect(&s, token);
        let next = server(&next, joined("lobby", &["alice", "bob"], vec![]));
        let (next, sent) = act(&next, Action::SendQueued(next.due_sends()));
        assert_eq!(
            sent,
            vec![say("one", &one, &first), say("two", &two, &second)]
        );
        s = next;
    }
    // The relay stored "one" the first time: it answers a repeat with the original (its seq,
    // this frame's cid, the mid), which confirms it.
    let s = message(
        &s,
        with_mid(room_msg("lobby", 1, "alice", "one", Some(&one)), &first),
    );
    let s = message(
        &s,
        with_mid(room_msg("lobby", 2, "alice", "two", Some("other")), &second),
    );
    let delivered: Vec<_> = lobby(&s).messages.iter().map(|m| m.seq).collect();
    assert_eq!(delivered, vec![Some(1), Some(2)]);
    assert!(s.due_sends().is_empty());
}

/// Alice in lobby, one message sent and not confirmed ("in flight"), one to bob typed while
/// offline; then the page is reloaded: the resumed state of a new page (another seed and cid
/// prefix), and the two mids.
fn reloaded_with_pending() -> (Rc<State>, String, String) {
    let s = reduce(&in_lobby(), Action::OpenDm("bob".into()));
    let (s, lobby_cid) = send(&s, lobby_key(), "in flight");
    let s = drop_connection(&s);
    let (s, dm_cid, sent) = send_sent(&s, ConvKey::dm("bob"), "typed offline");
    assert!(sent.is_empty());
    let kept = Snapshot::of(&s).unwrap();
    let pending: Vec<_> = kept.marks.iter().map(|m| m.pending.len()).collect();
    assert_eq!(
        pending,
        vec![1, 1],
        "each conversation keeps its pending message"
    );
    let snapshot = Snapshot::parse_session(&kept.session_json())
        .unwrap()
        .with_user_json(Some(&kept.user_json()));
    let page = Rc::new(State {
        mid_seed: "0a1b2c3d4e5f6071".into(),
        cid_prefix: "p2.".into(),
        ..State::default()
    });
    let s = reduce(&page, Action::Resume(snapshot));
    (s, mid_for(&lobby_cid), mid_for(&dm_cid))
}

#[test]
fn a_pending_message_keeps_its_mid_across_a_reload() {
    let (s, lobby_mid, dm_mid) = reloaded_with_pending();
    // Shown as pending while signing in, and kept again by the snapshots once signed in.
    assert_eq!(lobby(&s).messages[0].delivery, Delivery::Pending);
    let (s, _) = welcome(&s, "t2");
    let again = Snapshot::of(&s).unwrap();
    assert_eq!(again.marks[0].pending[0].mid, lobby_mid);
    assert_eq!(again.marks[1].pending[0].mid, dm_mid);
    let s = server(&s, joined("lobby", &["alice", "bob"], vec![]));
    let s = server(
        &s,
        history(ConversationId::With { with: "bob".into() }, vec![], false),
    );
    let (s, sent) = act(&s, Action::SendQueued(s.due_sends()));
    // Under this page's cids, with the mids they had.
    let cids: Vec<_> = sent.iter().filter_map(|f| f.cid.clone()).collect();
    assert_eq!(cids, vec!["p2.c1", "p2.c2"]);
    assert_eq!(mids(&sent), vec![lobby_mid.clone(), dm_mid]);
    // This page's own messages get this page's seed.
    let (_, cid, sent) = send_sent(&s, lobby_key(), "new");
    assert_eq!(cid, "p2.c3");
    assert_eq!(mids(&sent), vec!["0a1b2c3d4e5f60713".to_owned()]);
}

#[test]
fn a_catch_up_confirms_a_pending_message_by_its_mid() {
    let (s, lobby_mid, dm_mid) = reloaded_with_pending();
    let (s, _) = welcome(&s, "t2");
    // The relay had stored both before the reload: they come back in the catch-up, with the
    // earlier page's cids (unknown to this page) and their mids.
    let stored = with_mid(
        room_msg("lobby", 1, "alice", "in flight", Some("c1")),
        &lobby_mid,
    );
    // Neither bob's message with our mid nor ours with another mid confirms anything.
    let bobs = with_mid(room_msg("lobby", 2, "bob", "in flight", None), &lobby_mid);
    let other = with_mid(
        room_msg("lobby", 3, "alice", "in flight", Some("p2.c1")),
        "x",
    );
    let (s, sent) = server_sent(
        &s,
        joined("lobby", &["alice", "bob"], vec![stored, bobs, other]),
    );
    assert!(mids(&sent).is_empty());
    let lobby_state: Vec<_> = lobby(&s)
        .messages
        .iter()
        .map(|m| (m.seq, m.delivery.clone()))
        .collect();
    assert_eq!(
        lobby_state,
        vec![
            (Some(1), Delivery::Sent),
            (Some(2), Delivery::Sent),
            (Some(3), Delivery::Sent),
        ]
    );
    let s = server(
        &s,
        history(
            ConversationId::With { with: "bob".into() },
            vec![with_mid(
                dm_msg("bob", 1, "alice", "typed offline", None),
                &dm_mid,
            )],
            false,
        ),
    );
    let dm = &s.conversations[&ConvKey::dm("bob")];
    assert_eq!(dm.messages.len(), 1);
    assert_eq!(dm.messages[0].delivery, Delivery::Sent);
    assert!(s.due_sends().is_empty(), "nothing is sent again");
    assert!(
        Snapshot::of(&s)
            .unwrap()
            .marks
            .iter()
            .all(|m| m.pending.is_empty())
    );
}
