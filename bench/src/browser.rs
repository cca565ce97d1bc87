//! What the render benchmark ([`crate::render`]) drives: a relay process serving the release
//! bundle, a chromedriver process with headless Chromium (the flags of the browser tests), and
//! the Chrome DevTools Protocol through chromedriver's `goog/cdp/execute` endpoint.
//!
//! Every process started here is stopped, by its PID, when its handle is dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// A `courier` relay process on a free loopback port, with its database in a fresh directory.
pub struct RelayProcess {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl RelayProcess {
    /// Starts `bin` serving `dist`, with the abuse limits off and the per-connection queue
    /// large (the benchmark measures the page, not the relay cutting a slow reader).
    ///
    /// # Errors
    /// The relay did not start or did not say where it listens.
    pub fn start(bin: &Path, dist: &Path) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("courier-render-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--db-sync", "off"])
            .arg("--static-dir")
            .arg(dist)
            .arg("--db")
            .arg(dir.join("courier.db"))
            .args([
                "--msg-rate",
                "0",
                "--conns-per-ip",
                "0",
                "--conn-rate-per-ip",
                "0",
            ])
            .args(["--queue-frames", "65536", "--queue-mib", "256"])
            .args(["--retain-messages", "0"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the relay ended before it listened".into());
            };
            if let Some((_, rest)) = line.split_once("listening on http://") {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                break addr.parse().map_err(|e| format!("{line}: {e}"))?;
            }
        };
        // Keep reading its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, addr, dir })
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A chromedriver process on a free port, in its own process group so that the browsers it
/// starts stop with it.
pub struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// # Errors
    /// chromedriver is not on PATH or no port is free.
    pub fn start() -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver on PATH (scripts/setup installs it): {e}"))?;
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A new headless browser session, with the window size of the browser tests.
    ///
    /// # Errors
    /// No session after 10 s.
    pub async fn browser(&self) -> Result<Client, String> {
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
        let caps = caps.as_object().cloned().unwrap_or_default();
        let mut last_error = String::new();
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return Ok(client),
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "no browser session from chromedriver: {last_error}"
        ))
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn chromium_binary() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
}

/// One DevTools Protocol command, sent through chromedriver (`POST
/// /session/{id}/goog/cdp/execute`), which fantoccini has no method for.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Runs the DevTools command `cmd` in `browser`'s page; its result.
///
/// # Errors
/// chromedriver's error, as text.
pub async fn cdp(browser: &Client, cmd: &'static str, params: Value) -> Result<Value, String> {
    browser
        .issue_cmd(Cdp { cmd, params })
        .await
        .map_err(|e| format!("{cmd}: {e}"))
}

/// The renderer's cumulative counters from `Performance.getMetrics` (enable the domain with
/// `Performance.enable` first): main-thread time in all tasks and in script, layout and style,
/// and the live DOM nodes.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub task_ms: f64,
    pub script_ms: f64,
    pub layout_ms: f64,
    pub style_ms: f64,
    pub nodes: f64,
    /// Every `*Duration` counter, in ms (`ThreadTime` among them: the main thread's CPU time).
    pub durations: BTreeMap<String, f64>,
}

impl Metrics {
    /// Reads the counters now.
    ///
    /// # Errors
    /// The command failed or its answer has no metrics.
    pub async fn read(browser: &Client) -> Result<Self, String> {
        let answer = cdp(browser, "Performance.getMetrics", json!({})).await?;
        let list = answer["metrics"]
            .as_array()
            .ok_or_else(|| format!("no metrics in {answer}"))?;
        let get = |name: &str| {
            list.iter()
                .find(|m| m["name"] == name)
                .and_then(|m| m["value"].as_f64())
                .unwrap_or(0.0)
        };
        let durations = list
            .iter()
            .filter_map(|m| {
                let name = m["name"].as_str()?;
                (name.ends_with("Duration") || name == "ThreadTime")
                    .then(|| (name.to_owned(), m["value"].as_f64().unwrap_or(0.0) * 1000.0))
            })
            .collect();
        Ok(Self {
            durations,
            task_ms: get("TaskDuration") * 1000.0,
            script_ms: get("ScriptDuration") * 1000.0,
            layout_ms: get("LayoutDuration") * 1000.0,
            style_ms: get("RecalcStyleDuration") * 1000.0,
            nodes: get("Nodes"),
        })
    }

    /// What the counters grew by since `before`, per `count` events (nodes as now).
    pub fn per(&self, before: &Self, count: u32) -> Self {
        let n = f64::from(count.max(1));
        Self {
            task_ms: (self.task_ms - before.task_ms) / n,
            script_ms: (self.script_ms - before.script_ms) / n,
            layout_ms: (self.layout_ms - before.layout_ms) / n,
            style_ms: (self.style_ms - before.style_ms) / n,
            nodes: self.nodes,
            durations: self
                .durations
                .iter()
                .map(|(k, v)| (k.clone(), (v - before.durations.get(k).unwrap_or(&0.0)) / n))
                .collect(),
        }
    }
}
