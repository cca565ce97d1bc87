//! The checks before a run, in OPS.md's order; the first failure answers and nothing runs.

use std::net::Ipv4Addr;

use super::hosts::{Allow, parse_hosts};

/// The longest command, in characters.
pub const COMMAND_MAX_CHARS: usize = 4000;

/// Why a run was refused. `BadRequest` maps to the wire's `bad_request`, `HostNotAllowed` to
/// `host_not_allowed`; the messages are for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    BadRequest(String),
    #[error("host {0} is outside every allowed network")]
    HostNotAllowed(Ipv4Addr),
}

/// Checks `command`, then expands `hosts` (at most `max_hosts`), then checks every host against
/// `allow`. Returns the expanded hosts.
///
/// # Errors
/// The first check that fails, as above.
pub fn check(
    hosts: &str,
    command: &str,
    max_hosts: usize,
    allow: &Allow,
) -> Result<Vec<Ipv4Addr>, CheckError> {
    let chars = command.chars().count();
    if chars == 0 || chars > COMMAND_MAX_CHARS {
        return Err(CheckError::BadRequest(format!(
            "the command must have 1 to {COMMAND_MAX_CHARS} characters"
        )));
    }
    let list =
        parse_hosts(hosts, max_hosts).map_err(|e| CheckError::BadRequest(format!("hosts: {e}")))?;
    match list.iter().find(|ip| !allow.contains(**ip)) {
        Some(ip) => Err(CheckError::HostNotAllowed(*ip)),
        None => Ok(list),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> Allow {
        Allow::parse(&["127.0.0.0/30", "10.0.0.9"]).unwrap()
    }

    fn bad_request(hosts: &str, command: &str) -> String {
        match check(hosts, command, 4, &allow()) {
            Err(CheckError::BadRequest(msg)) => msg,
            other => panic!("{hosts:?} {command:?}: {other:?}"),
        }
    }

    #[test]
    fn order_command_then_hosts_then_allow() {
        assert!(bad_request("nonsense", "").contains("1 to 4000"));
        assert!(bad_request("8.8.8.8", &"x".repeat(4001)).contains("1 to 4000"));
        assert!(bad_request("nonsense", "true").contains("unparsable"));
        assert!(bad_request("127.0.0.1,8.8.8.8,,", "true").contains("unparsable"));
        assert!(bad_request("10.0.0.0/24", "true").contains("more than 4 hosts"));
        assert_eq!(
            check("127.0.0.1,8.8.8.8,9.9.9.9", "true", 4, &allow()),
            Err(CheckError::HostNotAllowed("8.8.8.8".parse().unwrap()))
        );
        assert_eq!(
            check("127.0.0.4", "true", 4, &allow())
                .unwrap_err()
                .to_string(),
            "host 127.0.0.4 is outside every allowed network"
        );
    }

    #[test]
    fn accepted_run_returns_the_hosts() {
        let hosts = check("127.0.0.1-3,10.0.0.9", &"é".repeat(4000), 4, &allow()).unwrap();
        assert_eq!(hosts.len(), 4);
        assert_eq!(hosts[3], "10.0.0.9".parse::<Ipv4Addr>().unwrap());
    }
}
