//! Test harness: the real relay on port 0, and real WebSocket clients on real sockets.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use courier::Config;
use courier::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempDir;

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(5);

mod client;
#[path = "../redis_fixture/mod.rs"]
pub mod redis_fixture;

#[allow(unused_imports)] // each test file uses its own part of the harness
pub use client::{Client, Ended};

/// A relay running in this process on a free port, with its database in a directory of its
/// own that goes when the last relay on it is dropped.
///
/// Its engine is SQLite, or Redis when `COURIER_TEST_ENGINE=redis`: then each relay has a
/// redis-server of its own, kept across [`Relay::restart`]. With `COURIER_TEST_ENGINE=cluster`
/// (`scripts/test` runs the relay's tests on SQLite and so) each relay is three relays on one
/// redis-server, and clients connect to each in turn. A test that needs one engine says so
/// ([`Relay::start_sqlite`]), and one that needs one relay too ([`Relay::start_alone`]).
pub struct Relay {
    pub addr: SocketAddr,
    /// The database file.
    pub db: PathBuf,
    dir: Arc<TempDir>,
    redis: Option<Arc<redis_fixture::Redis>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// With `COURIER_TEST_ENGINE=cluster`: the other relays on the same Redis. New clients
    /// connect to each in turn; HTTP requests go to this one.
    peers: Vec<Relay>,
    turn: Arc<std::sync::atomic::AtomicUsize>,
}

/// The seqs of a list of message objects (a `joined`'s `history`, a `history`'s `messages`).
pub fn seqs(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("a seq"))
        .collect()
}

/// Whether the relay's tests run on the Redis engine (`COURIER_TEST_ENGINE=redis`, or
/// `cluster`).
pub fn on_redis() -> bool {
    std::env::var("COURIER_TEST_ENGINE").is_ok_and(|e| e == "redis" || e == "cluster")
}

/// Whether each relay of the tests is three relays on one Redis, with the clients spread over
/// them (`COURIER_TEST_ENGINE=cluster`).
pub fn on_cluster() -> bool {
    std::env::var("COURIER_TEST_ENGINE").is_ok_and(|e| e == "cluster")
}

/// How many relays a test's relay is with `COURIER_TEST_ENGINE=cluster`.
const CLUSTER_RELAYS: usize = 3;

/// A fresh directory for a test's files, under the target directory.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("courier-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
}

impl Relay {
    /// The relay with its default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The relay with settings changed by `adjust`, on a new database.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let redis = on_redis().then(|| Arc::new(redis_fixture::Redis::start()));
        Self::start_in(Arc::new(temp_dir()), redis, true, adjust).await
    }

    /// [`Relay::start_with`], but one relay even with `COURIER_TEST_ENGINE=cluster`: for a
    /// test of what each relay keeps to itself (its rate and per-address limits, its operators'
    /// passwords file and runner; docs/CLUSTER.md).
    pub async fn start_alone(adjust: impl FnOnce(&mut Config)) -> Self {
        let redis = on_redis().then(|| Arc::new(redis_fixture::Redis::start()));
        Self::start_in(Arc::new(temp_dir()), redis, false, adjust).await
    }

    /// The relay on the SQLite engine whatever the tests run on: for a test about the SQLite
    /// file itself.
    pub async fn start_sqlite(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(Arc::new(temp_dir()), None, false, adjust).await
    }

    /// The password hash the engine keeps for the name key `key`, if any.
    pub fn stored_password(&self, key: &str) -> Option<String> {
        match &self.redis {
            Some(redis) => {
                let client = redis::Client::open(redis.url()).unwrap();
                let mut conn = client.get_connection().unwrap();
                redis::cmd("HGET")
                    .arg(format!("courier:user:{key}"))
                    .arg("password")
                    .query(&mut conn)
                    .unwrap()
            }
            None => rusqlite::Connection::open(&self.db)
                .unwrap()
                .query_row("SELECT password FROM users WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .unwrap(),
        }
    }

    /// A run's audit as the engine keeps it: who ran it, from which address, its hosts (as
    /// written, comma-separated), and each host's status, by host.
    pub fn audited_run(
        &self,
        run: &str,
    ) -> (String, Option<String>, String, Vec<(String, String)>) {
        match &self.redis {
            Some(redis) => {
                let client = redis::Client::open(redis.url()).unwrap();
                let mut conn = client.get_connection().unwrap();
                let row: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                    .arg(format!("courier:run:{run}"))
                    .query(&mut conn)
                    .unwrap();
                let hosts: std::collections::BTreeMap<String, String> = redis::cmd("HGETALL")
                    .arg(format!("courier:run-hosts:{run}"))
                    .query(&mut conn)
                    .unwrap();
                let statuses = hosts
                    .into_iter()
                    .map(|(host, json)| {
                        let result: Value = serde_json::from_str(&json).unwrap();
                        (host, result["status"].as_str().unwrap().to_owned())
                    })
                    .collect();
                (
                    row["by"].clone(),
                    Some(row["addr"].clone()).filter(|a| !a.is_empty()),
                    row["hosts"].clone(),
                    statuses,
                )
            }
            None => {
                let db = rusqlite::Connection::open(&self.db).unwrap();
                let (by, addr, hosts): (String, Option<String>, String) = db
                    .query_row(
                        "SELECT by_name, addr, hosts FROM runs WHERE run = ?1",
                        [run],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .unwrap();
                let statuses = db
                    .prepare("SELECT host, status FROM run_hosts WHERE run = ?1 ORDER BY host")
                    .unwrap()
                    .query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                (by, addr, hosts, statuses)
            }
        }
    }

    /// The relay on the Redis at `url`, which the test runs (and may pause or kill).
    pub async fn start_on_redis(url: String, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(Arc::new(temp_dir()), None, false, |c| {
            c.redis = Some(url);
            adjust(c);
        })
        .await
    }

    /// Shuts this relay down and starts a new one on its database, on a new port.
    pub async fn restart(self, adjust: impl FnOnce(&mut Config)) -> Self {
        let (dir, redis) = (self.dir.clone(), self.redis.clone());
        let spread = !self.peers.is_empty();
        self.shutdown().await;
        Self::start_in(dir, redis, spread, adjust).await
    }

    async fn start_in(
        dir: Arc<TempDir>,
        redis: Option<Arc<redis_fixture::Redis>>,
        spread: bool,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::defaults();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.static_dir = "/nonexistent-courier-test-dist".into();
        config.db = dir.path().join("courier.db");
        // Tests want durability semantics, not the disk's latency.
        config.db_sync = courier::config::Sync::Normal;
        // Tests make many names from one address; that limit is tested in hostile_logins.rs.
        config.names_per_ip_hour = 0;
        config.redis = redis.as_ref().map(|r| r.url());
        adjust(&mut config);
        let peers = if spread && on_cluster() && config.redis.is_some() {
            (1..CLUSTER_RELAYS)
                .map(|i| {
                    let mut peer = config.clone();
                    peer.db = dir.path().join(format!("peer-{i}.db"));
                    Self::spawn(peer, dir.clone(), None, Vec::new())
                })
                .collect()
        } else {
            Vec::new()
        };
        Self::spawn(config, dir, redis, peers)
    }

    fn spawn(
        config: Config,
        dir: Arc<TempDir>,
        redis: Option<Arc<redis_fixture::Redis>>,
        peers: Vec<Relay>,
    ) -> Self {
        let db = config.db.clone();
        let store = Store::open(&config.db, config.db_sync).expect("open the test database");
        let listener = courier::bind(config.listen).expect("bind a free port");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            courier::run(listener, config, store, async move {
                let _ = stopped.await;
            })
            .await
            .expect("the relay runs");
        });
        Self {
            addr,
            db,
            dir,
            redis,
            stop: Some(stop),
            task: Some(task),
            peers,
            turn: Arc::default(),
        }
    }

    /// The address the next client connects to: this relay, or with
    /// `COURIER_TEST_ENGINE=cluster` each of the relays in turn.
    pub fn next_addr(&self) -> SocketAddr {
        let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match turn % (self.peers.len() + 1) {
            0 => self.addr,
            i => self.peers[i - 1].addr,
        }
    }

    /// A relay that runs elsewhere (a child process the test started) at `addr`: clients
    /// connect to it; [`Relay::shutdown`] does nothing.
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            db: PathBuf::new(),
            dir: Arc::new(temp_dir()),
            redis: None,
            stop: None,
            task: None,
            peers: Vec::new(),
            turn: Arc::default(),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) {
        for peer in std::mem::take(&mut self.peers) {
            Box::pin(peer.shutdown()).await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the relay stops within its grace time")
                .unwrap();
        }
    }

    /// A connected client that has said hello as `name`.
    pub async fn user(&self, name: &str) -> Client {
        let mut client = Client::connect(self).await;
        client.hello(name).await;
        client
    }

    /// "alice" and "bob", both in `room`, with alice's `presence` about bob read.
    pub async fn two_in(&self, room: &str) -> (Client, Client) {
        let mut alice = self.user("alice").await;
        let mut bob = self.user("bob").await;
        alice.join(room).await;
        bob.join(room).await;
        alice.recv_type("presence").await;
        (alice, bob)
    }

    /// A plain HTTP/1.1 GET; returns the status code, the headers (lowercase names) and body.
    pub async fn get(&self, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let raw = raw_exchange(self.addr, request.as_bytes()).await;
        parse_response(&raw)
    }
}

/// Sends `bytes` on a fresh TCP connection and reads one response (its head, and a body of
/// `content-length` bytes or up to the end of the connection).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let read = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            out.extend_from_slice(&buf[..n]);
            if n == 0 {
                return out;
            }
            if let Some(head_end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                let (_, headers, body) = parse_response(&out);
                let length = header(&headers, "content-length").and_then(|v| v.parse().ok());
                if length.is_some_and(|len: usize| body.len() >= len) {
                    out.truncate(head_end + 4 + length.unwrap());
                    return out;
                }
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("the relay answers")
}

/// Splits a raw HTTP/1.1 response (not chunked) into status, headers and body.
pub fn parse_response(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sends a WebSocket upgrade request for `/ws` (with `extra` header lines, each ending in
/// CRLF) on a fresh connection from `from` (a loopback address), and returns the response's
/// status code. The connection is dropped after the head.
pub async fn upgrade_status(addr: SocketAddr, from: std::net::IpAddr, extra: &str) -> u16 {
    let mut tcp = connect_from(from, addr).await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = tokio::time::timeout(WAIT, async {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "the relay closed before answering");
            out.extend_from_slice(&buf[..n]);
        }
        out
    })
    .await
    .expect("the relay answers the upgrade");
    parse_response(&head).0
}

/// A TCP connection to `addr` from the loopback address `from` (any of 127.0.0.0/8 on Linux),
/// so that a test can be several clients in the relay's per-address limits.
pub async fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    // As browsers do: without it, a frame written right after a pong waits for the relay's
    // delayed ACK (Nagle), up to 40 ms.
    socket.set_nodelay(true).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A value of the relay's `/metrics`, by its full name.
pub async fn metric(relay: &Relay, name: &str) -> u64 {
    let (_, _, body) = relay.get("/metrics").await;
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Runs `courier passwd NAME --db DB` with `input` on standard input, as whoever runs the relay
/// would; its exit status and standard error.
pub fn passwd(db: &std::path::Path, name: &str, input: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["passwd", name, "--db-sync", "normal", "--db"])
        .arg(db)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run courier passwd");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("courier passwd ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
