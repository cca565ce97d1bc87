//! What the views show that is worked out from the state: the status bar and typing texts.

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
}

/// Whole seconds left until `at_ms`, rounded up.
pub(super) fn countdown_secs(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1000)
}
