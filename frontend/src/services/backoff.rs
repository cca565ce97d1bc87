//! The reconnect delay: exponential backoff with jitter. Pure, so it is tested natively.

/// The first delay.
pub const BASE_MS: u32 = 500;
/// The delay never grows past this.
pub const MAX_MS: u32 = 10_000;

/// Delays of 0.5 s doubling up to 10 s, each scaled down by a random factor in [0.5, 1] so that
/// clients dropped together (a relay restart) do not all come back in the same instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next_ms: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next_ms: BASE_MS }
    }
}

impl Backoff {
    /// The next delay in milliseconds; `random` is uniform in [0, 1) (`Math.random()`).
    pub fn next_delay(&mut self, random: f64) -> u32 {
        let full = self.next_ms;
        self.next_ms = full.saturating_mul(2).min(MAX_MS);
        let factor = 0.5 + 0.5 * random.clamp(0.0, 1.0);
        (f64::from(full) * factor).round() as u32
    }

    /// Back to the first delay, after a connection that worked.
    pub fn reset(&mut self) {
        self.next_ms = BASE_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_ten_seconds_with_jitter() {
        let mut b = Backoff::default();
        let full: Vec<u32> = (0..7).map(|_| b.next_delay(1.0)).collect();
        assert_eq!(full, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.next_delay(0.0), 250);
        assert_eq!(b.next_delay(0.5), 750);
    }
}
