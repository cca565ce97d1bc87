//! The Operations view: only for operators; watch and unwatch with the view; points kept per
//! node; a run's rows from its frames; refusals; the host counter and the SGR spans.

use shared::ops::{HostResult, HostStatus, OpsMsg, OutputStream, StatsPoint};

use super::super::hosts::count_hosts;
use super::super::sgr::{Style, spans};
use super::*;

/// Alice, welcomed as an operator.
fn operator() -> Rc<State> {
    let s = Rc::new(State::default());
    let s = reduce(&s, login("alice"));
    let s = reduce(&s, Action::Connected);
    server(
        &s,
        ServerMsg::Welcome {
            name: "alice".into(),
            token: "t1".into(),
            operator: true,
            attached: false,
            connections: None,
        },
    )
}

fn point(node: &str, ts: u64) -> StatsPoint {
    StatsPoint {
        node: node.into(),
        ts,
        cpu: Some(vec![12.5, 3.0]),
        mem_total: 100 << 20,
        mem_available: 60 << 20,
        rss: 10 << 20,
        connections: 2,
        sessions: 1,
        rooms: 1,
        messages_per_s: 1.5,
        deliveries_per_s: 3.0,
    }
}

fn msgs(frames: &[ClientFrame]) -> Vec<ClientMsg> {
    frames.iter().map(|f| f.msg.clone()).collect()
}

fn ended(host: &str, status: HostStatus) -> OpsMsg {
    OpsMsg::RunHost {
        run: "r9".into(),
        result: HostResult {
            host: host.into(),
            status,
            exit: (status == HostStatus::Failed).then_some(2),
            signal: None,
            message: None,
            ms: 40,
            truncated: false,
        },
    }
}

#[test]
fn only_an_operator_has_the_view_and_its_frames() {
    let s = alice();
    assert!(!s.operator);
    let (t, sent) = act(&s, Action::ShowOps(true));
    assert!(!t.ops.open && sent.is_empty());
    let t = reduce(
        &s,
        Action::Ops(OpsMsg::Stats {
            points: vec![point("n1", 1)],
        }),
    );
    assert!(t.ops.nodes.is_empty());
}

#[test]
fn the_view_watches_while_open_and_again_after_a_reconnect() {
    let s = operator();
    assert!(s.operator);
    let (s, sent) = act(&s, Action::ShowOps(true));
    assert!(s.ops.open);
    assert_eq!(msgs(&sent), [ClientMsg::Watch, ClientMsg::Runs]);
    // A reconnect welcomes us back: watch again.
    let s = reduce(
        &s,
        Action::Disconnected {
            retry_at_ms: 5,
            now_ms: 1,
        },
    );
    let s = reduce(&s, Action::Connected);
    let (s, sent) = server_sent(
        &s,
        ServerMsg::Welcome {
            name: "alice".into(),
            token: "t2".into(),
            operator: true,
            attached: false,
            connections: None,
        },
    );
    assert!(msgs(&sent).ends_with(&[ClientMsg::Watch, ClientMsg::Runs]));
    let (s, sent) = act(&s, Action::ShowOps(false));
    assert!(!s.ops.open);
    assert_eq!(msgs(&sent), [ClientMsg::Unwatch]);
    // Leaving twice sends nothing more.
    assert!(act(&s, Action::ShowOps(false)).1.is_empty());
    // Signing out forgets that we were an operator.
    let s = reduce(&s, Action::Logout);
    assert!(!s.operator && !s.ops.open);
}

#[test]
fn points_are_kept_per_node_without_repeats_up_to_the_window() {
    let s = reduce(&operator(), Action::ShowOps(true));
    let first: Vec<StatsPoint> = (1..=MAX_POINTS as u64 + 5)
        .map(|ts| point("n1", ts))
        .collect();
    let s = reduce(&s, Action::Ops(OpsMsg::Stats { points: first }));
    let s = reduce(
        &s,
        Action::Ops(OpsMsg::Stats {
            points: vec![point("n2", 7), point("n1", 3)],
        }),
    );
    let n1 = &s.ops.nodes["n1"];
    assert_eq!(n1.len(), MAX_POINTS);
    assert_eq!(n1[0].ts, 6);
    assert_eq!(n1.last().unwrap().ts, MAX_POINTS as u64 + 5);
    assert_eq!(s.ops.nodes["n2"].len(), 1);
}

#[test]
fn a_run_shows_its_hosts_output_and_results_failures_first() {
    let s = reduce(&operator(), Action::ShowOps(true));
    let (s, sent) = act(
        &s,
        Action::Run {
            hosts: "127.0.0.1-3".into(),
            command: "uname -n".into(),
        },
    );
    let cid = sent[0].cid.clone().unwrap();
    assert_eq!(
        sent[0].msg,
        ClientMsg::Run {
            hosts: "127.0.0.1-3".into(),
            command: "uname -n".into()
        }
    );
    assert_eq!(s.ops.pending.as_deref(), Some(cid.as_str()));
    let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .map(String::from)
        .to_vec();
    let s = reduce(
        &s,
        Action::Ops(OpsMsg::RunStarted {
            run: "r9".into(),
            hosts,
            command: "uname -n".into(),
            cid: Some(cid),
        }),
    );
    assert!(s.ops.pending.is_none());
    let s = reduce(
        &s,
        Action::Ops(OpsMsg::RunOutput {
            run: "r9".into(),
            host: "127.0.0.2".into(),
            stream: OutputStream::Stdout,
            text: "box\n".into(),
        }),
    );
    let run = s.ops.run.as_ref().unwrap();
    assert!(run.hosts[1].started && !run.hosts[0].started);
    assert_eq!(run.hosts[1].output, "box\n");
    // Cancel goes out while it runs.
    let (_, sent) = act(&s, Action::CancelRun);
    assert_eq!(msgs(&sent), [ClientMsg::Cancel { run: "r9".into() }]);
    let s = reduce(&s, Action::Ops(ended("127.0.0.2", HostStatus::Ok)));
    let s = reduce(&s, Action::Ops(ended("127.0.0.1", HostStatus::Ok)));
    let s = reduce(&s, Action::Ops(ended("127.0.0.3", HostStatus::Failed)));
    let (s, sent) = act(
        &s,
        Action::Ops(OpsMsg::RunDone {
            run: "r9".into(),
            ok: 2,
            failed: 1,
            ms: 90,
        }),
    );
    assert_eq!(msgs(&sent), [ClientMsg::Runs]);
    let run = s.ops.run.as_ref().unwrap();
    assert_eq!(run.done, Some((2, 1, 90)));
    let order: Vec<&str> = run
        .rows_failures_first()
        .iter()
        .map(|r| r.host.as_str())
        .collect();
    assert_eq!(order, ["127.0.0.3", "127.0.0.1", "127.0.0.2"]);
    // Run again on the failed hosts.
    let (_, sent) = act(&s, Action::RetryFailed);
    assert_eq!(
        sent[0].msg,
        ClientMsg::Run {
            hosts: "127.0.0.3".into(),
            command: "uname -n".into()
        }
    );
}

#[test]
fn a_refused_run_says_why_and_frees_the_form() {
    let s = reduce(&operator(), Action::ShowOps(true));
    let (s, sent) = act(
        &s,
        Action::Run {
            hosts: "10.0.0.1".into(),
            command: "id".into(),
        },
    );
    // One at a time.
    assert!(
        act(
            &s,
            Action::Run {
                hosts: "10.0.0.2".into(),
                command: "id".into()
            }
        )
        .1
        .is_empty()
    );
    let s = server(
        &s,
        ServerMsg::Error {
            code: ErrorCode::HostNotAllowed,
            message: "10.0.0.1 is outside every allowed network".into(),
            cid: sent[0].cid.clone(),
        },
    );
    assert!(s.ops.pending.is_none());
    assert!(s.ops.error.as_deref().unwrap().contains("outside"));
    assert!(s.notice.is_none());
}

#[test]
fn host_ranges_are_counted_as_the_relay_expands_them() {
    assert_eq!(count_hosts("127.0.0.1-3"), Ok(3));
    assert_eq!(count_hosts("10.0.0.0/29, 10.0.0.1,10.0.0.9"), Ok(9));
    assert_eq!(count_hosts("10.0.0.5"), Ok(1));
    assert_eq!(count_hosts("10.0.0.1-5,10.0.0.3-9,10.0.0.0/30"), Ok(10));
    assert_eq!(count_hosts("0.0.0.0/0"), Ok(1 << 32));
    for bad in [
        "",
        "10.0.0.1,",
        "10.0.0.1/24",
        "10.0.0.5-3",
        "010.0.0.1",
        "1.2.3",
        "1.2.3.4-256",
    ] {
        assert!(count_hosts(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn sgr_codes_become_styles_and_other_escapes_go() {
    let red = Style {
        bold: false,
        fg: Some(1),
    };
    let bold_green = Style {
        bold: true,
        fg: Some(10),
    };
    assert_eq!(
        spans("a\u{1b}[31mred\u{1b}[0m \u{1b}[1;92mok\u{1b}[m\u{1b}[2Kz"),
        vec![
            (Style::default(), "a".to_owned()),
            (red, "red".to_owned()),
            (Style::default(), " ".to_owned()),
            (bold_green, "ok".to_owned()),
            (Style::default(), "z".to_owned()),
        ]
    );
    assert_eq!(bold_green.classes(), [Some("sgr-b"), Some("sgr-10")]);
    assert_eq!(red.classes(), [None, Some("sgr-1")]);
    assert_eq!(spans("\u{1b}[38;5;200mx")[0].0, Style::default());
}
