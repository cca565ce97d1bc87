//! The "protect my name" form and the password it sets, which is held in memory only.

use std::fmt;

use shared::ClientMsg;
use shared::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

use super::State;
use crate::i18n::fill;

/// A password, held in memory only: nothing persists it (`crate::persist` never sees it) and
/// its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the frame that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\u{2026})")
    }
}

/// The "protect my name" form (`protect`, see docs/PROTOCOL.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtectForm {
    /// The form is shown.
    pub open: bool,
    /// The `protect` sent and not answered yet: its cid, and the password it sets.
    pub pending: Option<(String, Secret)>,
    /// Why the password was not taken (checked here, or refused by the relay).
    pub error: Option<String>,
}

impl State {
    /// Checks the password typed in the protect form and, if it fits, sends a `protect`
    /// request (its cid is `{cid_prefix}p{protect_counter}`) and waits for the answer.
    pub(super) fn protect(&mut self, password: Secret, confirm: &Secret) -> bool {
        if !self.protect.open || self.protect.pending.is_some() {
            return false;
        }
        let chars = password.expose().chars().count();
        let t = self.t();
        let why = if chars < MIN_PASSWORD_CHARS {
            Some(fill(t.password_short, &[&MIN_PASSWORD_CHARS.to_string()]))
        } else if chars > MAX_PASSWORD_CHARS {
            Some(fill(t.password_long, &[&MAX_PASSWORD_CHARS.to_string()]))
        } else if password != *confirm {
            Some(t.passwords_differ.to_owned())
        } else if !self.online_now() {
            Some(t.protect_offline.to_owned())
        } else {
            None
        };
        if why.is_none() {
            self.protect_counter += 1;
            let cid = format!("{}p{}", self.cid_prefix, self.protect_counter);
            self.emit_with_cid(
                ClientMsg::Protect {
                    password: password.expose().to_owned(),
                },
                cid.clone(),
            );
            self.protect.pending = Some((cid, password));
        }
        self.protect.error = why;
        true
    }
}
