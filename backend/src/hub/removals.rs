//! Mailbox removals on their way to the store: what a mailbox read must leave out because the
//! user has it already, though the store may still hold it.
//!
//! A removal is handed to the writer (an `ack`, or mail written to a client that does not
//! acknowledge), and the store holds the mail until the writer commits it. A hello's mailbox
//! read runs off the lock meanwhile, and it may read a snapshot from before a commit whose
//! `Committed` the hub has already handled. So a removal is forgotten only once it is committed
//! and no mailbox read of its user is still under way.

use std::collections::{HashMap, HashSet};

use crate::engine::Mail;

#[derive(Default)]
pub(super) struct Removals {
    /// (user, sender) → the highest acked seq.
    acks: HashMap<(String, String), u64>,
    /// (user, mail id): mail delivered to a client that does not acknowledge.
    received: HashSet<(String, i64)>,
    /// User → the removals committed while a mailbox read of theirs was under way.
    committed: HashMap<String, Vec<Removal>>,
}

enum Removal {
    Ack { sender_key: String, seq: u64 },
    Received(i64),
}

impl Removals {
    /// `user_key` acknowledged every message from `sender_key` up to `seq`.
    pub(super) fn ack(&mut self, user_key: String, sender_key: String, seq: u64) {
        let acked = self.acks.entry((user_key, sender_key)).or_default();
        *acked = (*acked).max(seq);
    }

    /// `user_key` received mail `ids`.
    pub(super) fn received(&mut self, user_key: &str, ids: &[i64]) {
        self.received
            .extend(ids.iter().map(|&id| (user_key.to_owned(), id)));
    }

    /// `user_key` has `mail` already (a mailbox read should leave it out).
    pub(super) fn has(&self, user_key: &str, mail: &Mail) -> bool {
        self.received.contains(&(user_key.to_owned(), mail.id))
            || self
                .acks
                .get(&(user_key.to_owned(), mail.sender_key.clone()))
                .is_some_and(|&acked| acked >= mail.msg.seq)
    }

    /// The writer committed an ack. `reading`: a mailbox read of `user_key` is under way.
    pub(super) fn ack_committed(
        &mut self,
        user_key: String,
        sender_key: String,
        seq: u64,
        reading: bool,
    ) {
        if reading {
            let removal = Removal::Ack { sender_key, seq };
            self.committed.entry(user_key).or_default().push(removal);
        } else {
            self.forget_ack(user_key, sender_key, seq);
        }
    }

    /// The writer removed mail `ids`. `reading`: a mailbox read of `user_key` is under way.
    pub(super) fn received_committed(&mut self, user_key: String, ids: Vec<i64>, reading: bool) {
        if reading {
            let removals = ids.into_iter().map(Removal::Received);
            self.committed.entry(user_key).or_default().extend(removals);
        } else {
            for id in ids {
                self.received.remove(&(user_key.clone(), id));
            }
        }
    }

    /// No mailbox read of `user_key` is under way any more: what was committed meanwhile is
    /// in every snapshot read from now on.
    pub(super) fn reads_ended(&mut self, user_key: &str) {
        let Some(removals) = self.committed.remove(user_key) else {
            return;
        };
        for removal in removals {
            match removal {
                Removal::Ack { sender_key, seq } => {
                    self.forget_ack(user_key.to_owned(), sender_key, seq);
                }
                Removal::Received(id) => {
                    self.received.remove(&(user_key.to_owned(), id));
                }
            }
        }
    }

    /// Forgets the ack up to `seq`, unless a later one is still on its way.
    fn forget_ack(&mut self, user_key: String, sender_key: String, seq: u64) {
        let key = (user_key, sender_key);
        if self.acks.get(&key).is_some_and(|&acked| acked <= seq) {
            self.acks.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{ChatMessage, Target};

    fn mail(id: i64, from: &str, seq: u64) -> Mail {
        Mail {
            id,
            sender_key: from.to_owned(),
            msg: ChatMessage {
                target: Target::User { to: "bob".into() },
                seq,
                from: from.into(),
                text: "hi".into(),
                ts: 0,
                cid: None,
                mid: None,
                ext: Default::default(),
            },
        }
    }

    #[test]
    fn an_ack_committed_during_a_read_is_kept_until_the_reads_end() {
        let mut removals = Removals::default();
        removals.ack("bob".into(), "alice".into(), 1);
        removals.ack_committed("bob".into(), "alice".into(), 1, true);
        // The read under way may have a snapshot from before the commit.
        assert!(removals.has("bob", &mail(7, "alice", 1)));
        assert!(!removals.has("bob", &mail(8, "alice", 2)));
        removals.reads_ended("bob");
        assert!(!removals.has("bob", &mail(7, "alice", 1)));
    }

    #[test]
    fn a_later_ack_on_its_way_outlives_an_earlier_commit() {
        let mut removals = Removals::default();
        removals.ack("bob".into(), "alice".into(), 1);
        removals.ack("bob".into(), "alice".into(), 2);
        removals.ack_committed("bob".into(), "alice".into(), 1, false);
        assert!(removals.has("bob", &mail(8, "alice", 2)));
        removals.ack_committed("bob".into(), "alice".into(), 2, false);
        assert!(!removals.has("bob", &mail(8, "alice", 2)));
    }

    #[test]
    fn received_mail_committed_during_a_read_is_kept_until_the_reads_end() {
        let mut removals = Removals::default();
        removals.received("bob", &[7, 8]);
        removals.received_committed("bob".into(), vec![7], true);
        removals.received_committed("bob".into(), vec![8], false);
        assert!(removals.has("bob", &mail(7, "alice", 1)));
        assert!(!removals.has("bob", &mail(8, "alice", 2)));
        removals.reads_ended("bob");
        assert!(!removals.has("bob", &mail(7, "alice", 1)));
        assert!(removals.committed.is_empty());
    }
}
