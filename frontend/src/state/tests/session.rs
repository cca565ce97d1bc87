//! Signing in and out, passwords at login, reconnects refused, listings and their refresh.

use super::*;

#[test]
fn login_then_hello_then_welcome() {
    let s = Rc::new(State::default());
    assert!(!s.wants_connection());
    let s = reduce(&s, login("alice"));
    assert!(s.wants_connection());
    let (s, sent) = act(&s, Action::Connected);
    assert_eq!(sent, hello_frames(None, None));
    assert_eq!(s.status().0, "connecting");
    let s = alice();
    assert_eq!(s.me.as_deref(), Some("alice"));
    assert_eq!(s.status(), ("connected", "connected".to_owned()));
}

#[test]
fn unfit_names_and_rooms_are_explained_before_sending() {
    let s = reduce(&Rc::new(State::default()), login("   "));
    assert!(!s.wants_connection());
    assert!(
        s.login_error
            .as_deref()
            .unwrap()
            .contains("at least one character")
    );
    let s = reduce(&s, login("  alice "));
    assert_eq!(s.wanted_name.as_deref(), Some("alice"));
    assert!(s.login_error.is_none());
    let s = alice();
    let (s, sent) = act(&s, Action::Join("no spaces".into()));
    assert!(s.room_error.is_some());
    assert!(sent.is_empty());
    let (s, sent) = act(&s, Action::Join("ok".into()));
    assert!(s.room_error.is_none());
    assert_eq!(
        sent,
        vec![ClientFrame::new(ClientMsg::Join {
            room: "ok".into(),
            after: None,
        })]
    );
}

#[test]
fn name_taken_at_login_explains_and_closes() {
    let s = reduce(&Rc::new(State::default()), login("bob"));
    let s = reduce(&s, Action::Connected);
    let s = server(
        &s,
        ServerMsg::error(ErrorCode::NameTaken, "name taken", None),
    );
    assert!(s.me.is_none());
    assert!(!s.wants_connection());
    assert!(
        s.login_error
            .as_deref()
            .unwrap()
            .contains("signed in elsewhere")
    );
    assert_eq!(s.last_name, "bob");
}

#[test]
fn hello_carries_the_password_typed_and_reconnects_keep_it() {
    let s = reduce(&Rc::new(State::default()), login_with("alice", PASSWORD));
    let (_, sent) = act(&s, Action::Connected);
    assert_eq!(sent, hello_frames(None, Some(PASSWORD)));
    // An empty password field is no password.
    let s = reduce(&Rc::new(State::default()), login_with("alice", ""));
    assert_eq!(hello_password(&s), None);
    // A reconnect of the same page (the relay may have restarted, forgetting the token).
    let s = drop_connection(&protected_alice());
    let (s, sent) = act(&s, Action::Connected);
    assert_eq!(sent, hello_frames(Some("t1"), Some(PASSWORD)));
    // Signing out forgets it.
    let s = reduce(&s, Action::Logout);
    assert!(s.password.is_none());
    let s = reduce(&s, login("alice"));
    assert_eq!(hello_password(&s), None);
}

#[test]
fn password_required_at_login_asks_for_it_without_retrying() {
    let s = reduce(&Rc::new(State::default()), login("alice"));
    let s = reduce(&s, Action::Connected);
    let refusal = ServerMsg::error(
        ErrorCode::PasswordRequired,
        "'alice' is protected: say hello with its password",
        None,
    );
    let s = server(&s, refusal.clone());
    assert!(s.me.is_none());
    assert!(
        !s.wants_connection(),
        "the socket closes: no reconnect loop"
    );
    assert_eq!(s.conn, Conn::Offline);
    assert!(s.password_required);
    assert!(s.login_error.as_deref().unwrap().contains("is protected"));
    assert_eq!(s.last_name, "alice");
    // A late event of the closed socket changes nothing.
    let s = reduce(&s, Action::Connecting { attempt: 1 });
    assert!(!s.wants_connection() && s.conn == Conn::Offline);
    // Again with a wrong password: it says so, and forgets it.
    let s = reduce(&s, login_with("alice", "not the one"));
    assert!(!s.password_required && s.login_error.is_none());
    let s = reduce(&s, Action::Connected);
    let s = server(&s, refusal);
    assert!(s.login_error.as_deref().unwrap().contains("Wrong password"));
    assert!(s.password.is_none());
    assert!(s.password_required && !s.wants_connection());
}

#[test]
fn password_required_on_a_resumed_or_reconnected_session_goes_to_login() {
    // A reload after a relay restart: the kept token is unknown now.
    let snapshot = Snapshot {
        name: "alice".into(),
        token: Some("stale".into()),
        ..Snapshot::default()
    };
    let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
    let s = reduce(&s, Action::Connected);
    assert_eq!(hello_password(&s), None);
    let refusal = ServerMsg::error(ErrorCode::PasswordRequired, "protected", None);
    let s = server(&s, refusal.clone());
    assert!(!s.wants_connection() && s.password_required && s.token.is_none());
    assert!(s.login_error.as_deref().unwrap().contains("is protected"));
    // Signed in, then a reconnect refused (the password was changed elsewhere).
    let s = drop_connection(&protected_alice());
    let s = reduce(&s, Action::Connected);
    let s = server(&s, refusal);
    assert!(s.me.is_none() && !s.wants_connection());
    assert!(s.password.is_none() && s.password_required);
    assert!(s.login_error.as_deref().unwrap().contains("disconnected"));
    assert_eq!(s.last_name, "alice");
}

#[test]
fn name_taken_on_reconnect_goes_back_to_login() {
    let s = in_lobby();
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 1,
            now_ms: 0,
        },
    );
    let s = reduce(&s, Action::Connected);
    let s = server(&s, ServerMsg::error(ErrorCode::NameTaken, "taken", None));
    assert!(s.me.is_none());
    assert!(!s.wants_connection());
    assert!(s.conversations.is_empty());
    assert!(s.login_error.as_deref().unwrap().contains("alice"));
    assert_eq!(s.last_name, "alice");
}

#[test]
fn a_resumed_name_that_is_taken_goes_back_to_the_login_form() {
    let snapshot = Snapshot::parse_session(r#"{"v":1,"name":"alice","token":"old"}"#)
        .unwrap()
        .with_user_json(Some(
            r#"{"v":1,"rooms":[{"room":"lobby","seen":3,"unread":2}]}"#,
        ));
    let s = reduce(&Rc::new(State::default()), Action::Resume(snapshot));
    let s = reduce(&s, Action::Connected);
    let s = server(&s, ServerMsg::error(ErrorCode::NameTaken, "taken", None));
    assert!(!s.wants_connection());
    assert!(
        s.login_error
            .as_deref()
            .unwrap()
            .contains("signed in elsewhere")
    );
    assert!(s.conversations.is_empty() && s.token.is_none());
    assert_eq!(s.last_name, "alice");
}

#[test]
fn listings_are_sorted_and_exclude_us() {
    let s = server(
        &alice(),
        ServerMsg::Users {
            online: vec!["zed".into(), "Alice".into(), "bob".into()],
        },
    );
    assert_eq!(s.online, ["bob", "zed"]);
    assert!(s.is_online("BOB"));
    let s = server(
        &s,
        ServerMsg::Rooms {
            rooms: vec![
                RoomInfo {
                    room: "z".into(),
                    members: 1,
                },
                RoomInfo {
                    room: "a".into(),
                    members: 3,
                },
            ],
        },
    );
    assert_eq!(s.rooms[0].room, "a");
}

#[test]
fn tick_refreshes_listings_every_ten_seconds_and_is_quiet_otherwise() {
    let s = alice(); // welcomed at 1 000, which asked for the listings
    let early = Action::Tick(1_000 + REFRESH_INTERVAL_MS - 1);
    let (s, sent) = act(&s, early);
    assert!(sent.is_empty());
    let due = Action::Tick(1_000 + REFRESH_INTERVAL_MS);
    let (s, sent) = act(&s, due);
    assert_eq!(
        sent,
        vec![
            ClientFrame::new(ClientMsg::Rooms),
            ClientFrame::new(ClientMsg::Users)
        ]
    );
    let later = Action::Tick(2_000 + REFRESH_INTERVAL_MS);
    let (s2, sent) = act(&s, later);
    assert!(Rc::ptr_eq(&s, &s2), "nothing to do, same Rc");
    assert!(sent.is_empty());
}

#[test]
fn a_name_in_use_can_be_joined_as_one_more_connection_once_confirmed() {
    let s = reduce(&Rc::new(State::default()), login("alice"));
    let s = reduce(&s, Action::Connected);
    let s = server(
        &s,
        ServerMsg::error(ErrorCode::NameTaken, "name taken", None),
    );
    assert!(s.offer_attach);
    let s = reduce(&s, Action::AttachHere);
    assert!(!s.offer_attach);
    let (_, sent) = act(&s, Action::Connected);
    assert_eq!(
        sent,
        vec![ClientFrame::new(ClientMsg::Hello {
            name: "alice".into(),
            token: None,
            acks: true,
            password: None,
            attach: true,
        })]
    );
    // Without the offer, nothing happens.
    let fresh = Rc::new(State::default());
    assert!(Rc::ptr_eq(&fresh, &reduce(&fresh, Action::AttachHere)));
}

#[test]
fn another_connection_leaving_a_room_leaves_it_here() {
    let s = in_lobby();
    let s = reduce(&s, Action::Join("dev".into()));
    let s = server(&s, joined("dev", &["alice"], vec![]));
    let (s, sent) = server_sent(&s, ServerMsg::Left { room: "dev".into() });
    assert!(!s.conversations.contains_key(&ConvKey::Room("dev".into())));
    assert_eq!(s.open, Some(ConvKey::Room("lobby".into())));
    assert!(
        !sent
            .iter()
            .any(|f| matches!(f.msg, ClientMsg::Leave { .. })),
        "{sent:?}"
    );
}

#[test]
fn that_s_me_holds_for_the_name_confirmed_alone() {
    let taken = |s: &Rc<State>| {
        let s = reduce(s, Action::Connected);
        server(
            &s,
            ServerMsg::error(ErrorCode::NameTaken, "name taken", None),
        )
    };
    let s = taken(&reduce(&Rc::new(State::default()), login("alice")));
    let s = reduce(&s, Action::AttachHere);
    // The attach itself is refused (say, the name's limit of connections): another name
    // typed next is not attached.
    let s = taken(&s);
    let s = reduce(&s, login("carol"));
    let (_, sent) = act(&s, Action::Connected);
    assert!(
        matches!(&sent[0].msg, ClientMsg::Hello { attach: false, .. }),
        "{sent:?}"
    );
}
