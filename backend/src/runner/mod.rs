//! The host-range runner: runs one shell command over SSH on a range of hosts and streams each
//! host's output and result (OPS.md, "Host-range runner").
//!
//! The flow: [`Runner::new`] loads the key and the known hosts once, so a bad file is a
//! startup error. For each `run`, [`Runner::check`] applies OPS.md's checks in order (command,
//! then [`hosts`], then the allowed networks) and expands the range; [`Runner::start`] spawns
//! the run ([`run`]) and returns a [`RunHandle`]. The run starts hosts in order, at most
//! `parallel` at once over every run; each host ([`ssh`]) connects, checks the host key strictly
//! ([`known_hosts`]), authenticates with the key, `exec`s the command and streams its output
//! through [`output`]'s filter. Events go out on a bounded channel: a slow reader slows the run
//! down (backpressure) and nothing is lost. Every host gets exactly one [`RunEvent::Host`], then
//! the run one [`RunEvent::Done`].
//!
//! The runner knows nothing of the hub: who may run, the frames and the audit are the caller's.

mod check;
mod config;
pub mod hosts;
pub mod known_hosts;
mod output;
mod run;
mod ssh;

use std::net::Ipv4Addr;
use std::sync::Arc;

use russh::keys::{Algorithm, load_secret_key};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

pub use check::{COMMAND_MAX_CHARS, CheckError, check};
pub use config::{RunnerConfig, RunnerError, relay_user};
pub use hosts::{Allow, HostsError, Net, parse_hosts};
use known_hosts::KnownHosts;
use ssh::HostContext;

/// How one host ended (OPS.md's `status`) and which stream output came from: the wire's own
/// types, so that the relay sends them as they are.
pub use shared::ops::{HostStatus as Status, OutputStream as Stream};

/// What a run reports, in order per host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// Filtered output (never empty), in arrival order per host and stream.
    Output {
        host: Ipv4Addr,
        stream: Stream,
        text: String,
    },
    /// A host ended (exactly one per host).
    Host {
        host: Ipv4Addr,
        status: Status,
        /// The exit code, when the command exited.
        exit: Option<i32>,
        /// The signal that ended the command, without `SIG`.
        signal: Option<String>,
        /// What went wrong, for statuses other than `ok`.
        message: Option<String>,
        /// The host's wall time.
        ms: u64,
        /// Output past the cap was discarded.
        truncated: bool,
    },
    /// The run ended (last event): `ok + failed` is the number of hosts.
    Done { ok: usize, failed: usize, ms: u64 },
}

/// How many events may wait for the reader before the run waits for it.
const EVENT_QUEUE: usize = 256;

/// The configured runner; cheap to clone.
#[derive(Clone)]
pub struct Runner {
    /// Where runs execute: a runtime on a thread of its own, so that SSH handshakes and
    /// crypto for many hosts never queue the chat's tasks behind them.
    thread: Arc<RunnerThread>,
    ctx: Arc<HostContext>,
    allow: Allow,
    max_hosts: usize,
    /// `--runner-parallel` hosts at once, over every run together.
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("user", &self.ctx.user)
            .field("port", &self.ctx.port)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Loads the key and the known hosts and checks the settings. Reads files: call it at
    /// startup, not on an async worker in the middle of serving.
    ///
    /// # Errors
    /// An unreadable, encrypted or unsupported key, or one others may read; an unreadable or malformed known_hosts; no
    /// allowed network; no user; a zero limit.
    pub fn new(config: RunnerConfig) -> Result<Runner, RunnerError> {
        if config.allow.is_empty() {
            return Err(RunnerError::NoNetwork);
        }
        if config.max_hosts == 0 || config.parallel == 0 || config.timeout.is_zero() {
            return Err(RunnerError::Invalid(
                "--runner-max-hosts, --runner-parallel and --runner-timeout must be above 0".into(),
            ));
        }
        key_file_is_private(&config.key)?;
        let key = load_secret_key(&config.key, None)
            .map_err(|e| RunnerError::Key(format!("{}: {e}", config.key.display())))?;
        if !matches!(
            key.algorithm(),
            Algorithm::Ed25519 | Algorithm::Ecdsa { .. } | Algorithm::Rsa { .. }
        ) {
            return Err(RunnerError::Key(format!(
                "{}: a {} key; use ed25519, ECDSA or RSA",
                config.key.display(),
                key.algorithm()
            )));
        }
        let known_hosts = KnownHosts::load(&config.known_hosts).map_err(RunnerError::KnownHosts)?;
        let user = match config.user {
            Some(user) if !user.is_empty() => user,
            _ => relay_user().ok_or(RunnerError::NoUser)?,
        };
        let ssh = russh::client::Config {
            nodelay: true,
            ..Default::default()
        };
        let ctx = HostContext {
            port: config.port,
            user,
            key: Arc::new(key),
            known_hosts: Arc::new(known_hosts),
            ssh: Arc::new(ssh),
            timeout: config.timeout,
            output_cap: config.output_cap,
        };
        let thread = RunnerThread::spawn()
            .map_err(|e| RunnerError::Invalid(format!("cannot start the runner's thread: {e}")))?;
        Ok(Runner {
            thread: Arc::new(thread),
            ctx: Arc::new(ctx),
            allow: config.allow,
            max_hosts: config.max_hosts,
            permits: Arc::new(Semaphore::new(config.parallel)),
        })
    }

    /// OPS.md's checks with this runner's cap and networks; returns the expanded hosts.
    ///
    /// # Errors
    /// The first failing check.
    pub fn check(&self, hosts: &str, command: &str) -> Result<Vec<Ipv4Addr>, CheckError> {
        check(hosts, command, self.max_hosts, &self.allow)
    }

    /// The user commands run as.
    pub fn user(&self) -> &str {
        &self.ctx.user
    }

    /// Starts running `command` on `hosts` (already checked) in a new task on the runner's
    /// thread.
    pub fn start(&self, hosts: Vec<Ipv4Addr>, command: String) -> RunHandle {
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let cancel = CancellationToken::new();
        self.thread.handle.spawn(run::run(
            self.ctx.clone(),
            hosts,
            command.into(),
            self.permits.clone(),
            cancel.clone(),
            tx,
        ));
        RunHandle { events, cancel }
    }
}

/// The runner's runtime, on a thread of its own. It stops (and the thread ends) when the last
/// [`Runner`] clone is dropped.
struct RunnerThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl RunnerThread {
    fn spawn() -> std::io::Result<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("courier-runner".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ = handle_tx.send(Ok(runtime.handle().clone()));
                        // Drives the runs until every Runner is gone.
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                    }
                }
            })?;
        let handle = handle_rx
            .recv()
            .map_err(|_| std::io::Error::other("the runner's thread ended at start"))??;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// Refuses a key file others may read, as OpenSSH does ("unprotected private key file").
#[cfg(unix)]
fn key_file_is_private(path: &std::path::Path) -> Result<(), RunnerError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| RunnerError::Key(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(RunnerError::Key(format!(
            "{}: readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn key_file_is_private(_: &std::path::Path) -> Result<(), RunnerError> {
    Ok(())
}

/// A started run: its events, and the means to cancel it.
#[derive(Debug)]
pub struct RunHandle {
    /// The run's events; `Done` is the last, after which the channel closes. Keep reading:
    /// the run waits for room when the queue is full.
    pub events: mpsc::Receiver<RunEvent>,
    cancel: CancellationToken,
}

impl RunHandle {
    /// Cancels the run: hosts not started end `cancelled` at once, running ones get `TERM` and
    /// are closed. A no-op once the run has ended.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the run has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// A token that cancels this run, to keep apart from the events (e.g. in a table of runs).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}
