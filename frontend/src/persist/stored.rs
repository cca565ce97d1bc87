//! A kept entry as it is read ([`Stored`]): the session entry, the user entry, its `open`
//! target, each conversation entry and each pending message, every field optional (a missing
//! number is 0).
//!
//! One visitor, by hand, for all of them: derived ones cost the bundle one each. It reads any
//! JSON value without failing, and marks what does not fit the format (not an object, a field
//! of the wrong type) as [`Stored::bad`] instead, so that a list's bad entries are skipped one
//! by one. That works with serde_json's streaming reader natively and with the browser's
//! `JSON.parse` in the client (`shared::json`), which is why there is no raw JSON per entry.

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

#[derive(Default)]
pub(super) struct Stored {
    pub v: Option<u64>,
    pub name: Option<String>,
    pub token: Option<String>,
    pub open: Option<Box<Stored>>,
    pub rooms: Option<Vec<Stored>>,
    pub dms: Option<Vec<Stored>>,
    pub pending: Option<Vec<Stored>>,
    pub room: Option<String>,
    pub with: Option<String>,
    pub mid: Option<String>,
    pub text: Option<String>,
    pub read: Option<u64>,
    pub seen: Option<u64>,
    pub unread: Option<usize>,
    /// Not an object, or a field of it of the wrong type: the entry is junk.
    pub bad: bool,
}

impl Stored {
    /// Reads a kept text: `None` when it is not JSON or not an entry.
    pub fn read(json: &str) -> Option<Self> {
        shared::json::from_str::<Self>(json).ok().filter(|s| !s.bad)
    }
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Loose::deserialize(d)? {
            Loose::Entry(s) => *s,
            _ => Self {
                bad: true,
                ..Self::default()
            },
        })
    }
}

/// Any JSON value, as far as a kept entry cares.
enum Loose {
    Null,
    Text(String),
    Count(u64),
    List(Vec<Stored>),
    Entry(Box<Stored>),
    Other,
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_i64<E: Error>(self, n: i64) -> Result<Loose, E> {
        Ok(u64::try_from(n).map_or(Loose::Other, Loose::Count))
    }

    fn visit_u64<E: Error>(self, n: u64) -> Result<Loose, E> {
        Ok(Loose::Count(n))
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<Loose, E> {
        Ok(Loose::Text(s.to_owned()))
    }

    fn visit_string<E: Error>(self, s: String) -> Result<Loose, E> {
        Ok(Loose::Text(s))
    }

    fn visit_unit<E: Error>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E: Error>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        let mut list = Vec::new();
        while let Some(item) = seq.next_element::<Stored>()? {
            list.push(item);
        }
        Ok(Loose::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        let mut s = Stored::default();
        while let Some(key) = map.next_key::<String>()? {
            let value: Loose = map.next_value()?;
            let fits = match (key.as_str(), value) {
                // `null` is an absent field, as for any optional field.
                (_, Loose::Null) => true,
                ("v", Loose::Count(n)) => set(&mut s.v, n),
                ("read", Loose::Count(n)) => set(&mut s.read, n),
                ("seen", Loose::Count(n)) => set(&mut s.seen, n),
                ("unread", Loose::Count(n)) => {
                    usize::try_from(n).is_ok_and(|n| set(&mut s.unread, n))
                }
                ("name", Loose::Text(t)) => set(&mut s.name, t),
                ("token", Loose::Text(t)) => set(&mut s.token, t),
                ("room", Loose::Text(t)) => set(&mut s.room, t),
                ("with", Loose::Text(t)) => set(&mut s.with, t),
                ("mid", Loose::Text(t)) => set(&mut s.mid, t),
                ("text", Loose::Text(t)) => set(&mut s.text, t),
                ("open", Loose::Entry(e)) => !e.bad && set(&mut s.open, e),
                ("rooms", Loose::List(l)) => set(&mut s.rooms, l),
                ("dms", Loose::List(l)) => set(&mut s.dms, l),
                ("pending", Loose::List(l)) => set(&mut s.pending, l),
                (
                    "v" | "read" | "seen" | "unread" | "name" | "token" | "room" | "with" | "mid"
                    | "text" | "open" | "rooms" | "dms" | "pending",
                    _,
                ) => false,
                // Fields of later versions are ignored.
                _ => true,
            };
            s.bad |= !fits;
        }
        Ok(Loose::Entry(Box::new(s)))
    }
}

/// Sets a field; true (it fits).
fn set<T>(field: &mut Option<T>, value: T) -> bool {
    *field = Some(value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_marked_and_the_rest_is_read() {
        for junk in [
            "",
            "{",
            "[]",
            "null",
            "7",
            r#"{"open":{"room":5}}"#,
            r#"{"unread":-1}"#,
        ] {
            assert!(Stored::read(junk).is_none(), "{junk}");
        }
        for junk in [r#"{"read":1.5}"#, r#"{"rooms":{}}"#, r#"{"name":true}"#] {
            assert!(Stored::read(junk).is_none(), "{junk}");
        }
        // `null` is an absent field; unknown fields of any shape are ignored.
        let s = Stored::read(r#"{"v":1,"token":null,"later":[{"x":[1,{"y":null}]},-2.5]}"#)
            .expect("an entry");
        assert_eq!((s.v, s.token), (Some(1), None));
        // A list's items are read one by one: the bad ones are marked, not fatal.
        let s = Stored::read(r#"{"rooms":[7,{"room":"a","seen":3},{"room":1},null]}"#).unwrap();
        let rooms = s.rooms.unwrap();
        let read: Vec<_> = rooms.iter().map(|r| (r.bad, r.room.as_deref())).collect();
        assert_eq!(
            read,
            vec![(true, None), (false, Some("a")), (true, None), (true, None)]
        );
        assert_eq!(rooms[1].seen, Some(3));
    }
}
