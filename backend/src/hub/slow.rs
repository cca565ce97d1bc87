//! Work a frame needs that is too slow for the hub's lock: hashing or checking the password of
//! a protected name. [`Hub::handle`] hands it back to the connection as [`Slow`], the
//! connection runs [`Hub::work_out`] without the lock, and [`Hub::finish`] completes the frame
//! (in `mod.rs`, with the session's handlers). It calls no handler itself.

use std::net::IpAddr;

use super::{Hello, Hub};
use crate::passwords::{self, Busy};

/// Work a frame needs that is too slow for the hub's lock: [`Hub::handle`] hands it back to the
/// connection, which does it with [`Hub::work_out`] and ends the frame with [`Hub::finish`].
#[derive(Debug)]
pub struct Slow {
    pub(super) task: SlowTask,
    pub(super) cid: Option<String>,
    /// The client's address, whose share of the hashing threads it takes.
    pub(super) addr: Option<IpAddr>,
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
    Verified {
        hello: Hello,
        fits: bool,
    },
    Hashed(Result<String, String>),
    /// The hashing threads refused the work at once (see [`Busy`]).
    Busy(Busy),
}

impl Hub {
    /// Does a frame's slow work ([`Slow`]) on the hashing threads, or learns at once that
    /// they will not take it.
    pub async fn work_out(&self, slow: Slow) -> Done {
        let Slow { task, cid, addr } = slow;
        let outcome = match task {
            SlowTask::Verify {
                hello,
                password,
                hash,
            } => match self
                .passwords
                .run(addr, move |memory| {
                    passwords::verify(&password, &hash, memory)
                })
                .await
            {
                Ok(fits) => Outcome::Verified { hello, fits },
                Err(busy) => Outcome::Busy(busy),
            },
            SlowTask::Hash { password } => match self
                .passwords
                .run(addr, move |memory| passwords::hash(&password, memory))
                .await
            {
                Ok(hashed) => Outcome::Hashed(hashed),
                Err(busy) => Outcome::Busy(busy),
            },
        };
        Done { outcome, cid }
    }
}
