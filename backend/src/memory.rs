//! Giving memory back to the system after a burst of large replies.
//!
//! glibc's malloc serves an allocation of at least its mmap threshold (128 KiB at start) with
//! a mapping of its own, unmapped when freed. But it raises that threshold to the size of
//! each such block freed (up to 32 MiB), so after the first large reply every later one, and
//! the write buffers a non-reading client grows, come from the malloc arenas, which keep
//! what is freed. Measured: 90 connections that asked for history and never read took the
//! relay to 384 MiB, and it stayed there after they were all cut. With the threshold fixed
//! at 32 KiB (a fixed threshold is never raised), it came back to 11 MiB.
//!
//! The threshold can only be set before the process starts (the `GLIBC_TUNABLES`
//! environment variable) or through `mallopt`, which would take unsafe code. So the relay
//! starts itself again, at once, with the variable set (`exec`: the same process, its
//! arguments and the rest of its environment), unless the variable already sets a threshold.

/// The variable and what the relay sets in it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLES: &str = "GLIBC_TUNABLES";
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: &str = "glibc.malloc.mmap_threshold";
/// Allocations of this many bytes or more are mapped, and unmapped when freed. Chat frames
/// are a few hundred bytes; history pages, mailboxes and write buffers of slow readers are
/// larger.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD_BYTES: usize = 32 * 1024;

/// Starts the relay again with glibc's mmap threshold fixed, unless it is set already.
/// Returns only if that is not needed or not possible (then the relay runs as it is, with
/// the allocator's defaults). Call it first, before any thread starts.
pub fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let current = std::env::var(TUNABLES).unwrap_or_default();
        if current.contains(MMAP_THRESHOLD) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let tunables = if current.is_empty() {
            format!("{MMAP_THRESHOLD}={THRESHOLD_BYTES}")
        } else {
            format!("{current}:{MMAP_THRESHOLD}={THRESHOLD_BYTES}")
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        let error = command.args(args).env(TUNABLES, tunables).exec();
        // Only returns on failure; logging is not set up yet.
        eprintln!("courier: cannot restart with {MMAP_THRESHOLD} set ({error}); going on without");
    }
}

/// Whether the allocator runs with the threshold fixed (for the log).
pub fn mmap_threshold_fixed() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        std::env::var(TUNABLES).is_ok_and(|t| t.contains(MMAP_THRESHOLD))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
