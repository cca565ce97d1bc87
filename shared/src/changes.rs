//! What can happen to a message after it is sent (an extension): a reply's quote, edits, a
//! deletion, reactions, and the conversation's revision that orders these changes.
//!
//! A change never takes a `seq`: a core client still sees `message` frames numbered 1, 2, 3 …
//! with no gaps. Each change instead bumps its conversation's **revision** (`rev`, 1, 2, 3 …,
//! counted apart from `seq`), and the relay sends the message's whole new state as a
//! `changed` frame. A client that was away asks for the changes after the last `rev` it has
//! (`changes`), so it ends in the state of one that watched live (docs/PROTOCOL.md).

use serde::{Deserialize, Serialize};

/// The extension fields of a [`ChatMessage`], all absent on a message nothing happened to.
///
/// [`ChatMessage`]: crate::ChatMessage
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ext {
    /// The message this one answers, as it was when the reply was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Quote>,
    /// When the text was last edited, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<u64>,
    /// The author deleted it: `text` is empty and there are no reactions.
    #[serde(default, skip_serializing_if = "crate::message::is_false")]
    pub deleted: bool,
    /// Who reacted with what, in the order each emoji was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The conversation's revision at the message's latest change; absent if it never changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
}

/// The start of the message a reply answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub seq: u64,
    pub from: String,
    /// Its first [`QUOTE_CHARS`] characters.
    ///
    /// [`QUOTE_CHARS`]: crate::limits::QUOTE_CHARS
    pub text: String,
}

/// One emoji on a message and the people who chose it, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub names: Vec<String>,
}

impl Ext {
    /// Adds (`on`) or removes `name`'s `emoji`. `false` when nothing changed (already there,
    /// or not there to remove). Names are compared as names are (case-insensitively, by
    /// [`name_key`](crate::validate::name_key)): a person who signs in again spelled otherwise
    /// still has one reaction, kept as first spelled. The caller checks the limits first
    /// ([`Ext::reaction_fits`]).
    pub fn react(&mut self, emoji: &str, name: &str, on: bool) -> bool {
        let at = self.reactions.iter().position(|r| r.emoji == emoji);
        let key = crate::validate::name_key(name);
        let same = |n: &String| crate::validate::name_key(n) == key;
        match (at, on) {
            (Some(i), true) => {
                let names = &mut self.reactions[i].names;
                if names.iter().any(same) {
                    return false;
                }
                names.push(name.to_owned());
            }
            (None, true) => self.reactions.push(Reaction {
                emoji: emoji.to_owned(),
                names: vec![name.to_owned()],
            }),
            (Some(i), false) => {
                let names = &mut self.reactions[i].names;
                let Some(j) = names.iter().position(same) else {
                    return false;
                };
                names.remove(j);
                if names.is_empty() {
                    self.reactions.remove(i);
                }
            }
            (None, false) => return false,
        }
        true
    }

    /// Whether one more reaction with `emoji` stays within [`MAX_EMOJIS`] kinds and
    /// [`MAX_REACTIONS`] in all.
    ///
    /// [`MAX_EMOJIS`]: crate::limits::MAX_EMOJIS
    /// [`MAX_REACTIONS`]: crate::limits::MAX_REACTIONS
    pub fn reaction_fits(&self, emoji: &str) -> bool {
        let total: usize = self.reactions.iter().map(|r| r.names.len()).sum();
        let known = self.reactions.iter().any(|r| r.emoji == emoji);
        total < crate::limits::MAX_REACTIONS
            && (known || self.reactions.len() < crate::limits::MAX_EMOJIS)
    }
}

/// The quote of `text` a reply carries: its first [`QUOTE_CHARS`] characters.
///
/// [`QUOTE_CHARS`]: crate::limits::QUOTE_CHARS
pub fn quote_text(text: &str) -> String {
    text.chars().take(crate::limits::QUOTE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reacting_twice_is_once_and_removing_the_last_drops_the_emoji() {
        let mut ext = Ext::default();
        assert!(ext.react("👍", "ann", true));
        assert!(!ext.react("👍", "ann", true));
        assert!(ext.react("👍", "bob", true));
        assert!(ext.react("🎉", "ann", true));
        assert_eq!(ext.reactions[0].names, ["ann", "bob"]);
        assert!(ext.react("👍", "ann", false));
        assert!(ext.react("👍", "bob", false));
        assert!(!ext.react("👍", "bob", false));
        assert_eq!(ext.reactions.len(), 1);
        assert_eq!(ext.reactions[0].emoji, "🎉");
    }

    #[test]
    fn a_name_spelled_otherwise_is_the_same_person() {
        let mut ext = Ext::default();
        assert!(ext.react("👍", "Ann", true));
        assert!(!ext.react("👍", "ANN", true));
        assert_eq!(ext.reactions[0].names, ["Ann"]);
        assert!(ext.react("👍", "ann", false));
        assert!(ext.reactions.is_empty());
    }

    #[test]
    fn the_limits_count_kinds_and_names() {
        let mut ext = Ext::default();
        for i in 0..crate::limits::MAX_EMOJIS {
            assert!(ext.reaction_fits(&i.to_string()));
            ext.react(&i.to_string(), "ann", true);
        }
        assert!(!ext.reaction_fits("new"));
        assert!(ext.reaction_fits("0"));
    }
}
