//! `scripts/cluster`: a redis-server, relays on it and nginx in front, started and stopped by
//! the script as a person would. Chats through nginx with clients on different relays, and
//! checks that the script stops everything it started.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Relay;
use serde_json::json;

const RELAYS: u16 = 2;

/// A port with the `RELAYS` ports after it free (nginx's and the relays').
fn free_ports() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port > 65_000 {
            continue;
        }
        let rest: Vec<_> = (1..=RELAYS)
            .map(|i| TcpListener::bind(("127.0.0.1", port + i)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return port;
        }
    }
    panic!("no {} free ports in a row", RELAYS + 1);
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The script, started in a process group of its own (as a terminal would), so that the
/// test can signal it as Ctrl-C does.
fn start(port: u16, dir: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Command::new(root.join("scripts/cluster"))
        .arg(RELAYS.to_string())
        .current_dir(root)
        .env("COURIER_CLUSTER_NO_BUILD", "1")
        .env("COURIER_CLUSTER_BIN", env!("CARGO_BIN_EXE_courier"))
        .env("COURIER_CLUSTER_PORT", port.to_string())
        .env("COURIER_CLUSTER_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("scripts/cluster runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_script_serves_the_chat_through_nginx_and_stops_everything() {
    let dir = common::temp_dir();
    let port = free_ports();
    let mut script = start(port, dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(0..=RELAYS).all(|i| listening(port + i)) {
        if let Ok(Some(status)) = script.try_wait() {
            let log =
                std::fs::read_to_string(dir.path().join("nginx-error.log")).unwrap_or_default();
            panic!("scripts/cluster ended: {status}\n{log}");
        }
        assert!(Instant::now() < deadline, "the cluster did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // nginx serves the bundle (when built) and the relays' /healthz.
    let front = Relay::at(SocketAddr::from(([127, 0, 0, 1], port)));
    let (status, _, _) = front.get("/healthz").await;
    assert_eq!(status, 200);
    // Each relay sees the other.
    for i in 1..=RELAYS {
        let relay = Relay::at(SocketAddr::from(([127, 0, 0, 1], port + i)));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, _, body) = relay.get("/healthz").await;
            let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if health["relays"] == u64::from(RELAYS) {
                break;
            }
            assert!(Instant::now() < deadline, "{health}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Through nginx: two people chat, wherever nginx put each of them.
    let mut alice = front.user("alice").await;
    let mut bob = front.user("bob").await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    alice.recv_type("presence").await;
    let said = alice.say("lobby", "through nginx", "c1").await;
    assert_eq!(bob.recv_type("message").await, said);
    bob.send(json!({"type":"dm","to":"alice","text":"hi","cid":"d1"}))
        .await;
    assert_eq!(alice.recv_type("message").await["text"], "hi");

    // Ctrl-C: the script stops Redis, the relays and nginx, and nothing listens any more.
    let group = format!("-{}", script.id());
    let signalled = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while script.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "scripts/cluster did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..=RELAYS {
        assert!(!listening(port + i), "port {} still listens", port + i);
    }
    let redis = std::os::unix::net::UnixStream::connect(dir.path().join("redis.sock"));
    assert!(redis.is_err(), "Redis still answers");
}
