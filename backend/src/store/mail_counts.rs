//! What each mailbox holds, as its limits count it: messages and their cost in all, per
//! sender and per sender's address. The writer is the only one that changes the mailbox, so
//! it keeps these counts as it adds and removes mail, instead of counting the recipient's
//! mailbox three times for every private message; a recipient's counts are read from the
//! database the first time the writer needs them.
//!
//! The counts follow the transaction the writer is in: if it rolls back, the writer calls
//! [`MailCounts::forget_all`] and they are read again as needed.

use std::collections::HashMap;

use rusqlite::Transaction;

/// Messages and the sum of their cost (`engine::mail_cost`).
pub(super) type Held = (i64, i64);

/// Recipients whose counts are kept at most; past it, all are dropped and read again as
/// needed (each costs a few dozen bytes, and a recipient's counts are one indexed query).
const MAX_KEPT: usize = 100_000;

#[derive(Default)]
struct Mailbox {
    all: Held,
    by_sender: HashMap<String, Held>,
    by_addr: HashMap<String, Held>,
}

/// Every kept recipient's counts.
#[derive(Default)]
pub(super) struct MailCounts {
    kept: HashMap<String, Mailbox>,
}

impl MailCounts {
    /// What `recipient`'s mailbox holds: in all, from `sender`, and from `addr` (if given).
    ///
    /// # Errors
    /// The recipient's counts had to be read, and the read failed.
    pub(super) fn held(
        &mut self,
        tx: &Transaction<'_>,
        recipient: &str,
        sender: &str,
        addr: Option<&str>,
    ) -> rusqlite::Result<(Held, Held, Option<Held>)> {
        let mailbox = self.mailbox(tx, recipient)?;
        let from_sender = mailbox.by_sender.get(sender).copied().unwrap_or_default();
        let from_addr = addr.map(|a| mailbox.by_addr.get(a).copied().unwrap_or_default());
        Ok((mailbox.all, from_sender, from_addr))
    }

    /// A message of `cost` from `sender` (at `addr`) went into `recipient`'s mailbox; its
    /// counts were read by [`MailCounts::held`] in this transaction.
    pub(super) fn added(&mut self, recipient: &str, sender: &str, addr: Option<&str>, cost: i64) {
        if let Some(mailbox) = self.kept.get_mut(recipient) {
            mailbox.change(sender, addr, (1, cost));
        }
    }

    /// A message of `cost` from `sender` (at `addr`) left `recipient`'s mailbox.
    pub(super) fn removed(&mut self, recipient: &str, sender: &str, addr: Option<&str>, cost: i64) {
        if let Some(mailbox) = self.kept.get_mut(recipient) {
            mailbox.change(sender, addr, (-1, -cost));
        }
    }

    /// Drops every count: after a rollback, or a change to many mailboxes at once (a name
    /// forgotten).
    pub(super) fn forget_all(&mut self) {
        self.kept = HashMap::new();
    }

    fn mailbox(&mut self, tx: &Transaction<'_>, recipient: &str) -> rusqlite::Result<&mut Mailbox> {
        if !self.kept.contains_key(recipient) {
            if self.kept.len() >= MAX_KEPT {
                self.forget_all();
            }
            let mailbox = read(tx, recipient)?;
            self.kept.insert(recipient.to_owned(), mailbox);
        }
        Ok(self
            .kept
            .get_mut(recipient)
            .expect("inserted just above if missing"))
    }
}

impl Mailbox {
    fn change(&mut self, sender: &str, addr: Option<&str>, (n, cost): Held) {
        let apply = |held: &mut Held| {
            held.0 = (held.0 + n).max(0);
            held.1 = (held.1 + cost).max(0);
        };
        apply(&mut self.all);
        let by_sender = self.by_sender.entry(sender.to_owned()).or_default();
        apply(by_sender);
        if by_sender.0 == 0 {
            self.by_sender.remove(sender);
        }
        if let Some(addr) = addr {
            let by_addr = self.by_addr.entry(addr.to_owned()).or_default();
            apply(by_addr);
            if by_addr.0 == 0 {
                self.by_addr.remove(addr);
            }
        }
    }
}

/// `recipient`'s counts, from the database.
fn read(tx: &Transaction<'_>, recipient: &str) -> rusqlite::Result<Mailbox> {
    let mut stmt = tx.prepare_cached(
        "SELECT sender_key, sender_addr, count(*), coalesce(sum(cost), 0) FROM mailbox
         WHERE recipient_key = ?1 GROUP BY sender_key, sender_addr",
    )?;
    let rows = stmt.query_map([recipient], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            (row.get::<_, i64>(2)?, row.get::<_, i64>(3)?),
        ))
    })?;
    let mut mailbox = Mailbox::default();
    for row in rows {
        let (sender, addr, (n, cost)) = row?;
        let add = |held: &mut Held| {
            held.0 += n;
            held.1 += cost;
        };
        add(&mut mailbox.all);
        add(mailbox.by_sender.entry(sender).or_default());
        if let Some(addr) = addr {
            add(mailbox.by_addr.entry(addr).or_default());
        }
    }
    Ok(mailbox)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::migrated_in_memory as db;

    fn add(tx: &Transaction<'_>, recipient: &str, sender: &str, addr: Option<&str>, cost: i64) {
        tx.execute(
            "INSERT INTO mailbox (recipient_key, sender_key, low, high, seq, cost, sender_addr)
             VALUES (?1, ?2, 'a', 'b', 1, ?3, ?4)",
            rusqlite::params![recipient, sender, cost, addr],
        )
        .unwrap();
    }

    #[test]
    fn counts_read_once_then_kept_agree_with_the_table() {
        let mut db = db();
        let tx = db.transaction().unwrap();
        add(&tx, "bob", "alice", Some("10.0.0.1"), 5);
        add(&tx, "bob", "alice", Some("10.0.0.2"), 7);
        add(&tx, "bob", "carol", None, 1);
        let mut counts = MailCounts::default();
        let held = counts.held(&tx, "bob", "alice", Some("10.0.0.1")).unwrap();
        assert_eq!(held, ((3, 13), (2, 12), Some((1, 5))));

        add(&tx, "bob", "alice", Some("10.0.0.1"), 2);
        counts.added("bob", "alice", Some("10.0.0.1"), 2);
        counts.removed("bob", "carol", None, 1);
        let held = counts.held(&tx, "bob", "carol", None).unwrap();
        assert_eq!(held, ((3, 14), (0, 0), None));
        let held = counts.held(&tx, "bob", "alice", Some("10.0.0.1")).unwrap();
        assert_eq!(held, ((3, 14), (3, 14), Some((2, 7))));

        // Forgotten, they are read again from the table (which has carol's row still: the
        // removal above was only counted).
        counts.forget_all();
        let held = counts.held(&tx, "bob", "carol", None).unwrap();
        assert_eq!(held, ((4, 15), (1, 1), None));
        assert_eq!(
            counts.held(&tx, "nobody", "alice", Some("x")).unwrap(),
            ((0, 0), (0, 0), Some((0, 0)))
        );
    }
}
