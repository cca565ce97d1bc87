//! Conversations: unread counts, members, typing, private conversations, merge by `seq`.

use super::*;

#[test]
fn unread_counts_only_others_in_conversations_not_open() {
    let s = in_lobby();
    let s = reduce(&s, Action::Join("dev".into()));
    let s = server(&s, joined("dev", &["alice"], vec![]));
    assert_eq!(s.open, Some(ConvKey::Room("dev".into())));
    let s = message(&s, room_msg("lobby", 1, "bob", "one", None));
    let s = message(&s, room_msg("lobby", 2, "bob", "two", None));
    let s = message(&s, room_msg("dev", 1, "bob", "here", None));
    assert_eq!(lobby(&s).unread, 2);
    assert_eq!(s.conversations[&ConvKey::Room("dev".into())].unread, 0);
    assert_eq!(s.total_unread(), 2);
    let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
    assert_eq!(lobby(&s).unread, 0);
}

#[test]
fn presence_updates_the_members_of_that_room() {
    let s = in_lobby();
    let s = server(
        &s,
        ServerMsg::Presence {
            room: "lobby".into(),
            name: "Carol".into(),
            online: true,
        },
    );
    assert_eq!(lobby(&s).members, ["alice", "bob", "Carol"]);
    let (s, sent) = server_sent(
        &s,
        ServerMsg::Presence {
            room: "lobby".into(),
            name: "bob".into(),
            online: false,
        },
    );
    assert_eq!(lobby(&s).members, ["alice", "Carol"]);
    assert_eq!(sent, vec![ClientFrame::new(ClientMsg::Users)]);
    // Another room's presence changes nothing here.
    let s2 = server(
        &s,
        ServerMsg::Presence {
            room: "elsewhere".into(),
            name: "dave".into(),
            online: true,
        },
    );
    assert!(Rc::ptr_eq(&s, &s2));
}

#[test]
fn a_big_room_shows_its_count_then_every_name_when_small_again() {
    let s = in_lobby();
    let count = |count, members: Option<&[&str]>| ServerMsg::Members {
        room: "lobby".into(),
        count,
        members: members.map(|m| m.iter().map(|&n| n.to_owned()).collect()),
    };
    let (s, sent) = server_sent(&s, count(5000, None));
    assert_eq!(lobby(&s).member_total(), 5000);
    assert_eq!(lobby(&s).members, ["alice", "bob"], "the names known stay");
    assert!(sent.is_empty(), "a count asks for nothing: {sent:?}");
    let s = server(&s, count(3, Some(&["bob", "alice", "carol"])));
    assert_eq!(lobby(&s).members, ["alice", "bob", "carol"]);
    assert_eq!(lobby(&s).member_total(), 3);
    // Joining again starts from what `joined` says.
    let s = server(&s, count(7000, None));
    let s = server(&s, joined("lobby", &["alice"], vec![]));
    assert_eq!(lobby(&s).member_total(), 1);
}

#[test]
fn typing_shows_then_expires() {
    let s = in_lobby();
    let key = ConvKey::Room("lobby".into());
    let bob_types = |now_ms| Action::Server {
        msg: ServerMsg::Typing {
            target: Target::Room {
                room: "lobby".into(),
            },
            name: "bob".into(),
        },
        now_ms,
    };
    let s = reduce(&s, bob_types(10_000));
    assert_eq!(s.typing_text(&key), "bob is typing…");
    let s = reduce(&s, Action::Tick(12_000));
    assert_eq!(s.typing_text(&key), "bob is typing…");
    let s = reduce(&s, Action::Tick(13_000));
    assert_eq!(s.typing_text(&key), "");
    // A message from the typist ends the notice at once.
    let s = reduce(&s, bob_types(20_000));
    let s = message(&s, room_msg("lobby", 1, "bob", "done", None));
    assert_eq!(s.typing_text(&key), "");
}

#[test]
fn dm_correspondent_is_the_other_side() {
    let s = alice();
    // Bob writes to us: the correspondent is the sender.
    let s = message(&s, dm_msg("alice", 1, "Bob", "hey", None));
    let key = ConvKey::dm("bob");
    assert_eq!(s.conversations[&key].title, "Bob");
    assert_eq!(s.conversations[&key].unread, 1);
    // Our own copy of a dm to bob: the correspondent is the recipient, same conversation.
    let s = reduce(&s, Action::Open(key.clone()));
    let (s, cid, sent) = send_sent(&s, key.clone(), "hello");
    assert_eq!(
        sent,
        vec![ClientFrame::with_cid(
            ClientMsg::Dm {
                to: "Bob".into(),
                text: "hello".into(),
                mid: Some(mid_for(&cid)),
                reply: None,
            },
            cid.clone()
        )]
    );
    let s = message(&s, dm_msg("Bob", 2, "alice", "hello", Some(&cid)));
    assert_eq!(s.conversations.len(), 1);
    let conv = &s.conversations[&key];
    assert_eq!(conv.messages.len(), 2);
    assert!(conv.messages.iter().all(|m| m.delivery == Delivery::Sent));
    assert_eq!(conv.unread, 0);
    // Typing to us from bob lands in that conversation.
    let s = server(
        &s,
        ServerMsg::Typing {
            target: Target::User { to: "alice".into() },
            name: "Bob".into(),
        },
    );
    assert_eq!(s.typing_text(&key), "Bob is typing…");
}

#[test]
fn opening_a_dm_with_a_user_creates_it() {
    let s = reduce(&alice(), Action::OpenDm("carol".into()));
    assert_eq!(s.open, Some(ConvKey::dm("carol")));
    assert!(s.can_send(&ConvKey::dm("carol")));
    let s2 = reduce(&s, Action::OpenDm("ALICE".into()));
    assert!(Rc::ptr_eq(&s, &s2), "no conversation with ourselves");
}

#[test]
fn repeated_seq_is_ignored() {
    let s = in_lobby();
    let s = message(&s, room_msg("lobby", 1, "bob", "once", None));
    let s2 = message(&s, room_msg("lobby", 1, "bob", "once", None));
    assert!(Rc::ptr_eq(&s, &s2), "nothing changed, same Rc");
    // A history overlapping what we hold adds only what is new, in seq order.
    let s3 = server(
        &s2,
        joined(
            "lobby",
            &["alice", "bob"],
            vec![
                room_msg("lobby", 1, "bob", "once", None),
                room_msg("lobby", 3, "bob", "three", None),
                room_msg("lobby", 2, "bob", "two", None),
            ],
        ),
    );
    let seqs: Vec<_> = lobby(&s3).messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
    // The same seq in another conversation is a different message.
    let s4 = message(&s3, dm_msg("alice", 1, "bob", "dm", None));
    assert_eq!(s4.conversations[&ConvKey::dm("bob")].messages.len(), 1);
}

#[test]
fn a_relay_that_lost_its_history_is_followed() {
    let s = in_lobby();
    let s = message(&s, room_msg("lobby", 1, "bob", "old 1", None));
    let s = message(&s, room_msg("lobby", 2, "bob", "old 2", None));
    let (s, cid) = send(&s, ConvKey::Room("lobby".into()), "in flight");
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 1,
            now_ms: 0,
        },
    );
    // The relay restarted: the re-join's history is empty.
    let s = server(&s, joined("lobby", &["alice"], vec![]));
    assert_eq!(
        lobby(&s).messages.len(),
        1,
        "only our unconfirmed message is left"
    );
    // Counting starts again at 1; our message can still be confirmed.
    let mut fresh = room_msg("lobby", 1, "alice", "in flight", Some(&cid));
    fresh.ts += 99;
    let s = message(&s, fresh);
    assert_eq!(lobby(&s).messages.len(), 1);
    assert_eq!(lobby(&s).messages[0].delivery, Delivery::Sent);
    // A DM whose seq we hold for another message starts the pair's count again.
    let s = message(&s, dm_msg("alice", 1, "bob", "a", None));
    let s = message(&s, dm_msg("alice", 2, "bob", "b", None));
    let mut again = dm_msg("alice", 1, "bob", "new a", None);
    again.ts += 1_000;
    let s = message(&s, again);
    let texts: Vec<_> = s.conversations[&ConvKey::dm("bob")]
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["new a"]);
}

#[test]
fn an_old_cid_from_an_earlier_page_does_not_confirm() {
    let s = in_lobby();
    let s = message(&s, room_msg("lobby", 5, "bob", "x", None));
    let (s, cid) = send(&s, ConvKey::Room("lobby".into()), "new");
    // History from before (seq 3 < 5) with the same cid from an earlier page load.
    let s = server(
        &s,
        joined(
            "lobby",
            &["alice", "bob"],
            vec![room_msg("lobby", 3, "alice", "old", Some(&cid))],
        ),
    );
    let last = lobby(&s).messages.last().unwrap();
    assert_eq!(
        (last.text.as_str(), &last.delivery),
        ("new", &Delivery::Pending)
    );
}

#[test]
fn leave_removes_the_room_and_sends_leave() {
    let s = in_lobby();
    let (s, sent) = act(&s, Action::Leave("lobby".into()));
    assert!(s.conversations.is_empty());
    assert_eq!(s.open, None);
    assert_eq!(
        sent[0],
        ClientFrame::new(ClientMsg::Leave {
            room: "lobby".into()
        })
    );
    // Messages for a room we left are dropped.
    let s2 = message(&s, room_msg("lobby", 9, "bob", "x", None));
    assert!(Rc::ptr_eq(&s, &s2));
}

#[test]
fn a_message_shows_once_however_often_it_comes() {
    let s = in_lobby();
    let s = reduce(&s, Action::Join("dev".into()));
    let s = server(&s, joined("dev", &["alice"], vec![]));
    let dm = dm_msg("alice", 7, "bob", "are you there?", None);
    let s = message(&s, dm.clone());
    // The relay delivers it again after the next welcome (we had not acknowledged it).
    let s = drop_connection(&s);
    let (s, _) = welcome(&s, "t2");
    let s = message(&s, dm.clone());
    let s = server(
        &s,
        history(
            ConversationId::With { with: "bob".into() },
            vec![dm_msg("bob", 6, "alice", "hi", None), dm],
            false,
        ),
    );
    let bob = &s.conversations[&ConvKey::dm("bob")];
    assert_eq!(seqs(bob), [6, 7]);
    assert_eq!(bob.unread, 1, "counted once");
    // Rooms too: the same seq from the live stream and from history.
    let s = server(
        &s,
        joined("lobby", &["alice"], room_msgs("lobby", 1..=2, "bob")),
    );
    let s = message(&s, room_msg("lobby", 2, "bob", "m2", None));
    let s = server(
        &s,
        history(lobby_id(), room_msgs("lobby", 1..=2, "bob"), false),
    );
    assert_eq!(seqs(lobby(&s)), [1, 2]);
    assert_eq!(lobby(&s).unread, 2);
}

#[test]
fn history_answers_merge_by_seq_around_live_messages() {
    let s = in_lobby();
    let s = message(&s, room_msg("lobby", 10, "bob", "live", None));
    let lobby_talk = || lobby_id();
    let s = server(
        &s,
        history(lobby_talk(), room_msgs("lobby", 5..=9, "bob"), true),
    );
    assert_eq!(seqs(lobby(&s)), [5, 6, 7, 8, 9, 10]);
    let mut shuffled = room_msgs("lobby", 3..=6, "bob");
    shuffled.reverse();
    let s = server(&s, history(lobby_talk(), shuffled, false));
    assert_eq!(seqs(lobby(&s)), [3, 4, 5, 6, 7, 8, 9, 10]);
    assert!(
        !lobby(&s).has_older(),
        "the relay said there is nothing older"
    );
    assert_eq!(lobby(&s).unread, 0, "on screen");
}

#[test]
fn the_keyboard_moves_through_conversations_in_the_sidebars_order() {
    let s = in_lobby();
    let s = reduce(&s, Action::Join("dev".into()));
    let s = server(&s, joined("dev", &["alice"], vec![]));
    let s = reduce(&s, Action::OpenDm("bob".into()));
    let lobby = ConvKey::Room("lobby".into());
    let dev = ConvKey::Room("dev".into());
    assert_eq!(
        s.conversation_order(),
        [dev.clone(), lobby.clone(), ConvKey::dm("bob")]
    );
    assert_eq!(s.neighbour(1, false), Some(dev.clone()), "wraps around");
    assert_eq!(s.neighbour(-1, false), Some(lobby.clone()));
    // The next unread one, either way; none when only the open one has unread.
    let s = reduce(&s, Action::Open(dev.clone()));
    assert_eq!(s.neighbour(1, true), None);
    let s = message(&s, room_msg("lobby", 1, "bob", "one", None));
    assert_eq!(s.neighbour(1, true), Some(lobby.clone()));
    assert_eq!(s.neighbour(-1, true), Some(lobby));
}

#[test]
fn coming_back_to_a_conversation_marks_where_reading_stopped() {
    let s = in_lobby();
    let s = message(&s, room_msg("lobby", 1, "bob", "read", None));
    let s = reduce(&s, Action::OpenDm("bob".into()));
    let s = message(&s, room_msg("lobby", 2, "bob", "new", None));
    let s = message(&s, room_msg("lobby", 3, "bob", "newer", None));
    let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
    assert_eq!(lobby(&s).divider, Some(1));
    assert_eq!(lobby(&s).read, 3);
    // Read meanwhile: no divider next time.
    let s = reduce(&s, Action::OpenDm("bob".into()));
    let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
    assert_eq!(lobby(&s).divider, None);
}

#[test]
fn reading_is_told_to_our_other_connections_and_taken_from_them() {
    let s = in_lobby();
    let s = reduce(&s, Action::OpenDm("bob".into()));
    let s = message(&s, room_msg("lobby", 1, "bob", "one", None));
    let s = message(&s, room_msg("lobby", 2, "bob", "two", None));
    let s = message(&s, room_msg("lobby", 3, "bob", "three", None));
    assert_eq!(lobby(&s).unread, 3);
    // Read up to 2 elsewhere: one left here.
    let read = |seq| ServerMsg::Read {
        conversation: lobby_id(),
        seq,
    };
    let s = server(&s, read(2));
    assert_eq!(lobby(&s).unread, 1);
    assert!(s.due_reads().is_empty(), "not told back");
    let s = server(&s, read(3));
    assert_eq!(lobby(&s).unread, 0);
    // Read here: told once.
    let s = message(&s, room_msg("lobby", 4, "bob", "four", None));
    let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
    let due = s.due_reads();
    assert_eq!(due, vec![(ConvKey::Room("lobby".into()), 4)]);
    let (s, sent) = act(&s, Action::SendReads(due));
    assert_eq!(
        sent,
        vec![ClientFrame::new(ClientMsg::Read {
            room: Some("lobby".into()),
            with: None,
            seq: 4
        })]
    );
    assert!(s.due_reads().is_empty());
}

#[test]
fn a_message_read_elsewhere_before_it_came_is_not_unread() {
    let s = in_lobby();
    let s = reduce(&s, Action::OpenDm("bob".into()));
    let s = server(
        &s,
        ServerMsg::Read {
            conversation: lobby_id(),
            seq: 1,
        },
    );
    let s = message(&s, room_msg("lobby", 1, "bob", "read already", None));
    assert_eq!(lobby(&s).unread, 0);
    let s = message(&s, room_msg("lobby", 2, "bob", "new", None));
    assert_eq!(lobby(&s).unread, 1);
}
