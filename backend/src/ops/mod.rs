//! What operators have (docs/OPS.md): who they are, the `courier passwd` command that gives
//! them a password, and the live dashboard's points.

pub mod audit;
pub mod config;
pub mod passwd;
pub mod runs;
pub mod sampler;
pub mod stats;

use std::collections::HashSet;

pub use config::OpsConfig;

/// The names listed with `--admin`, by key (`validate::name_key`).
#[derive(Debug, Clone, Default)]
pub struct Operators(HashSet<String>);

impl Operators {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> Self {
        Self(
            names
                .into_iter()
                .map(|n| shared::validate::name_key(n))
                .collect(),
        )
    }

    /// Whether the name with this key is an operator's.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The runner as the flags set it up: `Ok(Err(why))` when it is off (no runner flag, or only
/// some of the three it needs), `Err` when its flags are given but wrong (the relay must not
/// start then).
///
/// # Errors
/// An unreadable or unfit key or known-hosts file, or an unparsable network.
pub fn runs_from_config(
    config: &crate::Config,
    clock: crate::clock::Clock,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> Result<Result<std::sync::Arc<runs::Runs>, String>, String> {
    use crate::runner::{Allow, Runner, RunnerConfig};
    let ops = &config.ops;
    let missing: Vec<&str> = [
        ("--ssh-key", ops.ssh_key.is_none()),
        ("--ssh-known-hosts", ops.ssh_known_hosts.is_none()),
        ("--runner-allow", ops.runner_allow.is_empty()),
    ]
    .into_iter()
    .filter_map(|(flag, absent)| absent.then_some(flag))
    .collect();
    if missing.len() == 3 {
        return Ok(Err(crate::hub::RUNNER_OFF.to_owned()));
    }
    if !missing.is_empty() {
        let why = format!(
            "the runner is off: the relay also needs {}",
            missing.join(" and ")
        );
        tracing::warn!("{why}");
        return Ok(Err(why));
    }
    let (Some(key), Some(known_hosts)) = (&ops.ssh_key, &ops.ssh_known_hosts) else {
        unreachable!("checked above");
    };
    let allow = Allow::parse(&ops.runner_allow).map_err(|e| format!("--runner-allow: {e}"))?;
    let runner = Runner::new(RunnerConfig {
        user: ops.ssh_user.clone(),
        port: ops.ssh_port,
        max_hosts: ops.runner_max_hosts as usize,
        parallel: ops.runner_parallel as usize,
        timeout: ops.runner_timeout,
        output_cap: ops.runner_output_kib as usize * 1024,
        ..RunnerConfig::new(key, known_hosts, allow)
    })
    .map_err(|e| e.to_string())?;
    let audit = match &config.redis {
        // A cluster's relays share one audit.
        Some(url) => audit::Audit::Redis(
            crate::engine::redis::RedisAudit::open(url, crate::engine::redis::PREFIX)
                .map_err(|e| e.to_string())?,
        ),
        None => audit::Audit::Sqlite(
            crate::store::audit::Audit::open(&config.db, config.db_sync)
                .map_err(|e| e.to_string())?,
        ),
    };
    tracing::info!(user = runner.user(), port = ops.ssh_port, allow = ?ops.runner_allow, "the runner is on");
    Ok(Ok(runs::Runs::new(runner, audit, clock, metrics)))
}
