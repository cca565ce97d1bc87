//! A hello's name claim across the cluster (on a clustered engine, off the lock): what the
//! claim answered, and how the hello goes on with it.

use shared::ErrorCode;

use super::session::{Hello, password_required};
use super::{Handled, State, read_failed, refuse};
use crate::engine::{Claimed, ReadError};
use crate::outbox::ConnId;

impl State {
    /// A hello's name claim across the cluster came back: the hello goes on with it, or is
    /// refused. A claim won for a hello that fails after all is released again, and so is
    /// one whose answer did not come (it may have been carried out all the same).
    pub(super) fn claimed(
        &mut self,
        id: ConnId,
        hello: Hello,
        (token, key): (String, String),
        claimed: Result<Claimed, ReadError>,
        now: u64,
    ) -> Handled {
        let name = hello.name.trim().to_owned();
        self.claiming.remove(&key);
        let holder = holder_id(id, &token);
        let mut hello = hello;
        let password = hello.password.take();
        let won = match claimed {
            Ok(Claimed::Ok {
                generation,
                by_token,
            }) => Won {
                generation,
                by_token,
                token,
                attached: None,
                holder: holder.clone(),
            },
            Ok(Claimed::Attached {
                generation,
                token,
                name,
                connections,
                rooms,
            }) => Won {
                generation,
                by_token: true,
                token,
                attached: Some(Attached {
                    connections,
                    name,
                    rooms,
                }),
                holder: holder.clone(),
            },
            Ok(Claimed::Full) => {
                return Err(super::person::too_many_connections(
                    &name,
                    self.limits.connections_per_name,
                ));
            }
            Ok(Claimed::Taken) => {
                return refuse(ErrorCode::NameTaken, format!("'{name}' is already in use"));
            }
            Ok(Claimed::TokenRefused) => {
                return refuse(ErrorCode::PasswordRequired, password_required(&name));
            }
            Ok(Claimed::Protected {
                password: hash,
                at,
                outside,
            }) => {
                // Protected on another relay, and its news is not here yet: known from now,
                // and the hello goes again to have its password checked.
                self.learn_password(&key, &name, (hash, at), outside, now);
                return match password {
                    Some(password) => self.hello(
                        id,
                        Hello {
                            password: Some(password),
                            ..hello
                        },
                        now,
                    ),
                    None => refuse(ErrorCode::PasswordRequired, password_required(&name)),
                };
            }
            Err(e) => {
                // Its answer was lost, but Redis may have carried it out: this connection's
                // part, if any, is released (safe either way, see `Claim::holder`).
                self.engine.release(&key, &holder);
                return Err(read_failed(&e));
            }
        };
        let hello = Hello {
            claimed: Some(won),
            ..hello
        };
        let done = self.hello(id, hello, now);
        if done.is_err() {
            self.engine.release(&key, &holder);
        }
        done
    }
}

/// Connection `id` as a holder of a session, for its claim with the new token `token`
/// (`Claim::holder`): unique to the connection and the claim.
pub(super) fn holder_id(id: ConnId, token: &str) -> String {
    format!("{id}.{}", token.get(..12).unwrap_or(token))
}

/// A name claimed across the cluster for a hello (`engine::cluster`).
#[derive(Debug, Clone)]
pub(super) struct Won {
    pub(super) generation: u64,
    /// The hello's token was the live session's.
    pub(super) by_token: bool,
    /// The token the new session has (claimed with it), or the live session's when the
    /// hello attached to it.
    pub(super) token: String,
    /// The hello joined the live session (`attach`); with how many connections it has now,
    /// the session's name as held, and the rooms the person is in.
    pub(super) attached: Option<Attached>,
    /// The connection as a holder of the session (`Claim::holder`), to release it with.
    pub(super) holder: String,
}

/// What a claim that attached to a live session across the cluster says of it.
#[derive(Debug, Clone)]
pub(super) struct Attached {
    pub(super) connections: usize,
    pub(super) name: String,
    pub(super) rooms: Vec<String>,
}
