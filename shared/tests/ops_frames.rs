//! The operators' frames (docs/OPS.md) parse to the expected values, and every kind of
//! `OpsMsg` reads back what it writes.

use shared::ops::{HostResult, HostStatus, OpsMsg, OutputStream, RunSummary, StatsPoint};

fn point(cpu: Option<Vec<f32>>) -> StatsPoint {
    StatsPoint {
        node: "n1".into(),
        ts: 1_763_700_000_000,
        cpu,
        mem_total: 25_165_824_000,
        mem_available: 20_000_000_000,
        rss: 98_000_000,
        connections: 12,
        sessions: 11,
        rooms: 3,
        messages_per_s: 4.0,
        deliveries_per_s: 40.5,
    }
}

#[test]
fn the_examples_parse() {
    let stats = OpsMsg::parse(
        r#"{"type":"stats","points":[{"node":"n1","ts":1763700000000,"cpu":[12.5,3.0],
        "mem_total":25165824000,"mem_available":20000000000,"rss":98000000,
        "connections":12,"sessions":11,"rooms":3,"messages_per_s":4.0,"deliveries_per_s":40.5}]}"#,
    )
    .unwrap();
    assert_eq!(
        stats,
        OpsMsg::Stats {
            points: vec![point(Some(vec![12.5, 3.0]))]
        }
    );
    let host = OpsMsg::parse(
        r#"{"type":"run_host","run":"6f1c0e5b","host":"127.0.0.2","status":"ok","exit":0,"ms":41}"#,
    )
    .unwrap();
    assert_eq!(
        host,
        OpsMsg::RunHost {
            run: "6f1c0e5b".into(),
            result: HostResult {
                host: "127.0.0.2".into(),
                status: HostStatus::Ok,
                exit: Some(0),
                signal: None,
                message: None,
                ms: 41,
                truncated: false,
            },
        }
    );
    let runs = OpsMsg::parse(
        r#"{"type":"runs","runs":[{"run":"6f1c0e5b","by":"ops","ts":1763700000000,
        "command":"uname -n","hosts":3,"ok":3,"failed":0,"done":true}]}"#,
    )
    .unwrap();
    assert!(matches!(&runs, OpsMsg::Runs { runs } if runs[0].hosts == 3 && runs[0].done));
    // A chat frame is no operator's frame, and a field of the wrong type fails the frame.
    assert!(OpsMsg::parse(r#"{"type":"users","online":[]}"#).is_err());
    assert!(OpsMsg::parse(r#"{"type":"run_done","run":"r","ok":"3","failed":0,"ms":1}"#).is_err());
    assert!(OpsMsg::parse(r#"{"type":"stats"}"#).is_err());
}

#[test]
fn every_ops_message_round_trips() {
    let all = [
        OpsMsg::Stats {
            points: vec![point(None), point(Some(vec![0.0, 100.0]))],
        },
        OpsMsg::RunStarted {
            run: "r1".into(),
            hosts: vec!["127.0.0.1".into(), "127.0.0.2".into()],
            command: "uname -n".into(),
            cid: Some("c1".into()),
        },
        OpsMsg::RunOutput {
            run: "r1".into(),
            host: "127.0.0.1".into(),
            stream: OutputStream::Stderr,
            text: "\u{1b}[31mno\u{1b}[0m\n".into(),
        },
        OpsMsg::RunHost {
            run: "r1".into(),
            result: HostResult {
                host: "127.0.0.2".into(),
                status: HostStatus::Failed,
                exit: None,
                signal: Some("TERM".into()),
                message: Some("lost".into()),
                ms: 7,
                truncated: true,
            },
        },
        OpsMsg::RunDone {
            run: "r1".into(),
            ok: 1,
            failed: 1,
            ms: 9,
        },
        OpsMsg::Runs {
            runs: vec![RunSummary {
                run: "r1".into(),
                by: "ops".into(),
                ts: 5,
                command: "id".into(),
                hosts: 2,
                ok: 1,
                failed: 1,
                done: false,
            }],
        },
    ];
    for msg in all {
        assert_eq!(OpsMsg::parse(&msg.to_json()).unwrap(), msg);
    }
}
