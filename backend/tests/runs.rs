//! The runner through the relay (docs/OPS.md, "Host-range runner"): an operator's `run` on a
//! loopback range against a real sshd, the checks and their order, cancel, `runs` and the
//! audit rows.

mod common;
mod ssh_fixture;

use std::collections::HashMap;
use std::time::Duration;

use common::{Client, Relay, metric};
use serde_json::{Value, json};
use ssh_fixture::{Sshd, UNREACHABLE_HOST};

const PASSWORD: &str = "correct horse battery";

async fn relay_with_runner(sshd: &Sshd, adjust: impl FnOnce(&mut courier::Config)) -> Relay {
    let (key, known, port) = (sshd.client_key.clone(), sshd.known_hosts.clone(), sshd.port);
    // One relay: each relay runs its own operators' commands.
    Relay::start_alone(move |c| {
        c.ops.admins = vec!["ops".into(), "other".into()];
        c.ops.ssh_key = Some(key);
        c.ops.ssh_known_hosts = Some(known);
        c.ops.ssh_port = port;
        c.ops.ssh_user = courier::runner::relay_user();
        c.ops.runner_allow = vec!["127.0.0.0/24".into()];
        c.ops.runner_timeout = Duration::from_secs(10);
        adjust(c);
    })
    .await
}

/// An operator's session, its password set with `courier passwd`.
async fn operator(relay: &Relay, name: &str) -> Client {
    let (ok, err) = common::passwd(&relay.db, name, &format!("{PASSWORD}\n"));
    assert!(ok, "{err}");
    let mut client = Client::connect(relay).await;
    client
        .send(json!({"type":"hello","name":name,"password":PASSWORD}))
        .await;
    let welcome = client.recv_type("welcome").await;
    assert_eq!(welcome["operator"], true);
    client
}

/// Reads a run's frames up to its `run_done`: per host, its output and its `run_host`.
async fn read_run(ops: &mut Client, run: &str) -> (HashMap<String, (String, Value)>, Value) {
    let mut hosts: HashMap<String, (String, Value)> = HashMap::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ops.recv())
            .await
            .expect("the run ends");
        assert_eq!(frame["run"], run, "{frame}");
        let host = frame["host"].as_str().unwrap_or_default().to_owned();
        match frame["type"].as_str().unwrap() {
            "run_output" => {
                let entry = hosts.entry(host).or_default();
                assert!(entry.1.is_null(), "output after the host's end: {frame}");
                entry.0.push_str(frame["text"].as_str().unwrap());
            }
            "run_host" => {
                let entry = hosts.entry(host).or_default();
                assert!(entry.1.is_null(), "a second run_host: {frame}");
                entry.1 = frame;
            }
            "run_done" => return (hosts, frame),
            other => panic!("unexpected {other}: {frame}"),
        }
    }
}

#[tokio::test]
async fn an_operator_runs_a_command_on_a_loopback_range_and_it_is_audited() {
    let Some(sshd) = Sshd::start() else { return };
    let relay = relay_with_runner(&sshd, |_| {}).await;
    let mut ops = operator(&relay, "ops").await;

    let hosts = format!("127.0.0.1-3,{UNREACHABLE_HOST}");
    ops.send(json!({"type":"run","hosts":hosts,"command":"echo hello; exit 0","cid":"r1"}))
        .await;
    let started = ops.recv_type("run_started").await;
    assert_eq!(started["cid"], "r1");
    assert_eq!(
        started["hosts"],
        json!(["127.0.0.1", "127.0.0.2", "127.0.0.3", UNREACHABLE_HOST])
    );
    let run = started["run"].as_str().unwrap().to_owned();
    let (hosts, done) = read_run(&mut ops, &run).await;
    for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let (output, ended) = &hosts[host];
        assert_eq!(output, "hello\n");
        assert_eq!(ended["status"], "ok", "{ended}");
        assert_eq!(ended["exit"], 0);
        assert!(ended["ms"].as_u64().is_some());
    }
    assert_eq!(
        hosts[&UNREACHABLE_HOST.to_string()].1["status"],
        "unreachable"
    );
    assert_eq!(
        (done["ok"].as_u64(), done["failed"].as_u64()),
        (Some(3), Some(1))
    );

    // A failing command, then the list, newest first.
    ops.send(json!({"type":"run","hosts":"127.0.0.2","command":"exit 3"}))
        .await;
    let run2 = ops.recv_type("run_started").await["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let (hosts, _) = read_run(&mut ops, &run2).await;
    assert_eq!(hosts["127.0.0.2"].1["status"], "failed");
    assert_eq!(hosts["127.0.0.2"].1["exit"], 3);
    ops.send(json!({"type":"runs"})).await;
    let runs = ops.recv_type("runs").await;
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{runs}");
    assert_eq!(listed[0]["run"], run2.as_str());
    assert_eq!(listed[1]["run"], run.as_str());
    assert_eq!(listed[1]["by"], "ops");
    assert_eq!(listed[1]["command"], "echo hello; exit 0");
    assert_eq!(
        (
            &listed[1]["hosts"],
            &listed[1]["ok"],
            &listed[1]["failed"],
            &listed[1]["done"]
        ),
        (&json!(4), &json!(3), &json!(1), &json!(true))
    );

    // The runner's counters in /metrics; the gauge drops once the run's task has ended.
    assert_eq!(metric(&relay, "courier_runs_started_total").await, 2);
    for (status, n) in [("ok", 3), ("failed", 1), ("unreachable", 1), ("timeout", 0)] {
        let name = format!("courier_runner_hosts_total{{status=\"{status}\"}}");
        assert_eq!(metric(&relay, &name).await, n, "{name}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metric(&relay, "courier_runs_active").await != 0 {
        assert!(std::time::Instant::now() < deadline, "runs stay active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The audit, as the engine keeps it.
    let (by, addr, hosts_row, statuses) = relay.audited_run(&run);
    assert_eq!(by, "ops");
    assert_eq!(addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        hosts_row,
        format!("127.0.0.1,127.0.0.2,127.0.0.3,{UNREACHABLE_HOST}")
    );
    assert_eq!(statuses.len(), 4);
    assert!(statuses.iter().filter(|(_, s)| s == "ok").count() == 3);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_run_is_checked_in_order_and_a_refused_one_runs_nothing() {
    let Some(sshd) = Sshd::start() else { return };
    let relay = relay_with_runner(&sshd, |c| c.ops.runner_max_hosts = 4).await;
    let mut ops = operator(&relay, "ops").await;
    let long = "x".repeat(4001);
    for (hosts, command, code) in [
        // The command first, even with hosts that are wrong too.
        ("10.0.0.0/8", "", "bad_request"),
        ("127.0.0.1", long.as_str(), "bad_request"),
        ("1.2.3.4-1", "true", "bad_request"),
        ("", "true", "bad_request"),
        ("127.0.0.1-5", "true", "bad_request"),
        ("127.0.0.1,10.0.0.1", "true", "host_not_allowed"),
    ] {
        ops.send(json!({"type":"run","hosts":hosts,"command":command,"cid":"x"}))
            .await;
        let refused = ops.recv_error(code).await;
        assert_eq!(refused["cid"], "x", "{hosts} {command}");
    }
    ops.send(json!({"type":"runs"})).await;
    assert_eq!(ops.recv_type("runs").await["runs"], json!([]));
    relay.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_a_run_of_its_own_operator_only() {
    let Some(sshd) = Sshd::start() else { return };
    let relay = relay_with_runner(&sshd, |c| c.ops.runner_parallel = 1).await;
    let mut ops = operator(&relay, "ops").await;
    let mut other = operator(&relay, "other").await;
    ops.send(json!({"type":"run","hosts":"127.0.0.1-3","command":"sleep 5"}))
        .await;
    let run = ops.recv_type("run_started").await["run"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another operator's cancel is a no-op; the owner's cancels.
    other.send(json!({"type":"cancel","run":run})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ops.send(json!({"type":"cancel","run":run})).await;
    let (hosts, done) = read_run(&mut ops, &run).await;
    for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert_eq!(
            hosts[host].1["status"], "cancelled",
            "{host}: {:?}",
            hosts[host]
        );
    }
    assert_eq!(
        (done["ok"].as_u64(), done["failed"].as_u64()),
        (Some(0), Some(3))
    );
    // Cancelling it again, or a run that does not exist, is a no-op.
    ops.send(json!({"type":"cancel","run":run})).await;
    ops.send(json!({"type":"cancel","run":"ffffffff"})).await;
    ops.expect_silence(300).await;
    other.expect_silence(100).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn a_run_goes_on_when_its_operator_drops() {
    let Some(sshd) = Sshd::start() else { return };
    let relay = relay_with_runner(&sshd, |_| {}).await;
    let mut ops = operator(&relay, "ops").await;
    ops.send(json!({"type":"run","hosts":"127.0.0.1","command":"sleep 1; echo done"}))
        .await;
    let run = ops.recv_type("run_started").await["run"]
        .as_str()
        .unwrap()
        .to_owned();
    ops.drop_connection().await;
    let mut again = operator(&relay, "ops").await;
    let mut listed = json!(null);
    for _ in 0..50 {
        again.send(json!({"type":"runs"})).await;
        listed = again.recv_type("runs").await["runs"][0].clone();
        if listed["done"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed["run"], run.as_str());
    assert_eq!(
        (&listed["ok"], &listed["done"]),
        (&json!(1), &json!(true)),
        "{listed}"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn a_chatty_run_is_paced_to_its_operator_instead_of_cutting_it() {
    let Some(sshd) = Sshd::start() else { return };
    // 3 hosts × 2 MiB of output: more than the operator's 4 MiB queue at once.
    let relay = relay_with_runner(&sshd, |c| c.ops.runner_output_kib = 4096).await;
    let mut ops = operator(&relay, "ops").await;
    let command = "head -c 2097152 /dev/zero | tr '\\0' a";
    ops.send(json!({"type":"run","hosts":"127.0.0.1-3","command":command}))
        .await;
    let run = ops.recv_type("run_started").await["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let (hosts, done) = read_run(&mut ops, &run).await;
    for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let (output, ended) = &hosts[host];
        assert_eq!(ended["status"], "ok", "{ended}");
        assert_eq!(output.len(), 2_097_152, "{host}");
    }
    assert_eq!(done["ok"], 3);
    relay.shutdown().await;
}
