//! Private messages (sender, recipient, parcel), the user list and typing to one user.

use shared::{ErrorCode, ServerMsg, Target, validate};

use super::rooms::check_text;
use super::{Handled, Refusal, State, encode, refuse};
use crate::metrics::Metrics;
use crate::peer::ConnId;
use crate::store::{Draft, mail_cost};

/// A user a private frame is addressed to.
struct Recipient {
    key: String,
    /// As they said it in their latest hello.
    name: String,
    /// Their connection, if they are online.
    conn: Option<ConnId>,
}

impl State {
    pub(super) fn dm(
        &mut self,
        id: ConnId,
        to: &str,
        text: String,
        cid: Option<String>,
        now: u64,
    ) -> Handled {
        check_text(&text)?;
        let recipient = self.recipient(to)?;
        if recipient.conn.is_none() {
            let (count, bytes) = self.store.mailbox_usage(&recipient.key);
            let cost = mail_cost(text.len());
            if count >= self.limits.mailbox
                || bytes + cost > self.limits.user_mailbox_bytes
                || self.store.mailbox_bytes() + cost > self.limits.mailbox_bytes
            {
                return refuse(
                    ErrorCode::MailboxFull,
                    format!(
                        "{} is offline and has too many messages waiting",
                        recipient.name
                    ),
                );
            }
        }
        let sender = self.session(id)?;
        let (from, from_key) = (sender.name.clone(), sender.key.clone());
        let draft = Draft {
            target: Target::User {
                to: recipient.name.clone(),
            },
            from,
            text,
            ts: now,
            cid,
        };
        let msg = self.store.append_direct(&from_key, &recipient.key, draft);
        Metrics::inc(&self.metrics.messages_accepted);
        let frame = encode(&ServerMsg::Message(msg.clone()));
        // The sender's copy, at once: it is the acknowledgement.
        self.send_frame(id, frame.clone());
        match recipient.conn {
            Some(conn) if conn == id => {} // a note to self: one copy is enough
            Some(conn) => self.send_frame(conn, frame),
            None => self.store.mailbox_push(&recipient.key, msg),
        }
        Ok(())
    }

    pub(super) fn list_users(&self, id: ConnId) -> Handled {
        let mut online: Vec<String> = self
            .online
            .values()
            .filter_map(|conn| self.conns.get(conn)?.session.as_ref())
            .map(|s| s.name.clone())
            .collect();
        online.sort_unstable();
        self.send(id, &ServerMsg::Users { online });
        Ok(())
    }

    pub(super) fn typing_to_user(&self, id: ConnId, to: &str) -> Handled {
        let recipient = self.recipient(to)?;
        let Some(conn) = recipient.conn.filter(|&conn| conn != id) else {
            return Ok(()); // nobody to tell
        };
        let typing = ServerMsg::Typing {
            target: Target::User { to: recipient.name },
            name: self.session(id)?.name.clone(),
        };
        self.send(conn, &typing);
        Ok(())
    }

    /// Looks up a user by name, case-insensitively.
    fn recipient(&self, to: &str) -> Result<Recipient, Refusal> {
        let key = validate::name_key(to.trim());
        let Some(name) = self.store.known_user(&key) else {
            return refuse(
                ErrorCode::UnknownUser,
                format!("nobody called '{to}' has been here"),
            );
        };
        Ok(Recipient {
            name: name.to_owned(),
            conn: self.online.get(&key).copied(),
            key,
        })
    }
}
