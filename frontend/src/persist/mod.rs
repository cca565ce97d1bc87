//! What the client keeps in the browser's `localStorage` across page loads, as pure Rust: the
//! JSON format, and the conversions from [`State`] to it and from it to the [`Snapshot`] that
//! `Action::Resume` takes up. Persistence depends on the state, never the reverse. Reading and
//! writing the storage itself is `services::storage`; the root (`crate::app`) calls both.
//!
//! Two keys:
//!
//! - [`SESSION_KEY`] (`courier.session`), present while someone is signed in on this browser:
//!   `{"v":1,"name":"alice","token":"6f1c…"}`. A page load with it signs in again by itself.
//!   Signing out (or the relay refusing the name) removes it.
//! - [`user_key`] (`courier.user.<name_key>`), per user name: the conversations and how far
//!   each was read, so that unread counts survive a reload:
//!   `{"v":1,"open":{"room":"lobby"},"rooms":[{"room":"lobby","read":41,"seen":42,"unread":1}],
//!   "dms":[{"with":"bob","read":7,"seen":8,"unread":1}]}`. Signing out removes it. An entry
//!   may hold our messages not confirmed yet, to be sent again with the same `mid`:
//!   `"pending":[{"mid":"9f0c…","text":"hi"}]`.
//!
//! Stored text is untrusted: anything that is not this format (junk, an older or newer `v`) is
//! ignored as a whole, and each entry that does not fit (a bad room or user name, a wrong
//! type) is ignored on its own. At most [`MAX_ROOMS`] rooms, [`MAX_DMS`] conversations and
//! [`MAX_PENDING`] pending messages are kept, so the entry stays small.

use shared::json::{self, Object};
use shared::validate::name_key;
use stored::Stored;

use crate::state::{ConvKey, Delivery, Mark, Pending, Snapshot, State};

mod stored;

/// The signed-in session: `{"v":1,"name":…,"token":…}`.
pub const SESSION_KEY: &str = "courier.session";
/// The format version written; anything else is ignored.
pub const VERSION: u64 = 1;
/// At most this many rooms are kept.
pub const MAX_ROOMS: usize = 100;
/// At most this many private conversations are kept (the most recently active ones).
pub const MAX_DMS: usize = 200;
/// At most this many of our unconfirmed messages are kept (by conversation, rooms first, and
/// in each the oldest first).
pub const MAX_PENDING: usize = 50;
/// A token longer than this is junk (the relay's are 32 hex digits).
const MAX_TOKEN_CHARS: usize = 128;

/// The key of a user's conversations: `courier.user.` and the name compared
/// case-insensitively.
pub fn user_key(name: &str) -> String {
    format!("courier.user.{}", name_key(name))
}

/// The JSON side of [`Snapshot`] (the type is the state's: [`Action::Resume`] takes it).
///
/// [`Action::Resume`]: crate::state::Action::Resume
impl Snapshot {
    /// The state worth keeping, once signed in.
    pub fn of(state: &State) -> Option<Self> {
        let name = state.me.clone()?;
        let mut marks: Vec<Mark> = state
            .conversations
            .iter()
            .map(|(key, conv)| Mark {
                key: key.clone(),
                title: conv.title.clone(),
                read: conv.read,
                seen: conv.seen,
                unread: conv.unread,
                pending: conv
                    .unconfirmed()
                    .filter(|(_, m)| m.delivery == Delivery::Pending)
                    .filter_map(|(_, m)| {
                        Some(Pending {
                            mid: m.mid.clone()?,
                            text: m.text.clone(),
                        })
                    })
                    .collect(),
            })
            .collect();
        // Keep the rooms (in name order) and the most recently active private conversations.
        // (Unstable sorts throughout the client, with keys that tie only for equal items: a
        // stable sort's code is several KB more per use in the bundle.)
        marks.sort_unstable_by(|a, b| {
            (a.key.room().is_none(), std::cmp::Reverse(a.seen))
                .cmp(&(b.key.room().is_none(), std::cmp::Reverse(b.seen)))
                .then_with(|| a.key.cmp(&b.key))
        });
        let mut kept_rooms = 0;
        let mut kept_dms = 0;
        marks.retain(|m| {
            let (kept, max) = if m.key.room().is_some() {
                (&mut kept_rooms, MAX_ROOMS)
            } else {
                (&mut kept_dms, MAX_DMS)
            };
            *kept += 1;
            *kept <= max
        });
        marks.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let mut left = MAX_PENDING;
        for m in &mut marks {
            m.pending.truncate(left);
            left -= m.pending.len();
        }
        Some(Self {
            name,
            token: state.token.clone(),
            open: state.open.clone(),
            marks,
        })
    }

    /// The session entry's JSON. (Entries are written by hand, `shared::json::Object`:
    /// serde's serialisation costs the bundle.)
    pub fn session_json(&self) -> String {
        let mut o = Object::new();
        o.num("v", VERSION)
            .str("name", &self.name)
            .opt_str("token", self.token.as_deref());
        o.finish()
    }

    /// The user entry's JSON.
    pub fn user_json(&self) -> String {
        let entries = |rooms: bool| {
            json::array(
                self.marks
                    .iter()
                    .filter(|m| m.key.room().is_some() == rooms)
                    .map(mark_json),
            )
        };
        let mut o = Object::new();
        o.num("v", VERSION);
        if let Some(open) = self.open.as_ref().and_then(|key| self.target_of(key)) {
            o.raw("open", &open);
        }
        o.raw("rooms", &entries(true)).raw("dms", &entries(false));
        o.finish()
    }

    /// The `open` target's JSON: `{"room":…}` or `{"with":…}`.
    fn target_of(&self, key: &ConvKey) -> Option<String> {
        let mut o = Object::new();
        match key {
            ConvKey::Room(room) => o.str("room", room),
            ConvKey::Dm(_) => o.str("with", &self.marks.iter().find(|m| m.key == *key)?.title),
        };
        Some(o.finish())
    }

    /// Reads a session entry: the name and token, or `None` for junk.
    pub fn parse_session(json: &str) -> Option<Self> {
        let s = Stored::read(json)?;
        if s.v != Some(VERSION) {
            return None;
        }
        let name = shared::validate::name(&s.name?).ok()?.to_owned();
        let token = s
            .token
            .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TOKEN_CHARS);
        Some(Self {
            name,
            token,
            ..Self::default()
        })
    }

    /// Adds what a user entry holds (`None` or junk adds nothing). Entries for other keys than
    /// this one's name never get here: the key names the user.
    pub fn with_user_json(mut self, json: Option<&str>) -> Self {
        let Some(user) = json.and_then(Stored::read).filter(|u| u.v == Some(VERSION)) else {
            return self;
        };
        let me = name_key(&self.name);
        let mut marks = Vec::new();
        let mut pending_left = MAX_PENDING;
        for (m, is_room) in user
            .rooms
            .unwrap_or_default()
            .into_iter()
            .take(MAX_ROOMS)
            .map(|v| (v, true))
            .chain(
                user.dms
                    .unwrap_or_default()
                    .into_iter()
                    .take(MAX_DMS)
                    .map(|v| (v, false)),
            )
        {
            if m.bad {
                continue;
            }
            let (seen, unread) = (m.seen.unwrap_or(0), m.unread.unwrap_or(0));
            let (key, title) = if is_room {
                let Some(room) = m.room.filter(|r| shared::validate::room(r).is_ok()) else {
                    continue;
                };
                (ConvKey::Room(room.clone()), room)
            } else {
                let Some(correspondent) = m
                    .with
                    .and_then(|p| shared::validate::name(&p).ok().map(str::to_owned))
                else {
                    continue;
                };
                if name_key(&correspondent) == me {
                    continue;
                }
                (ConvKey::dm(&correspondent), correspondent)
            };
            if marks.iter().any(|x: &Mark| x.key == key) {
                continue;
            }
            let read = m.read.unwrap_or(0).min(seen);
            let unread = usize::try_from(seen - read).map_or(unread, |most| unread.min(most));
            let pending = pending(m.pending.unwrap_or_default(), &mut pending_left);
            marks.push(Mark {
                key,
                title,
                read,
                seen,
                unread,
                pending,
            });
        }
        self.open = user.open.and_then(|t| {
            let key = match (t.room, t.with) {
                (Some(room), None) => ConvKey::Room(room),
                (None, Some(with)) => ConvKey::dm(&with),
                _ => return None,
            };
            marks.iter().any(|m| m.key == key).then_some(key)
        });
        self.marks = marks;
        self
    }
}

/// The kept pending messages of one entry that fit (a `mid` and a text the relay takes),
/// while `left` allows; junk is skipped one by one.
fn pending(entries: Vec<Stored>, left: &mut usize) -> Vec<Pending> {
    let mut kept = Vec::new();
    for entry in entries {
        if *left == 0 {
            break;
        }
        let Stored {
            mid: Some(mid),
            text: Some(text),
            bad: false,
            ..
        } = entry
        else {
            continue;
        };
        if shared::validate::mid(&mid) && shared::validate::text(&text).is_ok() {
            kept.push(Pending { mid, text });
            *left -= 1;
        }
    }
    kept
}

/// One conversation entry's JSON: `room` or `with`, the marks, and the pending messages if
/// there are any.
fn mark_json(m: &Mark) -> String {
    let mut o = Object::new();
    match m.key.room() {
        Some(room) => o.str("room", room),
        None => o.str("with", &m.title),
    };
    o.num("read", m.read)
        .num("seen", m.seen)
        .num("unread", m.unread as u64);
    if !m.pending.is_empty() {
        let pending = m.pending.iter().map(|p| {
            let mut o = Object::new();
            o.str("mid", &p.mid).str("text", &p.text);
            o.finish()
        });
        o.raw("pending", &json::array(pending));
    }
    o.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            name: "alice".into(),
            token: Some("t1".into()),
            open: Some(ConvKey::dm("Bob")),
            marks: vec![
                Mark {
                    key: ConvKey::Room("lobby".into()),
                    title: "lobby".into(),
                    read: 41,
                    seen: 42,
                    unread: 1,
                    pending: vec![Pending {
                        mid: "00c0ffee12345678a".into(),
                        text: "not \"confirmed\"".into(),
                    }],
                },
                Mark {
                    key: ConvKey::dm("Bob"),
                    title: "Bob".into(),
                    read: 8,
                    seen: 8,
                    unread: 0,
                    pending: vec![],
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(s.session_json(), r#"{"v":1,"name":"alice","token":"t1"}"#);
        assert_eq!(
            s.user_json(),
            r#"{"v":1,"open":{"with":"Bob"},"rooms":[{"room":"lobby","read":41,"seen":42,"unread":1,"pending":[{"mid":"00c0ffee12345678a","text":"not \"confirmed\""}]}],"dms":[{"with":"Bob","read":8,"seen":8,"unread":0}]}"#
        );
        let back = Snapshot::parse_session(&s.session_json())
            .unwrap()
            .with_user_json(Some(&s.user_json()));
        assert_eq!(back, s);
        assert_eq!(user_key("ALICE"), "courier.user.alice");
    }

    #[test]
    fn junk_is_ignored() {
        for junk in [
            "",
            "null",
            "[]",
            "{",
            "42",
            r#"{"v":2,"name":"alice"}"#,
            r#"{"v":1}"#,
            r#"{"v":1,"name":""}"#,
            r#"{"v":1,"name":7}"#,
            r#"{"name":"alice"}"#,
        ] {
            assert_eq!(Snapshot::parse_session(junk), None, "{junk}");
        }
        let base = Snapshot::parse_session(r#"{"v":1,"name":" alice ","token":""}"#).unwrap();
        assert_eq!((base.name.as_str(), base.token.as_ref()), ("alice", None));
        for junk in [
            "nope",
            "[1,2]",
            r#"{"v":"1","rooms":[{"room":"x"}]}"#,
            r#"{"v":0,"rooms":[{"room":"x"}]}"#,
            r#"{"v":1,"rooms":{"room":"x"}}"#,
        ] {
            assert_eq!(base.clone().with_user_json(Some(junk)), base, "{junk}");
        }
        // Bad entries are skipped one by one; the good ones stay.
        let s = base.with_user_json(Some(
            r#"{"v":1,"open":{"room":"gone"},"extra":true,"rooms":[
                {"room":"no spaces"},{"room":"ok","read":"x"},7,null,
                {"room":"dev","read":50,"seen":9,"unread":4},{"room":"dev"}],
               "dms":[{"with":"ALICE"},{"with":""},{"room":"x"},{"with":"bob","seen":5,"unread":99}]}"#,
        ));
        assert_eq!(s.open, None, "open names a conversation that is not kept");
        assert_eq!(
            s.marks,
            vec![
                Mark {
                    key: ConvKey::Room("dev".into()),
                    title: "dev".into(),
                    read: 9,
                    seen: 9,
                    unread: 0,
                    pending: vec![],
                },
                Mark {
                    key: ConvKey::dm("bob"),
                    title: "bob".into(),
                    read: 0,
                    seen: 5,
                    unread: 5,
                    pending: vec![],
                },
            ]
        );
    }

    #[test]
    fn pending_messages_are_bounded_and_junk_is_skipped() {
        let base = Snapshot::parse_session(r#"{"v":1,"name":"alice"}"#).unwrap();
        let s = base.clone().with_user_json(Some(
            r#"{"v":1,"rooms":[{"room":"dev","pending":[{"mid":"m1","text":"one"},
                {"mid":"","text":"no mid"},{"mid":"m3","text":""},{"mid":"m4"},7,
                {"mid":"m5","text":5},{"text":"x","mid":"m6","extra":1}]},
                {"room":"ops","pending":{"mid":"m7","text":"not a list"}}]}"#,
        ));
        let texts: Vec<Vec<(&str, &str)>> = s
            .marks
            .iter()
            .map(|m| {
                m.pending
                    .iter()
                    .map(|p| (p.mid.as_str(), p.text.as_str()))
                    .collect()
            })
            .collect();
        // An entry whose `pending` is not a list is a wrong type: skipped whole, as ever.
        assert_eq!(texts, vec![vec![("m1", "one"), ("m6", "x")]]);
        // At most MAX_PENDING in all, the oldest first.
        let many: Vec<String> = (0..MAX_PENDING + 5)
            .map(|i| format!(r#"{{"mid":"m{i}","text":"t{i}"}}"#))
            .collect();
        let json = format!(
            r#"{{"v":1,"rooms":[{{"room":"a","pending":[{}]}},{{"room":"b","pending":[{}]}}]}}"#,
            many[..30].join(","),
            many.join(",")
        );
        let s = base.with_user_json(Some(&json));
        assert_eq!(s.marks[0].pending.len(), 30);
        assert_eq!(s.marks[1].pending.len(), MAX_PENDING - 30);
        assert_eq!(s.marks[1].pending[0].mid, "m0");
    }
}
