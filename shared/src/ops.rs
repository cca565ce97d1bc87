//! The operators' frames (docs/OPS.md): the live dashboard's points and the host-range
//! runner's events. What operators send are variants of [`ClientMsg`](crate::ClientMsg); what
//! the relay sends only to them is [`OpsMsg`], kept out of [`ServerMsg`](crate::ServerMsg) so
//! that its parsing (floats among it) costs the web client's bundle nothing until a view uses
//! it.

use serde::{Deserialize, Serialize};

/// What the relay sends only to operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpsMsg {
    /// Dashboard points, oldest first.
    Stats { points: Vec<StatsPoint> },
    /// A run was accepted and audited; `hosts` is the range expanded.
    RunStarted {
        run: String,
        hosts: Vec<String>,
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// Output of one host of a run, in arrival order per host and stream.
    RunOutput {
        run: String,
        host: String,
        stream: OutputStream,
        text: String,
    },
    /// One host of a run has ended.
    RunHost {
        run: String,
        #[serde(flatten)]
        result: HostResult,
    },
    /// Every host of a run has ended.
    RunDone {
        run: String,
        ok: u32,
        failed: u32,
        ms: u64,
    },
    /// The newest runs, newest first.
    Runs { runs: Vec<RunSummary> },
}

/// The answer to an operator's `release` (`{"type":"released","name":…}`): the relay no
/// longer knows `name`. Apart from [`OpsMsg`] because the web client has no view for it, and
/// so does not pay for parsing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "released")]
pub struct Released {
    pub name: String,
}

impl OpsMsg {
    /// Parses one text frame, in two passes like [`ServerMsg::parse`](crate::ServerMsg::parse).
    ///
    /// # Errors
    /// The JSON error when the text is not an operator's frame this version knows.
    pub fn parse(text: &str) -> Result<Self, crate::json::Error> {
        crate::parse::ops_msg(text)
    }

    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an OpsMsg always serialises")
    }
}

/// One point of the dashboard: one relay process (`node`) at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsPoint {
    /// The relay process it comes from.
    pub node: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
    /// Busy percentage (0–100) of each CPU of the host over the last interval; absent for the
    /// first point after start, when there is no interval yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Vec<f32>>,
    /// The host's memory, in bytes.
    pub mem_total: u64,
    pub mem_available: u64,
    /// The relay process's resident memory, in bytes.
    pub rss: u64,
    /// Open WebSockets.
    pub connections: u64,
    /// Welcomed sessions.
    pub sessions: u64,
    /// Rooms with members.
    pub rooms: u64,
    /// Messages stored, per second over the last interval.
    pub messages_per_s: f32,
    /// Message frames written to sockets, per second over the last interval.
    pub deliveries_per_s: f32,
}

/// Which of a command's output streams a `run_output` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// How one host of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// The command exited with 0.
    Ok,
    /// Another exit code, a signal, or an SSH failure after connecting.
    Failed,
    /// No TCP connection.
    Unreachable,
    /// The host refused the relay's key.
    AuthFailed,
    /// The host's key is unknown or different from the known-hosts file's.
    HostKeyMismatch,
    /// `--runner-timeout` passed before the command exited.
    Timeout,
    /// The run was cancelled before or while this host ran.
    Cancelled,
    /// A status this version does not know (sent by a newer relay). Never sent.
    #[serde(other)]
    Other,
}

impl HostStatus {
    /// Every status this version knows.
    const KNOWN: [Self; 7] = [
        Self::Ok,
        Self::Failed,
        Self::Unreachable,
        Self::AuthFailed,
        Self::HostKeyMismatch,
        Self::Timeout,
        Self::Cancelled,
    ];

    /// The status named on the wire; [`HostStatus::Other`] for one this version does not know
    /// (what the derived `Deserialize` gives, without its visitor in the web client).
    pub(crate) fn from_wire(status: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|s| s.as_str() == status)
            .unwrap_or(Self::Other)
    }

    /// The status as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Unreachable => "unreachable",
            Self::AuthFailed => "auth_failed",
            Self::HostKeyMismatch => "host_key_mismatch",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Other => "other",
        }
    }
}

/// One host's result, as `run_host` carries it (with the run's id) and `runs` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResult {
    pub host: String,
    pub status: HostStatus,
    /// The command's exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// The signal that ended the command, by its SSH name without `SIG` (`TERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// What went wrong, for statuses other than `ok` that have more to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The host's wall time, in milliseconds.
    pub ms: u64,
    /// Output past `--runner-output-kib` was discarded.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// A run, as `runs` lists it: its audit record and its counts so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: String,
    /// The operator who started it.
    pub by: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub ts: u64,
    pub command: String,
    /// How many hosts it has.
    pub hosts: u32,
    pub ok: u32,
    pub failed: u32,
    /// Whether every host has ended.
    pub done: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}
