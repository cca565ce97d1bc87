//! End to end in headless Chromium: the release bundle (`trunk build --release`) served by the
//! relay, two browser sessions chatting through it; and the origin policy: a page from another
//! origin cannot open a WebSocket to the relay, the app's own page can.
//!
//! Runs when COURIER_BROWSER_TESTS=1 (scripts/test sets it, after building the bundle);
//! otherwise it says it was skipped. It needs `chromedriver` and `chromium` on PATH
//! (scripts/setup installs them).

#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Relay;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// How long a browser step may take before the test fails.
const STEP: Duration = Duration::from_secs(15);

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

async fn log_in(browser: &Client, url: &str, name: &str) {
    browser.goto(url).await.unwrap();
    let input = wait_until(browser, "the name field", |c| async move {
        c.find(Locator::Css("#name")).await.ok()
    })
    .await;
    input.send_keys(name).await.unwrap();
    click(browser, "#login").await;
    wait_for_state(browser, "connected").await;
}

/// Opens the private conversation with `to` (online) and sends `text` there.
async fn send_private(browser: &Client, to: &str, text: &str) {
    click(browser, &format!(".user-entry[data-user='{to}']")).await;
    wait_for_text(browser, "#conversation-title", to).await;
    send(browser, text).await;
}

async fn join(browser: &Client, room: &str) {
    let input = browser.find(Locator::Css("#room-name")).await.unwrap();
    input.send_keys(room).await.unwrap();
    click(browser, "#join-room").await;
    wait_for_text(browser, "#conversation-title", room).await;
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

/// A tiny HTTP server on another loopback port (so another origin) that serves `page` to every
/// request; stopped when dropped.
struct OtherSite {
    addr: SocketAddr,
    accept: AbortHandle,
}

impl OtherSite {
    async fn start(page: String) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let page = page.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = tcp.write_all(response.as_bytes()).await;
                });
            }
        })
        .abort_handle();
        Self { addr, accept }
    }
}

impl Drop for OtherSite {
    fn drop(&mut self) {
        self.accept.abort();
    }
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

/// Clicks the element `css` selects.
async fn click(browser: &Client, css: &str) {
    let element = browser.find(Locator::Css(css)).await;
    let element = element.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    element.click().await.unwrap();
}

async fn send(browser: &Client, text: &str) {
    let composer = browser.find(Locator::Css("#composer")).await.unwrap();
    composer.send_keys(text).await.unwrap();
    click(browser, "#send").await;
}

async fn wait_for_state(browser: &Client, state: &'static str) {
    wait_until(browser, state, |c| async move {
        let el = c.find(Locator::Css("#status")).await.ok()?;
        (el.attr("data-state").await.ok()?? == state).then_some(())
    })
    .await;
}

async fn wait_for_text(browser: &Client, css: &'static str, text: &str) {
    let text = text.to_owned();
    wait_until(browser, &format!("{css} to show {text:?}"), move |c| {
        let text = text.clone();
        async move {
            let shown = c.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
            shown.contains(&text).then_some(())
        }
    })
    .await;
}

/// Waits for a message with exactly `text` from `from` in the open conversation.
async fn wait_for_message(browser: &Client, text: &str, from: &str) {
    let (text, from) = (text.to_owned(), from.to_owned());
    wait_until(
        browser,
        &format!("message {text:?} from {from}"),
        move |c| {
            let (text, from) = (text.clone(), from.clone());
            async move {
                for message in c.find_all(Locator::Css("#messages .message")).await.ok()? {
                    let body = message.find(Locator::Css(".message-text")).await.ok()?;
                    if body.text().await.ok()? == text
                        && message.attr("data-from").await.ok()?.as_deref() == Some(from.as_str())
                    {
                        return Some(());
                    }
                }
                None
            }
        },
    )
    .await;
}

/// Polls `probe` until it returns something, or fails the test after [`STEP`].
async fn wait_until<T, F, Fut>(browser: &Client, what: &str, probe: F) -> T
where
    F: Fn(Client) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Some(found) = probe(browser.clone()).await {
            return found;
        }
        if tokio::time::Instant::now() > deadline {
            let page = browser.source().await.unwrap_or_default();
            panic!("gave up waiting for {what}; the page was:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A chromedriver process on a free port, stopped (by its PID) when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            // Its own process group, so that the browsers it starts can be stopped with it,
            // even when a failing test never closes its sessions.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver on PATH (scripts/setup installs chromium-driver)");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new headless browser session.
    async fn browser(&self) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                ],
            },
        });
        let caps: serde_json::Map<String, serde_json::Value> = caps.as_object().unwrap().clone();
        let mut last_error = None;
        // chromedriver takes a moment to start listening.
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no browser session from chromedriver: {last_error:?}");
    }
}

fn chromium_binary() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The group is chromedriver's PID (process_group(0)): it and every browser it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A TCP forwarder in front of the relay whose connections can be cut at once, and which can
/// be pointed at another relay.
struct Proxy {
    addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let target = upstream.clone();
        let live = Arc::new(Mutex::new(Vec::new()));
        let tracked = live.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = *target.lock().unwrap();
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        // Like the relay: no Nagle delay on small frames.
                        let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(forward.abort_handle());
            }
        })
        .abort_handle();
        Self {
            addr,
            upstream,
            live,
            accept,
        }
    }

    /// New connections go to `upstream` from now on.
    fn point_at(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }

    /// Drops every connection open through the proxy, without a close frame.
    fn cut(&self) {
        for conn in self.live.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
