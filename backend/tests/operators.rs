//! Operators (docs/OPS.md): who is one, `courier passwd`, the operator-only frames, and the
//! dashboard's points.

mod common;

use std::time::Duration;

use common::{Client, Relay, passwd};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn operators_relay(names: &[&str], interval: Duration) -> Relay {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    // One relay: an operator's password is set in its own file (`courier passwd`).
    Relay::start_alone(move |c| {
        c.ops.admins = names;
        c.ops.stats_interval = interval;
    })
    .await
}

async fn hello(relay: &Relay, frame: Value) -> (Client, Value) {
    let mut client = Client::connect(relay).await;
    client.send(frame).await;
    let answer = client.recv().await;
    (client, answer)
}

#[tokio::test]
async fn an_operator_name_needs_the_password_set_by_passwd_and_is_an_operator_with_it() {
    let relay = operators_relay(&["Ops"], Duration::from_secs(1)).await;

    // No password yet: nobody can use the name, with or without one.
    let (_c, answer) = hello(&relay, json!({"type":"hello","name":"ops"})).await;
    assert_eq!(answer["code"], "password_required", "{answer}");
    let frame = json!({"type":"hello","name":"OPS","password":PASSWORD});
    let (_c, answer) = hello(&relay, frame).await;
    assert_eq!(answer["code"], "password_required", "{answer}");

    // Set while the relay runs; a password too short is refused with a clear message.
    let (ok, err) = passwd(&relay.db, "ops", "short\n");
    assert!(!ok && err.contains("8 to 128 characters"), "{err}");
    let (ok, err) = passwd(&relay.db, "ops", &format!("{PASSWORD}\n"));
    assert!(ok, "{err}");

    let (_c, answer) = hello(&relay, json!({"type":"hello","name":"ops"})).await;
    assert_eq!(answer["code"], "password_required", "{answer}");
    let frame = json!({"type":"hello","name":"ops","password":"wrong password"});
    let (_c, answer) = hello(&relay, frame).await;
    assert_eq!(answer["code"], "password_required", "{answer}");
    let frame = json!({"type":"hello","name":"Ops","password":PASSWORD});
    let (mut ops, welcome) = hello(&relay, frame).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["operator"], true, "{welcome}");

    // Its password is never set over the wire.
    ops.send(json!({"type":"protect","password":"another password","cid":"p"}))
        .await;
    let refused = ops.recv_error("forbidden").await;
    assert_eq!(refused["cid"], "p");

    // Taking the session over with its token keeps it an operator's.
    let token = welcome["token"].as_str().unwrap();
    let frame = json!({"type":"hello","name":"ops","token":token});
    let (_c, again) = hello(&relay, frame).await;
    assert_eq!(again["type"], "welcome", "{again}");
    assert_eq!(again["operator"], true, "{again}");

    // Anyone else's welcome says nothing of it.
    let mut alice = Client::connect(&relay).await;
    let welcome = alice.hello("alice").await;
    assert!(welcome.get("operator").is_none(), "{welcome}");
    relay.shutdown().await;
}

#[tokio::test]
async fn operator_frames_from_anyone_else_get_forbidden_and_do_nothing() {
    for admins in [&[][..], &["ops"][..]] {
        let relay = operators_relay(admins, Duration::from_secs(1)).await;
        let mut alice = relay.user("alice").await;
        for (i, frame) in [
            json!({"type":"watch"}),
            json!({"type":"unwatch"}),
            json!({"type":"run","hosts":"127.0.0.1","command":"true"}),
            json!({"type":"cancel","run":"6f1c0e5b"}),
            json!({"type":"runs"}),
            json!({"type":"release","name":"bob"}),
        ]
        .into_iter()
        .enumerate()
        {
            let mut frame = frame;
            frame["cid"] = json!(format!("c{i}"));
            alice.send(frame).await;
            let refused = alice.recv_error("forbidden").await;
            assert_eq!(refused["cid"], format!("c{i}"));
        }
        // Nothing was started: no stats come.
        alice.expect_silence(1500).await;
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn passwd_protects_any_name_and_refuses_bad_input() {
    let dir = common::temp_dir();
    let db = dir.path().join("courier.db");
    let (ok, err) = passwd(&db, "  ", "long enough password\n");
    assert!(!ok && err.contains("not a name"), "{err}");
    let (ok, err) = passwd(&db, "carol", "");
    assert!(!ok && err.contains("standard input"), "{err}");
    let (ok, err) = passwd(&db, "carol", &format!("{PASSWORD}\r\n"));
    assert!(ok, "{err}");

    // With the relay stopped, the file was created; the relay then finds the name protected.
    let relay = Relay::start_alone(|c| c.db = db.clone()).await;
    let (_c, answer) = hello(&relay, json!({"type":"hello","name":"carol"})).await;
    assert_eq!(answer["code"], "password_required", "{answer}");
    let frame = json!({"type":"hello","name":"carol","password":PASSWORD});
    let (_c, answer) = hello(&relay, frame).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
    assert!(
        answer.get("operator").is_none(),
        "not listed, so not an operator"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn watch_gets_the_points_so_far_then_one_a_interval() {
    let relay = operators_relay(&["ops"], Duration::from_millis(200)).await;
    assert!(passwd(&relay.db, "ops", &format!("{PASSWORD}\n")).0);
    let frame = json!({"type":"hello","name":"ops","password":PASSWORD});
    let (mut ops, _) = hello(&relay, frame).await;
    // Let a few points be made first.
    tokio::time::sleep(Duration::from_millis(900)).await;
    ops.send(json!({"type":"watch"})).await;
    let first = ops.recv_type("stats").await;
    let kept = first["points"].as_array().unwrap().clone();
    assert!(kept.len() >= 2, "{first}");
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes()[3].is_ascii_digit())
        .count();
    for point in &kept {
        assert!(point["node"].as_str().is_some_and(|n| !n.is_empty()));
        let cpu = point["cpu"].as_array().unwrap();
        assert_eq!(cpu.len(), cpus, "{point}");
        assert!(
            cpu.iter()
                .all(|c| (0.0..=100.0).contains(&c.as_f64().unwrap()))
        );
        assert!(point["mem_total"].as_u64().unwrap() >= point["mem_available"].as_u64().unwrap());
        assert!(point["rss"].as_u64().unwrap() > 0);
        assert_eq!(point["sessions"], 1, "{point}");
        assert!(point["connections"].as_u64().unwrap() >= 1);
        for rate in ["messages_per_s", "deliveries_per_s"] {
            assert!(point[rate].as_f64().unwrap() >= 0.0);
        }
    }
    let ts: Vec<u64> = kept.iter().map(|p| p["ts"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "oldest first: {ts:?}");

    // Then one point at a time, newer than the last kept.
    let mut last = *ts.last().unwrap();
    for _ in 0..3 {
        let next = ops.recv_type("stats").await;
        let points = next["points"].as_array().unwrap();
        assert_eq!(points.len(), 1, "{next}");
        let at = points[0]["ts"].as_u64().unwrap();
        assert!(at > last);
        last = at;
    }
    // A second watch is answered like the first; unwatch stops them.
    ops.send(json!({"type":"watch"})).await;
    loop {
        let frame = ops.recv_type("stats").await;
        if frame["points"].as_array().unwrap().len() > 1 {
            break;
        }
    }
    ops.send(json!({"type":"unwatch"})).await;
    // What was on its way before the unwatch may still come; nothing after.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while tokio::time::timeout(Duration::from_millis(50), ops.recv())
        .await
        .is_ok()
    {}
    ops.expect_silence(600).await;
    ops.send(json!({"type":"unwatch"})).await;
    ops.expect_silence(300).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn an_operator_releases_a_squatted_name_but_never_an_operators() {
    let relay = operators_relay(&["ops", "ops2"], Duration::from_secs(1)).await;
    assert!(passwd(&relay.db, "ops", &format!("{PASSWORD}\n")).0);
    let frame = json!({"type":"hello","name":"ops","password":PASSWORD});
    let (mut ops, _) = hello(&relay, frame).await;

    // A squatter takes a name and protects it, and is online.
    let mut squatter = relay.user("alice").await;
    squatter
        .send(json!({"type":"protect","password":"squatters password"}))
        .await;
    squatter.recv_type("protected").await;

    ops.send(json!({"type":"release","name":"ALICE","cid":"r"}))
        .await;
    assert_eq!(ops.recv_type("released").await["name"], "ALICE");
    assert!(matches!(
        squatter.ended(Duration::from_secs(5)).await,
        common::Ended::Close(1008)
    ));
    // The name is anyone's again, without the squatter's password.
    let mut owner = Client::connect(&relay).await;
    owner.hello_when_free("alice").await;

    for (name, code) in [
        ("ops2", "forbidden"),
        ("ops", "forbidden"),
        ("nobody", "unknown_user"),
        ("  ", "invalid_name"),
    ] {
        ops.send(json!({"type":"release","name":name,"cid":"r"}))
            .await;
        let refused = ops.recv_error(code).await;
        assert_eq!(refused["cid"], "r");
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn an_operator_frame_before_hello_gets_forbidden() {
    let relay = operators_relay(&["ops"], Duration::from_secs(1)).await;
    let mut client = Client::connect(&relay).await;
    client.send(json!({"type":"watch","cid":"w"})).await;
    assert_eq!(client.recv_error("forbidden").await["cid"], "w");
    client
        .send(json!({"type":"say","room":"x","text":"hi"}))
        .await;
    client.recv_error("not_welcomed").await;
    relay.shutdown().await;
}
