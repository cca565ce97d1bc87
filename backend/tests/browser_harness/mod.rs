//! The browser tests' harness: a chromedriver process with headless Chromium sessions, a proxy
//! that can cut a browser's network, a page from another origin, and the steps the tests take
//! on the app's page (sign in, join, send, wait for what it shows).

#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// How long a browser step may take before the test fails.
/// A relay serving the release bundle (`COURIER_DIST`, or `dist/`), with a large message burst,
/// and chromedriver; `None` (and a line saying so) when browser tests are off.
pub async fn relay_with_bundle() -> Option<(crate::common::Relay, ChromeDriver)> {
    if std::env::var("COURIER_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set COURIER_BROWSER_TESTS=1 (scripts/test does) to run the browser tests"
        );
        return None;
    }
    let dist = std::env::var("COURIER_DIST")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    assert!(
        dist.join("index.html").is_file(),
        "no bundle: run `trunk build --release`"
    );
    let relay = crate::common::Relay::start_with(|c| {
        c.static_dir = dist.clone();
        c.msg_burst = 1000;
    })
    .await;
    Some((relay, ChromeDriver::start()))
}

pub const STEP: Duration = Duration::from_secs(15);

pub async fn log_in(browser: &Client, url: &str, name: &str) {
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
pub async fn send_private(browser: &Client, to: &str, text: &str) {
    click(browser, &format!(".user-entry[data-user='{to}']")).await;
    wait_for_text(browser, "#conversation-title", to).await;
    send(browser, text).await;
}

pub async fn join(browser: &Client, room: &str) {
    let input = browser.find(Locator::Css("#room-name")).await.unwrap();
    input.send_keys(room).await.unwrap();
    click(browser, "#join-room").await;
    wait_for_text(browser, "#conversation-title", room).await;
}

/// A tiny HTTP server on another loopback port (so another origin) that serves `page` to every
/// request; stopped when dropped.
pub struct OtherSite {
    pub addr: SocketAddr,
    accept: AbortHandle,
}

impl OtherSite {
    pub async fn start(page: String) -> Self {
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

/// Clicks the element `css` selects. An element that the page re-rendered between the find
/// and the click (a banner's countdown ticking, say) is found again, a few times at most.
pub async fn click(browser: &Client, css: &str) {
    for _ in 0..3 {
        let element = browser.find(Locator::Css(css)).await;
        let element = element.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        match element.click().await {
            Err(e) if e.is_stale_element_reference() => continue,
            done => return done.unwrap(),
        }
    }
    panic!("{css} went stale three times in a row");
}

pub async fn send(browser: &Client, text: &str) {
    let composer = browser.find(Locator::Css("#composer")).await.unwrap();
    composer.send_keys(text).await.unwrap();
    click(browser, "#send").await;
}

pub async fn wait_for_state(browser: &Client, state: &'static str) {
    wait_until(browser, state, |c| async move {
        let el = c.find(Locator::Css("#status")).await.ok()?;
        (el.attr("data-state").await.ok()?? == state).then_some(())
    })
    .await;
}

pub async fn wait_for_text(browser: &Client, css: &'static str, text: &str) {
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
pub async fn wait_for_message(browser: &Client, text: &str, from: &str) {
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
pub async fn wait_until<T, F, Fut>(browser: &Client, what: &str, probe: F) -> T
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
pub struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    pub fn start() -> Self {
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
    pub async fn browser(&self) -> Client {
        self.browser_in("en-US").await
    }

    /// A new headless browser session whose preferred language is `lang` (a BCP 47 tag).
    pub async fn browser_in(&self, lang: &str) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    format!("--lang={lang}"),
                ],
                "prefs": { "intl.accept_languages": lang },
            },
            // What the page logs to its console, for [`console_errors`].
            "goog:loggingPrefs": { "browser": "ALL" },
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
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
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
    pub fn point_at(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }

    /// Drops every connection open through the proxy, without a close frame.
    pub fn cut(&self) {
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

/// A POST to one of chromedriver's own endpoints of the session, which fantoccini has no
/// method for: `goog/cdp/execute` (a Chrome DevTools Protocol command: emulated media, screen
/// sizes, network conditions) and `se/log` (the page's console).
#[derive(Debug)]
struct SessionPost(&'static str, Value);

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.1.to_string()))
    }
}

/// Runs the CDP command `cmd` with `params` in the browser's page.
pub async fn cdp(browser: &Client, cmd: &str, params: Value) {
    browser
        .issue_cmd(SessionPost(
            "goog/cdp/execute",
            json!({ "cmd": cmd, "params": params }),
        ))
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
}

/// The page as in a dark (or light) system theme.
pub async fn color_scheme(browser: &Client, dark: bool) {
    let value = if dark { "dark" } else { "light" };
    let features = json!([{ "name": "prefers-color-scheme", "value": value }]);
    cdp(
        browser,
        "Emulation.setEmulatedMedia",
        json!({ "features": features }),
    )
    .await;
}

/// The page as on a phone (390 × 844 CSS pixels, touch), or back to the window's size.
pub async fn phone(browser: &Client, on: bool) {
    if on {
        let metrics =
            json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true });
        cdp(browser, "Emulation.setDeviceMetricsOverride", metrics).await;
    } else {
        cdp(browser, "Emulation.clearDeviceMetricsOverride", json!({})).await;
    }
}

/// The id of the element that has the keyboard focus ("" for none).
pub async fn focused(browser: &Client) -> String {
    let id = browser
        .execute(
            "return document.activeElement ? document.activeElement.id : '';",
            vec![],
        )
        .await
        .unwrap();
    id.as_str().unwrap_or_default().to_owned()
}

/// axe-core's serious and critical violations on the page as it is, as "rule: targets";
/// axe.min.js comes from the npm package scripts/setup installs.
pub async fn axe_violations(browser: &Client) -> Vec<String> {
    let tools = std::env::var("COURIER_TOOLS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/courier-tools",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let path = format!("{tools}/node_modules/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no axe-core at {path} ({e}): run scripts/setup"));
    browser.execute(&source, vec![]).await.unwrap();
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))
             ), e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// The console entries at level SEVERE (errors, failed loads) since the last call, as
/// "source: message".
pub async fn console_errors(browser: &Client) -> Vec<String> {
    let log = browser
        .issue_cmd(SessionPost("se/log", json!({ "type": "browser" })))
        .await
        .unwrap();
    let entries: Vec<Value> = serde_json::from_value(log).unwrap_or_default();
    entries
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            format!("{}: {}", text("source"), text("message"))
        })
        .collect()
}
