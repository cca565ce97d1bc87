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
//!   "dms":[{"with":"bob","read":7,"seen":8,"unread":1}]}`. Signing out removes it.
//!
//! Stored text is untrusted: anything that is not this format (junk, an older or newer `v`) is
//! ignored as a whole, and each entry that does not fit (a bad room or user name, a wrong
//! type) is ignored on its own. At most [`MAX_ROOMS`] rooms and [`MAX_DMS`] conversations are
//! kept, so the entry stays small.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use shared::validate::name_key;

use crate::state::{ConvKey, Mark, Snapshot, State};

/// The signed-in session: `{"v":1,"name":…,"token":…}`.
pub const SESSION_KEY: &str = "courier.session";
/// The format version written; anything else is ignored.
pub const VERSION: u64 = 1;
/// At most this many rooms are kept.
pub const MAX_ROOMS: usize = 100;
/// At most this many private conversations are kept (the most recently active ones).
pub const MAX_DMS: usize = 200;
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
        Some(Self {
            name,
            token: state.token.clone(),
            open: state.open.clone(),
            marks,
        })
    }

    /// The session entry's JSON.
    pub fn session_json(&self) -> String {
        serde_json::to_string(&SessionJson {
            v: VERSION,
            name: self.name.clone(),
            token: self.token.clone(),
        })
        .expect("strings serialise")
    }

    /// The user entry's JSON.
    pub fn user_json(&self) -> String {
        let entry = |m: &Mark| MarkJson {
            room: m.key.room().map(str::to_owned),
            with: m.key.room().is_none().then(|| m.title.clone()),
            read: m.read,
            seen: m.seen,
            unread: m.unread,
        };
        serde_json::to_string(&UserJson {
            v: VERSION,
            open: self.open.as_ref().and_then(|key| self.target_of(key)),
            rooms: self
                .marks
                .iter()
                .filter(|m| m.key.room().is_some())
                .map(entry)
                .collect(),
            dms: self
                .marks
                .iter()
                .filter(|m| m.key.room().is_none())
                .map(entry)
                .collect(),
        })
        .expect("strings and numbers serialise")
    }

    fn target_of(&self, key: &ConvKey) -> Option<Target> {
        match key {
            ConvKey::Room(room) => Some(Target {
                room: Some(room.clone()),
                with: None,
            }),
            ConvKey::Dm(_) => self.marks.iter().find(|m| m.key == *key).map(|m| Target {
                room: None,
                with: Some(m.title.clone()),
            }),
        }
    }

    /// Reads a session entry: the name and token, or `None` for junk.
    pub fn parse_session(json: &str) -> Option<Self> {
        let s: Stored = serde_json::from_str(json).ok()?;
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
        let Some(user) = json
            .and_then(|j| serde_json::from_str::<Stored>(j).ok())
            .filter(|u| u.v == Some(VERSION))
        else {
            return self;
        };
        let me = name_key(&self.name);
        let mut marks = Vec::new();
        for (entry, is_room) in user
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
            let Ok(m) = serde_json::from_str::<Stored>(entry.get()) else {
                continue;
            };
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
            marks.push(Mark {
                key,
                title,
                read,
                seen,
                unread,
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

#[derive(Serialize)]
struct SessionJson {
    v: u64,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// The user entry as written (read as a [`Stored`]).
#[derive(Serialize)]
struct UserJson<E = MarkJson> {
    v: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open: Option<Target>,
    #[serde(default)]
    rooms: Vec<E>,
    #[serde(default)]
    dms: Vec<E>,
}

#[derive(Serialize)]
struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    with: Option<String>,
}

#[derive(Serialize)]
struct MarkJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    with: Option<String>,
    #[serde(default)]
    read: u64,
    #[serde(default)]
    seen: u64,
    #[serde(default)]
    unread: usize,
}

/// What a stored entry holds as it is read: the session entry, the user entry, its `open`
/// target and each conversation entry, every field optional (a missing number is 0). One
/// visitor, by hand, for all of them: derived ones cost the bundle one each, and read JSON
/// arrays as structs too. A user entry's conversation entries stay raw JSON until each is read
/// on its own, so that one bad entry is skipped alone.
#[derive(Default)]
struct Stored {
    v: Option<u64>,
    name: Option<String>,
    token: Option<String>,
    open: Option<Box<Stored>>,
    rooms: Option<Vec<Box<RawValue>>>,
    dms: Option<Vec<Box<RawValue>>>,
    room: Option<String>,
    with: Option<String>,
    read: Option<u64>,
    seen: Option<u64>,
    unread: Option<usize>,
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Stored;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a stored entry")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Stored, A::Error> {
                let mut s = Stored::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "v" => s.v = map.next_value()?,
                        "name" => s.name = map.next_value()?,
                        "token" => s.token = map.next_value()?,
                        "open" => s.open = map.next_value()?,
                        "rooms" => s.rooms = map.next_value()?,
                        "dms" => s.dms = map.next_value()?,
                        "room" => s.room = map.next_value()?,
                        "with" => s.with = map.next_value()?,
                        "read" => s.read = map.next_value()?,
                        "seen" => s.seen = map.next_value()?,
                        "unread" => s.unread = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(s)
            }
        }
        d.deserialize_map(V)
    }
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
                },
                Mark {
                    key: ConvKey::dm("Bob"),
                    title: "Bob".into(),
                    read: 8,
                    seen: 8,
                    unread: 0,
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
            r#"{"v":1,"open":{"with":"Bob"},"rooms":[{"room":"lobby","read":41,"seen":42,"unread":1}],"dms":[{"with":"Bob","read":8,"seen":8,"unread":0}]}"#
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
                },
                Mark {
                    key: ConvKey::dm("bob"),
                    title: "bob".into(),
                    read: 0,
                    seen: 5,
                    unread: 5,
                },
            ]
        );
    }
}
