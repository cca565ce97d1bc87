//! The host-range runner against a real sshd on loopback: every status, output order, the
//! output cap, control sequences, UTF-8 split across reads, and cancel.

mod ssh_fixture;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use courier::runner::{Allow, RunEvent, Runner, RunnerConfig, Status, Stream, relay_user};
use ssh_fixture::{Sshd, UNKNOWN_HOST, UNREACHABLE_HOST, WRONG_KEY_HOST};

/// The longest any run here may take.
const RUN_LIMIT: Duration = Duration::from_secs(20);

fn config(sshd: &Sshd) -> RunnerConfig {
    let allow = Allow::parse(&["127.0.0.0/8"]).unwrap();
    let mut config = RunnerConfig::new(&sshd.client_key, &sshd.known_hosts, allow);
    config.port = sshd.port;
    // sshd runs commands as the user it runs as (root in CI containers).
    config.user = relay_user();
    config.timeout = Duration::from_secs(10);
    config
}

/// One host's part of a run.
#[derive(Debug, Default)]
struct HostRecord {
    stdout: String,
    stderr: String,
    ended: Vec<RunEvent>,
}

/// A run's events, checked for OPS.md's invariants: one `Host` per host, then one `Done` last
/// with `ok + failed` = hosts.
#[derive(Debug)]
struct Record {
    hosts: HashMap<Ipv4Addr, HostRecord>,
    /// How many `Output` events came.
    outputs: usize,
    ok: usize,
    failed: usize,
}

impl Record {
    fn host(&self, ip: &str) -> &HostRecord {
        &self.hosts[&ip.parse::<Ipv4Addr>().unwrap()]
    }

    /// The one `Host` event of `ip`: (status, exit, signal, message, ms, truncated).
    fn end(
        &self,
        ip: &str,
    ) -> (
        Status,
        Option<i32>,
        Option<String>,
        Option<String>,
        u64,
        bool,
    ) {
        match &self.host(ip).ended[..] {
            [
                RunEvent::Host {
                    status,
                    exit,
                    signal,
                    message,
                    ms,
                    truncated,
                    ..
                },
            ] => (
                *status,
                *exit,
                signal.clone(),
                message.clone(),
                *ms,
                *truncated,
            ),
            other => panic!("{ip}: {other:?}"),
        }
    }

    fn status(&self, ip: &str) -> Status {
        self.end(ip).0
    }
}

async fn collect(runner: &Runner, hosts: &str, command: &str) -> Record {
    let list = runner.check(hosts, command).expect("accepted");
    let mut handle = runner.start(list.clone(), command.to_owned());
    tokio::time::timeout(RUN_LIMIT, drain(&mut handle.events, &list))
        .await
        .expect("the run ended in time")
}

async fn drain(events: &mut tokio::sync::mpsc::Receiver<RunEvent>, list: &[Ipv4Addr]) -> Record {
    let mut hosts: HashMap<Ipv4Addr, HostRecord> = HashMap::new();
    let mut outputs = 0;
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::Output { host, stream, text } => {
                outputs += 1;
                let record = hosts.entry(host).or_default();
                assert!(record.ended.is_empty(), "output after the end of {host}");
                assert!(!text.is_empty());
                match stream {
                    Stream::Stdout => record.stdout.push_str(&text),
                    Stream::Stderr => record.stderr.push_str(&text),
                }
            }
            RunEvent::Host { host, .. } => {
                hosts.entry(host).or_default().ended.push(event);
            }
            RunEvent::Done { ok, failed, .. } => {
                assert!(events.recv().await.is_none(), "Done is the last event");
                assert_eq!(ok + failed, list.len());
                for ip in list {
                    assert_eq!(hosts[ip].ended.len(), 1, "{ip} has one Host event");
                }
                let oks = hosts.values().filter(|h| {
                    matches!(
                        h.ended[0],
                        RunEvent::Host {
                            status: Status::Ok,
                            ..
                        }
                    )
                });
                assert_eq!(oks.count(), ok);
                return Record {
                    hosts,
                    outputs,
                    ok,
                    failed,
                };
            }
        }
    }
    panic!("the events ended without Done");
}

macro_rules! sshd_or_skip {
    () => {
        match Sshd::start() {
            Some(sshd) => sshd,
            None => return,
        }
    };
}

#[tokio::test]
async fn echo_on_three_hosts_is_ok_with_output() {
    let sshd = sshd_or_skip!();
    let runner = Runner::new(config(&sshd)).unwrap();
    let record = collect(&runner, "127.0.0.1-3", "echo hi; echo there >&2").await;
    assert_eq!((record.ok, record.failed), (3, 0));
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let (status, exit, signal, message, _, truncated) = record.end(ip);
        assert_eq!(
            (status, exit, signal, message, truncated),
            (Status::Ok, Some(0), None, None, false)
        );
        // What the command wrote comes last: the host's shell may write something of its own
        // first (its startup files, here the test machine's root account).
        assert!(
            record.host(ip).stdout.ends_with("hi\n"),
            "{:?}",
            record.host(ip)
        );
        assert!(
            record.host(ip).stderr.ends_with("there\n"),
            "{:?}",
            record.host(ip)
        );
    }
}

#[tokio::test]
async fn exit_code_and_signal_are_failures() {
    let sshd = sshd_or_skip!();
    let runner = Runner::new(config(&sshd)).unwrap();
    let record = collect(&runner, "127.0.0.1", "exit 3").await;
    let (status, exit, signal, _, _, _) = record.end("127.0.0.1");
    assert_eq!((status, exit, signal), (Status::Failed, Some(3), None));
    assert_eq!((record.ok, record.failed), (0, 1));

    let record = collect(&runner, "127.0.0.2", "kill -TERM $$").await;
    let (status, exit, signal, _, _, _) = record.end("127.0.0.2");
    assert_eq!(
        (status, exit, signal.as_deref()),
        (Status::Failed, None, Some("TERM"))
    );
}

#[tokio::test]
async fn unreachable_and_host_key_mismatch() {
    let sshd = sshd_or_skip!();
    let runner = Runner::new(config(&sshd)).unwrap();
    let hosts = format!("{UNREACHABLE_HOST},{WRONG_KEY_HOST},{UNKNOWN_HOST},127.0.0.1");
    let record = collect(&runner, &hosts, "echo ran").await;
    assert_eq!(
        record.status(&UNREACHABLE_HOST.to_string()),
        Status::Unreachable
    );
    assert_eq!(
        record.status(&WRONG_KEY_HOST.to_string()),
        Status::HostKeyMismatch
    );
    assert_eq!(
        record.status(&UNKNOWN_HOST.to_string()),
        Status::HostKeyMismatch
    );
    assert_eq!(record.status("127.0.0.1"), Status::Ok);
    assert_eq!(record.host(&WRONG_KEY_HOST.to_string()).stdout, "");
    assert_eq!((record.ok, record.failed), (1, 3));
}

#[tokio::test]
async fn a_key_not_authorised_is_auth_failed() {
    let sshd = sshd_or_skip!();
    let mut config = config(&sshd);
    config.key = sshd.stranger_key.clone();
    let runner = Runner::new(config).unwrap();
    let record = collect(&runner, "127.0.0.1", "echo ran").await;
    assert_eq!(record.status("127.0.0.1"), Status::AuthFailed);
    assert_eq!(record.host("127.0.0.1").stdout, "");
}

#[tokio::test]
async fn a_slow_command_times_out() {
    let sshd = sshd_or_skip!();
    let mut config = config(&sshd);
    config.timeout = Duration::from_secs(1);
    let runner = Runner::new(config).unwrap();
    let record = collect(&runner, "127.0.0.1", "echo started; sleep 10").await;
    let (status, exit, _, _, ms, _) = record.end("127.0.0.1");
    assert_eq!((status, exit), (Status::Timeout, None));
    assert!((1000..5000).contains(&ms), "{ms} ms");
    assert_eq!(record.host("127.0.0.1").stdout, "started\n");
}

#[tokio::test]
async fn cancel_stops_running_hosts_and_skips_the_rest() {
    let sshd = sshd_or_skip!();
    let mut config = config(&sshd);
    config.parallel = 1;
    let runner = Runner::new(config).unwrap();
    let list = runner
        .check("127.0.0.1-3", "echo started; sleep 10")
        .unwrap();
    let mut handle = runner.start(list.clone(), "echo started; sleep 10".to_owned());
    // Cancel once the first host's command runs. (The account's login shell may write to
    // stderr before the command starts: only what the command prints counts.)
    let first = tokio::time::timeout(RUN_LIMIT, async {
        loop {
            match handle.events.recv().await {
                Some(RunEvent::Output {
                    stream: Stream::Stderr,
                    ..
                }) => continue,
                other => break other,
            }
        }
    })
    .await
    .unwrap();
    assert!(
        matches!(first, Some(RunEvent::Output { ref text, .. }) if text == "started\n"),
        "{first:?}"
    );
    handle.cancel();
    let started = std::time::Instant::now();
    let record = tokio::time::timeout(RUN_LIMIT, drain(&mut handle.events, &list))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((record.ok, record.failed), (0, 3));
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert_eq!(record.status(ip), Status::Cancelled, "{ip}");
    }
    assert_eq!(
        record.end("127.0.0.2").4,
        0,
        "a host not started ends at once"
    );
    handle.cancel(); // a no-op once ended
}

#[tokio::test]
async fn at_most_parallel_hosts_run_at_once() {
    let sshd = sshd_or_skip!();
    let mut config = config(&sshd);
    config.parallel = 2;
    let runner = Runner::new(config).unwrap();
    let started = std::time::Instant::now();
    let record = collect(&runner, "127.0.0.1-3", "sleep 1").await;
    assert_eq!(record.ok, 3);
    // Two at once, then the third: two seconds at least.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_reader_loses_nothing() {
    let sshd = sshd_or_skip!();
    let runner = Runner::new(config(&sshd)).unwrap();
    // Hundreds of small writes per host: more events than the queue holds.
    let command = "for i in $(seq 400); do echo $i; sleep 0.001; done";
    let list = runner.check("127.0.0.1-3", command).unwrap();
    let mut handle = runner.start(list.clone(), command.to_owned());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let record = tokio::time::timeout(RUN_LIMIT, drain(&mut handle.events, &list))
        .await
        .unwrap();
    assert!(record.outputs > 256, "{} events", record.outputs);
    let want: String = (1..=400).map(|i| format!("{i}\n")).collect();
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert_eq!(record.status(ip), Status::Ok);
        assert_eq!(record.host(ip).stdout, want, "{ip}");
    }
}

#[tokio::test]
async fn output_in_order_capped_and_cleaned() {
    let sshd = sshd_or_skip!();
    let mut config = config(&sshd);
    config.output_cap = 1024;
    let runner = Runner::new(config).unwrap();
    let record = collect(&runner, "127.0.0.1", "for i in 1 2 3; do echo $i; done").await;
    assert_eq!(record.host("127.0.0.1").stdout, "1\n2\n3\n");
    assert!(!record.end("127.0.0.1").5);

    let record = collect(
        &runner,
        "127.0.0.1",
        "head -c 100000 /dev/zero | tr '\\0' a; echo end >&2; exit 4",
    )
    .await;
    let (status, exit, _, _, _, truncated) = record.end("127.0.0.1");
    assert_eq!((status, exit, truncated), (Status::Failed, Some(4), true));
    let host = record.host("127.0.0.1");
    assert_eq!(host.stdout.len() + host.stderr.len(), 1024);
    assert!(host.stdout.bytes().all(|b| b == b'a'));

    let command = r"printf '\033[31mred\033[0m\033[2Jx\033]0;title\007y\r\n\001z'";
    let record = collect(&runner, "127.0.0.1", command).await;
    assert_eq!(record.host("127.0.0.1").stdout, "\x1b[31mred\x1b[0mxy\nz");

    // A check mark (e2 9c 93) split across two writes a moment apart, and a bad byte.
    let command = r"printf '\342\234'; sleep 0.3; printf '\223 \377\n'";
    let record = collect(&runner, "127.0.0.1", command).await;
    assert_eq!(record.host("127.0.0.1").stdout, "✓ \u{FFFD}\n");
}

#[tokio::test]
async fn startup_refuses_bad_files() {
    let sshd = sshd_or_skip!();
    use std::os::unix::fs::PermissionsExt;
    let not_a_key = sshd.dir().join("not_a_key");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    std::fs::set_permissions(&not_a_key, PermissionsExt::from_mode(0o600)).unwrap();
    let mut bad_key = config(&sshd);
    bad_key.key = not_a_key;
    let err = Runner::new(bad_key).unwrap_err().to_string();
    assert!(
        err.starts_with("--ssh-key:") && !err.contains("readable"),
        "{err}"
    );

    let mut missing = config(&sshd);
    missing.known_hosts = sshd.dir().join("absent");
    let err = Runner::new(missing).unwrap_err().to_string();
    assert!(err.starts_with("--ssh-known-hosts:"), "{err}");

    let encrypted = sshd.dir().join("encrypted_key");
    ssh_fixture::keygen_with(&encrypted, "ed25519", "a passphrase");
    let mut locked = config(&sshd);
    locked.key = encrypted;
    let err = Runner::new(locked).unwrap_err().to_string();
    assert!(
        err.starts_with("--ssh-key:") && err.contains("encrypted"),
        "{err}"
    );

    let open_key = sshd.dir().join("open_key");
    std::fs::copy(&sshd.client_key, &open_key).unwrap();
    std::fs::set_permissions(
        &open_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut readable = config(&sshd);
    readable.key = open_key;
    let err = Runner::new(readable).unwrap_err().to_string();
    assert!(err.contains("readable by others"), "{err}");

    let mut no_net = config(&sshd);
    no_net.allow = Allow::default();
    assert!(Runner::new(no_net).is_err());
}

#[tokio::test]
async fn rsa_keys_work_for_the_host_and_the_client() {
    // ssh-keygen's default type before OpenSSH 9.5 (Debian 12 has 9.2) is RSA.
    let Some(sshd) = Sshd::start_with_keys("rsa", "rsa") else {
        return;
    };
    let runner = Runner::new(config(&sshd)).unwrap();
    let record = collect(&runner, "127.0.0.1,127.0.0.4", "echo rsa").await;
    let ok = &record.hosts[&Ipv4Addr::new(127, 0, 0, 1)];
    assert_eq!(ok.stdout, "rsa\n", "{record:?}");
    assert!(
        matches!(
            ok.ended[..],
            [RunEvent::Host {
                status: Status::Ok,
                ..
            }]
        ),
        "{record:?}"
    );
    let wrong = &record.hosts[&WRONG_KEY_HOST];
    assert!(
        matches!(
            wrong.ended[..],
            [RunEvent::Host {
                status: Status::HostKeyMismatch,
                ..
            }]
        ),
        "{record:?}"
    );
}
