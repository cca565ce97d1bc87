//! Reconnects and reloads: re-joins, gaps closed by paging back, scrollback.

use super::*;

#[test]
fn reconnect_says_hello_with_token_and_rejoins_every_room() {
    let s = in_lobby();
    let s = reduce(&s, Action::Join("dev".into()));
    let s = server(&s, joined("dev", &["alice"], vec![]));
    let (s, _) = send(&s, ConvKey::Room("dev".into()), "in flight");
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 5_000,
            now_ms: 1_000,
        },
    );
    assert_eq!(
        s.status(),
        ("reconnecting", "reconnecting in 4 s".to_owned())
    );
    assert!(s.conversations[&ConvKey::Room("dev".into())].messages[0].unconfirmed());
    let s = reduce(&s, Action::Connecting { attempt: 1 });
    assert_eq!(s.status().0, "reconnecting");
    let (s, sent) = act(&s, Action::Connected);
    assert_eq!(sent, hello_frames(Some("t1"), None));
    let welcome = Action::Server {
        msg: ServerMsg::Welcome {
            name: "alice".into(),
            token: "t2".into(),
            operator: false,
            attached: false,
            connections: None,
        },
        now_ms: 6_000,
    };
    let (s, sent) = act(&s, welcome);
    assert_eq!(s.token.as_deref(), Some("t2"));
    let join = |room: &str| {
        ClientFrame::new(ClientMsg::Join {
            room: room.into(),
            after: None,
        })
    };
    assert_eq!(
        sent,
        vec![
            join("dev"),
            join("lobby"),
            ClientFrame::new(ClientMsg::Rooms),
            ClientFrame::new(ClientMsg::Users)
        ]
    );
    // Nothing goes out until the re-join is answered.
    assert!(!s.ready(&ConvKey::Room("lobby".into())));
    // The re-join's history confirms the message that was in flight and brings what was
    // missed.
    let s = server(
        &s,
        joined(
            "dev",
            &["alice", "bob"],
            vec![
                room_msg("dev", 1, "alice", "in flight", Some("c1")),
                room_msg("dev", 2, "bob", "missed", None),
            ],
        ),
    );
    let dev = &s.conversations[&ConvKey::Room("dev".into())];
    assert_eq!(dev.messages.len(), 2);
    assert!(dev.messages.iter().all(|m| m.delivery == Delivery::Sent));
    assert!(s.ready(&ConvKey::Room("dev".into())));
    assert!(s.due_sends().is_empty(), "confirmed, so not sent again");
}

#[test]
fn missed_messages_in_a_rejoined_room_count_as_unread() {
    let s = in_lobby();
    let s = reduce(&s, Action::OpenDm("bob".into()));
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 1,
            now_ms: 0,
        },
    );
    let s = server(
        &s,
        joined(
            "lobby",
            &["alice"],
            vec![room_msg("lobby", 1, "bob", "x", None)],
        ),
    );
    assert_eq!(lobby(&s).unread, 1);
}

#[test]
fn reconnect_rejoins_after_the_last_seq_and_pages_back_through_a_long_gap() {
    let s = in_lobby();
    let s = server(
        &s,
        joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
    );
    let s = reduce(&s, Action::OpenDm("carol".into())); // lobby is not on screen
    let s = drop_connection(&s);
    let (s, frames) = welcome(&s, "t2");
    assert_eq!(
        frames[0],
        ClientFrame::new(ClientMsg::Join {
            room: "lobby".into(),
            after: Some(3)
        })
    );
    // 200 were missed: the relay replays the newest 100 and says there are more.
    let replay = ServerMsg::Joined {
        room: "lobby".into(),
        members: vec!["alice".into(), "bob".into()],
        history: room_msgs("lobby", 104..=203, "bob"),
        more: true,
    };
    let (s, frames) = server_sent(&s, replay);
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[1].msg,
        history_frame(Some("lobby"), None, Some(104), 100)
    );
    // And the changes to the messages it held, after the highest revision it saw.
    assert_eq!(
        frames[2].msg,
        ClientMsg::Changes {
            room: Some("lobby".into()),
            with: None,
            rev: 0
        }
    );
    assert!(frames[1].cid.is_some());
    assert!(!s.ready(&ConvKey::Room("lobby".into())), "closing the gap");
    let page = history(lobby_id(), room_msgs("lobby", 4..=103, "bob"), true);
    let (s, sent) = server_sent(&s, page);
    assert!(sent.is_empty(), "gap closed");
    let conv = lobby(&s);
    assert_eq!(seqs(conv), (1..=203).collect::<Vec<_>>());
    assert_eq!(conv.unread, 200);
    assert_eq!(conv.seen, 203);
    assert!(s.ready(&ConvKey::Room("lobby".into())));
    // Nothing missed: an empty replay changes nothing.
    let s = drop_connection(&s);
    let (s, frames) = welcome(&s, "t3");
    assert!(frames.contains(&ClientFrame::new(ClientMsg::Join {
        room: "lobby".into(),
        after: Some(203)
    })));
    let s = server(&s, joined("lobby", &["alice", "bob"], vec![]));
    assert_eq!(seqs(lobby(&s)).len(), 203);
}

#[test]
fn gap_paging_is_bounded() {
    let s = in_lobby();
    let s = message(&s, room_msg("lobby", 1, "bob", "one", None));
    let s = drop_connection(&s);
    let (mut s, _) = welcome(&s, "t2");
    let mut top = 100_000;
    let mut msg = ServerMsg::Joined {
        room: "lobby".into(),
        members: vec!["alice".into()],
        history: room_msgs("lobby", top - 99..=top, "bob"),
        more: true,
    };
    let mut requests = 0;
    loop {
        let sent;
        (s, sent) = server_sent(&s, msg);
        let asked: Vec<_> = sent
            .into_iter()
            .filter(|f| matches!(f.msg, ClientMsg::History { .. }))
            .collect();
        if asked.is_empty() {
            break;
        }
        requests += 1;
        top -= 100;
        msg = history(lobby_id(), room_msgs("lobby", top - 99..=top, "bob"), true);
    }
    assert_eq!(requests, MAX_GAP_PAGES);
    assert!(s.ready(&ConvKey::Room("lobby".into())));
    assert!(lobby(&s).has_older(), "the rest is left to scrollback");
}

#[test]
fn load_older_asks_for_the_page_before_the_oldest_shown() {
    let s = in_lobby();
    let key = ConvKey::Room("lobby".into());
    let first = ServerMsg::Joined {
        room: "lobby".into(),
        members: vec!["alice".into()],
        history: room_msgs("lobby", 51..=100, "bob"),
        more: true,
    };
    let s = server(&s, first);
    assert!(lobby(&s).has_older());
    let (s, frames) = act(&s, Action::LoadOlder(key.clone()));
    assert!(lobby(&s).loading_older());
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0].msg,
        history_frame(Some("lobby"), None, Some(51), 50)
    );
    // One request at a time.
    let s2 = reduce(&s, Action::LoadOlder(key.clone()));
    assert!(Rc::ptr_eq(&s, &s2));
    let s = server(
        &s,
        history(lobby_id(), room_msgs("lobby", 1..=50, "bob"), false),
    );
    assert_eq!(seqs(lobby(&s)), (1..=100).collect::<Vec<_>>());
    assert!(!lobby(&s).has_older() && !lobby(&s).loading_older());
    assert_eq!(lobby(&s).unread, 0);
    let s2 = reduce(&s, Action::LoadOlder(key));
    assert!(Rc::ptr_eq(&s, &s2), "nothing older");
    // A conversation we hold from seq 1 has nothing older even before the relay says so.
    let s = server(
        &s,
        joined("dev", &["alice"], room_msgs("dev", 1..=3, "bob")),
    );
    assert!(!s.conversations[&ConvKey::Room("dev".into())].has_older());
}

#[test]
fn unread_counts_survive_a_reload() {
    // Before: alice in lobby (2 unread) and dev (open), a private conversation with bob
    // (1 unread).
    let s = in_lobby();
    let s = reduce(&s, Action::Join("dev".into()));
    let s = server(
        &s,
        joined("dev", &["alice"], room_msgs("dev", 1..=5, "bob")),
    );
    let s = message(&s, room_msg("lobby", 1, "bob", "one", None));
    let s = message(&s, room_msg("lobby", 2, "bob", "two", None));
    let s = message(&s, dm_msg("alice", 1, "Bob", "psst", None));
    assert_eq!((lobby(&s).unread, s.total_unread()), (2, 3));
    let kept = Snapshot::of(&s).unwrap();
    let (session, user) = (kept.session_json(), kept.user_json());

    // The reload: a new page reads the storage and signs in by itself.
    let snapshot = Snapshot::parse_session(&session)
        .unwrap()
        .with_user_json(Some(&user));
    let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
    assert!(s.wants_connection() && s.me.is_none());
    assert_eq!(s.total_unread(), 3, "shown while signing in");
    let (s, sent) = act(&s, Action::Connected);
    assert_eq!(sent, hello_frames(Some("t1"), None));
    let (s, frames) = welcome(&s, "t2");
    let msgs: Vec<_> = frames.into_iter().map(|f| f.msg).collect();
    assert_eq!(
        msgs,
        vec![
            ClientMsg::Join {
                room: "dev".into(),
                after: None
            },
            ClientMsg::Join {
                room: "lobby".into(),
                after: None
            },
            history_frame(None, Some("Bob"), None, 100),
            ClientMsg::Rooms,
            ClientMsg::Users,
        ]
    );
    // The newest messages come back; only those after the reload's `seen` are news.
    let s = server(
        &s,
        joined("dev", &["alice"], room_msgs("dev", 1..=5, "bob")),
    );
    let s = server(
        &s,
        joined("lobby", &["alice", "bob"], room_msgs("lobby", 1..=3, "bob")),
    );
    let s = server(
        &s,
        history(
            ConversationId::With { with: "Bob".into() },
            vec![dm_msg("alice", 1, "Bob", "psst", None)],
            false,
        ),
    );
    assert_eq!(s.open, Some(ConvKey::Room("dev".into())));
    assert_eq!(lobby(&s).unread, 3, "2 from before the reload and 1 new");
    assert_eq!(s.conversations[&ConvKey::dm("bob")].unread, 1);
    assert_eq!(s.conversations[&ConvKey::Room("dev".into())].unread, 0);
    assert!(s.ready(&ConvKey::dm("bob")));
    // Reading clears it, and that is kept too.
    let s = reduce(&s, Action::Open(ConvKey::Room("lobby".into())));
    let kept = Snapshot::of(&s).unwrap();
    assert!(
        kept.user_json()
            .contains(r#"{"room":"lobby","read":3,"seen":3,"unread":0}"#)
    );
}

#[test]
fn a_reload_closes_a_gap_longer_than_one_page() {
    let snapshot = Snapshot::parse_session(r#"{"v":1,"name":"alice","token":"t1"}"#)
        .unwrap()
        .with_user_json(Some(
            r#"{"v":1,"rooms":[{"room":"lobby","read":10,"seen":10,"unread":0}]}"#,
        ));
    let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
    let (s, _) = welcome(&s, "t2");
    let newest = ServerMsg::Joined {
        room: "lobby".into(),
        members: vec!["alice".into()],
        history: room_msgs("lobby", 71..=120, "bob"),
        more: true,
    };
    let (s, frames) = server_sent(&s, newest);
    // Opened (nothing else was), so nothing counts; but the gap is still closed.
    assert_eq!(
        frames[1].msg,
        history_frame(Some("lobby"), None, Some(71), 100)
    );
    let s = server(
        &s,
        history(lobby_id(), room_msgs("lobby", 1..=70, "bob"), false),
    );
    assert_eq!(seqs(lobby(&s)), (1..=120).collect::<Vec<_>>());
    assert_eq!(lobby(&s).read, 120);
}

#[test]
fn the_banner_says_why_and_when_while_cut_off() {
    let s = alice();
    assert_eq!(s.banner(), None);
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 5_000,
            now_ms: 1_000,
        },
    );
    assert_eq!(
        s.banner().as_deref(),
        Some("You are disconnected. Trying again in 4 s.")
    );
    let s = reduce(&s, Action::DeviceOnline(false));
    assert!(s.banner().unwrap().contains("device is offline"));
    let s = reduce(&s, Action::DeviceOnline(true));
    let s = reduce(&s, Action::Connecting { attempt: 1 });
    assert_eq!(
        s.banner().as_deref(),
        Some("You are disconnected. Reconnecting…")
    );
    let s = reduce(&s, Action::SetLang(crate::i18n::Lang::ZhCn));
    assert_eq!(s.banner().as_deref(), Some("连接已断开。正在重新连接…"));
}
