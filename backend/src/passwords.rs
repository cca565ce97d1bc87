//! Passwords of protected names: Argon2id hashes, made and checked off the hub's lock.
//!
//! Hashing is slow on purpose (about 50 ms of CPU and 12 MiB of memory each). It runs on
//! tokio's blocking pool, at most [`AT_ONCE`] at a time, so a crowd of logins cannot take the
//! relay's memory or its worker threads.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Hashes made or checked at once.
const AT_ONCE: usize = 2;

/// Argon2id with OWASP's second recommended setting: 12 MiB, 3 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(12 * 1024, 3, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string (`$argon2id$v=19$m=12288,t=3,p=1$salt$hash`) for `password`.
///
/// # Errors
/// The operating system's random source failed.
pub fn hash(password: &str) -> Result<String, String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `phc` (false for a string that does not parse).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Runs hashing work off the async threads, a bounded number at a time.
pub struct Workers {
    permits: Semaphore,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(AT_ONCE),
        }
    }
}

impl Workers {
    /// Runs `work` on the blocking pool once a permit is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.permits.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_checks_only_its_password() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct horsf", &phc));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(hash("correct horse").unwrap(), phc, "salted");
    }
}
