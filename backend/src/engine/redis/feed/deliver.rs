//! What a publication becomes: a room's message in seq order (its gap filled from the log
//! first), a private message once per pair and seq, another relay's presence or typing, a
//! session moved, a user changed; and after a reconnect, what was missed.

use std::time::Instant;

use serde::Deserialize;
use shared::ChatMessage;

use super::Following;
use crate::engine::redis::RedisLogError;
use crate::engine::{Committed, Event, PersonNews, Topic};

/// Most messages read from a log at once to fill a gap.
const FILL_PAGE: usize = 1024;

/// Most changed messages read at once to catch up with a room's changes.
const CHANGES_PAGE: usize = shared::limits::CHANGES_PAGE;

/// A private message as `store.lua` publishes it.
#[derive(Deserialize)]
struct Envelope {
    /// The sender's name key.
    f: String,
    /// The recipient's.
    t: String,
    /// Its place in the recipient's mailbox.
    i: i64,
    /// The message's JSON.
    m: String,
}

impl Following {
    /// One publication. An error means a room's gap could not be filled: the connection is
    /// made again, and the rooms filled then.
    pub(super) async fn on_message(&mut self, msg: &::redis::Msg) -> Result<(), RedisLogError> {
        let channel = msg.get_channel_name();
        let payload = String::from_utf8_lossy(msg.get_payload_bytes());
        if channel == self.log.keys.user_changes() {
            self.user_changed(&payload).await;
            return Ok(());
        }
        if channel == self.log.keys.node_channel(&self.node) {
            self.told(&payload).await;
            return Ok(());
        }
        let Some(topic) = self.log.keys.topic_of(channel) else {
            return Ok(());
        };
        if let Some(typing) = payload.strip_prefix("t ") {
            self.typing(topic, typing).await;
            return Ok(());
        }
        if let Some(change) = payload.strip_prefix("c ") {
            self.changed(&topic, change).await;
            return Ok(());
        }
        match topic {
            Topic::Room(room) => {
                if let Some(event) = payload.strip_prefix("p ") {
                    self.presence(&room, event).await;
                    return Ok(());
                }
                match serde_json::from_str::<ChatMessage>(&payload) {
                    Ok(message) => return self.room_message(&room, message).await,
                    Err(e) => tracing::warn!(%room, "not a message on a room's channel: {e}"),
                }
            }
            Topic::User(key) if !payload.starts_with('{') => self.person(key, &payload).await,
            Topic::User(_) => match serde_json::from_str::<Envelope>(&payload) {
                Ok(envelope) => self.direct_message(envelope).await,
                Err(e) => tracing::warn!("not a private message on a user's channel: {e}"),
            },
        }
        Ok(())
    }

    /// A change `change.lua` published (`c {r, m}`): sent on once, to the room's members
    /// here or to the pair's people here (a relay with both of them hears it twice: the
    /// pair's last revision sent on drops the second). A room's change published while this
    /// feed was reconnecting is read in [`Following::catch_up`] (and dropped here if it comes
    /// again); a pair's is not fetched again: its people catch up with `changes`.
    async fn changed(&mut self, topic: &Topic, payload: &str) {
        let committed = match crate::engine::redis::change::committed(payload, &self.node) {
            Ok(committed) => committed,
            Err(e) => return tracing::warn!("not a change: {e}"),
        };
        if let Committed::Changed { place, msg, .. } = &committed {
            match (topic, place) {
                (Topic::Room(room), crate::engine::Place::Room(of)) if room == of => {
                    let Some(last) = self.room_revs.get_mut(room) else {
                        return; // unfollowed meanwhile
                    };
                    let rev = msg.ext.rev.unwrap_or(0);
                    if rev <= *last {
                        return;
                    }
                    *last = rev;
                }
                (Topic::User(_), crate::engine::Place::Pair(low, high)) => {
                    let rev = msg.ext.rev.unwrap_or(0);
                    let last = self.revs.entry((low.clone(), high.clone())).or_default();
                    if rev <= *last {
                        return;
                    }
                    *last = rev;
                }
                _ => return,
            }
        }
        self.send(vec![committed]).await;
    }

    /// `NODE {presence}` on a room's channel: another relay's member entered or left.
    async fn presence(&mut self, room: &str, event: &str) {
        #[derive(Deserialize)]
        struct Presence {
            name: String,
            online: bool,
            #[serde(default)]
            count: Option<usize>,
        }
        // After the relay it happened on. This relay's own members hear of this relay's
        // comings and goings this way too: what Redis says happened is what everyone is told,
        // in the room's order.
        let Some((_node, json)) = event.split_once(' ') else {
            return;
        };
        if !self.rooms.contains_key(room) {
            return;
        }
        match serde_json::from_str::<Presence>(json) {
            Ok(p) => {
                let event = Event::Presence {
                    room: room.to_owned(),
                    name: p.name,
                    online: p.online,
                    count: p.count,
                };
                self.send(vec![Committed::Cluster(event)]).await;
            }
            Err(e) => tracing::warn!(%room, "not a presence event: {e}"),
        }
    }

    /// `KIND NODE/GEN BODY` on a user's channel: what a connection of theirs on relay NODE,
    /// of their session's generation GEN, did (`j ROOM` joined, `l ROOM` left, `r {read}`),
    /// for their connections here. An older relay's says no GEN (`KIND NODE BODY`), and an
    /// older relay reading this one's takes `NODE/GEN` for a relay's id, as it should.
    async fn person(&mut self, key: String, payload: &str) {
        let mut parts = payload.splitn(3, ' ');
        let (Some(kind), Some(from), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return tracing::warn!("not a person's news: {payload:?}");
        };
        let (node, generation) = match from.split_once('/') {
            Some((node, generation)) => (node, generation.parse::<u64>().ok()),
            None => (from, None),
        };
        if node == self.node {
            return; // told here already
        }
        let news = match kind {
            "j" => PersonNews::Joined(body.to_owned()),
            "l" => PersonNews::Left(body.to_owned()),
            "r" => PersonNews::Read(body.to_owned()),
            _ => return tracing::warn!("not a person's news: {payload:?}"),
        };
        let event = Event::Person {
            key,
            generation,
            news,
        };
        self.send(vec![Committed::Cluster(event)]).await;
    }

    /// `NODE {typing}` on a room's or a user's channel, from another relay.
    async fn typing(&mut self, topic: Topic, typing: &str) {
        let Some((node, frame)) = typing.split_once(' ') else {
            return;
        };
        if node == self.node {
            return; // told here already
        }
        let event = Event::Typing {
            topic,
            frame: frame.to_owned(),
        };
        self.send(vec![Committed::Cluster(event)]).await;
    }

    /// Something another relay tells this one on its channel: `moved GENERATION KEY`.
    async fn told(&mut self, payload: &str) {
        let moved = payload
            .strip_prefix("moved ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(generation, key)| Some((generation.parse().ok()?, key.to_owned())));
        match moved {
            Some((generation, key)) => {
                let event = Event::Moved { key, generation };
                self.send(vec![Committed::Cluster(event)]).await;
            }
            None => tracing::warn!("not a relay's event: {payload:?}"),
        }
    }

    /// A user was protected, forgotten or claimed while protected (`KEY`): their record now,
    /// for the hub. Or an unprotected user claimed their name (`KEY\nNAME\nMS`), which says
    /// all there is to know without a read.
    async fn user_changed(&mut self, payload: &str) {
        let mut parts = payload.split('\n');
        if let (Some(key), Some(name), Some(at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            let Ok(at) = at.parse() else {
                return tracing::warn!("not a user's claim: {payload:?}");
            };
            let event = Event::Seen {
                key: key.to_owned(),
                name: name.to_owned(),
                at,
            };
            self.send(vec![Committed::Cluster(event)]).await;
            return;
        }
        let key = payload;
        match self.log.user(key).await {
            Ok(user) => {
                let event = Event::User {
                    key: key.to_owned(),
                    user,
                };
                self.send(vec![Committed::Cluster(event)]).await;
            }
            Err(e) => tracing::warn!(%key, "cannot read a user who changed: {e}"),
        }
    }

    /// A room's message from pub/sub: sent on after any it missed, unless sent already.
    ///
    /// # Errors
    /// The gap could not be read: nothing is sent (the caller connects again, and fills the
    /// room from its log then).
    async fn room_message(&mut self, room: &str, msg: ChatMessage) -> Result<(), RedisLogError> {
        let Some(&last) = self.rooms.get(room) else {
            return Ok(()); // unfollowed meanwhile
        };
        if msg.seq <= last {
            return Ok(());
        }
        if msg.seq > last + 1 {
            self.fill(room, msg.seq - 1).await?;
        }
        if let Some(last) = self.rooms.get_mut(room) {
            *last = (*last).max(msg.seq);
        }
        self.send(vec![Committed::Room {
            msg,
            accepted: Instant::now(),
        }])
        .await;
        Ok(())
    }

    /// Sends on `room`'s messages from the last one sent up to `until`, read from its log. A
    /// message the log no longer has (trimmed) cannot be sent; the gap is logged.
    ///
    /// # Errors
    /// The log could not be read; what was read is sent, and the room's last seq says so.
    async fn fill(&mut self, room: &str, until: u64) -> Result<(), RedisLogError> {
        loop {
            let Some(&last) = self.rooms.get(room) else {
                return Ok(());
            };
            if last >= until {
                return Ok(());
            }
            let page = self.log.room_since(room, last, until, FILL_PAGE).await?;
            let Some(newest) = page.last().map(|m| m.seq) else {
                tracing::error!(%room, from = last + 1, until, "messages missing from the log");
                self.rooms.insert(room.to_owned(), until);
                return Ok(());
            };
            if page.first().is_some_and(|m| m.seq > last + 1) {
                tracing::error!(%room, from = last + 1, "messages missing from the log");
            }
            self.rooms.insert(room.to_owned(), newest);
            let batch = page
                .into_iter()
                .map(|msg| Committed::Room {
                    msg,
                    accepted: Instant::now(),
                })
                .collect();
            self.send(batch).await;
        }
    }

    /// A private message from pub/sub: sent on unless this pair's was already.
    async fn direct_message(&mut self, envelope: Envelope) {
        let msg: ChatMessage = match serde_json::from_str(&envelope.m) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!("not a message in a private message's envelope: {e}");
                return;
            }
        };
        if let Some(committed) = self.direct(envelope.f, envelope.t, envelope.i, msg) {
            self.send(vec![committed]).await;
        }
    }

    /// The private message, unless its pair's last seq sent on is at or past it.
    fn direct(
        &mut self,
        from_key: String,
        to_key: String,
        mail_id: i64,
        msg: ChatMessage,
    ) -> Option<Committed> {
        if !self.users.contains(&from_key) && !self.users.contains(&to_key) {
            return None;
        }
        let pair = crate::engine::pair(&from_key, &to_key);
        let pair = (pair.0.to_owned(), pair.1.to_owned());
        let last = self.pairs.entry(pair).or_default();
        if msg.seq <= *last {
            return None;
        }
        *last = msg.seq;
        Some(Committed::Direct {
            from_key,
            to_key,
            mail_id,
            msg,
            accepted: Instant::now(),
        })
    }

    /// A followed room's changes after the last revision sent on, read as `changes` reads
    /// them (each changed message in its state now, by revision), sent on as if published.
    ///
    /// # Errors
    /// They could not be read; what was read is sent, and the room's last revision says so.
    async fn changes_since(&mut self, room: &str) -> Result<(), RedisLogError> {
        let place = crate::engine::Place::Room(room.to_owned());
        loop {
            let Some(&last) = self.room_revs.get(room) else {
                return Ok(()); // unfollowed meanwhile
            };
            let page = self.log.changes(&place, last, CHANGES_PAGE).await?;
            let newest = page.messages.iter().filter_map(|m| m.ext.rev).max();
            let Some(newest) = newest.filter(|&rev| rev > last) else {
                return Ok(());
            };
            self.room_revs.insert(room.to_owned(), newest);
            let batch = page
                .messages
                .into_iter()
                .filter(|m| m.ext.rev.is_some_and(|rev| rev > last))
                .map(|msg| Committed::Changed {
                    place: place.clone(),
                    msg,
                    by_key: String::new(),
                    origin: u64::MAX,
                    cid: None,
                })
                .collect();
            self.send(batch).await;
            if !page.more {
                return Ok(());
            }
        }
    }

    /// After a lost connection: every followed room's missed messages from its log and its
    /// missed changes, and every followed user's mailbox.
    pub(super) async fn catch_up(&mut self) {
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let filled = match self.log.room_last(&room).await {
                Ok((until, _)) => self.fill(&room, until).await,
                Err(e) => Err(e),
            };
            if let Err(e) = filled {
                // Its next message fills the gap, or the next reconnect.
                tracing::error!(%room, "cannot fill the room from its log: {e}");
            }
            if let Err(e) = self.changes_since(&room).await {
                // The next reconnect reads them; a member who re-joins asks `changes`.
                tracing::error!(%room, "cannot read the room's changes: {e}");
            }
        }
        // Every local user's mail, in seq order per pair (two users here may each have mail of
        // one pair: it must go out in the pair's order, or the dedup would drop the older).
        let users: Vec<String> = self.users.iter().cloned().collect();
        let mut mail = Vec::new();
        for user in users {
            match self.log.mailbox(&user).await {
                Ok(box_) => mail.extend(box_.into_iter().map(|m| (user.clone(), m))),
                Err(e) => tracing::error!(%user, "cannot read a mailbox to catch up: {e}"),
            }
        }
        mail.sort_by_key(|(_, m)| m.msg.seq);
        // A session taken over elsewhere meanwhile was told on this relay's channel, which
        // was down: ask Redis whose each local session is now.
        for user in self.users.clone() {
            match self.log.session_holder(&self.node, &user).await {
                Ok(Some((false, generation))) => {
                    let event = Event::Moved {
                        key: user.clone(),
                        generation,
                    };
                    self.send(vec![Committed::Cluster(event)]).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%user, "cannot read whose a session is: {e}"),
            }
        }
        let batch: Vec<Committed> = mail
            .into_iter()
            .filter_map(|(user, m)| {
                let id = i64::try_from(m.id).unwrap_or(i64::MAX);
                self.direct(m.sender_key, user, id, m.msg)
            })
            .collect();
        if !batch.is_empty() {
            self.send(batch).await;
        }
    }
}
