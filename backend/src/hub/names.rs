//! The names the relay remembers, and how it forgets them: a name unused for
//! `--name-idle-days` expires (its protection with it), and at `--max-users` a new name takes
//! the place of the least recently used name that nobody may still claim.

use shared::ErrorCode;

use super::{Handled, State, UserEntry, refuse};
use crate::engine::Job;

impl State {
    /// Whether `user` has gone unused for longer than `--name-idle-days` (never, if 0). The
    /// caller checks that nobody holds the name now.
    pub(super) fn expired(&self, user: &UserEntry, now: u64) -> bool {
        if self
            .operators
            .contains(&shared::validate::name_key(&user.name))
        {
            return false; // an operator's name is never released
        }
        // A last use of 0 is not known (a Redis record that lost the race with a forgetting,
        // say): not known to be idle, so not forgotten on the strength of it.
        let idle = self.limits.name_idle_ms;
        idle > 0 && user.last_seen > 0 && now.saturating_sub(user.last_seen) >= idle
    }

    /// Forgets the offline name `key`: its protection, its mailbox and its private
    /// conversations go with it, so that whoever says hello with it next starts afresh and
    /// reads nothing of the last holder's.
    pub(super) fn forget(&mut self, key: &str, why: &str, now: u64) -> Handled {
        self.submit(Job::Forget {
            key: key.to_owned(),
        })?;
        // Until the writer has deleted its row, a hello must not take the old password back
        // from the store (`adopt_stored_password`); a minute is far longer than a commit.
        self.forgotten
            .retain(|_, at| now.saturating_sub(*at) < 60_000);
        self.forgotten.insert(key.to_owned(), now);
        if let Some(user) = self.users.remove(key) {
            tracing::info!(name = %user.name, protected = user.password.is_some(), why, "name forgotten");
        }
        Ok(())
    }

    /// Makes a place under `--max-users` for a new name: forgets the least recently used
    /// offline name that is unprotected or expired. Protected names in use are never
    /// evicted, so an owner keeps a protected name for `--name-idle-days` after their last
    /// session however many names others make.
    ///
    /// The scan is linear in the known names; it runs only at the cap, for a new name, which
    /// `--names-per-ip-hour` bounds.
    pub(super) fn make_room(&mut self, now: u64) -> Handled {
        let victim = self
            .users
            .iter()
            .filter(|(key, user)| {
                !self.online.contains_key(*key)
                    && !self.operators.contains(key)
                    && (user.password.is_none() || self.expired(user, now))
            })
            .min_by(|(ka, a), (kb, b)| a.last_seen.cmp(&b.last_seen).then(ka.cmp(kb)))
            .map(|(key, _)| key.clone());
        match victim {
            Some(key) => self.forget(&key, "the least recently used, at --max-users", now),
            None => refuse(
                ErrorCode::Forbidden,
                "this relay remembers as many names as it may, all protected or in use; use a \
                 name that was used before",
            ),
        }
    }
}
