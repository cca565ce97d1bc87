//! The operators' flags (docs/OPS.md): who the operators are, the dashboard's interval, and
//! the host-range runner's SSH settings and limits.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct OpsConfig {
    /// A name that is an operator (repeatable; the variable is comma-separated). An operator
    /// sees the dashboard and may use the runner. Its password is set with `courier passwd
    /// NAME`, never over the wire: until then the name cannot be used at all, and `protect`
    /// refuses it. An operator's name never expires.
    #[arg(long = "admin", env = "COURIER_ADMINS", value_name = "NAME", value_delimiter = ',', value_parser = parse_admin)]
    pub admins: Vec<String>,

    /// Seconds between two points of the dashboard (it keeps the last 300).
    #[arg(long, env = "COURIER_STATS_INTERVAL", default_value = "1", value_parser = crate::config::parse_secs)]
    pub stats_interval: Duration,

    /// The runner's SSH private key (OpenSSH format). With --ssh-known-hosts and
    /// --runner-allow it turns the runner on.
    #[arg(long, env = "COURIER_SSH_KEY", value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,

    /// The OpenSSH known_hosts file that every host's key must be in (`[host]:port` for ports
    /// other than 22). An unknown or different key fails that host; nothing is trusted on
    /// first use.
    #[arg(long, env = "COURIER_SSH_KNOWN_HOSTS", value_name = "FILE")]
    pub ssh_known_hosts: Option<PathBuf>,

    /// The user the runner logs in as (default: the relay's own user).
    #[arg(long, env = "COURIER_SSH_USER", value_name = "USER")]
    pub ssh_user: Option<String>,

    /// The port the runner connects to.
    #[arg(long, env = "COURIER_SSH_PORT", default_value_t = 22)]
    pub ssh_port: u16,

    /// A network (CIDR, e.g. 10.0.0.0/24) the runner may reach (repeatable; the variable is
    /// comma-separated). A run with any host outside all of them gets `host_not_allowed`.
    #[arg(
        long = "runner-allow",
        env = "COURIER_RUNNER_ALLOW",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub runner_allow: Vec<String>,

    /// Hosts one run may have at most; more get `bad_request`.
    #[arg(long, env = "COURIER_RUNNER_MAX_HOSTS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub runner_max_hosts: u32,

    /// Hosts that run at once, over every run.
    #[arg(long, env = "COURIER_RUNNER_PARALLEL", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub runner_parallel: u32,

    /// Seconds each host has, from connecting to the command's exit.
    #[arg(long, env = "COURIER_RUNNER_TIMEOUT", default_value = "60", value_parser = crate::config::parse_secs)]
    pub runner_timeout: Duration,

    /// KiB of output kept per host (both streams); the rest is dropped and the host's result
    /// says `truncated`.
    #[arg(long, env = "COURIER_RUNNER_OUTPUT_KIB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub runner_output_kib: u32,
}

/// An operator's name must be one a session could have.
fn parse_admin(s: &str) -> Result<String, String> {
    shared::validate::name(s.trim())
        .map(str::to_owned)
        .map_err(|why| format!("'{s}' is not a name: {why}"))
}
