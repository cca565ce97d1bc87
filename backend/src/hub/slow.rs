//! Work a frame needs that is too slow for the hub's lock: hashing or checking the password of
//! a protected name. [`Hub::handle`] hands it back to the connection as [`Slow`], the
//! connection runs [`Hub::work_out`] without the lock, and [`Hub::finish`] completes the frame.

use shared::ErrorCode;

use super::{Hello, Hub, refuse, session};
use crate::outbox::ConnHandle;
use crate::passwords;

/// Work a frame needs that is too slow for the hub's lock: [`Hub::handle`] hands it back to the
/// connection, which does it with [`Hub::work_out`] and ends the frame with [`Hub::finish`].
#[derive(Debug)]
pub struct Slow {
    pub(super) task: SlowTask,
    pub(super) cid: Option<String>,
}

#[derive(Debug)]
pub(super) enum SlowTask {
    /// Check `password` against `hash`, then carry out the hello if it fits.
    Verify {
        hello: Hello,
        password: String,
        hash: String,
    },
    /// Hash `password` to protect the session's name.
    Hash { password: String },
}

/// The outcome of a [`Slow`] task.
#[derive(Debug)]
pub struct Done {
    outcome: Outcome,
    cid: Option<String>,
}

#[derive(Debug)]
enum Outcome {
    Verified { hello: Hello, fits: bool },
    Hashed(Result<String, String>),
}

impl Hub {
    /// Does a frame's slow work ([`Slow`]) on the blocking pool, a bounded number at a time.
    pub async fn work_out(&self, slow: Slow) -> Done {
        let Slow { task, cid } = slow;
        let outcome = match task {
            SlowTask::Verify {
                hello,
                password,
                hash,
            } => {
                let fits = self
                    .passwords
                    .run(move || passwords::verify(&password, &hash))
                    .await
                    .unwrap_or(false);
                Outcome::Verified { hello, fits }
            }
            SlowTask::Hash { password } => Outcome::Hashed(
                self.passwords
                    .run(move || passwords::hash(&password))
                    .await
                    .unwrap_or_else(|| Err("the relay is stopping".into())),
            ),
        };
        Done { outcome, cid }
    }

    /// Ends a frame whose slow work is done.
    pub fn finish(&self, handle: &ConnHandle, done: Done) {
        let id = handle.id;
        let mut state = self.lock();
        let result = match done.outcome {
            Outcome::Verified { hello, fits: true } => state.hello(id, hello),
            Outcome::Verified { hello, fits: false } => {
                tracing::info!(conn = id, name = %hello.name, "wrong password for a protected name");
                refuse(
                    ErrorCode::PasswordRequired,
                    session::password_required(hello.name.trim()),
                )
            }
            Outcome::Hashed(Ok(hash)) => state.protected(id, hash),
            Outcome::Hashed(Err(e)) => {
                tracing::error!("cannot hash a password: {e}");
                refuse(ErrorCode::Internal, "the relay could not protect the name")
            }
        };
        if let Err(refusal) = result {
            state.error(id, refusal.code, refusal.message, done.cid);
        }
    }
}
