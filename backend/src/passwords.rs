//! Passwords of protected names: Argon2id hashes, made and checked off the hub's lock.
//!
//! Hashing is slow on purpose (about 20 ms of CPU and 12 MiB of memory each). It runs on
//! [`AT_ONCE`] threads of its own, each with one Argon2 buffer it allocates on its first job
//! and reuses for every later one. So a crowd of logins costs at most `AT_ONCE` × 12 MiB for
//! the relay's lifetime: hashing on a pool of short-lived threads left each 12 MiB in one of
//! the allocator's arenas, which never gave it back (RSS reached 650 MB after 100 checks).
//!
//! Nothing waits in line for long: at most [`WAITING`] jobs wait for a thread, and one address
//! has at most [`PER_ADDRESS`] job queued or running. A job past either is refused at once
//! ([`Busy`]), and the hub answers it with `rate_limited`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Hashing threads, each with its own buffer.
pub const AT_ONCE: usize = 2;

/// Jobs that may wait for a free thread.
pub const WAITING: usize = 8;

/// Jobs one address may have waiting or running.
pub const PER_ADDRESS: usize = 1;

/// Argon2id with OWASP's second recommended setting: 12 MiB, 3 passes, 1 lane.
fn params() -> Params {
    Params::new(12 * 1024, 3, 1, Some(32)).expect("valid Argon2 parameters")
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Makes `memory` at least `blocks` long (once per thread: later calls find it so) and
/// returns that much of it.
fn scratch(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        *memory = vec![Block::new(); blocks];
    }
    &mut memory[..blocks]
}

/// The PHC string (`$argon2id$v=19$m=12288,t=3,p=1$salt$hash`) for `password`, computed in
/// `memory`.
///
/// # Errors
/// The operating system's random source failed.
pub fn hash(password: &str, memory: &mut Vec<Block>) -> Result<String, String> {
    let params = params();
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let mut out = [0u8; 32];
    let blocks = scratch(memory, params.block_count());
    argon2(params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, recomputed in `memory` with the string's
/// own parameters and salt (false for a string that does not parse, or that asks for more
/// memory than the relay's own setting).
pub fn verify(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.block_count() > self::params().block_count() {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let blocks = scratch(memory, params.block_count());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
        .is_ok()
        && same_bytes(&out, expected.as_bytes())
}

/// Compares in time that does not depend on where the bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Work for a hashing thread: runs with the thread's buffer.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Why a job was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// [`WAITING`] jobs wait already.
    Full,
    /// The address has [`PER_ADDRESS`] jobs waiting or running.
    Address,
    /// The relay is stopping.
    Stopped,
}

/// The hashing threads and their queue.
pub struct Workers {
    queue: SyncSender<Job>,
    /// Jobs waiting or running, per address (an address with none has no entry).
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Default for Workers {
    fn default() -> Self {
        let (queue, jobs) = sync_channel::<Job>(WAITING);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..AT_ONCE {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("courier-argon2-{n}"))
                .spawn(move || work(&jobs))
                .expect("cannot start a hashing thread");
        }
        Self {
            queue,
            per_address: Arc::default(),
        }
    }
}

/// A hashing thread: takes jobs until the [`Workers`] are dropped.
fn work(jobs: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

/// Counts a job against its address until dropped (run or not).
struct Ticket {
    addr: Option<IpAddr>,
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let Some(addr) = self.addr else { return };
        let mut table = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = table.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                table.remove(&addr);
            }
        }
    }
}

impl Workers {
    /// Queues `work` for a hashing thread on behalf of `addr`, or refuses it at once.
    ///
    /// # Errors
    /// [`Busy`]: the queue is full, `addr` has its share in it, or the relay is stopping.
    pub fn submit<T: Send + 'static>(
        &self,
        addr: Option<IpAddr>,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, Busy> {
        if let Some(addr) = addr {
            let mut table = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
            let n = table.entry(addr).or_default();
            if *n >= PER_ADDRESS {
                return Err(Busy::Address);
            }
            *n += 1;
        }
        let ticket = Ticket {
            addr,
            per_address: self.per_address.clone(),
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let result = work(memory);
            // The address's share is free before the answer can bring its next attempt.
            drop(ticket);
            let _ = tx.send(result);
        });
        // A refused job is dropped here, and its ticket with it.
        match self.queue.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(Busy::Full),
            Err(TrySendError::Disconnected(_)) => Err(Busy::Stopped),
        }
    }

    /// Runs `work` on a hashing thread and waits for it; `Err` as for [`Workers::submit`].
    ///
    /// # Errors
    /// [`Busy`], from [`Workers::submit`].
    pub async fn run<T: Send + 'static>(
        &self,
        addr: Option<IpAddr>,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        self.submit(addr, work)?.await.map_err(|_| Busy::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_checks_only_its_password() {
        let mut memory = Vec::new();
        let phc = hash("correct horse", &mut memory).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc, &mut memory));
        assert!(!verify("correct horsf", &phc, &mut memory));
        assert!(!verify("correct horse", "not a hash", &mut memory));
        assert_ne!(hash("correct horse", &mut memory).unwrap(), phc, "salted");
        assert_eq!(memory.len(), 12 * 1024, "one buffer, reused");
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let phc = argon2(params())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let mut memory = Vec::new();
        assert!(verify("correct horse", &phc, &mut memory));
        assert!(!verify("correct horsf", &phc, &mut memory));
        // More memory than the relay's setting: refused, not allocated.
        let big = phc.replace("m=12288", "m=65536");
        assert!(!verify("correct horse", &big, &mut memory));
    }

    #[tokio::test]
    async fn an_address_has_one_job_and_the_queue_a_bound() {
        let workers = Workers::default();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let (hold, wait) = std::sync::mpsc::channel::<()>();
        let first = workers
            .submit(Some(addr), move |_| wait.recv().is_ok())
            .unwrap();
        assert_eq!(
            workers.submit(Some(addr), |_| true).err(),
            Some(Busy::Address)
        );
        // Fill both threads and the queue from addresses of their own (no address: no share).
        let (hold2, wait2) = std::sync::mpsc::channel::<()>();
        let wait2 = Arc::new(Mutex::new(wait2));
        let mut others = Vec::new();
        let mut full = false;
        for _ in 0..AT_ONCE + WAITING + 2 {
            let wait2 = wait2.clone();
            match workers.submit(None, move |_| wait2.lock().unwrap().recv().is_ok()) {
                Ok(rx) => others.push(rx),
                Err(busy) => {
                    assert_eq!(busy, Busy::Full);
                    full = true;
                }
            }
        }
        assert!(full, "the queue is bounded");
        hold.send(()).unwrap();
        for _ in 0..others.len() {
            hold2.send(()).unwrap();
        }
        assert!(first.await.unwrap());
        for rx in others {
            assert!(rx.await.unwrap());
        }
        // The address's job is done: it may have another.
        assert_eq!(workers.run(Some(addr), |_| 7).await, Ok(7));
    }
}
