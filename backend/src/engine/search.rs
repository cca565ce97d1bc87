//! Search (docs/PROTOCOL.md, "Search (extension)"): what both engines share. Who may read
//! what ([`Scope`], decided by the hub), how a text matches a query ([`Needle`]), and the
//! bounds of a search's work.
//!
//! The SQLite engine looks queries of three characters or more up in its FTS5 trigram index
//! (`store/search.rs`); shorter ones, and every query on Redis, scan the newest messages of
//! each conversation in scope and match them here, bounded by [`SCAN_PER_CONVERSATION`] and
//! [`SCAN_BYTES`].

use shared::ChatMessage;
use shared::limits::SEARCH_LEN;

use super::mail_cost;

/// A scan reads at most this many of each conversation's newest messages: older ones are not
/// searched that way (docs/PROTOCOL.md).
pub const SCAN_PER_CONVERSATION: usize = 2_000;

/// … and at most this many bytes of messages in all (as [`mail_cost`] counts them), whatever
/// the number of conversations.
pub const SCAN_BYTES: usize = 16 << 20;

/// The conversations a search may read: the person's rooms and their own private
/// conversations. Never anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The rooms the person is in now.
    pub rooms: Vec<String>,
    /// The person's name key: the pairs with it as `low` or `high` are theirs.
    pub key: String,
}

impl Scope {
    /// Whether the pair `(low, high)` is one of the person's private conversations.
    pub fn has_pair(&self, low: &str, high: &str) -> bool {
        low == self.key || high == self.key
    }
}

/// A query, lowercased, that a text contains or not. Case-insensitive as Unicode lowercase
/// is (no other folding): "deploy" finds "Deploying", "你好" finds "你好吗".
#[derive(Debug, Clone)]
pub struct Needle {
    lower: String,
}

impl Needle {
    pub fn new(query: &str) -> Self {
        Self {
            lower: query.to_lowercase(),
        }
    }

    pub fn found_in(&self, text: &str) -> bool {
        !self.lower.is_empty() && text.to_lowercase().contains(&self.lower)
    }
}

/// Orders `found` newest first (by `ts`, then `seq`) and keeps the first [`SEARCH_LEN`].
pub fn newest_first(mut found: Vec<ChatMessage>) -> Vec<ChatMessage> {
    found.sort_by_key(|m| std::cmp::Reverse((m.ts, m.seq)));
    found.truncate(SEARCH_LEN);
    found
}

/// Counts the bytes a scan has read, against [`SCAN_BYTES`].
#[derive(Debug, Default)]
pub struct ScanBudget {
    bytes: usize,
}

impl ScanBudget {
    /// Counts `text`; false once the budget is spent (the scan stops).
    pub fn take(&mut self, text: &str) -> bool {
        self.bytes = self.bytes.saturating_add(mail_cost(text));
        self.bytes <= SCAN_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_needle_ignores_case_and_finds_chinese() {
        assert!(Needle::new("deploy").found_in("Deploying at 5"));
        assert!(Needle::new("DEPLOY").found_in("we deploy"));
        assert!(Needle::new("你好").found_in("大家你好吗"));
        assert!(Needle::new("ÉTÉ").found_in("un été chaud"));
        assert!(!Needle::new("deploy").found_in("depl oy"));
        assert!(!Needle::new("").found_in("anything"));
    }

    #[test]
    fn a_scope_has_only_its_own_pairs() {
        let scope = Scope {
            rooms: vec![],
            key: "carol".into(),
        };
        assert!(scope.has_pair("alice", "carol"));
        assert!(scope.has_pair("carol", "dave"));
        assert!(!scope.has_pair("alice", "bob"));
    }
}
