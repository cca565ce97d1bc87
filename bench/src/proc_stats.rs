//! The relay's resident memory and CPU time, read from /proc (Linux).
//!
//! The bench runs beside the relay on the same machine, so /proc is the cheapest honest source
//! of what the relay costs: no agent inside the relay, no extra dependency.

/// Clock ticks per second of `utime` and `stime` in /proc/PID/stat. Linux reports them in
/// `USER_HZ`, which is 100 on every architecture the kernel supports for user space
/// (`getconf CLK_TCK`); reading it for real would need libc.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The resident set sizes of `pids` added up (`None` if there are none, or one is unreadable).
pub fn rss_kib_of(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| rss_kib(p)).sum()
}

/// The CPU time of `pids` added up (`None` if there are none, or one is unreadable).
pub fn cpu_seconds_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_seconds(p)).sum()
}

/// CPU time process `pid` has used so far, user plus system, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / CLOCK_TICKS_PER_SECOND)
}

/// `utime + stime` (fields 14 and 15, counted from 1) of a /proc/PID/stat line.
///
/// Field 2, the command name, is in parentheses and may itself hold spaces or parentheses, so
/// the fields are counted from the last `)`: field 3 is the first after it.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // Fields 3 to 13 come first: skip 11 of them.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_fields_14_and_15() {
        let stat = "4242 (cour ier) (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 \
                    9 0 123456 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(cpu_seconds(me).is_some());
    }
}
