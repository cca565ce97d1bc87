//! The relay binary killed with SIGKILL in the middle of traffic, then restarted on the same
//! database: every message a sender saw acknowledged is there exactly once, and every
//! conversation's seqs are 1..n with no gap. Also: a database the relay cannot use, or one
//! another relay is using, stops it at start-up with an error naming the file; and a log
//! nobody reads any more does not stop it.
#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const USERS: usize = 4;
const ROOMS: [&str; 2] = ["r0", "r1"];

/// The relay binary as a child process; killed when dropped.
struct ChildRelay {
    child: Child,
    addr: String,
}

impl ChildRelay {
    async fn start(db: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
            .arg("--db")
            .arg(db)
            // The load is the point here, not the rate limit.
            .args(["--msg-rate", "0"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the relay binary");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(at) = line.find("listening on http://") {
                    return line[at + "listening on http://".len()..].trim().to_owned();
                }
            }
            panic!("the relay ended before listening");
        })
        .await
        .expect("the relay listens within 10 s");
        // Keep reading its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }
}

/// A connection to the relay at `addr` that has said hello as `name`, with acks.
async fn connect(addr: &str, name: &str) -> Ws {
    {
        let (mut ws, _) = connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        send(&mut ws, json!({"type":"hello","name":name,"acks":true})).await;
        loop {
            let frame = recv(&mut ws).await.expect("welcome");
            match frame["type"].as_str() {
                Some("welcome") => return ws,
                Some("message") => {} // mail from before the crash
                _ => panic!("{name}: {frame}"),
            }
        }
    }
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// The next JSON frame, or `None` once the connection has ended.
async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
        {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).ok(),
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// A conversation: a room, or the pair of users (in order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Conv {
    Room(String),
    Pair(String, String),
}

fn conv_of(msg: &Value) -> Conv {
    if let Some(room) = msg["room"].as_str() {
        return Conv::Room(room.to_owned());
    }
    let (a, b) = (
        msg["from"].as_str().unwrap().to_owned(),
        msg["to"].as_str().unwrap().to_owned(),
    );
    if a <= b {
        Conv::Pair(a, b)
    } else {
        Conv::Pair(b, a)
    }
}

/// One user's traffic until the connection dies: a message every couple of milliseconds,
/// to the rooms and to the next user in turn, without waiting for acknowledgements. Returns
/// the acknowledged ones: (conversation, seq) → text.
async fn talk(addr: String, me: usize) -> HashMap<(Conv, u64), String> {
    let name = format!("u{me}");
    let mut ws = connect(&addr, &name).await;
    for room in ROOMS {
        send(&mut ws, json!({"type":"join","room":room})).await;
    }
    let (mut tx, mut rx) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0.. {
            let text = format!("{name}-{i}");
            let frame = match i % 3 {
                0 | 1 => json!({"type":"say","room":ROOMS[i % 2],"text":text,"cid":text}),
                _ => {
                    json!({"type":"dm","to":format!("u{}", (me + 1) % USERS),"text":text,"cid":text})
                }
            };
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let mut acked = HashMap::new();
    let me = format!("u{me}");
    while let Some(Ok(frame)) = rx.next().await {
        let Message::Text(text) = frame else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).unwrap();
        if msg["type"] == "message" && msg["from"] == me.as_str() && msg.get("cid").is_some() {
            let seq = msg["seq"].as_u64().unwrap();
            acked.insert(
                (conv_of(&msg), seq),
                msg["text"].as_str().unwrap().to_owned(),
            );
        }
    }
    writer.abort();
    acked
}

/// Every message of a conversation, paged back from the newest: seq → (from, text).
async fn whole_history(ws: &mut Ws, ask: Value) -> BTreeMap<u64, (String, String)> {
    let mut all = BTreeMap::new();
    let mut before: Option<u64> = None;
    loop {
        let mut frame = ask.clone();
        frame["type"] = "history".into();
        frame["limit"] = 100.into();
        if let Some(b) = before {
            frame["before"] = b.into();
        }
        send(ws, frame).await;
        let page = loop {
            let f = recv(ws).await.expect("history");
            if f["type"] == "history" {
                break f;
            }
        };
        for m in page["messages"].as_array().unwrap() {
            let seq = m["seq"].as_u64().unwrap();
            let entry = (
                m["from"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            );
            assert!(all.insert(seq, entry).is_none(), "seq {seq} twice");
            before = Some(before.map_or(seq, |b: u64| b.min(seq)));
        }
        if page["more"] == false {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_relay_loses_no_acknowledged_message() {
    let dir = common::temp_dir();
    let db = dir.path().join("courier.db");
    let mut relay = ChildRelay::start(&db).await;

    let talkers: Vec<_> = (0..USERS)
        .map(|me| tokio::spawn(talk(relay.addr.clone(), me)))
        .collect();
    // Let traffic build up, then kill the relay in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    relay.child.start_kill().unwrap(); // SIGKILL
    relay.child.wait().await.unwrap();
    let mut acked = HashMap::new();
    for t in talkers {
        acked.extend(t.await.unwrap());
    }
    assert!(
        acked.len() > 100,
        "only {} messages were acknowledged",
        acked.len()
    );

    let relay = ChildRelay::start(&db).await;
    let mut stored: HashMap<Conv, BTreeMap<u64, (String, String)>> = HashMap::new();
    let mut auditor = connect(&relay.addr, "auditor").await;
    for room in ROOMS {
        let history = whole_history(&mut auditor, json!({"room":room})).await;
        stored.insert(Conv::Room(room.into()), history);
    }
    for me in 0..USERS {
        let (a, b) = (format!("u{me}"), format!("u{}", (me + 1) % USERS));
        let mut ws = connect(&relay.addr, &a).await;
        let history = whole_history(&mut ws, json!({"with":b})).await;
        let key = if a <= b {
            Conv::Pair(a, b)
        } else {
            Conv::Pair(b, a)
        };
        stored.insert(key, history);
    }

    for (conv, messages) in &stored {
        let seqs: Vec<u64> = messages.keys().copied().collect();
        let n = seqs.len() as u64;
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{conv:?} has a gap");
        // A text (the sender's cid) is stored once.
        let mut texts: Vec<&str> = messages.values().map(|(_, t)| t.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len() as u64, n, "{conv:?} has a message twice");
    }
    for ((conv, seq), text) in &acked {
        let found = stored.get(conv).and_then(|m| m.get(seq));
        assert_eq!(
            found.map(|(_, t)| t.as_str()),
            Some(text.as_str()),
            "acknowledged {conv:?} #{seq} is missing"
        );
    }
    // And the counters go on.
    send(&mut auditor, json!({"type":"join","room":"r0"})).await;
    send(
        &mut auditor,
        json!({"type":"say","room":"r0","text":"after","cid":"after"}),
    )
    .await;
    let next = stored[&Conv::Room("r0".into())].len() as u64 + 1;
    loop {
        let f = recv(&mut auditor).await.unwrap();
        if f["type"] == "message" && f["cid"] == "after" {
            assert_eq!(f["seq"], next);
            break;
        }
    }
    eprintln!(
        "{} acknowledged messages before the kill, {} stored",
        acked.len(),
        stored.values().map(BTreeMap::len).sum::<usize>()
    );
}

/// Runs the relay binary on `db` and returns its exit status and what it logged.
async fn run_on(db: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
        .arg("--db")
        .arg(db)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the relay stops by itself")
        .unwrap();
    (status.success(), log)
}

#[tokio::test]
async fn a_database_the_relay_cannot_use_stops_it_with_the_path() {
    let dir = common::temp_dir();

    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 8192]).unwrap();
    let (ok, log) = run_on(&junk).await;
    assert!(!ok, "{log}");
    assert!(log.contains(&junk.display().to_string()), "{log}");
    assert!(log.contains("not a database"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        vec![b'x'; 8192],
        "left as it was"
    );

    // A directory that cannot be made: its parent is a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let inside = file.join("courier.db");
    let (ok, log) = run_on(&inside).await;
    assert!(!ok, "{log}");
    assert!(log.contains(&file.display().to_string()), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // A real database with a damaged page.
    let damaged = dir.path().join("damaged.db");
    {
        let conn = rusqlite::Connection::open(&damaged).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; CREATE TABLE t (x TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT printf('%0100d', i) FROM n;",
        )
        .unwrap();
    }
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 4 * 4096);
    for b in &mut bytes[3 * 4096..4 * 4096] {
        *b = 0x5a;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    let (ok, log) = run_on(&damaged).await;
    assert!(!ok, "{log}");
    assert!(
        log.contains("damaged") && log.contains(&damaged.display().to_string()),
        "{log}"
    );
    assert!(
        !log.contains("listening"),
        "refused before listening: {log}"
    );

    // A database from a newer relay.
    let newer = dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    let (ok, log) = run_on(&newer).await;
    assert!(!ok, "{log}");
    assert!(
        log.contains("newer") && log.contains(&newer.display().to_string()),
        "{log}"
    );

    // A directory without write permission (root may write anyway: then there is nothing
    // to see).
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(locked.join("probe"), "").is_err() {
        let db = locked.join("courier.db");
        let (ok, log) = run_on(&db).await;
        assert!(!ok, "{log}");
        assert!(log.contains(&db.display().to_string()), "{log}");
        assert!(!log.contains("panicked"), "{log}");
    } else {
        eprintln!("running as a user who may write anywhere: the read-only case is not seen");
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn a_second_relay_on_the_same_file_stops_and_the_first_goes_on() {
    let dir = common::temp_dir();
    let db = dir.path().join("courier.db");
    let mut first = ChildRelay::start(&db).await;
    let (ok, log) = run_on(&db).await;
    assert!(!ok, "{log}");
    assert!(
        log.contains("in use by another relay") && log.contains(&db.display().to_string()),
        "{log}"
    );
    assert!(!log.contains("listening"), "{log}");

    // The first is untouched by the attempt; once it is gone the file is free again.
    let mut alice = connect(&first.addr, "alice").await;
    send(&mut alice, json!({"type":"join","room":"r0"})).await;
    assert_eq!(recv(&mut alice).await.unwrap()["type"], "joined");
    first.child.kill().await.unwrap();
    let second = ChildRelay::start(&db).await;
    let mut bob = connect(&second.addr, "bob").await;
    send(&mut bob, json!({"type":"join","room":"r0"})).await;
    assert_eq!(recv(&mut bob).await.unwrap()["type"], "joined");
}

#[tokio::test]
async fn the_relay_outlives_the_reader_of_its_log() {
    let dir = common::temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
        .arg("--db")
        .arg(dir.path().join("courier.db"))
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(at) = line.find("listening on http://") {
            addr = Some(line[at + "listening on http://".len()..].trim().to_owned());
            break;
        }
    }
    let addr = addr.expect("the relay listens");
    // The log's reader goes away: every later log line fails to be written.
    drop(lines);
    for name in ["alice", "bob"] {
        let mut ws = connect(&addr, name).await;
        send(&mut ws, json!({"type":"join","room":"r0"})).await;
        assert_eq!(recv(&mut ws).await.unwrap()["type"], "joined");
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the relay is still running"
    );
}
