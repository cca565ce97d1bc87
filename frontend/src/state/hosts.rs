//! Counting a host range before it is sent, so that the runner's confirmation says how many
//! hosts a command is about to reach. The grammar is docs/OPS.md's (the relay's parser is
//! `backend/src/runner/hosts.rs`): comma-separated IPv4 addresses, last-octet ranges
//! (`127.0.0.1-3`) and CIDR blocks (`10.0.0.0/29`); repeats count once. The relay checks it
//! again and has the last word (its host cap, its allowed networks).

/// How many distinct hosts `spec` expands to. Counted as a union of address ranges, never
/// expanded, so `0.0.0.0/0` costs nothing (and no set type comes into the bundle).
///
/// # Errors
/// The first unparsable item (there is always at least one host otherwise).
pub fn count_hosts(spec: &str) -> Result<u64, String> {
    // Disjoint ranges, merged as items come.
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for raw in spec.split(',') {
        let item = raw.trim_ascii();
        let (mut first, mut last) =
            item_range(item).ok_or_else(|| format!("unparsable host item {item:?}"))?;
        ranges.retain(|&(a, b)| {
            let overlaps = a <= last && first <= b;
            if overlaps {
                first = first.min(a);
                last = last.max(b);
            }
            !overlaps
        });
        ranges.push((first, last));
    }
    Ok(ranges.iter().map(|&(a, b)| u64::from(b - a) + 1).sum())
}

/// One item as an inclusive range of addresses.
fn item_range(item: &str) -> Option<(u32, u32)> {
    if let Some((addr, prefix)) = item.split_once('/') {
        let addr = addr_of(addr)?;
        let mask = u32::MAX.checked_shl(32 - number(prefix, 32)?).unwrap_or(0);
        return (addr & !mask == 0).then_some((addr, addr | !mask));
    }
    if let Some((addr, end)) = item.split_once('-') {
        let start = addr_of(addr)?;
        let end = number(end, 255)?;
        return (end >= start & 0xff).then_some((start, (start & !0xff) | end));
    }
    let addr = addr_of(item)?;
    Some((addr, addr))
}

/// A dotted quad.
fn addr_of(s: &str) -> Option<u32> {
    let mut parts = s.split('.');
    let mut n = 0u32;
    for _ in 0..4 {
        n = (n << 8) | number(parts.next()?, 255)?;
    }
    parts.next().is_none().then_some(n)
}

/// ASCII digits without a leading zero, at most `max`.
fn number(s: &str, max: u32) -> Option<u32> {
    let ok = (1..=3).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    let n: u32 = if ok { s.parse().ok()? } else { return None };
    (n <= max).then_some(n)
}
