//! The protect form, and that the password is never kept nor shown.

use super::*;

#[test]
fn protect_is_checked_then_sent_with_a_cid_and_confirmed() {
    let s = alice();
    // Not without the form.
    assert_eq!(reduce(&s, protect(PASSWORD, PASSWORD)), s);
    let s = reduce(&s, Action::ShowProtect(true));
    assert!(s.protect.open);
    let long = "x".repeat(129);
    for (p, c, why) in [
        ("short", "short", "at least 8"),
        (long.as_str(), long.as_str(), "at most 128"),
        (PASSWORD, "correct horse battery!", "match"),
    ] {
        let (t, sent) = act(&s, protect(p, c));
        assert!(t.protect.error.as_deref().unwrap().contains(why), "{why}");
        assert!(t.protect.pending.is_none());
        assert!(sent.is_empty());
    }
    // Eight characters, counted as characters (not bytes).
    let t = reduce(&s, protect("éééééééé", "éééééééé"));
    assert!(t.protect.error.is_none() && t.protect.pending.is_some());

    let action = protect(PASSWORD, PASSWORD);
    let (s, sent) = act(&s, action.clone());
    assert!(s.protect.error.is_none());
    assert_eq!(
        sent,
        vec![ClientFrame::with_cid(
            ClientMsg::Protect {
                password: PASSWORD.into()
            },
            "p1",
        )]
    );
    // One at a time.
    assert_eq!(reduce(&s, action), s);
    assert_eq!(hello_password(&s), None, "not before the relay says so");
    let s = server(
        &s,
        ServerMsg::Protected {
            name: "alice".into(),
        },
    );
    assert!(!s.protect.open && s.protect.pending.is_none());
    assert!(s.notice.as_deref().unwrap().contains("now protected"));
    // The next reconnect's hello carries the new password.
    assert_eq!(hello_password(&s).as_deref(), Some(PASSWORD));
}

#[test]
fn protect_refused_by_the_relay_or_cut_off_shows_why() {
    let s = reduce(&alice(), Action::ShowProtect(true));
    let s = reduce(&s, protect(PASSWORD, PASSWORD));
    let s = server(
        &s,
        ServerMsg::error(
            ErrorCode::BadRequest,
            "a password has 8 to 128 characters",
            Some("p1".into()),
        ),
    );
    assert!(s.protect.open && s.protect.pending.is_none());
    assert_eq!(
        s.protect.error.as_deref(),
        Some("a password has 8 to 128 characters")
    );
    assert!(s.notice.is_none() && s.password.is_none());
    // A drop before the answer: the form says so.
    let s = reduce(&s, protect(PASSWORD, PASSWORD));
    assert_eq!(s.protect.pending.as_ref().map(|p| p.0.as_str()), Some("p2"));
    let s = drop_connection(&s);
    assert!(s.protect.pending.is_none());
    assert!(s.protect.error.as_deref().unwrap().contains("dropped"));
    // Offline: checked here.
    let s = reduce(&s, protect(PASSWORD, PASSWORD));
    assert!(s.protect.error.as_deref().unwrap().contains("offline"));
    assert!(s.protect.pending.is_none());
}

#[test]
fn the_password_is_never_persisted_nor_shown_in_debug() {
    let s = reduce(&protected_alice(), Action::ShowProtect(true));
    let s = reduce(&s, protect("a new passphrase", "a new passphrase"));
    let check = |s: &State| {
        let snapshot = Snapshot::of(s).unwrap();
        for text in [
            snapshot.session_json(),
            snapshot.user_json(),
            format!("{snapshot:?}"),
            format!("{s:?}"),
        ] {
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(!text.contains("passphrase"), "{text}");
        }
    };
    check(&s);
    let s = server(
        &s,
        ServerMsg::Protected {
            name: "alice".into(),
        },
    );
    assert!(s.password.is_some());
    check(&s);
}
