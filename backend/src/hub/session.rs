//! Sessions: hello (with takeover by token, and protected names), protecting a name, and the
//! end of a session.

use shared::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, close};
use shared::{ErrorCode, ServerMsg, validate};

use std::collections::{HashMap, VecDeque};

use super::claim::{Won, holder_id};
use super::slow::SlowTask;
use super::{Handled, Session, Slow, State, UserEntry, new_token, refuse, same_token};
use crate::attempts::Attempt;
use crate::engine::{Claim, ClaimMode, Job, Topic};
use crate::outbox::ConnId;

impl State {
    /// A hello on an unwelcomed connection. `hello.proven` is set once the password of a
    /// protected name has been checked (off the lock, see [`SlowTask::Verify`]).
    pub(super) fn hello(&mut self, id: ConnId, hello: Hello, now: u64) -> Handled {
        let Hello {
            name: raw_name,
            token,
            acks,
            password,
            proven,
            checked,
            claimed,
            attach,
        } = hello;
        let name = match validate::name(&raw_name) {
            Ok(name) => name.to_owned(),
            Err(why) => return refuse(ErrorCode::InvalidName, why),
        };
        let key = validate::name_key(&name);
        self.adopt_stored_password(&key, now)?;
        let operator = self.operators.contains(&key);
        if operator && !self.users.get(&key).is_some_and(|u| u.password_outside) {
            return refuse(
                ErrorCode::PasswordRequired,
                format!(
                    "'{name}' is an operator's name without a password yet; whoever runs the \
                     relay sets it with `courier passwd`"
                ),
            );
        }
        let holders: Vec<ConnId> = self.online.get(&key).cloned().unwrap_or_default();
        let holder = holders.first().copied();
        if holder.is_none() && self.users.get(&key).is_some_and(|u| self.expired(u, now)) {
            self.forget(&key, "unused for --name-idle-days", now)?;
        }
        let new_name = !self.users.contains_key(&key);
        let clustered = self.engine.clustered();
        let token_fits = holder
            .and_then(|h| self.conns.get(&h)?.session.as_ref())
            .zip(token.as_ref())
            .is_some_and(|(s, t)| same_token(&s.token, t))
            || claimed.as_ref().is_some_and(|won| won.by_token);
        let protected = self.users.get(&key).and_then(|u| u.password.clone());
        if proven && protected.is_some() && protected != checked {
            return refuse(ErrorCode::PasswordRequired, password_required(&name));
        }
        // On a cluster, a token without a password may be a live session's on another relay:
        // the claim checks it there (`ClaimMode::TokenRequired`).
        let token_elsewhere = clustered
            && claimed.is_none()
            && holder.is_none()
            && token.is_some()
            && password.is_none();
        if let Some(hash) = protected
            .clone()
            .filter(|_| !token_fits && !proven && !token_elsewhere)
        {
            let Some(password) = password else {
                return refuse(ErrorCode::PasswordRequired, password_required(&name));
            };
            let addr = self.addr(id);
            let trusted = addr.is_some() && self.users.get(&key).and_then(|u| u.trusted) == addr;
            if !trusted && let Err(wait) = self.attempts.name_open(&key, now) {
                let secs = wait.secs();
                return self.too_many(format!(
                    "too many wrong passwords for '{name}': try again in {secs} s"
                ));
            }
            if let Err(wait) = self.attempts.take(Attempt::Check, self.addr(id), now) {
                let secs = wait.secs();
                return self.too_many(format!(
                    "too many passwords from this address: try again in {secs} s"
                ));
            }
            // Checked off the lock; the hello comes back with `proven` if it fits.
            self.slow = Some(Slow {
                task: SlowTask::Verify {
                    hello: Hello {
                        name: raw_name,
                        token,
                        acks,
                        password: None,
                        proven: true,
                        checked: Some(hash.clone()),
                        claimed: None,
                        attach,
                    },
                    password,
                    hash,
                },
                cid: None,
                addr: None,
            });
            return Ok(());
        }
        if let Some(holder) = holder {
            let newer = claimed.as_ref().is_some_and(|won| {
                self.conns
                    .get(&holder)
                    .and_then(|c| c.session.as_ref())
                    .is_some_and(|s| s.generation > won.generation)
            });
            // With `attach`, an unprotected name needs no proof (a protected one had its
            // password or token checked above).
            if (!token_fits && !proven && !attach) || newer {
                return refuse(ErrorCode::NameTaken, format!("'{name}' is already in use"));
            }
            if attach && !clustered {
                self.within_connection_cap(&key, &name)?;
            }
        } else if claimed.is_none() && !self.users.contains_key(&key) {
            if let Err(wait) = self.attempts.take(Attempt::NewName, self.addr(id), now) {
                let secs = wait.secs();
                return self.too_many(format!(
                    "too many new names from this address: try again in {secs} s, or use a \
                     name used before"
                ));
            }
            if self.users.len() >= self.limits.max_users {
                self.make_room(now)?;
            }
        }
        if clustered && claimed.is_none() {
            // Claimed across the cluster off the lock; the hello comes back with `claimed`.
            // One claim per name at a time from here: a claim's answer does not say which
            // hello of this relay it was for. (A hello whose connection drops meanwhile never
            // comes back: its claim counts for a few seconds only.)
            self.claiming
                .retain(|_, at| now.saturating_sub(*at) < CLAIM_MS);
            if holder.is_none() && self.claiming.contains_key(&key) {
                return refuse(ErrorCode::NameTaken, format!("'{name}' is already in use"));
            }
            self.claiming.insert(key.clone(), now);
            let mode = if proven {
                ClaimMode::Proven
            } else if protected.is_some() && !token_fits {
                ClaimMode::TokenRequired
            } else {
                ClaimMode::Token
            };
            let forgotten_at = self.forgotten.get(&key).copied().unwrap_or(0);
            let token_new = new_token();
            let claim = Claim {
                key,
                name: name.clone(),
                holder: holder_id(id, &token_new),
                token: token_new,
                given: token.clone(),
                mode,
                forgotten_at,
                attach,
                most: self.limits.connections_per_name,
            };
            self.slow = Some(Slow {
                task: SlowTask::Claim {
                    hello: Hello {
                        name: raw_name,
                        token,
                        acks,
                        // Checked against the hash the claim brings if the name turns out
                        // protected (`Claimed::Protected`), and dropped then.
                        password,
                        proven,
                        checked,
                        claimed: None,
                        attach,
                    },
                    claim,
                },
                cid: None,
                addr: None,
            });
            return Ok(());
        }
        // `attach` joins the live session (here, or on another relay as the claim says);
        // without it, the same user on a new connection takes the session over: every old
        // connection ends as if it had dropped.
        let attached = match &claimed {
            Some(won) => won.attached.clone(),
            None if attach && holder.is_some() => Some(self.attached_here(&holders)),
            None => None,
        };
        if attached.is_none() {
            for &holder in &holders {
                self.end_session(holder, now);
                if let Some(old) = self.conns.get(&holder) {
                    old.handle.close(close::NORMAL);
                }
                tracing::info!(conn = id, old_conn = holder, %name, "session taken over");
            }
        }
        let name = attached.as_ref().map_or(name, |a| a.name.clone());

        let user = self.users.entry(key.clone()).or_insert_with(|| UserEntry {
            last_seen: now,
            since: now,
            ..UserEntry::default()
        });
        user.name.clone_from(&name);
        user.last_seen = now;
        if proven {
            user.trusted = self.conns.get(&id).and_then(|c| c.handle.addr);
        }
        self.submit(Job::User {
            key: key.clone(),
            name: name.clone(),
            seen: now,
        })?;
        let (token, generation, holder_id) = match claimed {
            Some(won) => (won.token, won.generation, won.holder),
            None => match holder.and_then(|h| self.conns.get(&h)?.session.as_ref()) {
                Some(s) if attached.is_some() => (s.token.clone(), s.generation, String::new()),
                _ => (new_token(), 0, String::new()),
            },
        };
        // An operator's name always has a password (checked above), so a session under it
        // proved that password, or took over one that did, with its token.
        let welcome = ServerMsg::Welcome {
            name: name.clone(),
            token: token.clone(),
            operator,
            attached: attached.is_some(),
            connections: attached.as_ref().map(|a| a.connections),
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            self.engine.release(&key, &holder_id);
            return Ok(()); // the connection went away meanwhile
        };
        conn.session = Some(Session {
            name: name.clone(),
            key: key.clone(),
            token,
            generation,
            holder: holder_id,
            rooms: Default::default(),
            acks,
            operator,
            replayed: HashMap::new(),
            unconfirmed: VecDeque::new(),
            // A new name has no mail: what the store may still hold for it is a forgotten
            // holder's, being removed.
            mail_pending: (!new_name).then(Vec::new),
        });
        self.online.entry(key.clone()).or_default().push(id);
        tracing::debug!(conn = id, %name, attached = attached.is_some(), "welcomed");
        self.send(id, &welcome);
        // An attached connection is in every room the person is in, its pages read with the
        // mailbox.
        let joins = match attached {
            Some(attached) => self.enter_rooms(id, attached.rooms),
            None => Vec::new(),
        };
        // The mailbox is read off the lock (a new name's is not: what it holds is a forgotten
        // holder's); private messages that come meanwhile wait for it
        // (`Session::mail_pending`).
        self.slow = Some(Slow {
            task: SlowTask::Mailbox {
                key,
                read: !new_name,
                joins,
            },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    /// `protect`: the session's name is to be protected by `password`, hashed off the lock.
    pub(super) fn protect(&mut self, id: ConnId, password: String, now: u64) -> Handled {
        if self.session(id)?.operator {
            return refuse(
                ErrorCode::Forbidden,
                "an operator's password is set by whoever runs the relay, with `courier passwd`",
            );
        }
        let chars = password.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return refuse(
                ErrorCode::BadRequest,
                format!("a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
            );
        }
        if let Err(wait) = self.attempts.take(Attempt::Protect, self.addr(id), now) {
            let secs = wait.secs();
            return self.too_many(format!(
                "too many names protected from this address: try again in {secs} s"
            ));
        }
        self.slow = Some(Slow {
            task: SlowTask::Hash { password },
            cid: None,
            addr: None,
        });
        Ok(())
    }

    /// The password hash for connection `id`'s name is made: the name is protected from now.
    pub(super) fn protected(&mut self, id: ConnId, hash: String, now: u64) -> Handled {
        let session = self.session(id)?;
        let (key, name) = (session.key.clone(), session.name.clone());
        self.submit(Job::Protect {
            key: key.clone(),
            hash: hash.clone(),
            at: now,
        })?;
        let addr = self.addr(id);
        if let Some(user) = self.users.get_mut(&key) {
            user.password = Some(hash);
            user.password_at = now;
            user.password_outside = false;
            user.last_seen = now;
            user.trusted = addr;
        }
        tracing::info!(conn = id, %name, "name protected");
        self.send(id, &ServerMsg::Protected { name });
        Ok(())
    }

    /// Ends connection `id`'s session, if it has one: it leaves its rooms (the others there
    /// hear `presence` offline) and its name is free again.
    pub(super) fn end_session(&mut self, id: ConnId, now: u64) {
        // What reached the socket before the end is received; the rest stays in the mailbox.
        self.settle_mail(id);
        let Some(session) = self.conns.get_mut(&id).and_then(|c| c.session.take()) else {
            return;
        };
        if let Some(conns) = self.online.get_mut(&session.key) {
            conns.retain(|&c| c != id);
            if conns.is_empty() {
                self.online.remove(&session.key);
                self.engine.unfollow(Topic::User(session.key.clone()));
            }
        }
        // A read of its mailbox that was under way no longer counts.
        if session.mail_pending.is_some() && !self.reading_mail(&session.key) {
            self.removals.reads_ended(&session.key);
        }
        // The person stays in its rooms while another of its connections is there.
        for room in &session.rooms {
            self.remove_member(id, room);
        }
        self.engine.release(&session.key, &session.holder);
        // The name was in use until now: its idle time starts here.
        if let Some(user) = self.users.get_mut(&session.key) {
            user.last_seen = now;
            let job = Job::Seen {
                key: session.key.clone(),
                at: now,
            };
            if let Err(refusal) = self.submit(job) {
                tracing::debug!("last use of a name not stored: {}", refusal.message);
            }
        }
    }
}

/// How long a name claim under way blocks another hello for it on this relay, at most (ms):
/// far longer than a claim takes.
const CLAIM_MS: u64 = 10_000;

/// The refusal of a hello for a protected name: the same words whether the password was
/// missing or wrong.
pub(super) fn password_required(name: &str) -> String {
    format!("'{name}' is protected: say hello with its password")
}

/// A hello, as `State::hello` takes it.
#[derive(Debug)]
pub(super) struct Hello {
    pub(super) name: String,
    pub(super) token: Option<String>,
    pub(super) acks: bool,
    pub(super) password: Option<String>,
    /// The password of the protected name has been checked.
    pub(super) proven: bool,
    /// With `proven`: the hash the password was checked against. If the name's password
    /// changed meanwhile (`courier passwd`), the check no longer counts.
    pub(super) checked: Option<String>,
    /// On a clustered engine: the name was claimed across the cluster (off the lock).
    pub(super) claimed: Option<Won>,
    /// Join the live session as one more connection instead of taking it over.
    pub(super) attach: bool,
}
