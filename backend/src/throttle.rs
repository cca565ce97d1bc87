//! Rate and connection limits: a token bucket, the per-connection frame limiter (owned by the
//! connection's reader task, so it takes no lock), and the per-IP connection limits checked
//! at the upgrade.
//!
//! The bucket is a dozen lines; a crate such as `governor` would bring a keyed store and
//! clock abstractions the relay does not need, and it has no count of open connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// A rate: `per_sec` tokens a second on average, at most `burst` at once. A `per_sec` of 0
/// means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    pub const UNLIMITED: Rate = Rate {
        per_sec: 0.0,
        burst: 1.0,
    };

    fn is_unlimited(self) -> bool {
        self.per_sec <= 0.0
    }
}

/// A token bucket. It starts full.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(rate.burst);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        if rate.is_unlimited() {
            return true;
        }
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely (it then says nothing a fresh one would not).
    pub fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        if rate.is_unlimited() {
            return true;
        }
        self.refill(rate, now);
        self.tokens >= rate.burst
    }
}

/// The rates of one connection's frames; see `--msg-rate` and `--typing-rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRates {
    /// Every frame but `typing`: requests, hellos, junk and binary frames alike.
    pub frames: Rate,
    /// `typing` frames, which fan out to a whole room: a tighter bucket of their own.
    pub typing: Rate,
}

impl FrameRates {
    pub const UNLIMITED: FrameRates = FrameRates {
        frames: Rate::UNLIMITED,
        typing: Rate::UNLIMITED,
    };
}

/// One connection's buckets. Lives in the connection's reader task.
#[derive(Debug)]
pub struct FrameLimiter {
    rates: FrameRates,
    frames: Bucket,
    typing: Bucket,
}

impl FrameLimiter {
    pub fn new(rates: FrameRates) -> Self {
        let now = Instant::now();
        Self {
            rates,
            frames: Bucket::full(rates.frames, now),
            typing: Bucket::full(rates.typing, now),
        }
    }

    /// Whether a frame may be carried out now (and counts it).
    pub fn admit(&mut self, typing: bool) -> bool {
        let now = Instant::now();
        if typing {
            self.typing.take(self.rates.typing, now)
        } else {
            self.frames.take(self.rates.frames, now)
        }
    }
}

/// The per-address limits; see `--conns-per-ip` and `--conn-rate-per-ip`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpLimits {
    /// Open WebSocket connections per address; 0: no limit.
    pub max_open: u32,
    /// New WebSocket connections per address.
    pub new: Rate,
}

/// Why an address may not open another connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRefusal {
    /// It has `--conns-per-ip` open already.
    TooManyOpen,
    /// It opened more than `--conn-rate-per-ip` allows.
    TooFast,
}

/// The open connections and new-connection bucket of every address with a connection open
/// or a bucket not yet refilled. Locked once when a connection is upgraded and once when it
/// ends, never per frame.
pub struct PerIp {
    limits: IpLimits,
    state: Mutex<IpTable>,
}

struct IpTable {
    entries: HashMap<IpAddr, IpEntry>,
    /// The table is swept of idle entries when it reaches this size.
    sweep_at: usize,
}

struct IpEntry {
    open: u32,
    new: Bucket,
}

const MIN_SWEEP: usize = 1024;

impl PerIp {
    pub fn new(limits: IpLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            state: Mutex::new(IpTable {
                entries: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IpTable> {
        // Counting cannot leave the table half-changed; keep going after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `ip`, or says why it may not open one. The connection
    /// counts as open until the returned guard is dropped.
    ///
    /// # Errors
    /// [`IpRefusal`] when `ip` is over either limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<IpGuard, IpRefusal> {
        let key = address_key(ip);
        let now = Instant::now();
        let limits = self.limits;
        let mut table = self.lock();
        if table.entries.len() >= table.sweep_at {
            // Forget addresses with nothing open whose bucket is full again: they are as new.
            table
                .entries
                .retain(|_, e| e.open > 0 || !e.new.is_full(limits.new, now));
            table.sweep_at = (table.entries.len() * 2).max(MIN_SWEEP);
        }
        let entry = table.entries.entry(key).or_insert_with(|| IpEntry {
            open: 0,
            new: Bucket::full(limits.new, now),
        });
        if limits.max_open > 0 && entry.open >= limits.max_open {
            return Err(IpRefusal::TooManyOpen);
        }
        if !entry.new.take(limits.new, now) {
            return Err(IpRefusal::TooFast);
        }
        entry.open += 1;
        Ok(IpGuard {
            per_ip: self.clone(),
            key,
        })
    }

    /// Addresses in the table (for tests and /metrics).
    pub fn tracked(&self) -> usize {
        self.lock().entries.len()
    }
}

/// One open connection of an address; dropping it closes the count.
pub struct IpGuard {
    per_ip: Arc<PerIp>,
    key: IpAddr,
}

impl IpGuard {
    /// The address as it is counted (an IPv6 address by its /64).
    pub fn key(&self) -> IpAddr {
        self.key
    }
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut table = self.per_ip.lock();
        if let Some(entry) = table.entries.get_mut(&self.key) {
            entry.open = entry.open.saturating_sub(1);
        }
    }
}

/// The key an address is counted under: IPv4 as is (also when mapped into IPv6), IPv6 by its
/// /64, which is what one host or one customer usually gets.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TWO_PER_SEC: Rate = Rate {
        per_sec: 2.0,
        burst: 3.0,
    };

    #[tokio::test(start_paused = true)]
    async fn a_bucket_allows_its_burst_then_its_rate() {
        let mut b = Bucket::full(TWO_PER_SEC, Instant::now());
        for _ in 0..3 {
            assert!(b.take(TWO_PER_SEC, Instant::now()));
        }
        assert!(!b.take(TWO_PER_SEC, Instant::now()));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(b.take(TWO_PER_SEC, Instant::now()));
        assert!(!b.take(TWO_PER_SEC, Instant::now()));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(b.is_full(TWO_PER_SEC, Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn typing_has_its_own_bucket() {
        let mut l = FrameLimiter::new(FrameRates {
            frames: TWO_PER_SEC,
            typing: Rate {
                per_sec: 1.0,
                burst: 1.0,
            },
        });
        assert!(l.admit(true));
        assert!(!l.admit(true));
        assert!(l.admit(false), "other frames are still allowed");
        let mut free = FrameLimiter::new(FrameRates::UNLIMITED);
        assert!((0..10_000).all(|_| free.admit(false) && free.admit(true)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_is_limited_in_open_and_new_connections() {
        let per_ip = PerIp::new(IpLimits {
            max_open: 2,
            new: TWO_PER_SEC,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = per_ip.admit(ip).unwrap();
        let _b = per_ip.admit(ip).unwrap();
        assert_eq!(per_ip.admit(ip).err(), Some(IpRefusal::TooManyOpen));
        drop(a);
        let _c = per_ip.admit(ip).unwrap();
        drop(_c);
        assert_eq!(per_ip.admit(ip).err(), Some(IpRefusal::TooFast));
        // Another address is not affected; nor is the same one in a second.
        assert!(per_ip.admit("10.0.0.2".parse().unwrap()).is_ok());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(per_ip.admit(ip).is_ok());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(
            address_key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_forgets_idle_addresses() {
        let per_ip = PerIp::new(IpLimits {
            max_open: 0,
            new: TWO_PER_SEC,
        });
        for i in 0..5000u32 {
            drop(per_ip.admit(IpAddr::V4(i.into())).unwrap());
            if i % 100 == 0 {
                tokio::time::advance(Duration::from_secs(2)).await;
            }
        }
        assert!(per_ip.tracked() <= 2 * MIN_SWEEP, "{}", per_ip.tracked());
    }
}
