//! The dashboard's numbers: the host's CPUs and memory read from `/proc`, the relay's own
//! counters, and the ring of the last points that a `watch` gets first.

use std::collections::VecDeque;

use shared::ops::StatsPoint;

/// Points kept for a new watcher.
pub const KEPT: usize = 300;

/// One CPU's counters from a `cpuN` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    pub busy: u64,
    pub total: u64,
}

/// The `cpuN` lines of `/proc/stat` (not the `cpu` line that adds them up), in order.
/// Idle time is `idle` + `iowait`; the total is user to steal (guest time is counted in user
/// already).
pub fn parse_stat(text: &str) -> Vec<CpuTicks> {
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .filter_map(|line| {
            let fields: Vec<u64> = line
                .split_ascii_whitespace()
                .skip(1)
                .take(8)
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            let total: u64 = fields.iter().sum();
            let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
            Some(CpuTicks {
                busy: total.saturating_sub(idle),
                total,
            })
        })
        .collect()
}

/// Each CPU's busy percentage between two readings; `None` if the CPUs changed (or there is
/// no earlier reading), rather than a made-up figure.
pub fn busy_percent(before: &[CpuTicks], now: &[CpuTicks]) -> Option<Vec<f32>> {
    if before.len() != now.len() || now.is_empty() {
        return None;
    }
    let percents = before
        .iter()
        .zip(now)
        .map(|(b, n)| {
            let total = n.total.saturating_sub(b.total);
            let busy = n.busy.saturating_sub(b.busy).min(total);
            if total == 0 {
                0.0
            } else {
                (busy as f64 * 100.0 / total as f64) as f32
            }
        })
        .collect();
    Some(percents)
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("MemTotal")?, field("MemAvailable")?))
}

/// `VmRSS` of a `/proc/PID/status`, in bytes.
pub fn parse_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// What the host and the process look like now, from `/proc` (zeros where it cannot be read,
/// for example on another system).
#[derive(Debug, Clone, Default)]
pub struct HostReading {
    pub cpus: Vec<CpuTicks>,
    pub mem_total: u64,
    pub mem_available: u64,
    pub rss: u64,
}

impl HostReading {
    pub fn now() -> Self {
        let read = |path| std::fs::read_to_string(path).unwrap_or_default();
        let (mem_total, mem_available) = parse_meminfo(&read("/proc/meminfo")).unwrap_or((0, 0));
        Self {
            cpus: parse_stat(&read("/proc/stat")),
            mem_total,
            mem_available,
            rss: parse_rss(&read("/proc/self/status")).unwrap_or(0),
        }
    }
}

/// The last [`KEPT`] points, oldest first.
#[derive(Debug, Default)]
pub struct Ring(VecDeque<StatsPoint>);

impl Ring {
    pub fn push(&mut self, point: StatsPoint) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back(point);
    }

    pub fn points(&self) -> Vec<StatsPoint> {
        self.0.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  300 0 100 1000 50 0 0 0 0 0
cpu0 200 0 50 400 20 0 0 0 0 0
cpu1 100 0 50 600 30 0 0 0 0 0
intr 12345 0 0
ctxt 999
";

    const MEMINFO: &str = "MemTotal:       24576000 kB
MemFree:         1000000 kB
MemAvailable:   20000000 kB
Buffers:          100000 kB
";

    #[test]
    fn stat_gives_one_reading_per_cpu_line() {
        let cpus = parse_stat(STAT);
        assert_eq!(
            cpus,
            [
                CpuTicks {
                    busy: 250,
                    total: 670
                },
                CpuTicks {
                    busy: 150,
                    total: 780
                }
            ]
        );
        assert!(parse_stat("cpu 1 2 3 4\ncpux 1 2\ncpu0 junk\n").is_empty());
    }

    #[test]
    fn busy_is_the_share_of_ticks_between_two_readings() {
        let before = parse_stat(STAT);
        let later = STAT
            .replace("cpu0 200 0 50 400 20", "cpu0 250 0 100 400 20")
            .replace("cpu1 100 0 50 600 30", "cpu1 100 0 50 700 30");
        let busy = busy_percent(&before, &parse_stat(&later)).unwrap();
        assert_eq!(busy, [100.0, 0.0]);
        assert_eq!(busy_percent(&[], &before), None, "no earlier reading");
        let fewer = &before[..1];
        assert_eq!(busy_percent(fewer, &before), None, "the CPUs changed");
        // Counters that went backwards (a hot-plugged CPU) give 0, never junk.
        assert_eq!(
            busy_percent(&parse_stat(&later), &before).unwrap(),
            [0.0, 0.0]
        );
    }

    #[test]
    fn meminfo_and_rss_are_read_in_bytes() {
        assert_eq!(
            parse_meminfo(MEMINFO),
            Some((24_576_000 * 1024, 20_000_000 * 1024))
        );
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        assert_eq!(
            parse_rss("Name:\tcourier\nVmRSS:\t   98000 kB\n"),
            Some(98_000 * 1024)
        );
    }

    #[test]
    fn the_ring_keeps_the_last_points_oldest_first() {
        let mut ring = Ring::default();
        for ts in 0..(KEPT as u64 + 5) {
            ring.push(StatsPoint {
                node: "n".into(),
                ts,
                cpu: None,
                mem_total: 0,
                mem_available: 0,
                rss: 0,
                connections: 0,
                sessions: 0,
                rooms: 0,
                messages_per_s: 0.0,
                deliveries_per_s: 0.0,
            });
        }
        let points = ring.points();
        assert_eq!(points.len(), KEPT);
        assert_eq!((points[0].ts, points[KEPT - 1].ts), (5, KEPT as u64 + 4));
    }
}
