//! Hostile logins against the relay binary (issue 10, items 2, 3 and 5): wrong passwords
//! must not pin memory, one address guessing passwords must not slow down others' logins,
//! and one address must not be able to take, protect and keep names without bound.
//!
//! Everything is on loopback (127.0.0.x, each x its own address to the relay), bounded in
//! count and time, and stops by itself.
#![cfg(target_os = "linux")]

mod common;
#[path = "hostile/harness.rs"]
#[allow(dead_code)] // this file uses a few of the harness's helpers
mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use harness::{ChildRelay, Ws, recv, send, user, ws};
use serde_json::{Value, json};
use tokio::time::Instant;

const PASSWORD: &str = "correct horse battery";
const WRONG: &str = "incorrect horse battery";

/// What a crowd of logins may cost (two hashing threads of 12 MiB each), and what the rest
/// of the relay may add meanwhile (100 short connections, the database's cache).
const LOGINS_KIB: u64 = 24 * 1024;
const SLACK_KIB: u64 = 16 * 1024;

/// Says hello as `name` from `from` and protects the name; the connection is closed after.
async fn protected(addr: SocketAddr, from: &str, name: &str) {
    let mut ws = user(addr, from, name).await;
    send(&mut ws, json!({"type":"protect","password":PASSWORD})).await;
    let answer = recv(&mut ws).await;
    assert_eq!(answer["type"], "protected", "{answer}");
    let _ = ws.close(None).await;
}

/// A hello from `from` as `name` with `password` (if any) on a new connection: the answer,
/// how long it took, and the connection.
async fn hello(
    addr: SocketAddr,
    from: &str,
    name: &str,
    password: Option<&str>,
) -> (Value, Duration, Ws) {
    let mut ws = ws(addr, from).await;
    let mut frame = json!({"type":"hello","name":name});
    if let Some(p) = password {
        frame["password"] = json!(p);
    }
    let started = Instant::now();
    send(&mut ws, frame).await;
    let answer = recv(&mut ws).await;
    (answer, started.elapsed(), ws)
}

/// The code of an error frame, or its type.
fn kind(v: &Value) -> String {
    v["code"]
        .as_str()
        .or(v["type"].as_str())
        .unwrap()
        .to_owned()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_wrong_passwords_pin_no_more_than_the_hashing_buffers() {
    let relay = ChildRelay::start(&[]).await;
    let addr = relay.addr;
    let rss_start = relay.rss_kib();
    // 20 protected names, five from each of four addresses (within the default limits).
    for n in 0..20 {
        protected(addr, &format!("127.0.0.{}", 2 + n / 5), &format!("p{n}")).await;
    }
    // 100 wrong passwords, each from an address of its own and five for each name (before any
    // backoff), eight at a time: all are checked, none is refused for being too many.
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, pid) = (peak.clone(), sampling.clone(), relay.child.id());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(harness::rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let from = format!("127.0.1.{}", 1 + i);
            let name = format!("p{}", i % 20);
            loop {
                let (answer, _, _ws) = hello(addr, &from, &name, Some(WRONG)).await;
                match kind(&answer).as_str() {
                    "password_required" => return,
                    // The queue was full for a moment: sent again, as a client would.
                    "rate_limited" => tokio::time::sleep(Duration::from_millis(50)).await,
                    other => panic!("a wrong password got {other}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::Relaxed).max(relay.rss_kib());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = relay.rss_kib();
    println!(
        "RSS: {} MiB at start, {} MiB at peak, {} MiB after 100 wrong passwords (in {:.1} s)",
        rss_start / 1024,
        peak / 1024,
        rss_after / 1024,
        took.as_secs_f64()
    );
    assert!(
        peak <= rss_start + LOGINS_KIB + SLACK_KIB,
        "peak RSS {peak} KiB from {rss_start} KiB"
    );
    assert!(
        rss_after <= rss_start + LOGINS_KIB + SLACK_KIB,
        "RSS {rss_after} KiB after, from {rss_start} KiB"
    );
    // Still serving, with the right password too, once the name's backoff after five wrong
    // passwords (1 s) is over.
    let mut answer = Value::Null;
    for _ in 0..10 {
        answer = hello(addr, "127.0.0.9", "p0", Some(PASSWORD)).await.0;
        if answer["code"] != "rate_limited" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(answer["type"], "welcome", "{answer}");
    let _ws = user(addr, "127.0.0.9", "someone-else").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_login_stays_fast_while_one_address_guesses_passwords() {
    let relay = ChildRelay::start(&[]).await;
    let addr = relay.addr;
    let rss_start = relay.rss_kib();
    protected(addr, "127.0.0.3", "victim").await;
    protected(addr, "127.0.0.2", "honest").await;

    // Alone: each login from an address of its own (one check each, within any limit).
    let mut alone = Vec::new();
    for i in 0..5 {
        let (answer, took, _ws) = hello(
            addr,
            &format!("127.0.2.{}", 1 + i),
            "honest",
            Some(PASSWORD),
        )
        .await;
        assert_eq!(answer["type"], "welcome");
        alone.push(ms(took));
    }

    // The attack: 50 connections from 127.0.0.1, each guessing the victim's password as fast
    // as the relay answers, for as long as the honest logins last.
    let over = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let mut attackers = Vec::new();
    for _ in 0..50 {
        let (over, counts) = (over.clone(), counts.clone());
        let mut ws = ws(addr, "127.0.0.1").await;
        attackers.push(tokio::spawn(async move {
            while !over.load(Ordering::Relaxed) {
                send(
                    &mut ws,
                    json!({"type":"hello","name":"victim","password":WRONG}),
                )
                .await;
                let answer = recv(&mut ws).await;
                let slot = match kind(&answer).as_str() {
                    "password_required" => 0,
                    "rate_limited" => 1,
                    other => panic!("a guess got {other}"),
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
                if slot == 1 {
                    // Past the frame rate too, the connection would only get rate_limited
                    // for its frames; keep guessing at the frame rate (20 a second).
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut attacked = Vec::new();
    for i in 0..10 {
        let (answer, took, _ws) = hello(
            addr,
            &format!("127.0.3.{}", 1 + i),
            "honest",
            Some(PASSWORD),
        )
        .await;
        assert_eq!(answer["type"], "welcome", "{answer}");
        attacked.push(ms(took));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The attacking address is over its limit even with the right password; its victim is not.
    // (The bucket refills one check every two seconds, and on a loaded machine this login may
    // win the race for it against the attackers; the next one cannot.)
    let mut answers = Vec::new();
    for _ in 0..2 {
        let (answer, _, ws) = hello(addr, "127.0.0.1", "victim", Some(PASSWORD)).await;
        answers.push((answer, ws));
    }
    assert!(
        answers.iter().any(|(a, _)| a["code"] == "rate_limited"),
        "{:?}",
        answers.iter().map(|(a, _)| a).collect::<Vec<_>>()
    );
    drop(answers);
    let (answer, _, _victim) = hello(addr, "127.0.0.3", "victim", Some(PASSWORD)).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
    over.store(true, Ordering::Relaxed);
    for a in attackers {
        a.await.unwrap();
    }
    let checked = counts[0].load(Ordering::Relaxed);
    let limited = counts[1].load(Ordering::Relaxed);
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    let (alone_median, alone_max) = stats(&mut alone);
    let (median, max) = stats(&mut attacked);
    println!(
        "honest login: alone median {alone_median:.1} ms, max {alone_max:.1} ms; under attack \
         median {median:.1} ms, max {max:.1} ms; the attacker had {checked} guesses checked \
         and {limited} refused with rate_limited"
    );
    // Target 100 ms; measured far below it. A shared two-core machine can stall any one
    // login now and then, so the bound on the slowest is looser than on the median.
    assert!(median < 100.0, "median {median} ms");
    assert!(max < 250.0, "slowest {max} ms");
    // One address at its limits: the burst (5), one every 2 s, and the name's backoff.
    assert!(checked <= 12, "{checked} guesses checked");
    assert!(limited > 100, "{limited} guesses refused");
    // Afterwards: still serving, and the memory came back.
    let _ws = user(addr, "127.0.0.9", "after").await;
    let rss = relay.rss_kib();
    assert!(
        rss < rss_start + 50 * 1024,
        "RSS {rss} KiB, from {rss_start} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessed_name_backs_off_for_everyone_but_its_owners_address() {
    let relay = ChildRelay::start(&[]).await;
    let addr = relay.addr;
    protected(addr, "127.0.0.5", "target").await;
    // Five wrong passwords, each from an address of its own (within every address's limits).
    for i in 1..=5 {
        let (answer, _, _ws) = hello(addr, &format!("127.0.5.{i}"), "target", Some(WRONG)).await;
        assert_eq!(answer["code"], "password_required");
    }
    // The name now waits 1 s, even for the right password from a new address…
    let (answer, _, _ws) = hello(addr, "127.0.5.6", "target", Some(PASSWORD)).await;
    assert_eq!(answer["code"], "rate_limited", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("try again in 1 s")
    );
    // …but not for the address that protected it.
    let (answer, _, _ws) = hello(addr, "127.0.0.5", "target", Some(PASSWORD)).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_limited_per_address_and_expire_with_their_protection() {
    // Names expire after 0.00003 days (2.6 s) here.
    let relay = ChildRelay::start(&[
        "--names-per-ip-hour",
        "3",
        "--protects-per-ip-hour",
        "1",
        "--name-idle-days",
        "0.00003",
    ])
    .await;
    let addr = relay.addr;
    let rss_start = relay.rss_kib();
    for n in 1..=3 {
        let _ = user(addr, "127.0.0.4", &format!("n{n}")).await;
    }
    let (answer, _, _ws) = hello(addr, "127.0.0.4", "n4", None).await;
    assert_eq!(answer["code"], "rate_limited", "{answer}");
    // A name it made before is not a new one (once its session has ended); another address
    // has its own count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (answer, _, _ws) = hello(addr, "127.0.0.4", "N1", None).await;
    assert_eq!(answer["type"], "welcome", "{answer}");

    let mut owner = user(addr, "127.0.0.5", "owner").await;
    send(&mut owner, json!({"type":"protect","password":PASSWORD})).await;
    assert_eq!(recv(&mut owner).await["type"], "protected");
    send(
        &mut owner,
        json!({"type":"protect","password":WRONG,"cid":"again"}),
    )
    .await;
    let answer = recv(&mut owner).await;
    assert_eq!(
        (&answer["code"], &answer["cid"]),
        (&json!("rate_limited"), &json!("again"))
    );
    let mut friend = user(addr, "127.0.0.7", "friend").await;
    drop(owner);
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(
        &mut friend,
        json!({"type":"dm","to":"owner","text":"for owner only"}),
    )
    .await;
    assert_eq!(recv(&mut friend).await["type"], "message");

    // Offline but not yet idle long enough: still protected.
    let (answer, _, _ws) = hello(addr, "127.0.0.6", "owner", None).await;
    assert_eq!(answer["code"], "password_required");
    // Idle past --name-idle-days: the name is anyone's, without its mail or conversations.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (answer, _, mut squatter) = hello(addr, "127.0.0.6", "owner", None).await;
    assert_eq!(answer["type"], "welcome", "{answer}");
    send(&mut squatter, json!({"type":"history","with":"friend"})).await;
    let history = recv(&mut squatter).await;
    assert_eq!(history["messages"], json!([]), "{history}");
    let nothing = tokio::time::timeout(Duration::from_millis(300), recv(&mut squatter)).await;
    assert!(nothing.is_err(), "the last holder's mail: {nothing:?}");
    let _ws = user(addr, "127.0.0.9", "after").await;
    let rss = relay.rss_kib();
    assert!(
        rss < rss_start + 50 * 1024,
        "RSS {rss} KiB from {rss_start}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_new_name_replaces_the_least_recently_used_unprotected_one() {
    let relay = ChildRelay::start(&["--max-users", "2", "--name-idle-days", "0"]).await;
    let addr = relay.addr;
    protected(addr, "127.0.0.2", "keeper").await;
    drop(user(addr, "127.0.0.3", "drifter").await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _newcomer = user(addr, "127.0.0.4", "newcomer").await;
    // Left: a protected name and a name in use. Neither is taken from its holder.
    for name in ["late", "drifter"] {
        let (answer, _, _ws) = hello(addr, "127.0.0.5", name, None).await;
        assert_eq!(answer["code"], "forbidden", "{name}: {answer}");
    }
    let (answer, _, _ws) = hello(addr, "127.0.0.5", "keeper", Some(PASSWORD)).await;
    assert_eq!(answer["type"], "welcome");
}
