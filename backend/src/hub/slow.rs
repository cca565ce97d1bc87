//! Work a frame needs that is too slow for the hub's lock: hashing or checking the password of
//! a protected name. [`Hub::handle`] hands it back to the connection as [`Slow`], the
//! connection runs [`Hub::work_out`] without the lock, and [`Hub::finish`] completes the frame
//! (in `mod.rs`, with the session's handlers). It calls no handler itself.

use super::{Hello, Hub};
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
    pub(super) outcome: Outcome,
    pub(super) cid: Option<String>,
}

#[derive(Debug)]
pub(super) enum Outcome {
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
}
