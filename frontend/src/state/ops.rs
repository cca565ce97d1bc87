//! The Operations view's state (docs/OPS.md), for operators only: the dashboard's points per
//! relay node, the run on screen with one row per host, and the recent runs. Applying the
//! operator's actions and the relay's [`OpsMsg`] frames happens here too.
//!
//! The view watches while it is open: opening it sends `watch` and `runs`, leaving it (for a
//! conversation, or signing out) sends `unwatch`; a reconnect that welcomes us back while it
//! is open sends `watch` and `runs` again. A `run` goes with an `r` cid, so that its refusal
//! (`error` with that cid) shows in the runner.

use std::collections::BTreeMap;
use std::rc::Rc;

use shared::ClientMsg;
use shared::ops::{HostResult, HostStatus, OpsMsg, RunSummary, StatsPoint};

use super::State;

/// The dashboard keeps at most this many points per node (the relay's own window).
pub const MAX_POINTS: usize = 300;

/// What the Operations view shows. Behind an `Rc` in [`State`], so that a chat action clones
/// none of it.
///
/// Equal only to itself (the same allocation): every change goes through `Rc::make_mut` on
/// a state the reducer just cloned, so a changed `Ops` is always a new one, and comparing
/// states and props stays a pointer comparison instead of 300 points per node (and its code).
#[derive(Debug, Clone, Default)]
pub struct Ops {
    /// The view is on screen (and watching).
    pub open: bool,
    /// The dashboard's points by node, oldest first, at most [`MAX_POINTS`] each.
    pub nodes: BTreeMap<String, Vec<StatsPoint>>,
    /// The run on screen: the last one started from this page.
    pub run: Option<Run>,
    /// The cid of our `run` not answered yet.
    pub pending: Option<String>,
    /// Why the last `run` was refused.
    pub error: Option<String>,
    /// The last `runs` listing, newest first.
    pub runs: Vec<RunSummary>,
    /// The number of `run` requests made; the last one's cid is `{cid_prefix}r{counter}`.
    pub counter: u64,
}

impl PartialEq for Ops {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Ops {}

/// One run as the runner shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub command: String,
    /// One row per host, in the range's order.
    pub hosts: Vec<HostRow>,
    /// `(ok, failed, ms)` once every host has ended.
    pub done: Option<(u32, u32, u64)>,
}

/// One host of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub host: String,
    /// Both streams, in arrival order.
    pub output: String,
    /// Some output has come: the host is running.
    pub started: bool,
    /// How it ended, once it has.
    pub result: Option<HostResult>,
}

impl Run {
    /// The rows to show: failures first, then the rest, each in the range's order.
    pub fn rows_failures_first(&self) -> Vec<&HostRow> {
        let failed = |r: &&HostRow| {
            r.result
                .as_ref()
                .is_some_and(|r| r.status != HostStatus::Ok)
        };
        let mut rows: Vec<&HostRow> = self.hosts.iter().filter(failed).collect();
        rows.extend(self.hosts.iter().filter(|r| !failed(r)));
        rows
    }

    /// The hosts that ended with anything but `ok`, comma-joined (for "run again").
    pub fn failed_hosts(&self) -> String {
        let failed: Vec<&str> = self
            .hosts
            .iter()
            .filter(|r| {
                r.result
                    .as_ref()
                    .is_some_and(|r| r.status != HostStatus::Ok)
            })
            .map(|r| r.host.as_str())
            .collect();
        failed.join(",")
    }
}

impl State {
    /// Shows (true) or leaves the Operations view; only an operator has one.
    pub(super) fn show_ops(&mut self, open: bool) -> bool {
        if open == self.ops.open || (open && !self.operator) {
            return false;
        }
        let ops = Rc::make_mut(&mut self.ops);
        ops.open = open;
        if open {
            // The first `stats` answer carries every point kept: start from it.
            ops.nodes.clear();
            self.emit(ClientMsg::Watch);
            self.emit(ClientMsg::Runs);
        } else {
            self.emit(ClientMsg::Unwatch);
        }
        true
    }

    /// Asks the relay to run `command` on `hosts` (the view confirmed the count first).
    pub(super) fn start_run(&mut self, hosts: String, command: String) -> bool {
        if !self.operator || self.ops.pending.is_some() {
            return false;
        }
        let ops = Rc::make_mut(&mut self.ops);
        ops.counter += 1;
        let cid = format!("{}r{}", self.cid_prefix, ops.counter);
        ops.pending = Some(cid.clone());
        ops.error = None;
        self.emit_with_cid(ClientMsg::Run { hosts, command }, cid);
        true
    }

    /// Cancels the run on screen, if it is still going.
    pub(super) fn cancel_run(&self) -> bool {
        if let Some(run) = self.ops.run.as_ref().filter(|r| r.done.is_none()) {
            self.emit(ClientMsg::Cancel {
                run: run.id.clone(),
            });
        }
        false
    }

    /// Runs the run on screen's command again on its failed hosts.
    pub(super) fn retry_failed(&mut self) -> bool {
        let Some(run) = self.ops.run.as_ref().filter(|r| r.done.is_some()) else {
            return false;
        };
        let hosts = run.failed_hosts();
        if hosts.is_empty() {
            return false;
        }
        let command = run.command.clone();
        self.start_run(hosts, command)
    }

    /// An `error` that answers our `run`; false when the cid is not our run's.
    pub(super) fn run_refused(&mut self, cid: &str, why: String) -> bool {
        if self.ops.pending.as_deref() != Some(cid) {
            return false;
        }
        let ops = Rc::make_mut(&mut self.ops);
        ops.pending = None;
        ops.error = Some(why);
        true
    }

    /// A frame only operators get.
    pub(super) fn ops_frame(&mut self, msg: OpsMsg) -> bool {
        if !self.operator {
            return false;
        }
        let ops = Rc::make_mut(&mut self.ops);
        match msg {
            OpsMsg::Stats { points } => {
                for point in points {
                    let series = ops.nodes.entry(point.node.clone()).or_default();
                    if series.last().is_some_and(|p| p.ts >= point.ts) {
                        continue; // a repeat (a second `watch`)
                    }
                    series.push(point);
                    if series.len() > MAX_POINTS {
                        series.drain(..series.len() - MAX_POINTS);
                    }
                }
            }
            OpsMsg::RunStarted {
                run,
                hosts,
                command,
                cid,
            } => {
                // Only ours: another tab of the same operator has its own runner.
                if cid.is_none() || cid != ops.pending {
                    return false;
                }
                ops.pending = None;
                ops.run = Some(Run {
                    id: run,
                    command,
                    hosts: hosts
                        .into_iter()
                        .map(|host| HostRow {
                            host,
                            output: String::new(),
                            started: false,
                            result: None,
                        })
                        .collect(),
                    done: None,
                });
            }
            OpsMsg::RunOutput {
                run, host, text, ..
            } => {
                let Some(row) = ops.row(&run, &host) else {
                    return false;
                };
                row.started = true;
                row.output.push_str(&text);
            }
            OpsMsg::RunHost { run, result } => {
                let Some(row) = ops.row(&run, &result.host) else {
                    return false;
                };
                row.result = Some(result);
            }
            OpsMsg::RunDone {
                run,
                ok,
                failed,
                ms,
                ..
            } => {
                if let Some(r) = ops.run.as_mut().filter(|r| r.id == run) {
                    r.done = Some((ok, failed, ms));
                }
                // The listing shows how it ended.
                self.emit(ClientMsg::Runs);
            }
            OpsMsg::Runs { runs } => ops.runs = runs,
        }
        true
    }

    /// After `welcome`: an open view watches again on the new session.
    pub(super) fn ops_welcomed(&mut self, operator: bool) {
        self.operator = operator;
        if !operator {
            self.ops = Rc::default();
        } else if self.ops.open {
            let ops = Rc::make_mut(&mut self.ops);
            ops.nodes.clear();
            // A run asked for on the old socket got no answer and never will.
            ops.pending = None;
            self.emit(ClientMsg::Watch);
            self.emit(ClientMsg::Runs);
        }
    }
}

impl Ops {
    /// The row of `host` in the run on screen, if `run` is it.
    fn row(&mut self, run: &str, host: &str) -> Option<&mut HostRow> {
        self.run
            .as_mut()
            .filter(|r| r.id == run)?
            .hosts
            .iter_mut()
            .find(|r| r.host == host)
    }
}
