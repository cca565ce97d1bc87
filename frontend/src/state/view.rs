//! What the views show that is worked out from the state: the status bar and typing texts,
//! and the order the keyboard moves through the conversations in.

use super::{Conn, ConvKey, Conversation, State};
use crate::i18n::fill;

impl State {
    /// The status bar: its `data-state` (`connected`, `connecting`, `reconnecting`) and text.
    pub fn status(&self) -> (&'static str, String) {
        let t = self.t();
        match self.conn {
            Conn::Connected if self.me.is_some() => ("connected", t.connected.to_owned()),
            Conn::Connected => ("connecting", t.signing_in_status.to_owned()),
            Conn::Offline | Conn::Connecting { attempt: 0 } => {
                ("connecting", t.connecting.to_owned())
            }
            Conn::Connecting { .. } => ("reconnecting", t.reconnecting.to_owned()),
            Conn::Reconnecting { at_ms } => (
                "reconnecting",
                fill(t.reconnecting_in, &[&self.countdown(at_ms).to_string()]),
            ),
        }
    }

    /// While signed in but cut off from the relay: what the banner says. Others' presence is
    /// not known then, so the views show nobody as online.
    pub fn banner(&self) -> Option<String> {
        self.me.as_ref()?;
        let t = self.t();
        match self.conn {
            _ if self.device_offline => Some(t.banner_device_offline.to_owned()),
            Conn::Connected => None,
            Conn::Reconnecting { at_ms } => Some(fill(
                t.banner_retry_in,
                &[&self.countdown(at_ms).to_string()],
            )),
            Conn::Offline | Conn::Connecting { .. } => Some(t.banner_reconnecting.to_owned()),
        }
    }

    /// Whole seconds until the reconnect at `at_ms`.
    pub fn countdown(&self, at_ms: u64) -> u64 {
        countdown_secs(at_ms, self.now_ms)
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
        let t = self.t();
        match names.as_slice() {
            [] => String::new(),
            [one] => fill(t.typing_one, &[one]),
            [a, b] => fill(t.typing_two, &[a, b]),
            [a, b, rest @ ..] => fill(t.typing_many, &[a, b, &rest.len().to_string()]),
        }
    }

    /// The conversations in the sidebar's order: the joined rooms, then the private
    /// conversations, the correspondents online first.
    pub fn conversation_order(&self) -> Vec<ConvKey> {
        let dm_online = |key: &ConvKey, conv: &Conversation, online: bool| {
            key.room().is_none() && self.is_online(&conv.title) == online
        };
        // The map is sorted by key: rooms first, then private conversations by name.
        let rooms = self.conversations.keys().filter(|k| k.room().is_some());
        let online = self
            .conversations
            .iter()
            .filter(|(k, c)| dm_online(k, c, true));
        let offline = self
            .conversations
            .iter()
            .filter(|(k, c)| dm_online(k, c, false));
        rooms
            .chain(online.chain(offline).map(|(k, _)| k))
            .cloned()
            .collect()
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
