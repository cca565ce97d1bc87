//! A real OpenSSH server on loopback for the runner's tests: its own keys, `authorized_keys`,
//! config and known_hosts in a temporary directory, a free port, killed by PID on drop.
//!
//! It listens on 127.0.0.1 to 127.0.0.5 with one host key. `known_hosts` has the right key for
//! .1 to .3, a wrong key for .4, and nothing for .5. `client_key` is authorised,
//! `stranger_key` is not. 127.0.0.9 has no listener: a real unreachable host.
#![allow(dead_code)] // each test file uses its own part of the fixture

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// The addresses sshd listens on.
pub const LISTEN: [Ipv4Addr; 5] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
    Ipv4Addr::new(127, 0, 0, 5),
];
/// Listened on, but known_hosts has another key for it.
pub const WRONG_KEY_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// Listened on, but not in known_hosts.
pub const UNKNOWN_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// Nothing listens there.
pub const UNREACHABLE_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

/// A running sshd and its files.
pub struct Sshd {
    pub port: u16,
    pub client_key: PathBuf,
    pub stranger_key: PathBuf,
    pub known_hosts: PathBuf,
    child: Child,
    /// More sshd processes, for [`Sshd::start_with_range`].
    more: Vec<Child>,
    dir: TempDir,
}

/// Whether sshd accepts TCP connections on each of 127.0.0.1 to 127.0.0.5 at `port`.
fn listens_on_all(port: u16) -> bool {
    (1..=5).all(|i| {
        let addr = std::net::SocketAddr::from(([127, 0, 0, i], port));
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok()
    })
}

/// The first address of [`Sshd::start_with_range`]'s extra hosts: 127.77.0.1 onwards, a
/// block no other test connects from (a client socket left on an address and port would
/// keep sshd from listening there).
pub const RANGE_START: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 1);

impl Sshd {
    /// Starts sshd, or says why not and returns `None` when OpenSSH is not installed.
    pub fn start() -> Option<Sshd> {
        Self::start_with_keys("ed25519", "ed25519")
    }

    /// [`Sshd::start`] with host keys (its own and the wrong one) of type `host` and the
    /// client's key of type `client` (`ssh-keygen -t`).
    pub fn start_with_keys(host: &str, client: &str) -> Option<Sshd> {
        if !Path::new(SSHD).exists() || !Path::new(SSH_KEYGEN).exists() {
            eprintln!("SKIPPED: {SSHD} or {SSH_KEYGEN} missing (scripts/setup installs OpenSSH)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        for (name, kind) in [
            ("host_key", host),
            ("other_host_key", host),
            ("client_key", client),
            ("stranger_key", "ed25519"),
        ] {
            keygen_with(&path(name), kind, "");
        }
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).expect("authorized_keys");
        // sshd as root needs its privilege-separation directory.
        if is_root() {
            std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        }
        for _ in 0..5 {
            let port = free_port();
            write_config(dir.path(), port);
            write_known_hosts(dir.path(), port);
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(path("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("start sshd");
            // sshd starts even when one of its addresses is taken on that port (a port
            // free on 127.0.0.1 may be in use on 127.0.0.3): every one must answer.
            if wait_ready(&mut child, &path("sshd.pid")) && listens_on_all(port) {
                return Some(Sshd {
                    port,
                    client_key: path("client_key"),
                    stranger_key: path("stranger_key"),
                    known_hosts: path("known_hosts"),
                    child,
                    more: Vec::new(),
                    dir,
                });
            }
            // Most likely the port was taken meanwhile: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start");
    }

    /// [`Sshd::start`], and `n` more hosts (at most 250) from [`RANGE_START`] on, with the
    /// same host key, known (`[127.77.0.*]:PORT`). OpenSSH listens on at most 16 addresses a process, so
    /// they are served by more sshd processes on the same port.
    pub fn start_with_range(n: usize) -> Option<Sshd> {
        assert!(n <= 250);
        let mut sshd = Sshd::start()?;
        let dir = sshd.dir.path().to_path_buf();
        let hosts: Vec<Ipv4Addr> = (1..=n as u8)
            .map(|i| Ipv4Addr::new(127, 77, 0, i))
            .collect();
        for (i, group) in hosts.chunks(16).enumerate() {
            let (config, pid) = (
                dir.join(format!("sshd_config.{i}")),
                dir.join(format!("sshd.{i}.pid")),
            );
            let mut text = std::fs::read_to_string(dir.join("sshd_config")).expect("sshd_config");
            text = text
                .lines()
                .filter(|l| !l.starts_with("ListenAddress") && !l.starts_with("PidFile"))
                .map(|l| format!("{l}\n"))
                .collect();
            for ip in group {
                text.push_str(&format!("ListenAddress {ip}:{}\n", sshd.port));
            }
            text.push_str(&format!("PidFile {}\n", pid.display()));
            std::fs::write(&config, text).expect("sshd_config");
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("start sshd");
            assert!(
                wait_ready(&mut child, &pid),
                "sshd for {group:?} did not start"
            );
            sshd.more.push(child);
        }
        let key = std::fs::read_to_string(dir.join("host_key.pub")).expect("host key");
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        // sshd starts even when it cannot listen on some of its addresses: check each.
        for ip in &hosts {
            let addr = std::net::SocketAddr::from((*ip, sshd.port));
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .unwrap_or_else(|e| panic!("sshd does not listen on {addr}: {e}"));
        }
        let line = format!("[127.77.0.*]:{} {}\n", sshd.port, key.join(" "));
        let mut known = std::fs::read_to_string(&sshd.known_hosts).expect("known_hosts");
        known.push_str(&line);
        std::fs::write(&sshd.known_hosts, known).expect("known_hosts");
        Some(sshd)
    }

    /// The temporary directory (for extra files a test wants).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn kill(&mut self) {
        for child in std::iter::once(&mut self.child).chain(&mut self.more) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until sshd has written its PID file, which it does once it listens on every address
/// (probing with connections instead would make sshd log each one); false if it exits first or
/// takes over 10 s.
fn wait_ready(child: &mut Child, pid_file: &Path) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let written = std::fs::read_to_string(pid_file).unwrap_or_default();
        if written.trim() == child.id().to_string() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Writes a new key pair of `kind` (`ed25519`, `rsa`, …) protected by `passphrase` to `file`.
pub fn keygen_with(file: &Path, kind: &str, passphrase: &str) {
    let status = Command::new(SSH_KEYGEN)
        .args(["-q", "-t", kind, "-N", passphrase, "-C", "", "-f"])
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

fn write_config(dir: &Path, port: u16) {
    let d = dir.display();
    let mut config = String::new();
    for ip in LISTEN {
        config.push_str(&format!("ListenAddress {ip}:{port}\n"));
    }
    config.push_str(&format!(
        "HostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n\
         UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n\
         MaxStartups 100\n"
    ));
    std::fs::write(dir.join("sshd_config"), config).expect("sshd_config");
}

fn write_known_hosts(dir: &Path, port: u16) {
    let public = |name: &str| {
        let text = std::fs::read_to_string(dir.join(name)).expect("public key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (right, wrong) = (public("host_key.pub"), public("other_host_key.pub"));
    let mut file = String::from("# written by the test fixture\n");
    for ip in &LISTEN[..3] {
        file.push_str(&format!("[{ip}]:{port} {right}\n"));
    }
    file.push_str(&format!("[{WRONG_KEY_HOST}]:{port} {wrong}\n"));
    std::fs::write(dir.join("known_hosts"), file).expect("known_hosts");
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
