//! End to end in headless Chromium: the release bundle (`trunk build --release`) served by the
//! relay, two browser sessions chatting through it; and the origin policy: a page from another
//! origin cannot open a WebSocket to the relay, the app's own page can; and loading the app and
//! signing in logs no error to the browser's console; and an operator's Operations view (live
//! charts, a run against the real sshd fixture), which nobody else sees; and two relays on one
//! Redis, a browser on each, chatting as on one relay. The harness is in `browser_harness/`.
//!
//! Runs when COURIER_BROWSER_TESTS=1 (scripts/test sets it, after building the bundle);
//! otherwise it says it was skipped. It needs `chromedriver` and `chromium` on PATH
//! (scripts/setup installs them).

#![cfg(unix)]

mod browser_harness;
mod common;
mod ssh_fixture;

use std::net::SocketAddr;
use std::path::PathBuf;

use browser_harness::*;
use common::Relay;
use fantoccini::{Client, Locator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_through_the_relay() {
    if std::env::var("COURIER_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set COURIER_BROWSER_TESTS=1 (scripts/test does) to run the browser tests"
        );
        return;
    }
    let dist = std::env::var("COURIER_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    assert!(
        dist.join("index.html").is_file(),
        "no bundle in {}: run `trunk build --release` first",
        dist.display()
    );
    let relay = Relay::start_with(|c| c.static_dir = dist.clone()).await;
    // Each browser reaches the relay through a proxy that the test can cut, like a network
    // drop, and point at a restarted relay.
    let alice_net = Proxy::start(relay.addr).await;
    let bob_net = Proxy::start(relay.addr).await;
    let driver = ChromeDriver::start();

    let alice = driver.browser().await;
    let bob = driver.browser().await;
    let alice_url = format!("http://{}/", alice_net.addr);
    let bob_url = format!("http://{}/", bob_net.addr);

    log_in(&alice, &alice_url, "alice").await;
    log_in(&bob, &bob_url, "bob").await;
    for (name, browser) in [("alice", &alice), ("bob", &bob)] {
        // Start-up figures for docs/BENCHMARKS.md (reported, not asserted: machines are noisy).
        let marks = browser
            .execute(
                "const d = document.documentElement.dataset; \
                 return [d.readyMs, d.loginMs, d.welcomeMs].map(Number);",
                vec![],
            )
            .await
            .unwrap();
        eprintln!(
            "{name}: ms after navigation began to app ready, login clicked, welcome: {marks}"
        );
    }

    // Both join the lobby; each sees the other in the member list.
    join(&alice, "lobby").await;
    join(&bob, "lobby").await;
    wait_for_text(&alice, "#members", "bob").await;
    wait_for_text(&bob, "#members", "alice").await;

    // Typing shows on the other side.
    let composer = alice.find(Locator::Css("#composer")).await.unwrap();
    composer.send_keys("hel").await.unwrap();
    wait_for_text(&bob, "#typing", "alice").await;
    composer.send_keys("lo bob").await.unwrap();
    click(&alice, "#send").await;
    wait_for_message(&bob, "hello bob", "alice").await;
    // Alice's own copy is confirmed (no longer pending).
    wait_until(&alice, "alice's message confirmed", |c| async move {
        let confirmed = c
            .find_all(Locator::Css("#messages .message:not(.pending)"))
            .await
            .ok()?;
        (!confirmed.is_empty()).then_some(())
    })
    .await;

    // Markup in a message is shown as text, never run.
    let attack = "<img src=x onerror=alert(1)>";
    send(&bob, attack).await;
    wait_for_message(&alice, attack, "bob").await;
    let images = alice.find_all(Locator::Css("#messages img")).await.unwrap();
    assert!(images.is_empty(), "a message became markup");

    // A private message from bob to alice.
    click(&bob, ".user-entry[data-user='alice']").await;
    wait_for_text(&bob, "#conversation-title", "alice").await;
    send(&bob, "psst, alice").await;
    let alice_dm = wait_until(&alice, "a conversation entry for bob", |c| async move {
        c.find(Locator::Css("[data-user='bob']")).await.ok()
    })
    .await;
    alice_dm.click().await.unwrap();
    wait_for_message(&alice, "psst, alice", "bob").await;
    send(&alice, "hi bob, privately").await;
    wait_for_message(&bob, "hi bob, privately", "alice").await;

    // Alice's network drops: her page reconnects by itself and keeps chatting.
    for browser in [&alice, &bob] {
        click(browser, ".room-entry[data-room='lobby']").await;
        wait_for_text(browser, "#conversation-title", "lobby").await;
    }
    alice_net.cut();
    wait_until(&alice, "alice's page to notice the drop", |c| async move {
        let state = c
            .find(Locator::Css("#status"))
            .await
            .ok()?
            .attr("data-state")
            .await
            .ok()??;
        (state != "connected").then_some(())
    })
    .await;
    wait_for_state(&alice, "connected").await;
    send(&alice, "back again").await;
    wait_for_message(&bob, "back again", "alice").await;

    // A reload: alice's page signs in again by itself and the conversation is still there.
    alice.refresh().await.unwrap();
    wait_for_state(&alice, "connected").await;
    click(&alice, ".room-entry[data-room='lobby']").await;
    wait_for_message(&alice, "hello bob", "alice").await;
    wait_for_message(&alice, "back again", "alice").await;

    // An unread private message keeps its count across a reload.
    send_private(&bob, "alice", "one more thing").await;
    let unread = "[data-user='bob'] .unread";
    wait_for_text(&alice, unread, "1").await;
    alice.refresh().await.unwrap();
    wait_for_state(&alice, "connected").await;
    wait_for_text(&alice, unread, "1").await;

    // Alice protects her name. Her page keeps the password in memory (never in storage), so it
    // can sign in again after the restart below, when her token is gone.
    click(&alice, "#protect").await;
    for field in ["#protect-password", "#protect-confirm"] {
        let input = alice.find(Locator::Css(field)).await.unwrap();
        input.send_keys("correct horse battery").await.unwrap();
    }
    click(&alice, "#protect-submit").await;
    wait_for_text(&alice, "#notice", "now protected").await;
    let stored = alice
        .execute(
            "return JSON.stringify(Object.assign({}, localStorage));",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !stored.as_str().unwrap().contains("correct horse"),
        "the password is not stored"
    );

    // The relay restarts on the same database. Both pages reconnect by themselves; what alice
    // types while it is down is sent once it is back; the conversation is all there.
    let relay = relay.restart(|c| c.static_dir = dist.clone()).await;
    for net in [&alice_net, &bob_net] {
        net.point_at(relay.addr);
        net.cut();
    }
    send(&alice, "typed while the relay was away").await;
    for browser in [&alice, &bob] {
        wait_for_state(browser, "connected").await;
    }
    click(&bob, ".room-entry[data-room='lobby']").await;
    wait_for_message(&bob, "typed while the relay was away", "alice").await;
    bob.refresh().await.unwrap();
    wait_for_state(&bob, "connected").await;
    click(&bob, ".room-entry[data-room='lobby']").await;
    for text in ["hello bob", "back again", "typed while the relay was away"] {
        wait_for_message(&bob, text, "alice").await;
    }
    let seqs = bob
        .execute(
            "return [...document.querySelectorAll('#messages .message')].map(m => Number(m.dataset.seq));",
            vec![],
        )
        .await
        .unwrap();
    let seqs: Vec<u64> = serde_json::from_value(seqs).unwrap();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        seqs, sorted,
        "bob's lobby shows each message once, in order"
    );

    // COURIER_SCREENSHOT=path saves bob's view (the README's picture).
    if let Ok(path) = std::env::var("COURIER_SCREENSHOT") {
        std::fs::write(&path, bob.screenshot().await.unwrap()).unwrap();
    }
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_on_two_relays_on_redis_chat_as_on_one() {
    if std::env::var("COURIER_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set COURIER_BROWSER_TESTS=1 (scripts/test does) to run the browser tests"
        );
        return;
    }
    let dist = std::env::var("COURIER_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    let redis = common::redis_fixture::Redis::start();
    let relay_a = Relay::start_on_redis(redis.url(), |c| c.static_dir = dist.clone()).await;
    let relay_b = Relay::start_on_redis(redis.url(), |c| c.static_dir = dist.clone()).await;
    let alice_net = Proxy::start(relay_a.addr).await;
    let bob_net = Proxy::start(relay_b.addr).await;
    let driver = ChromeDriver::start();
    let alice = driver.browser().await;
    let bob = driver.browser().await;
    log_in(&alice, &format!("http://{}/", alice_net.addr), "alice").await;
    log_in(&bob, &format!("http://{}/", bob_net.addr), "bob").await;

    // One room across the two relays: members, typing, messages both ways.
    join(&alice, "lobby").await;
    join(&bob, "lobby").await;
    wait_for_text(&alice, "#members", "bob").await;
    wait_for_text(&bob, "#members", "alice").await;
    let composer = alice.find(Locator::Css("#composer")).await.unwrap();
    composer.send_keys("hi").await.unwrap();
    wait_for_text(&bob, "#typing", "alice").await;
    composer.send_keys(" from relay A").await.unwrap();
    click(&alice, "#send").await;
    wait_for_message(&bob, "hi from relay A", "alice").await;
    send(&bob, "hello from relay B").await;
    wait_for_message(&alice, "hello from relay B", "bob").await;

    // A private message from B to A.
    send_private(&bob, "alice", "psst, across relays").await;
    wait_for_text(&alice, "[data-user='bob'] .unread", "1").await;

    // Alice's network moves her to relay B: her page reconnects and resumes there.
    click(&bob, ".room-entry[data-room='lobby']").await;
    wait_for_text(&bob, "#conversation-title", "lobby").await;
    alice_net.point_at(relay_b.addr);
    alice_net.cut();
    wait_for_state(&alice, "connected").await;
    send(&alice, "now on relay B").await;
    wait_for_message(&bob, "now on relay B", "alice").await;

    alice.close().await.unwrap();
    bob.close().await.unwrap();
    relay_a.shutdown().await;
    relay_b.shutdown().await;
}

/// The page another site could serve: it tries to open a WebSocket to the relay and records
/// the outcome ("open" or "refused").
fn probe_page(relay: SocketAddr) -> String {
    format!(
        "<!doctype html><meta charset=utf-8><title>elsewhere</title><script>{}</script>",
        probe_script(relay)
    )
}

/// Opens a WebSocket to the relay and records the outcome in `window.probeOutcome`. A global,
/// not an element: on the app's own page the app mounts into `<body>` and clears it, so an
/// element added before the app starts would be thrown away with the outcome in it.
fn probe_script(relay: SocketAddr) -> String {
    format!(
        "window.probeOutcome = 'pending'; \
         const ws = new WebSocket('ws://{relay}/ws'); \
         ws.onopen = () => {{ window.probeOutcome = 'open'; ws.close(); }}; \
         ws.onerror = () => {{ \
           if (window.probeOutcome === 'pending') window.probeOutcome = 'refused'; }};"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_from_another_origin_cannot_open_a_socket_but_the_app_can() {
    if std::env::var("COURIER_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set COURIER_BROWSER_TESTS=1 (scripts/test does) to run the browser tests"
        );
        return;
    }
    let dist = std::env::var("COURIER_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    let relay = Relay::start_with(|c| c.static_dir = dist.clone()).await;
    let elsewhere = OtherSite::start(probe_page(relay.addr)).await;
    let driver = ChromeDriver::start();
    let browser = driver.browser().await;

    browser
        .goto(&format!("http://{}/", elsewhere.addr))
        .await
        .unwrap();
    let outcome = wait_for_outcome(&browser).await;
    assert_eq!(
        outcome, "refused",
        "a page from another origin opened a socket"
    );

    // The app's own page (the relay's origin) can.
    browser
        .goto(&format!("http://{}/", relay.addr))
        .await
        .unwrap();
    browser
        .execute(&probe_script(relay.addr), vec![])
        .await
        .unwrap();
    assert_eq!(wait_for_outcome(&browser).await, "open");

    let (_, _, metrics) = relay.get("/metrics").await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("courier_refused_origin_total 1\n"),
        "{metrics}"
    );
    browser.close().await.unwrap();
}

/// The probe's outcome once it is no longer "pending".
async fn wait_for_outcome(browser: &Client) -> String {
    wait_until(browser, "the WebSocket's outcome", |c| async move {
        let outcome = c
            .execute("return window.probeOutcome ?? null;", vec![])
            .await
            .ok()?;
        let outcome = outcome.as_str()?.to_owned();
        (outcome != "pending").then_some(outcome)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_the_app_logs_no_console_error() {
    if std::env::var("COURIER_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set COURIER_BROWSER_TESTS=1 (scripts/test does) to run the browser tests"
        );
        return;
    }
    let dist = std::env::var("COURIER_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    let relay = Relay::start_with(|c| c.static_dir = dist.clone()).await;
    let driver = ChromeDriver::start();
    let browser = driver.browser().await;

    // The icon browsers ask for is there.
    let (status, _, icon) = relay.get("/favicon.ico").await;
    assert_eq!(status, 200, "no /favicon.ico");
    assert!(!icon.is_empty());

    // The page, signing in, a room and a message: nothing in the console at error level.
    log_in(&browser, &format!("http://{}/", relay.addr), "carol").await;
    join(&browser, "lobby").await;
    send(&browser, "all quiet").await;
    wait_for_message(&browser, "all quiet", "carol").await;
    // A reload loads everything again, this time with a kept session.
    browser.refresh().await.unwrap();
    wait_for_state(&browser, "connected").await;
    let errors = console_errors(&browser).await;
    assert!(errors.is_empty(), "the console has errors: {errors:#?}");
    browser.close().await.unwrap();
    relay.shutdown().await;
}

/// The Operations view end to end: an operator (`--admin ops`, password set with
/// `courier passwd`) signs in through the login form, opens Operations, sees the charts gain
/// points, runs `echo hi` on three loopback hosts through the real sshd fixture after the
/// confirmation says "3 hosts", and sees three `ok` rows with `hi`. Another user has no
/// Operations entry. COURIER_OPS_SCREENSHOT=FILE saves the view (docs/operations.png).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_the_dashboard_and_runs_a_command() {
    const PASSWORD: &str = "correct horse battery";
    if std::env::var("COURIER_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set COURIER_BROWSER_TESTS=1 (scripts/test does) to run the browser tests"
        );
        return;
    }
    let Some(sshd) = ssh_fixture::Sshd::start() else {
        return;
    };
    let dist = std::env::var("COURIER_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    let (key, known, port) = (sshd.client_key.clone(), sshd.known_hosts.clone(), sshd.port);
    let relay = Relay::start_with(move |c| {
        c.static_dir = dist;
        c.ops.admins = vec!["ops".into()];
        c.ops.stats_interval = std::time::Duration::from_millis(250);
        c.ops.ssh_key = Some(key);
        c.ops.ssh_known_hosts = Some(known);
        c.ops.ssh_port = port;
        c.ops.ssh_user = courier::runner::relay_user();
        c.ops.runner_allow = vec!["127.0.0.0/24".into()];
    })
    .await;
    let mut passwd = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["passwd", "ops", "--db-sync", "normal", "--db"])
        .arg(&relay.db)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(passwd.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(passwd.wait().unwrap().success());

    let driver = ChromeDriver::start();
    let ops = driver.browser().await;
    ops.set_window_size(900, 1400).await.unwrap();
    let url = format!("http://{}/", relay.addr);
    ops.goto(&url).await.unwrap();
    let name = wait_until(&ops, "the name field", |c| async move {
        c.find(Locator::Css("#name")).await.ok()
    })
    .await;
    name.send_keys("ops").await.unwrap();
    let password = ops.find(Locator::Css("#password")).await.unwrap();
    password.send_keys(PASSWORD).await.unwrap();
    click(&ops, "#login").await;
    wait_for_state(&ops, "connected").await;

    // The dashboard fills and grows: the first `stats` has the points so far, then one per
    // interval.
    click(&ops, "#nav-ops").await;
    let points = |c: Client| async move {
        let n = c
            .execute(
                "return [...document.querySelectorAll('.chart[data-chart=connections] polyline')]\
                 .reduce((n, p) => n + p.points.numberOfItems, 0);",
                vec![],
            )
            .await
            .ok()?;
        n.as_u64()
    };
    let first = wait_until(&ops, "a point on the charts", |c| async move {
        points(c).await.filter(|&n| n > 0)
    })
    .await;
    wait_until(&ops, "the charts to gain points", |c| async move {
        points(c).await.filter(|&n| n > first + 1)
    })
    .await;

    // A run on three hosts, confirmed with their count, ends with three `ok` rows.
    let hosts = ops.find(Locator::Css("#run-hosts")).await.unwrap();
    hosts.send_keys("127.0.0.1-3").await.unwrap();
    let command = ops.find(Locator::Css("#run-command")).await.unwrap();
    command.send_keys("echo hi").await.unwrap();
    click(&ops, "#run-submit").await;
    let count = wait_until(&ops, "the confirmation", |c| async move {
        let el = c.find(Locator::Css("#run-confirmation")).await.ok()?;
        el.attr("data-hosts").await.ok()?
    })
    .await;
    assert_eq!(count, "3");
    wait_for_text(&ops, "#run-confirmation", "3 hosts").await;
    click(&ops, "#run-confirm").await;
    wait_until(&ops, "the run to end", |c| async move {
        let run = c.find(Locator::Css("#run[data-done=true]")).await.ok()?;
        Some(run)
    })
    .await;
    let rows = ops
        .execute(
            "return [...document.querySelectorAll('.host-row')]\
             .map(r => [r.dataset.host, r.dataset.status, r.querySelector('.host-output').textContent]);",
            vec![],
        )
        .await
        .unwrap();
    // The command's output comes last; the host's shell may print something of its own first
    // (its startup files, here the test machine's root account).
    let rows: Vec<(String, String, String)> = serde_json::from_value(rows).unwrap();
    let hosts: Vec<_> = rows
        .iter()
        .map(|(host, status, _)| (host.as_str(), status.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("127.0.0.1", "ok"),
            ("127.0.0.2", "ok"),
            ("127.0.0.3", "ok")
        ]
    );
    assert!(
        rows.iter().all(|(_, _, output)| output.ends_with("hi\n")),
        "{rows:?}"
    );
    wait_for_text(&ops, "#recent-runs", "echo hi").await;
    if let Ok(file) = std::env::var("COURIER_OPS_SCREENSHOT") {
        let png = ops.screenshot().await.unwrap();
        std::fs::write(&file, png).unwrap();
    }

    // Someone else signs in: no Operations for them.
    let bob = driver.browser().await;
    log_in(&bob, &url, "bob").await;
    assert!(bob.find(Locator::Css("#nav-ops")).await.is_err());
    assert!(ops.find(Locator::Css("#nav-ops")).await.is_ok());
    bob.close().await.unwrap();
    ops.close().await.unwrap();
    relay.shutdown().await;
}
