//! Strict host-key checking against an OpenSSH `known_hosts` file, read once at startup.
//!
//! Supported: `host` entries (port 22) and `[host]:port` entries, comma-separated pattern
//! lists, `*`/`?` wildcards, `!` negation, hashed names (`|1|salt|hash`, HMAC-SHA1 as
//! `ssh-keygen -H` writes them), and `@revoked` keys. `@cert-authority` lines are skipped: the
//! runner does not trust host certificates by their signer (a host presenting a certificate is
//! checked by the certificate's own key, like a plain key). Russh's own `check_known_hosts_path`
//! is not used: it reads the file on every check (blocking I/O on an async thread), treats a
//! missing file as an empty one, and ignores markers and wildcards.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use russh::keys::ssh_encoding::base64::{Base64, Encoding};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{PublicKey, PublicKeyOrCertificate};

/// The known hosts, parsed.
#[derive(Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    revoked: bool,
    patterns: Vec<String>,
    key: KeyData,
}

impl fmt::Debug for KnownHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KnownHosts({} entries)", self.entries.len())
    }
}

impl KnownHosts {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// The file cannot be read, or a line is malformed (its number is in the message).
    pub fn load(path: &Path) -> Result<KnownHosts, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read known hosts {}: {e}", path.display()))?;
        KnownHosts::parse(&text).map_err(|e| format!("known hosts {}: {e}", path.display()))
    }

    /// Parses the text of a known_hosts file.
    ///
    /// # Errors
    /// The first malformed line.
    pub fn parse(text: &str) -> Result<KnownHosts, String> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let marker = first.strip_prefix('@');
            if marker.is_some() {
                first = fields.next().unwrap_or_default();
            }
            let (Some(algorithm), Some(base64)) = (fields.next(), fields.next()) else {
                return Err(format!("line {}: expected hosts, key type and key", n + 1));
            };
            let key = PublicKey::from_openssh(&format!("{algorithm} {base64}"))
                .map_err(|e| format!("line {}: bad key: {e}", n + 1))?;
            let revoked = match marker {
                None => false,
                Some("revoked") => true,
                Some("cert-authority") => continue,
                Some(other) => return Err(format!("line {}: unknown marker @{other}", n + 1)),
            };
            entries.push(Entry {
                revoked,
                patterns: first.split(',').map(str::to_owned).collect(),
                key: key.key_data().clone(),
            });
        }
        Ok(KnownHosts { entries })
    }

    /// Whether `key` is a known, unrevoked key of `host` at `port`. Unknown hosts and other
    /// keys are refused alike: there is no trust on first use.
    pub fn accepts(&self, host: Ipv4Addr, port: u16, key: &PublicKeyOrCertificate) -> bool {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
        };
        let name = host_name(host, port);
        let mut known = false;
        for entry in &self.entries {
            if entry.key == *key && matches(&entry.patterns, &name) {
                if entry.revoked {
                    return false;
                }
                known = true;
            }
        }
        known
    }

    /// Whether some entry names `host` at `port`, whatever its key: tells a changed key from an
    /// unknown host in the message.
    pub fn knows(&self, host: Ipv4Addr, port: u16) -> bool {
        let name = host_name(host, port);
        self.entries.iter().any(|e| matches(&e.patterns, &name))
    }
}

/// The name known_hosts records: the address, or `[address]:port` for another port than 22.
fn host_name(host: Ipv4Addr, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's pattern-list rule: some pattern matches and no negated one does.
fn matches(patterns: &[String], name: &str) -> bool {
    let mut hit = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if let Some(hashed) = pattern.strip_prefix("|1|") {
            hit |= hashed_matches(hashed, name);
        } else {
            hit |= glob(pattern.as_bytes(), name.as_bytes());
        }
    }
    hit
}

/// `salt|hash`, both base64: the hash is HMAC-SHA1 of the name keyed with the salt.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (Base64::decode_vec(salt), Base64::decode_vec(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// Case-insensitive wildcard match: `*` any run of bytes, `?` one byte.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&name[n])) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDF29ExFvSqOlWDhUJyAAhQVWNzFxCXy2asGB9diFIBT";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDb0C8o/7KgsxpYLMCuW9HugqBPmAsl+37cNOZ2HtTei";

    fn key(text: &str) -> PublicKeyOrCertificate {
        PublicKeyOrCertificate::PublicKey {
            key: PublicKey::from_openssh(text).unwrap(),
            hash_alg: None,
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_and_bracketed_entries() {
        let file = format!("# comment\n\n10.0.0.1 {KEY_A}\n[10.0.0.2]:2222,10.0.0.3 {KEY_A} c\n");
        let known = KnownHosts::parse(&file).unwrap();
        assert!(known.accepts(ip("10.0.0.1"), 22, &key(KEY_A)));
        assert!(!known.accepts(ip("10.0.0.1"), 22, &key(KEY_B)));
        assert!(!known.accepts(ip("10.0.0.1"), 2222, &key(KEY_A)));
        assert!(known.accepts(ip("10.0.0.2"), 2222, &key(KEY_A)));
        assert!(!known.accepts(ip("10.0.0.2"), 22, &key(KEY_A)));
        assert!(known.accepts(ip("10.0.0.3"), 22, &key(KEY_A)));
        assert!(!known.accepts(ip("10.0.0.4"), 22, &key(KEY_A)));
        assert!(known.knows(ip("10.0.0.2"), 2222));
        assert!(!known.knows(ip("10.0.0.4"), 22));
    }

    #[test]
    fn wildcards_negation_and_revocation() {
        let file = format!(
            "10.0.0.*,!10.0.0.7 {KEY_A}\n[10.1.0.?]:*\t{KEY_B}\n@revoked 10.0.0.5 {KEY_A}\n\
             @cert-authority * {KEY_B}\n"
        );
        let known = KnownHosts::parse(&file).unwrap();
        assert!(known.accepts(ip("10.0.0.6"), 22, &key(KEY_A)));
        assert!(!known.accepts(ip("10.0.0.7"), 22, &key(KEY_A)));
        assert!(!known.accepts(ip("10.0.0.5"), 22, &key(KEY_A)));
        assert!(known.accepts(ip("10.1.0.3"), 2200, &key(KEY_B)));
        assert!(!known.accepts(ip("10.1.0.33"), 2200, &key(KEY_B)));
        assert!(!known.accepts(ip("10.9.9.9"), 22, &key(KEY_B)));
    }

    #[test]
    fn hashed_entries() {
        // Written by `ssh-keygen -H` for "[127.0.0.1]:2222" and "10.0.0.1".
        let file = format!(
            "|1|fQr/Y23TSolO2Mx++wZ1KXEE/+4=|+jrgLGMMWxUJT3lcRJk0lc7DAfw= {KEY_A}\n\
             |1|lUZAIQvyft88KUwOUYFK1Fv2GiY=|cbk2v89Fk4VZsJj9BxmdA7OdoCY= {KEY_B}\n"
        );
        let known = KnownHosts::parse(&file).unwrap();
        let hits = [
            known.accepts(ip("127.0.0.1"), 2222, &key(KEY_A)),
            known.accepts(ip("10.0.0.1"), 22, &key(KEY_B)),
        ];
        assert_eq!(hits, [true, true]);
        assert!(!known.accepts(ip("127.0.0.1"), 22, &key(KEY_A)));
    }

    #[test]
    fn malformed_lines_are_startup_errors() {
        let err = KnownHosts::parse("10.0.0.1 ssh-ed25519\n").err().unwrap();
        assert!(err.contains("line 1"), "{err}");
        let err = KnownHosts::parse("# c\n10.0.0.1 ssh-ed25519 AAAA!\n").err();
        assert!(err.unwrap().contains("line 2"));
        assert!(KnownHosts::parse(&format!("@odd 10.0.0.1 {KEY_A}")).is_err());
    }

    #[test]
    fn glob_rules() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"a*c", b"abbbc"));
        assert!(!glob(b"a*c", b"abbbd"));
        assert!(glob(b"A?C", b"abc"));
        assert!(!glob(b"abc", b"abcd"));
        assert!(glob(b"**x", b"x"));
    }
}
