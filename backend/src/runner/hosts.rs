//! Host ranges (`10.0.0.5,127.0.0.1-3,10.0.0.0/30`) and the allowed networks (`--runner-allow`).
//!
//! Hand-written rather than with `ipnet`: an IPv4 block is an address and a prefix length, and
//! the parser must stop expanding at the host cap (`0.0.0.0/0` is four billion addresses).
//!
//! Decisions: only ASCII digits; an octet or prefix with a leading zero (`010`, `/08`) is
//! unparsable, as `std`'s `Ipv4Addr` parser does, because some tools read it as octal; ASCII
//! whitespace around an item is trimmed; an empty item (`a,,b`, a trailing comma) is unparsable.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a host range was refused. The messages are shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostsError {
    #[error("unparsable host item {0:?}")]
    Unparsable(String),
    #[error("no hosts given")]
    Empty,
    #[error("more than {0} hosts")]
    TooMany(usize),
}

/// The longest part of a bad item quoted back in an error.
const QUOTE_MAX: usize = 40;

fn unparsable(item: &str) -> HostsError {
    let mut end = item.len().min(QUOTE_MAX);
    while !item.is_char_boundary(end) {
        end -= 1;
    }
    HostsError::Unparsable(item[..end].to_owned())
}

/// Expands `spec` into addresses, in the order given, without repeats.
///
/// # Errors
/// An unparsable item, no hosts at all, or more than `max_hosts` distinct hosts. Expansion
/// stops as soon as the cap is passed, so a huge block costs at most `max_hosts + 1` steps.
pub fn parse_hosts(spec: &str, max_hosts: usize) -> Result<Vec<Ipv4Addr>, HostsError> {
    let mut hosts = Vec::new();
    let mut seen = HashSet::new();
    for raw in spec.split(',') {
        let item = raw.trim_ascii();
        let (first, last) = parse_item(item).ok_or_else(|| unparsable(item))?;
        for n in first..=last {
            if seen.insert(n) {
                if hosts.len() == max_hosts {
                    return Err(HostsError::TooMany(max_hosts));
                }
                hosts.push(Ipv4Addr::from(n));
            }
        }
    }
    if hosts.is_empty() {
        return Err(HostsError::Empty);
    }
    Ok(hosts)
}

/// One item as an inclusive range of addresses.
fn parse_item(item: &str) -> Option<(u32, u32)> {
    if let Some((addr, prefix)) = item.split_once('/') {
        let net = Net::new(parse_addr(addr)?, parse_number(prefix, 32)?)?;
        return Some((net.first(), net.last()));
    }
    if let Some((addr, end)) = item.split_once('-') {
        let start = parse_addr(addr)?;
        let end = parse_number(end, 255)?;
        let base = start & !0xff;
        let first = start & 0xff;
        return (end >= first).then_some((start, base | end));
    }
    let addr = parse_addr(item)?;
    Some((addr, addr))
}

/// A dotted quad of ASCII decimal octets.
fn parse_addr(s: &str) -> Option<u32> {
    let mut parts = s.split('.');
    let mut n = 0u32;
    for _ in 0..4 {
        n = (n << 8) | parse_number(parts.next()?, 255)?;
    }
    parts.next().is_none().then_some(n)
}

/// A decimal number of ASCII digits, at most `max`, without a leading zero.
fn parse_number(s: &str, max: u32) -> Option<u32> {
    let ok = !s.is_empty()
        && s.len() <= 3
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    let n: u32 = if ok { s.parse().ok()? } else { return None };
    (n <= max).then_some(n)
}

/// An IPv4 network: an address with no host bits set, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: u32,
    prefix: u8,
}

impl Net {
    /// `None` when `addr` has bits set past `prefix` or `prefix` is over 32.
    fn new(addr: u32, prefix: u32) -> Option<Net> {
        let net = Net {
            addr,
            prefix: u8::try_from(prefix).ok().filter(|p| *p <= 32)?,
        };
        (addr & !net.mask() == 0).then_some(net)
    }

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    fn first(self) -> u32 {
        self.addr
    }

    fn last(self) -> u32 {
        self.addr | !self.mask()
    }

    /// Whether `ip` is inside this network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.addr
    }
}

impl FromStr for Net {
    type Err = HostsError;

    /// `a.b.c.d/n`, or a bare address as a `/32`.
    fn from_str(s: &str) -> Result<Net, HostsError> {
        let s = s.trim_ascii();
        let net = || match s.split_once('/') {
            Some((addr, prefix)) => Net::new(parse_addr(addr)?, parse_number(prefix, 32)?),
            None => Net::new(parse_addr(s)?, 32),
        };
        net().ok_or_else(|| unparsable(s))
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

/// The networks the runner may reach (`--runner-allow`, repeatable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(pub Vec<Net>);

impl Allow {
    /// Parses each CIDR string.
    ///
    /// # Errors
    /// The first unparsable network.
    pub fn parse<S: AsRef<str>>(nets: &[S]) -> Result<Allow, HostsError> {
        nets.iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<_, _>>()
            .map(Allow)
    }

    /// Whether some allowed network contains `ip`.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Whether no network is allowed (the runner is then off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn bad(spec: &str) {
        assert!(
            matches!(parse_hosts(spec, 256), Err(HostsError::Unparsable(_))),
            "{spec:?} should be unparsable, got {:?}",
            parse_hosts(spec, 256)
        );
    }

    #[test]
    fn single_range_and_block_keep_order_and_drop_repeats() {
        let got = parse_hosts("10.0.0.5, 127.0.0.1-3 ,10.0.0.4/30,127.0.0.2", 256).unwrap();
        let want = [
            "10.0.0.5",
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.3",
            "10.0.0.4",
            "10.0.0.6",
            "10.0.0.7",
        ];
        assert_eq!(got, ips(&want));
    }

    #[test]
    fn edges_of_ranges_and_blocks() {
        assert_eq!(parse_hosts("1.2.3.4-4", 9).unwrap(), ips(&["1.2.3.4"]));
        assert_eq!(parse_hosts("1.2.3.254-255", 9).unwrap().len(), 2);
        assert_eq!(parse_hosts("1.2.3.0/24", 256).unwrap().len(), 256);
        assert_eq!(parse_hosts("1.2.3.4/32", 9).unwrap(), ips(&["1.2.3.4"]));
        assert_eq!(parse_hosts("0.0.0.0", 9).unwrap(), ips(&["0.0.0.0"]));
        let block = parse_hosts("10.0.0.0/31", 9).unwrap();
        assert_eq!(block, ips(&["10.0.0.0", "10.0.0.1"]));
        assert_eq!(parse_hosts("255.255.255.255/32", 9).unwrap().len(), 1);
    }

    #[test]
    fn hostile_and_malformed_items() {
        for spec in [
            "1.2.3.4-1",
            "1.2.3.4/33",
            "1.2.3.4/24",
            "256.1.1.1",
            "1.2.3.4-256",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.-4",
            "1.2.3.4-",
            "-1.2.3.4",
            "1.2.3.4/",
            "/8",
            "1.2.3.4/8/8",
            "1.2.3.4-5-6",
            "1.2.3.4-5/32",
            "010.0.0.1",
            "10.0.0.0/08",
            "1.2.3.04-5",
            "+1.2.3.4",
            "1.2.3.4 5",
            "１.2.3.4",
            "1.2.3.٤",
            "1.2.3.4-٥",
            "0x1.2.3.4",
            "localhost",
            "::1",
            "",
            " ",
            ",",
            "1.2.3.4,",
            "1.2.3.4,,1.2.3.5",
            "1.2.3.1111",
        ] {
            bad(spec);
        }
    }

    #[test]
    fn caps_stop_early() {
        assert_eq!(parse_hosts("0.0.0.0/0", 256), Err(HostsError::TooMany(256)));
        assert_eq!(
            parse_hosts("10.0.0.0/24", 255),
            Err(HostsError::TooMany(255))
        );
        assert_eq!(parse_hosts("10.0.0.1-3", 2), Err(HostsError::TooMany(2)));
        // Repeats do not count against the cap.
        let spec = vec!["10.0.0.1"; 10_000].join(",");
        assert_eq!(parse_hosts(&spec, 1).unwrap().len(), 1);
        let spec = vec!["10.0.0.0/24"; 100].join(",");
        assert_eq!(parse_hosts(&spec, 256).unwrap().len(), 256);
    }

    #[test]
    fn ten_thousand_commas_are_cheap_and_refused() {
        let spec = ",".repeat(10_000);
        let t = std::time::Instant::now();
        bad(&spec);
        assert!(t.elapsed() < std::time::Duration::from_millis(100));
    }

    #[test]
    fn errors_quote_a_short_item() {
        let long = "x".repeat(10_000);
        match parse_hosts(&long, 256) {
            Err(HostsError::Unparsable(quoted)) => assert_eq!(quoted.len(), QUOTE_MAX),
            other => panic!("{other:?}"),
        }
        let msg = parse_hosts("1.2.3.4/33", 256).unwrap_err().to_string();
        assert_eq!(msg, "unparsable host item \"1.2.3.4/33\"");
    }

    #[test]
    fn allow_list() {
        let allow = Allow::parse(&["127.0.0.0/8", "10.1.2.3", "192.168.0.0/16"]).unwrap();
        assert!(allow.contains("127.255.0.1".parse().unwrap()));
        assert!(allow.contains("10.1.2.3".parse().unwrap()));
        assert!(!allow.contains("10.1.2.4".parse().unwrap()));
        assert!(allow.contains("192.168.200.1".parse().unwrap()));
        assert!(!allow.contains("192.169.0.1".parse().unwrap()));
        let all = Allow::parse(&["0.0.0.0/0"]).unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(Allow::parse(&["10.0.0.1/8"]).is_err());
        assert!(Allow::parse(&["10.0.0.0/33"]).is_err());
        assert!(Allow::parse(&["10.0.0.0-5"]).is_err());
        assert!(Allow::parse::<&str>(&[]).unwrap().is_empty());
        assert_eq!(allow.0[0].to_string(), "127.0.0.0/8");
    }
}
