//! Runs on operators' behalf (docs/OPS.md): each run's task audits it, starts it on the
//! [`Runner`], and forwards its events to the connection that asked, recording each host's
//! result as it ends. Nothing here takes the hub's lock: the hub hands a checked request over
//! and returns.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use shared::ops::{HostResult, OpsMsg};
use shared::{ErrorCode, ServerMsg};
use tokio_util::sync::CancellationToken;

use super::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::outbox::{ConnHandle, Frame};
use crate::runner::{RunEvent, Runner};
use crate::store::audit::RunRecord;

/// `runs` lists at most this many.
const LISTED: usize = 50;

/// Who asked for a run, and where to send what it does.
pub struct Requester {
    /// The operator's name, as said.
    pub name: String,
    /// Its key (`validate::name_key`): only the same operator may cancel.
    pub key: String,
    pub addr: Option<IpAddr>,
    /// The connection that asked. A run goes on if it closes; frames to it are dropped then.
    pub conn: ConnHandle,
    pub cid: Option<String>,
}

/// The runner, the audit, and the runs going on.
pub struct Runs {
    runner: Runner,
    audit: Arc<Mutex<Audit>>,
    /// Run id → (its operator's key, the token that cancels it).
    active: Mutex<HashMap<String, (String, CancellationToken)>>,
    clock: Clock,
    /// Runs started and going on, hosts ended by status (/metrics).
    metrics: Arc<Metrics>,
}

impl Runs {
    pub fn new(runner: Runner, audit: Audit, clock: Clock, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            runner,
            audit: Arc::new(Mutex::new(audit)),
            active: Mutex::new(HashMap::new()),
            clock,
            metrics,
        })
    }

    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    fn active(&self) -> MutexGuard<'_, HashMap<String, (String, CancellationToken)>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a run of `command` on `hosts` (checked already) in a task of its own.
    pub fn start(self: &Arc<Self>, by: Requester, hosts: Vec<Ipv4Addr>, command: String) {
        let runs = self.clone();
        tokio::spawn(async move { runs.run(by, hosts, command).await });
    }

    async fn run(self: Arc<Self>, by: Requester, hosts: Vec<Ipv4Addr>, command: String) {
        let run = new_run_id();
        let record = RunRecord {
            run: run.clone(),
            by: by.name.clone(),
            addr: by.addr.map(|a| a.to_string()),
            ts: (self.clock)(),
            command: command.clone(),
            hosts: hosts.iter().map(ToString::to_string).collect(),
        };
        // Audited before anything runs: a run the audit cannot record does not run.
        if let Err(e) = self.write(move |audit| audit.started(&record)).await {
            tracing::error!(%run, "cannot audit a run, so it does not start: {e}");
            let message = "the relay cannot record the run in its audit, so it did not start";
            send(
                &by.conn,
                &ServerMsg::error(ErrorCode::Internal, message, by.cid.clone()),
            );
            return;
        }
        tracing::info!(%run, by = %by.name, addr = ?by.addr, hosts = hosts.len(), %command, "run started");
        // Cancellable from the moment its operator can know its id.
        let cancel = CancellationToken::new();
        self.active()
            .insert(run.clone(), (by.key.clone(), cancel.clone()));
        Metrics::inc(&self.metrics.runs_started);
        self.metrics.runs_active.inc();
        send_ops(
            &by.conn,
            &OpsMsg::RunStarted {
                run: run.clone(),
                hosts: hosts.iter().map(ToString::to_string).collect(),
                command: command.clone(),
                cid: by.cid.clone(),
            },
        );
        let mut handle = self.runner.start(hosts, command);
        loop {
            let event = tokio::select! {
                () = cancel.cancelled(), if !handle.is_cancelled() => {
                    handle.cancel();
                    continue;
                }
                event = handle.events.recv() => event,
            };
            let Some(event) = event else { break };
            match event {
                RunEvent::Output { host, stream, text } => {
                    let output = OpsMsg::RunOutput {
                        run: run.clone(),
                        host: host.to_string(),
                        stream,
                        text,
                    };
                    send_paced(&by.conn, &output).await;
                }
                RunEvent::Host {
                    host,
                    status,
                    exit,
                    signal,
                    message,
                    ms,
                    truncated,
                } => {
                    let result = HostResult {
                        host: host.to_string(),
                        status,
                        exit,
                        signal,
                        message,
                        ms,
                        truncated,
                    };
                    tracing::info!(%run, host = %result.host, status = result.status.as_str(), exit = ?result.exit, ms, "run host ended");
                    self.metrics.host_ended(result.status.as_str());
                    let (id, recorded) = (run.clone(), result.clone());
                    if let Err(e) = self.write(move |audit| audit.host(&id, &recorded)).await {
                        tracing::error!(%run, "cannot record a host's result in the audit: {e}");
                    }
                    send_ops(
                        &by.conn,
                        &OpsMsg::RunHost {
                            run: run.clone(),
                            result,
                        },
                    );
                }
                RunEvent::Done { ok, failed, ms } => {
                    let id = run.clone();
                    if let Err(e) = self.write(move |audit| audit.done(&id)).await {
                        tracing::error!(%run, "cannot record a run's end in the audit: {e}");
                    }
                    tracing::info!(%run, ok, failed, ms, "run done");
                    send_ops(
                        &by.conn,
                        &OpsMsg::RunDone {
                            run: run.clone(),
                            ok: ok as u32,
                            failed: failed as u32,
                            ms,
                        },
                    );
                }
            }
        }
        self.active().remove(&run);
        self.metrics.runs_active.dec();
    }

    /// Cancels `run` if the operator `key` started it and it is still going; else nothing.
    pub fn cancel(&self, key: &str, run: &str) {
        let active = self.active();
        if let Some((owner, token)) = active.get(run)
            && owner == key
        {
            tracing::info!(%run, "run cancelled by its operator");
            token.cancel();
        }
    }

    /// Sends the newest runs to `conn`, read off the async threads.
    pub fn list(self: &Arc<Self>, conn: ConnHandle, cid: Option<String>) {
        let runs = self.clone();
        tokio::spawn(async move {
            match runs.write(|audit| audit.recent(LISTED)).await {
                Ok(list) => send_ops(&conn, &OpsMsg::Runs { runs: list }),
                Err(e) => {
                    tracing::error!("cannot read the runs' audit: {e}");
                    let message = "the relay cannot read its audit right now";
                    send(&conn, &ServerMsg::error(ErrorCode::Internal, message, cid));
                }
            }
        });
    }

    /// Runs `work` on the audit on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Audit) -> Result<T, AuditError> + Send + 'static,
    ) -> Result<T, String> {
        let audit = self.audit.clone();
        tokio::task::spawn_blocking(move || {
            let mut audit = audit.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut audit).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

fn send(conn: &ConnHandle, msg: &ServerMsg) {
    let _ = conn.send(Frame::from(msg.to_json()));
}

fn send_ops(conn: &ConnHandle, msg: &OpsMsg) {
    let _ = conn.send(Frame::from(msg.to_json()));
}

/// Frames of a run's output that may wait, unwritten, in the operator's queue.
const PACED_FRAMES: u64 = 64;

/// Sends a run's output at the pace the operator's connection reads it: past
/// [`PACED_FRAMES`] unwritten frames, waits for the socket (and so the run waits, through its
/// bounded event channel, and SSH reads pause). Without it, a chatty run would fill the
/// connection's queue and the relay would cut its own operator with 1013. Once the
/// connection is gone it does not wait: the run goes on, its output dropped.
async fn send_paced(conn: &ConnHandle, msg: &OpsMsg) {
    let Ok(number) = conn.send_numbered(Frame::from(msg.to_json())) else {
        return;
    };
    while number.saturating_sub(conn.flushed()) > PACED_FRAMES && !conn.is_closing() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A run's id: 32 random bits, hex.
fn new_run_id() -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
