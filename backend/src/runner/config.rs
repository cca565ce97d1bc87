//! The runner's settings (the relay's `--ssh-*` and `--runner-*` flags) and what loading them
//! can refuse.

use std::path::PathBuf;
use std::time::Duration;

use super::hosts::Allow;

/// What the runner needs; [`RunnerConfig::new`] fills in OPS.md's defaults.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The client's private key (`--ssh-key`), OpenSSH format, ed25519, ECDSA or RSA, no passphrase.
    pub key: PathBuf,
    /// The OpenSSH known_hosts file (`--ssh-known-hosts`).
    pub known_hosts: PathBuf,
    /// The remote user (`--ssh-user`); `None` means the relay's own user.
    pub user: Option<String>,
    /// The SSH port of every host (`--ssh-port`).
    pub port: u16,
    /// The networks hosts must be in (`--runner-allow`); empty means the runner is off.
    pub allow: Allow,
    /// The most hosts in one run (`--runner-max-hosts`).
    pub max_hosts: usize,
    /// The most hosts running at once (`--runner-parallel`).
    pub parallel: usize,
    /// Each host's time from connecting to its exit (`--runner-timeout`).
    pub timeout: Duration,
    /// Each host's output cap in bytes of text, both streams together (`--runner-output-kib`).
    pub output_cap: usize,
}

impl RunnerConfig {
    /// The given files and networks with the defaults: port 22, 256 hosts, 16 at once, 60 s,
    /// 256 KiB.
    pub fn new(key: impl Into<PathBuf>, known_hosts: impl Into<PathBuf>, allow: Allow) -> Self {
        RunnerConfig {
            key: key.into(),
            known_hosts: known_hosts.into(),
            user: None,
            port: 22,
            allow,
            max_hosts: 256,
            parallel: 16,
            timeout: Duration::from_secs(60),
            output_cap: 256 * 1024,
        }
    }
}

/// Why the runner could not start; each names the flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("--ssh-key: {0}")]
    Key(String),
    #[error("--ssh-known-hosts: {0}")]
    KnownHosts(String),
    #[error("--runner-allow: no network allowed")]
    NoNetwork,
    #[error("--ssh-user: the relay's user is unknown (no USER or LOGNAME); name one")]
    NoUser,
    #[error("{0}")]
    Invalid(String),
}

/// The relay's user: `USER`, else `LOGNAME`, else the name of the process's uid in
/// `/etc/passwd`.
pub fn relay_user() -> Option<String> {
    for var in ["USER", "LOGNAME"] {
        if let Some(name) = std::env::var(var).ok().filter(|n| !n.is_empty()) {
            return Some(name);
        }
    }
    uid_name()
}

#[cfg(unix)]
fn uid_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

#[cfg(not(unix))]
fn uid_name() -> Option<String> {
    None
}
