//! Sessions: hello (with takeover by token) and the end of a session.

use shared::{ErrorCode, ServerMsg, limits::close, validate};

use super::{Handled, Session, State, new_token, refuse, same_token};
use crate::peer::ConnId;

impl State {
    /// A hello on an unwelcomed connection.
    pub(super) fn hello(&mut self, id: ConnId, raw_name: &str, token: Option<String>) -> Handled {
        let name = match validate::name(raw_name) {
            Ok(name) => name.to_owned(),
            Err(why) => return refuse(ErrorCode::InvalidName, why),
        };
        let key = validate::name_key(&name);
        if let Some(&holder) = self.online.get(&key) {
            let held = self.conns.get(&holder).and_then(|c| c.session.as_ref());
            let proven = matches!((held, &token), (Some(s), Some(t)) if same_token(&s.token, t));
            if !proven {
                return refuse(ErrorCode::NameTaken, format!("'{name}' is already in use"));
            }
            // The same user on a new connection: the old one ends as if it had dropped.
            self.end_session(holder);
            if let Some(old) = self.conns.get(&holder) {
                old.peer.close(close::NORMAL);
            }
            tracing::info!(conn = id, old_conn = holder, %name, "session taken over by token");
        } else if self.store.known_user(&key).is_none()
            && self.store.known_users() >= self.limits.max_users
        {
            return refuse(
                ErrorCode::Forbidden,
                "this relay remembers as many names as it may; use a name that was used before",
            );
        }

        self.store.remember_user(&key, &name);
        let token = new_token();
        let welcome = ServerMsg::Welcome {
            name: name.clone(),
            token: token.clone(),
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return Ok(()); // the connection went away meanwhile
        };
        conn.session = Some(Session {
            name: name.clone(),
            key: key.clone(),
            token,
            rooms: Default::default(),
        });
        self.online.insert(key.clone(), id);
        tracing::debug!(conn = id, %name, "welcomed");
        self.send(id, &welcome);
        // Private messages that waited while the user was offline, oldest first.
        for msg in self.store.mailbox_take(&key) {
            self.send(id, &ServerMsg::Message(msg));
        }
        Ok(())
    }

    /// Ends connection `id`'s session, if it has one: it leaves its rooms (the others there
    /// hear `presence` offline) and its name is free again.
    pub(super) fn end_session(&mut self, id: ConnId) {
        let Some(session) = self.conns.get_mut(&id).and_then(|c| c.session.take()) else {
            return;
        };
        if self.online.get(&session.key) == Some(&id) {
            self.online.remove(&session.key);
        }
        for room in &session.rooms {
            self.remove_member(id, room, &session.name);
        }
    }
}
