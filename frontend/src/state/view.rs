//! What the views show that is worked out from the state: the status bar and typing texts,
//! and the order the keyboard moves through the conversations in.

use super::{Conn, ConvKey, State};

impl State {
    /// The status bar: its `data-state` (`connected`, `connecting`, `reconnecting`) and text.
    pub fn status(&self) -> (&'static str, String) {
        match self.conn {
            Conn::Connected if self.me.is_some() => ("connected", "connected".to_owned()),
            Conn::Connected => ("connecting", "connecting: signing in…".to_owned()),
            Conn::Offline | Conn::Connecting { attempt: 0 } => {
                ("connecting", "connecting…".to_owned())
            }
            Conn::Connecting { .. } => ("reconnecting", "reconnecting…".to_owned()),
            Conn::Reconnecting { at_ms } => (
                "reconnecting",
                format!("reconnecting in {} s", countdown_secs(at_ms, self.now_ms)),
            ),
        }
    }

    /// The sum of unread counts over the conversations not open.
    pub fn total_unread(&self) -> usize {
        self.conversations.values().map(|c| c.unread).sum()
    }

    /// "bob is typing…" for the open conversation, or nothing.
    pub fn typing_text(&self, key: &ConvKey) -> String {
        let Some(conv) = self.conversations.get(key) else {
            return String::new();
        };
        let names: Vec<&str> = conv.typing.iter().map(|t| t.name.as_str()).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [a, b] => format!("{a} and {b} are typing…"),
            [a, b, rest @ ..] => format!("{a}, {b} and {} more are typing…", rest.len()),
        }
    }

    /// The conversations in the sidebar's order: the joined rooms, then the private
    /// conversations, the correspondents online first.
    pub fn conversation_order(&self) -> Vec<ConvKey> {
        let mut rooms: Vec<ConvKey> = Vec::new();
        let mut dms: Vec<(bool, &ConvKey)> = Vec::new();
        for (key, conv) in &self.conversations {
            match key {
                ConvKey::Room(_) => rooms.push(key.clone()),
                ConvKey::Dm(_) => dms.push((!self.is_online(&conv.title), key)),
            }
        }
        dms.sort();
        rooms.extend(dms.into_iter().map(|(_, key)| key.clone()));
        rooms
    }

    /// The conversation `step` places after the open one in the sidebar's order (before it
    /// for a negative `step`), wrapping around; with `unread`, the nearest one with unread
    /// messages that way.
    pub fn neighbour(&self, step: isize, unread: bool) -> Option<ConvKey> {
        let order = self.conversation_order();
        let n = order.len() as isize;
        if n == 0 {
            return None;
        }
        let here = self
            .open
            .as_ref()
            .and_then(|open| order.iter().position(|k| k == open))
            .map_or(if step > 0 { -1 } else { n }, |i| i as isize);
        (1..=n)
            .map(|i| &order[(here + step.signum() * i).rem_euclid(n) as usize])
            .find(|key| !unread || self.conversations.get(*key).is_some_and(|c| c.unread > 0))
            .filter(|key| Some(*key) != self.open.as_ref())
            .cloned()
    }
}

/// Whole seconds left until `at_ms`, rounded up.
pub(super) fn countdown_secs(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1000)
}
