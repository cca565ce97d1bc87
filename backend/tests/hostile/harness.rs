//! The hostile suite's harness: the relay binary as a child process (its RSS and metrics),
//! well-behaved WebSocket clients, raw frames written by hand, and floods that count what
//! comes back.

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::common::{self, connect_from, parse_response, raw_exchange};

/// The relay binary as a child process, killed when dropped.
pub struct ChildRelay {
    pub child: Child,
    pub addr: SocketAddr,
    /// Holds its database.
    _dir: tempfile::TempDir,
}

impl Drop for ChildRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildRelay {
    pub async fn start(flags: &[&str]) -> Self {
        let (dir, child, mut lines) = spawn(flags);
        let mut addr = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on http://") {
                addr = Some(
                    line[at + "listening on http://".len()..]
                        .trim()
                        .parse()
                        .unwrap(),
                );
                break;
            }
        }
        // Keep reading the log, or the relay would block on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr: addr.expect("the relay says where it listens"),
            child,
            _dir: dir,
        }
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// Its database file.
    #[allow(dead_code)] // each test file compiles the harness; not every one reads it
    pub fn db(&self) -> std::path::PathBuf {
        self._dir.path().join("courier.db")
    }

    pub async fn metric(&self, name: &str) -> u64 {
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let raw = raw_exchange(self.addr, request.as_bytes()).await;
        let (status, _, body) = parse_response(&raw);
        assert_eq!(status, 200);
        String::from_utf8(body)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }
}

/// The resident memory of process `pid`, in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub type Ws = WebSocketStream<TcpStream>;

pub async fn ws(addr: SocketAddr, from: &str) -> Ws {
    let tcp = connect_from(ip(from), addr).await;
    client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .unwrap()
        .0
}

pub async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next JSON frame, skipping pings.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .expect("a frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

pub async fn user(addr: SocketAddr, from: &str, name: &str) -> Ws {
    let mut ws = ws(addr, from).await;
    send(&mut ws, json!({"type":"hello","name":name})).await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    ws
}

/// A WebSocket by hand on a raw socket from `from`: the handshake, then whatever bytes a test
/// writes.
pub async fn raw_ws(addr: SocketAddr, from: &str) -> TcpStream {
    let mut tcp = connect_from(ip(from), addr).await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// A masked client frame.
pub fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads server frames until a close frame; returns its code (None: the socket ended first).
pub async fn close_code(tcp: &mut TcpStream) -> Option<u16> {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            tcp.read_exact(&mut head).await.ok()?;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    tcp.read_exact(&mut l).await.ok()?;
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    tcp.read_exact(&mut l).await.ok()?;
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            tcp.read_exact(&mut payload).await.ok()?;
            if head[0] & 0x0f == 0x8 {
                return Some(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the relay closes the connection in time")
}

/// Reads until the relay ends the connection; panics if it does not within `within`.
pub async fn read_to_end(tcp: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(within, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the relay cut the connection off");
}

/// The next data frame (not a ping or pong) within `idle`; `None` if none came in time or
/// the connection ended. The relay pings every second here, so a plain timeout on `next`
/// would never see silence.
pub async fn next_data<S>(stream: &mut S, idle: Duration) -> Option<Message>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = Instant::now() + idle;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(msg))) => return Some(msg),
            _ => return None,
        }
    }
}

/// What a flood got back.
#[derive(Debug, Default)]
pub struct Tally {
    /// Answers of the expected type (the frame was carried out).
    pub ok: u64,
    pub rate_limited: u64,
    /// Other errors (`forbidden` for joins past the room cap, say).
    pub other_errors: u64,
    /// How long the flood took, from the first frame sent to the last answer read.
    pub secs: f64,
}

/// Sends `frames` as fast as the socket takes them while reading every answer, and counts
/// the answers. Stops reading at one answer a frame, or after 2 s without one when
/// `every_frame_answered` is false (typing has no answer when it is carried out).
pub async fn flood_and_count(
    ws: Ws,
    frames: Vec<String>,
    ok_type: &'static str,
    every_frame_answered: bool,
) -> Tally {
    let started = Instant::now();
    let expected = frames.len();
    let idle = if every_frame_answered { 10 } else { 2 };
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        let mut tally = Tally::default();
        let mut answers = 0;
        while answers < expected {
            let Some(msg) = next_data(&mut stream, Duration::from_secs(idle)).await else {
                break;
            };
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            match (v["type"].as_str(), v["code"].as_str()) {
                (Some(t), _) if t == ok_type => tally.ok += 1,
                (_, Some("rate_limited")) => tally.rate_limited += 1,
                (Some("error"), _) => tally.other_errors += 1,
                _ => continue, // presence, typing from others
            }
            answers += 1;
        }
        tally
    });
    for text in frames {
        if sink.feed(Message::text(text)).await.is_err() {
            break;
        }
    }
    let _ = sink.flush().await;
    let mut tally = reader.await.unwrap();
    tally.secs = started.elapsed().as_secs_f64();
    tally
}

/// Sends `count` frames without reading anything, until the relay cuts it off.
pub async fn flood_blind(mut ws: Ws, frame: Value, count: usize) {
    let text = frame.to_string();
    for _ in 0..count {
        if ws.feed(Message::text(text.clone())).await.is_err() {
            return;
        }
    }
    let _ = ws.flush().await;
}

impl ChildRelay {
    /// As [`ChildRelay::start`], with the relay's open-file limit (soft and hard, as
    /// `ulimit -n` sets them) at `files`, so that a few hundred sockets put it under real
    /// pressure.
    #[allow(dead_code)] // Not every attack needs it.
    pub async fn start_with_open_files(files: u32, flags: &[&str]) -> Self {
        let dir = common::temp_dir();
        let mut command = format!(
            "ulimit -n {files} && exec {} --listen 127.0.0.1:0 --static-dir /nonexistent \
             --db-sync normal --db {}",
            env!("CARGO_BIN_EXE_courier"),
            dir.path().join("courier.db").display()
        );
        for flag in flags {
            command.push(' ');
            command.push_str(flag);
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines =
            BufReader::new(tokio::process::ChildStderr::from_std(stderr).unwrap()).lines();
        let mut addr = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on http://") {
                let rest = line[at + "listening on http://".len()..].trim();
                addr = Some(rest.parse().unwrap());
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr: addr.expect("the relay says where it listens"),
            child,
            _dir: dir,
        }
    }
}

/// `GET path` from address `from` on a connection of its own; the status, or `None` if no
/// answer came within `within`.
#[allow(dead_code)] // Not every attack needs it.
pub async fn get_from(addr: SocketAddr, from: &str, path: &str, within: Duration) -> Option<u16> {
    let exchange = async {
        let mut tcp = connect_from(ip(from), addr).await;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).await.ok()?;
        if !out.windows(4).any(|w| w == b"\r\n\r\n") {
            return None;
        }
        let (status, _, _) = parse_response(&out);
        Some(status)
    };
    tokio::time::timeout(within, exchange).await.ok().flatten()
}

impl ChildRelay {
    /// [`ChildRelay::start`], also returning the first line of the log after the listening one
    /// that contains `marker` (for example the address of a second listener).
    #[allow(dead_code)] // each test file compiles the harness; not every one notes a line
    pub async fn start_noting(flags: &[&str], marker: &str) -> (Self, String) {
        let (dir, mut child, mut lines) = spawn(flags);
        let (mut addr, mut noted) = (None, None);
        let reading = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(at) = line.find("listening on http://") {
                    let rest = line[at + "listening on http://".len()..].trim();
                    addr = Some(rest.parse().unwrap());
                } else if addr.is_some() && line.contains(marker) {
                    noted = Some(line);
                    break;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(20), reading)
            .await
            .is_err()
        {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the relay did not log where it listens and {marker} in time");
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let relay = Self {
            addr: addr.expect("the relay says where it listens"),
            child,
            _dir: dir,
        };
        (
            relay,
            noted.unwrap_or_else(|| panic!("no log line with {marker}")),
        )
    }
}

type LogLines = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

/// Starts the relay binary on port 0 with its own database and `flags`; its log, line by line.
fn spawn(flags: &[&str]) -> (tempfile::TempDir, Child, LogLines) {
    let dir = common::temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
        .arg("--db")
        .arg(dir.path().join("courier.db"))
        .args(flags)
        // What is measured is what clients can do to each other, not how long this
        // machine's disk takes to fsync (with `full`, every commit waits for one; on a
        // shared disk that alone was seen to take 100 ms now and then).
        .args(["--db-sync", "normal"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = BufReader::new(tokio::process::ChildStderr::from_std(stderr).unwrap()).lines();
    (dir, child, lines)
}
