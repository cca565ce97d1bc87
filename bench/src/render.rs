//! The page under a busy room: what one new message costs the browser's renderer as the
//! history grows, how big the DOM gets, and how long the user's own message takes to appear
//! during a burst.
//!
//! A relay process serves the release bundle; headless Chromium (through chromedriver) signs
//! in as `reader` and joins `busy`; a bot client sends into `busy`. At each level (200, 2,000,
//! 5,000 messages held by the page) the bot streams `--stream` messages at `--rate` a second,
//! and the renderer's main-thread time (DevTools `Performance.getMetrics`: `TaskDuration`,
//! `ScriptDuration`, layout, style) grown over the stream, from its first message until the
//! page shows its last, is divided by the messages streamed. Then a burst of `--burst`
//! messages as fast as the bot can send, and 300 ms into it the reader sends a message: the
//! time from the click to the first animation frame that has it in the list, as the page
//! measures it (`performance.now()`), and how many of the burst's messages the list shows 3 s
//! after the burst began.
//!
//! Renderer time, not wall time: the DevTools counters are the main thread's busy time, which
//! is what a new message costs the page whatever else the machine does; the few WebDriver
//! polls made while waiting for a stream's last message are counted in it too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, Locator};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::json;
use shared::{ClientFrame, ClientMsg, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

use crate::browser::{ChromeDriver, Metrics, RelayProcess, cdp};
use crate::cli::RenderArgs;
use crate::net::{self, Ws};

/// The room the bot streams into.
const ROOM: &str = "busy";

/// How long the page may take to show everything sent so far.
const CATCH_UP: Duration = Duration::from_secs(600);

/// The cost of new messages with `held` messages in the list.
#[derive(Debug, Serialize)]
pub struct Level {
    pub held: u64,
    pub messages: u32,
    pub task_ms_per_msg: f64,
    pub script_ms_per_msg: f64,
    pub layout_ms_per_msg: f64,
    pub style_ms_per_msg: f64,
    /// From the stream's last send until the page showed it.
    pub lag_ms: u64,
    pub dom_elements: u64,
    pub dom_nodes: f64,
    /// The renderer's busy time a second with nothing coming in, measured just before (what
    /// the page costs when idle; not subtracted above).
    pub idle_task_ms_per_s: f64,
    /// Every duration counter, per message.
    pub durations_per_msg: std::collections::BTreeMap<String, f64>,
}

/// The burst.
#[derive(Debug, Serialize)]
pub struct Burst {
    pub messages: u32,
    /// The reader's own message: click to the first frame with it in the list, in the page.
    pub own_message_ms: f64,
    /// How long the busy page took to run the script that clicks (it waits behind the page's
    /// other tasks, as a user's click would, less the priority Chromium gives real input).
    pub click_wait_ms: u64,
    /// The burst's messages the list showed when the page answered a query sent 3 s after
    /// the burst began, and when it answered (a busy page answers late).
    pub shown_after_3s: u64,
    pub counted_at_ms: u64,
    /// From the burst's start until the page showed its last message.
    pub all_shown_ms: u64,
    pub dom_elements: u64,
    pub dom_nodes: f64,
}

#[derive(Debug, Serialize)]
pub struct RenderReport {
    pub rate: f64,
    pub levels: Vec<Level>,
    pub burst: Burst,
}

impl RenderReport {
    /// A few lines for people.
    pub fn summary(&self) -> String {
        let mut out = format!("render: new messages at {}/s\n", self.rate);
        for l in &self.levels {
            out += &format!(
                "  {:>5} held: {:>6.2} ms/msg renderer ({:.2} script, {:.2} layout, {:.2} style), \
                 lag {} ms, {} elements, {} nodes; idle {:.1} ms/s\n",
                l.held,
                l.task_ms_per_msg,
                l.script_ms_per_msg,
                l.layout_ms_per_msg,
                l.style_ms_per_msg,
                l.lag_ms,
                l.dom_elements,
                l.dom_nodes,
                l.idle_task_ms_per_s
            );
        }
        let b = &self.burst;
        out += &format!(
            "  burst of {}: own message on screen {:.0} ms after the click (which waited {} ms); \
             {} shown after 3 s (counted at {} ms), all after {} ms; {} elements, {} nodes\n",
            b.messages,
            b.own_message_ms,
            b.click_wait_ms,
            b.shown_after_3s,
            b.counted_at_ms,
            b.all_shown_ms,
            b.dom_elements,
            b.dom_nodes
        );
        out
    }
}

/// The bot: it sends numbered messages (`m<n> …`) into [`ROOM`]; its reader drains what the
/// relay sends back.
struct Bot {
    sink: SplitSink<Ws, Message>,
    sent: u64,
}

impl Bot {
    async fn start(relay: SocketAddr) -> Result<Self, String> {
        let mut ws = net::open_courier(relay, 0, "bot").await?;
        let join = ClientFrame::new(ClientMsg::Join {
            room: ROOM.to_owned(),
            after: None,
        });
        net::send_frame(&mut ws, &join).await?;
        loop {
            if let ServerMsg::Joined { .. } = net::next_server_msg(&mut ws).await? {
                break;
            }
        }
        let (sink, mut stream) = ws.split();
        tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        Ok(Self { sink, sent: 0 })
    }

    /// Sends `count` messages, `rate` a second (as fast as possible when `None`).
    async fn send(&mut self, count: u32, rate: Option<f64>) -> Result<(), String> {
        let start = tokio::time::Instant::now();
        for i in 0..count {
            if let Some(rate) = rate {
                tokio::time::sleep_until(start + Duration::from_secs_f64(f64::from(i) / rate))
                    .await;
            }
            self.sent += 1;
            let say = ClientFrame::new(ClientMsg::Say {
                room: ROOM.to_owned(),
                text: format!("m{} the quick brown fox jumps over the lazy dog", self.sent),
                mid: None,
                reply: None,
            });
            self.sink
                .send(Message::text(say.to_json()))
                .await
                .map_err(|e| format!("bot: {e}"))?;
        }
        Ok(())
    }
}

/// Runs the benchmark.
///
/// # Errors
/// A process would not start, the page did not do what was expected, or it fell behind by
/// more than [`CATCH_UP`].
pub async fn run(args: &RenderArgs) -> Result<RenderReport, String> {
    let relay = RelayProcess::start(&args.relay_bin, &args.dist)?;
    let driver = ChromeDriver::start()?;
    let browser = driver.browser().await?;
    // A page that falls far behind answers scripts late.
    let timeouts = TimeoutConfiguration::new(Some(CATCH_UP), None, None);
    browser
        .update_timeouts(timeouts)
        .await
        .map_err(|e| e.to_string())?;
    // On Ctrl-C the processes started are stopped too (by their handles' drop).
    let result = tokio::select! {
        result = measure(args, relay.addr, &browser) => result,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    let _ = browser.close().await;
    result
}

async fn measure(
    args: &RenderArgs,
    relay: SocketAddr,
    browser: &Client,
) -> Result<RenderReport, String> {
    let mut bot = Bot::start(relay).await?;
    sign_in(browser, relay).await?;
    cdp(browser, "Performance.enable", json!({})).await?;
    if let Some(script) = &args.page_script {
        browser
            .execute(script, vec![])
            .await
            .map_err(|e| format!("--page-script: {e}"))?;
    }
    let mut levels = Vec::new();
    for &held in &args.levels {
        let fill = held.saturating_sub(bot.sent);
        bot.send(
            u32::try_from(fill).unwrap_or(u32::MAX),
            Some(args.fill_rate),
        )
        .await?;
        wait_shown(browser, bot.sent).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let held = bot.sent;
        let idle_from = Metrics::read(browser).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = Metrics::read(browser).await?;
        let idle_task_ms_per_s = (before.task_ms - idle_from.task_ms) / 2.0;
        bot.send(args.stream, Some(args.rate)).await?;
        let sent_at = Instant::now();
        wait_shown(browser, bot.sent).await?;
        let lag_ms = sent_at.elapsed().as_millis() as u64;
        let per = Metrics::read(browser).await?.per(&before, args.stream);
        let level = Level {
            held,
            messages: args.stream,
            task_ms_per_msg: per.task_ms,
            script_ms_per_msg: per.script_ms,
            layout_ms_per_msg: per.layout_ms,
            style_ms_per_msg: per.style_ms,
            lag_ms,
            dom_elements: dom_elements(browser).await?,
            dom_nodes: per.nodes,
            idle_task_ms_per_s,
            durations_per_msg: per.durations,
        };
        if args.progress {
            eprintln!("{level:?}");
        }
        levels.push(level);
    }
    let burst = burst(args, &mut bot, browser).await?;
    Ok(RenderReport {
        rate: args.rate,
        levels,
        burst,
    })
}

/// The burst, with the reader's own message 300 ms into it.
async fn burst(args: &RenderArgs, bot: &mut Bot, browser: &Client) -> Result<Burst, String> {
    let own = "my own words in the middle of it";
    let composer = browser
        .find(Locator::Css("#composer"))
        .await
        .map_err(|e| format!("no composer: {e}"))?;
    composer.send_keys(own).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = bot.sent;
    let start = Instant::now();
    let sending = bot.send(args.burst, None);
    let watching = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The page times it: from the click to the first animation frame that has it.
        let click = Instant::now();
        browser
            .execute(
                "const [text] = arguments; \
                 window.ownMs = null; \
                 const t0 = performance.now(); \
                 document.querySelector('#send').click(); \
                 const check = () => { \
                   for (const el of document.querySelectorAll('#messages .message.mine .message-text')) \
                     if (el.textContent === text) { window.ownMs = performance.now() - t0; return; } \
                   requestAnimationFrame(check); }; \
                 requestAnimationFrame(check);",
                vec![json!(own)],
            )
            .await
            .map_err(|e| format!("own message: {e}"))?;
        let click_wait_ms = click.elapsed().as_millis() as u64;
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(start.elapsed())).await;
        let at_3s = last_shown(browser)
            .await?
            .unwrap_or(0)
            .saturating_sub(first);
        let counted_at_ms = start.elapsed().as_millis() as u64;
        Ok::<_, String>((click_wait_ms, at_3s, counted_at_ms))
    };
    let (sent, watched) = tokio::join!(sending, watching);
    sent?;
    let (click_wait_ms, shown_after_3s, counted_at_ms) = watched?;
    let deadline = Instant::now() + CATCH_UP;
    let own_message_ms = loop {
        let own = browser
            .execute("return window.ownMs;", vec![])
            .await
            .map_err(|e| e.to_string())?;
        if let Some(ms) = own.as_f64() {
            break ms;
        }
        if Instant::now() > deadline {
            return Err("the page did not show the reader's own message".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    wait_shown(browser, bot.sent).await?;
    let all_shown_ms = start.elapsed().as_millis() as u64;
    Ok(Burst {
        messages: args.burst,
        own_message_ms,
        click_wait_ms,
        shown_after_3s,
        counted_at_ms,
        all_shown_ms,
        dom_elements: dom_elements(browser).await?,
        dom_nodes: Metrics::read(browser).await?.nodes,
    })
}

/// Opens the app, signs in as `reader` and joins [`ROOM`].
async fn sign_in(browser: &Client, relay: SocketAddr) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    browser.goto(&format!("http://{relay}/")).await.map_err(e)?;
    let name = wait_for(browser, "#name").await?;
    name.send_keys("reader").await.map_err(e)?;
    browser
        .find(Locator::Css("#login"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    let room = wait_for(browser, "#room-name").await?;
    room.send_keys(ROOM).await.map_err(e)?;
    browser
        .find(Locator::Css("#join-room"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    wait_for(browser, "#composer:not([disabled])").await?;
    Ok(())
}

/// The element `css` selects, once there is one (10 s at most).
async fn wait_for(browser: &Client, css: &str) -> Result<fantoccini::elements::Element, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(found) = browser.find(Locator::Css(css)).await {
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(format!("no {css} on the page"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number of the newest bot message in the list, if any.
async fn last_shown(browser: &Client) -> Result<Option<u64>, String> {
    let n = browser
        .execute(
            "const all = document.querySelectorAll('#messages .message-text'); \
             for (let i = all.length - 1; i >= 0; i--) { \
               const m = /^m(\\d+) /.exec(all[i].textContent); if (m) return Number(m[1]); } \
             return null;",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(n.as_u64())
}

/// Waits until the list shows bot message `n`.
async fn wait_shown(browser: &Client, n: u64) -> Result<(), String> {
    let deadline = Instant::now() + CATCH_UP;
    while last_shown(browser).await? < Some(n) {
        if Instant::now() > deadline {
            return Err(format!("the page did not show message {n} in {CATCH_UP:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Elements in the document.
async fn dom_elements(browser: &Client) -> Result<u64, String> {
    let n = browser
        .execute("return document.getElementsByTagName('*').length;", vec![])
        .await
        .map_err(|e| e.to_string())?;
    Ok(n.as_u64().unwrap_or(0))
}
