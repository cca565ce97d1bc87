//! Operators (docs/OPS.md): passwords set from outside the relay, the operator-only frames,
//! and the dashboard's watchers.

use std::sync::Arc;

use shared::limits::close;
use shared::ops::{OpsMsg, Released, StatsPoint};
use shared::{ClientMsg, ErrorCode, validate};

use super::output::encode_ops;
use super::{Handled, Hub, Refusal, State, UserEntry, read_failed, refuse};
use crate::ops::Operators;
use crate::ops::runs::{Requester, Runs};
use crate::outbox::ConnId;
use crate::runner::CheckError;

/// Why `run` is refused when the relay was started without the runner's flags.
pub const RUNNER_OFF: &str =
    "the runner is off: the relay needs --ssh-key, --ssh-known-hosts and --runner-allow";

impl Hub {
    /// Names the operators (`--admin`); set once, before the relay serves.
    pub fn set_operators(&self, operators: Operators) {
        self.lock().operators = operators;
    }

    /// Gives the hub the runner (or the reason it is off, for `run`'s `forbidden`).
    pub fn set_runs(&self, runs: Result<Arc<Runs>, String>) {
        self.lock().runs = runs;
    }

    /// Adds a point to the dashboard and sends it to every watcher. The point's counters of
    /// this hub are filled in here.
    pub fn publish_stats(&self, mut point: StatsPoint) {
        let mut state = self.lock();
        point.connections = state.conns.len() as u64;
        point.sessions = state.online.len() as u64;
        point.rooms = state.rooms.len() as u64;
        if !state.watchers.is_empty() {
            let frame = encode_ops(&OpsMsg::Stats {
                points: vec![point.clone()],
            });
            for id in &state.watchers {
                state.send_frame(*id, frame.clone());
            }
        }
        state.stats.push(point);
    }
}

impl State {
    /// Takes a password that `courier passwd` stored while the relay ran: the store's, if it
    /// is newer than the one known here. Only those: every other password the store has came
    /// from this relay, which knows it already (or forgot it, and the writer is deleting it).
    pub(super) fn adopt_stored_password(&mut self, key: &str, now: u64) -> Handled {
        let stored = self.engine.user(key).map_err(|e| read_failed(&e))?;
        let forgotten = self.forgotten.get(key).copied().unwrap_or(0);
        let Some(stored) = stored
            .filter(|u| u.password.is_some() && u.password_outside && u.password_at > forgotten)
        else {
            return Ok(());
        };
        match self.users.get_mut(key) {
            Some(user) if user.password.is_some() && user.password_at >= stored.password_at => {}
            Some(user) => {
                user.password = stored.password;
                user.password_at = stored.password_at;
                user.password_outside = stored.password_outside;
                user.last_seen = user.last_seen.max(stored.last_seen);
            }
            None => {
                let entry = UserEntry {
                    name: stored.name,
                    password: stored.password,
                    password_at: stored.password_at,
                    password_outside: stored.password_outside,
                    last_seen: stored.last_seen,
                    since: now,
                    trusted: None,
                };
                self.users.insert(key.to_owned(), entry);
            }
        }
        Ok(())
    }

    /// An operator-only frame from a welcomed connection.
    pub(super) fn ops_frame(
        &mut self,
        id: ConnId,
        msg: ClientMsg,
        cid: Option<String>,
        now: u64,
    ) -> Handled {
        let session = self.session(id)?;
        if !session.operator {
            return refuse(
                ErrorCode::Forbidden,
                "only the relay's operators may do this",
            );
        }
        let (name, key) = (session.name.clone(), session.key.clone());
        match msg {
            ClientMsg::Watch => {
                self.watchers.insert(id);
                let points = self.stats.points();
                self.send_frame(id, encode_ops(&OpsMsg::Stats { points }));
                Ok(())
            }
            ClientMsg::Unwatch => {
                self.watchers.remove(&id);
                Ok(())
            }
            ClientMsg::Run { hosts, command } => {
                let runs = self.runner()?;
                let hosts = runs.runner().check(&hosts, &command).or_else(|e| match e {
                    CheckError::BadRequest(why) => refuse(ErrorCode::BadRequest, why),
                    CheckError::HostNotAllowed(host) => refuse(
                        ErrorCode::HostNotAllowed,
                        format!(
                            "{host} is outside every network the runner may reach \
                             (--runner-allow)"
                        ),
                    ),
                })?;
                if let Some(conn) = self.conns.get(&id).map(|c| c.handle.clone()) {
                    let by = Requester {
                        name,
                        key,
                        addr: conn.addr,
                        conn,
                        cid,
                    };
                    runs.start(by, hosts, command);
                }
                Ok(())
            }
            ClientMsg::Cancel { run } => {
                if let Ok(runs) = &self.runs {
                    runs.cancel(&key, &run);
                }
                Ok(())
            }
            ClientMsg::Runs => {
                let runs = self.runner()?;
                if let Some(conn) = self.conns.get(&id).map(|c| c.handle.clone()) {
                    runs.list(conn, cid);
                }
                Ok(())
            }
            ClientMsg::Release { name } => self.release(id, &name, now),
            _ => refuse(ErrorCode::Internal, "not an operator's frame"),
        }
    }

    /// `release`: forgets a name (ending its session, if it has one), so that its owner can
    /// take it back from a squatter. An operator's name is never released.
    fn release(&mut self, id: ConnId, raw: &str, now: u64) -> Handled {
        let name = validate::name(raw).or_else(|why| refuse(ErrorCode::InvalidName, why))?;
        let key = validate::name_key(name);
        if self.operators.contains(&key) {
            return refuse(ErrorCode::Forbidden, "an operator's name is never released");
        }
        if !self.users.contains_key(&key) {
            return refuse(ErrorCode::UnknownUser, format!("no user '{name}' is known"));
        }
        for holder in self.online.get(&key).cloned().unwrap_or_default() {
            self.end_session(holder, now);
            if let Some(conn) = self.conns.get(&holder) {
                conn.handle.close(close::POLICY);
            }
        }
        self.forget(&key, "released by an operator", now)?;
        let by = self.session(id).map(|s| s.name.clone()).unwrap_or_default();
        tracing::info!(%name, %by, "name released by an operator");
        let released = Released {
            name: name.to_owned(),
        };
        let text = serde_json::to_string(&released).expect("a Released always serialises");
        self.send_frame(id, crate::outbox::Frame::from(text));
        Ok(())
    }

    /// The runner, or `forbidden` saying why it is off.
    fn runner(&self) -> Result<Arc<Runs>, Refusal> {
        match &self.runs {
            Ok(runs) => Ok(runs.clone()),
            Err(off) => refuse(ErrorCode::Forbidden, off.clone()),
        }
    }
}
