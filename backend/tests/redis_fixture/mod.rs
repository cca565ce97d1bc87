//! A real `redis-server` on loopback for the Redis engine's tests: a free port, its own
//! temporary directory (where its AOF goes), started and stopped by PID.
//!
//! By default it runs as production should: `--appendonly yes --appendfsync always --save ''`
//! (every acknowledged write is fsynced to the AOF, and no RDB snapshots). [`Redis::kill9`] and
//! [`Redis::restart`] crash it and start it again on the same directory and port, so that it
//! reloads its AOF; [`Redis::pause`] and [`Redis::resume`] freeze and thaw it (SIGSTOP,
//! SIGCONT), as a hung or swapped-out Redis would look to its clients.
#![allow(dead_code)] // each test file uses its own part of the fixture

pub mod messages;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const REDIS_SERVER: &str = "redis-server";

/// How long a start (or a restart, which replays the AOF) may take before the test fails.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running redis-server and its directory.
pub struct Redis {
    pub port: u16,
    appendonly: String,
    appendfsync: String,
    child: Option<Child>,
    paused: bool,
    dir: TempDir,
}

impl Redis {
    /// Starts redis-server with `appendonly yes` and `appendfsync always`.
    ///
    /// # Panics
    /// redis-server is not installed (run `scripts/setup`), or did not start.
    pub fn start() -> Redis {
        Self::start_with("yes", "always")
    }

    /// Starts redis-server with these `appendonly` (`yes`, `no`) and `appendfsync` (`always`,
    /// `everysec`, `no`) settings.
    ///
    /// # Panics
    /// As [`Redis::start`].
    pub fn start_with(appendonly: &str, appendfsync: &str) -> Redis {
        let found = Command::new(REDIS_SERVER)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{REDIS_SERVER} is not installed: run scripts/setup (it installs Debian's redis-server)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let mut redis = Redis {
            port: 0,
            appendonly: appendonly.to_owned(),
            appendfsync: appendfsync.to_owned(),
            child: None,
            paused: false,
            dir,
        };
        for _ in 0..5 {
            redis.port = free_port();
            if redis.spawn() {
                return redis;
            }
            // Most likely another process took the port meanwhile: try another.
        }
        panic!("redis-server did not start (log: {})", redis.log());
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The PID of the running redis-server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// Its directory (the AOF is under `appendonlydir/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills it with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Starts it again on the same directory and port, after [`Redis::kill9`]: it reloads its
    /// AOF before it answers PING.
    ///
    /// # Panics
    /// It is still running, or did not start.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill9 it before restarting it");
        assert!(
            self.spawn(),
            "redis-server did not restart on port {} (log: {})",
            self.port,
            self.log()
        );
    }

    /// Freezes it (SIGSTOP): it keeps its connections but answers nothing.
    pub fn pause(&mut self) {
        signal(self.pid(), "-STOP");
        self.paused = true;
    }

    /// Thaws it (SIGCONT) after [`Redis::pause`].
    pub fn resume(&mut self) {
        signal(self.pid(), "-CONT");
        self.paused = false;
    }

    /// What redis-server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Starts redis-server on `self.port` and waits until it answers PING; false if it exits
    /// first (it could not listen) or takes too long.
    fn spawn(&mut self) -> bool {
        let mut child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", &self.appendonly])
            .args(["--appendfsync", &self.appendfsync])
            .args(["--save", "", "--daemonize", "no"])
            .args(["--logfile", "redis.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        if wait_ready(&mut child, self.port) {
            self.child = Some(child);
            true
        } else {
            let _ = child.kill();
            let _ = child.wait();
            false
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        self.kill9();
    }
}

/// Waits until redis-server on `port` answers PING with PONG (not `-LOADING` while it replays
/// its AOF); false if it exits first or takes over [`READY_WITHIN`].
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let until = Instant::now() + READY_WITHIN;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ping(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// One PING on a new connection, in RESP's inline form.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// Sends `sig` (`-STOP`, `-CONT`) to `pid` with kill(1).
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}
