//! The relay binary at its open-file limit: its connection budget (the limit less a reserve)
//! keeps it off EMFILE, it refuses what it cannot take without spinning, and the connections
//! it has carry on.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

/// The relay binary as a child process with at most `files` open files, stopped when dropped.
struct LimitedRelay {
    child: Child,
}

impl Drop for LimitedRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test]
async fn at_the_open_file_limit_the_relay_neither_spins_nor_drops_what_it_has() {
    // `ulimit -n` sets the hard limit too, so the relay cannot raise it past 64.
    let dir = common::temp_dir();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            // 72 names from one address: past --names-per-ip-hour, which is not tested here.
            "ulimit -n 64 && exec {} --listen 127.0.0.1:0 --static-dir /nonexistent \
             --names-per-ip-hour 0 --db {}",
            env!("CARGO_BIN_EXE_courier"),
            dir.path().join("courier.db").display()
        ))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let relay = LimitedRelay { child };
    let mut lines = BufReader::new(tokio::process::ChildStderr::from_std(stderr).unwrap()).lines();
    let mut addr = None;
    let mut limit_logged = false;
    while let Some(line) = lines.next_line().await.unwrap() {
        limit_logged |= line.contains("open-file limit: 64");
        if let Some(at) = line.find("listening on http://") {
            addr = Some(line[at + "listening on http://".len()..].trim().to_owned());
            break;
        }
    }
    assert!(limit_logged, "the relay logs its open-file limit");
    let addr: std::net::SocketAddr = addr
        .expect("the relay says where it listens")
        .parse()
        .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = format!("ws://{addr}/ws");

    // Fill the table: every connection the relay can take, and a few it cannot.
    let mut clients = Vec::new();
    for i in 0..72 {
        let attempt = tokio::time::timeout(Duration::from_millis(300), async {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.ok()?;
            let hello = json!({"type": "hello", "name": format!("u{i}")}).to_string();
            ws.send(Message::text(hello)).await.ok()?;
            loop {
                if let Message::Text(t) = ws.next().await?.ok()? {
                    return t.as_str().contains("welcome").then_some(ws);
                }
            }
        })
        .await;
        if let Ok(Some(ws)) = attempt {
            clients.push(ws);
        }
    }
    // 64 files, less a reserve of 32: a budget of 32 connections, 28 of them WebSockets.
    assert!(
        clients.len() >= 20,
        "the relay took {} connections",
        clients.len()
    );
    assert!(clients.len() <= 28, "the budget held: {}", clients.len());

    // While new connections wait, the relay does not spin on accept errors.
    let pid = relay.child.id();
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_seconds(pid) - before;
    assert!(
        spent < 0.5,
        "the relay used {spent} s of CPU in 2 s while at its limit"
    );

    // The connections it has still work.
    let ws = &mut clients[0];
    ws.send(Message::text(r#"{"type":"users"}"#)).await.unwrap();
    let reply = tokio::time::timeout(common::WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        reply.to_text().unwrap().contains(r#""type":"users""#),
        "{reply:?}"
    );

    // And once some leave, new ones get in again.
    clients.truncate(clients.len() - 5);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut ws, _) = tokio::time::timeout(common::WAIT, tokio_tungstenite::connect_async(&url))
        .await
        .expect("a new connection is taken once descriptors free up")
        .unwrap();
    ws.send(Message::text(
        json!({"type": "hello", "name": "late"}).to_string(),
    ))
    .await
    .unwrap();
}
