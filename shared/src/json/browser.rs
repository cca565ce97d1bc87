//! The browser's side of [`from_str`](super::from_str): `JSON.parse`, then a serde
//! `Deserializer` over the JavaScript value it gives.

use std::fmt;

use js_sys::wasm_bindgen::{JsCast, JsValue};
use js_sys::{Array, Object};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Reads `text` as a `T` with `JSON.parse`.
pub(super) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    let value = js_sys::JSON::parse(text).map_err(|_| Error("not JSON".into()))?;
    T::deserialize(Js(value))
}

/// A JavaScript value from `JSON.parse`, as a serde [`Deserializer`].
struct Js(JsValue);

/// Why a text is not what was asked for.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }

    // serde's own messages print the unexpected value, and printing a float would bring Rust's
    // float formatting into the bundle (7.6 KB gzipped).
    fn invalid_type(_: de::Unexpected, expected: &dyn de::Expected) -> Self {
        Self(format!("invalid type, expected {expected}"))
    }

    fn invalid_value(_: de::Unexpected, expected: &dyn de::Expected) -> Self {
        Self(format!("invalid value, expected {expected}"))
    }
}

/// Doubles up to this are integers exactly (2^64): larger ones are read as floats.
const U64_END: f64 = 18_446_744_073_709_551_616.0;

impl<'de> de::Deserializer<'de> for Js {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let js = self.0;
        if let Some(s) = js.as_string() {
            visitor.visit_string(s)
        } else if let Some(b) = js.as_bool() {
            visitor.visit_bool(b)
        } else if let Some(n) = js.as_f64() {
            // As serde_json hands numbers over: whole ones as integers, the rest as floats.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            if n.fract() == 0.0 && (0.0..U64_END).contains(&n) {
                visitor.visit_u64(n as u64)
            } else if n.fract() == 0.0 && (-U64_END / 2.0..0.0).contains(&n) {
                visitor.visit_i64(n as i64)
            } else {
                visitor.visit_f64(n)
            }
        } else if Array::is_array(&js) {
            visitor.visit_seq(Seq {
                array: js.unchecked_into(),
                at: 0,
            })
        } else if js.is_object() {
            visitor.visit_map(Map {
                entries: Object::entries(js.unchecked_ref()),
                at: 0,
                value: JsValue::UNDEFINED,
            })
        } else {
            visitor.visit_unit()
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// An array's items, in order.
struct Seq {
    array: Array,
    at: u32,
}

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.at >= self.array.length() {
            return Ok(None);
        }
        let item = self.array.get(self.at);
        self.at += 1;
        seed.deserialize(Js(item)).map(Some)
    }
}

/// An object's `[key, value]` entries (`Object.entries`), in order.
struct Map {
    entries: Array,
    at: u32,
    value: JsValue,
}

impl<'de> MapAccess<'de> for Map {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.at >= self.entries.length() {
            return Ok(None);
        }
        let entry: Array = self.entries.get(self.at).unchecked_into();
        self.at += 1;
        self.value = entry.get(1);
        seed.deserialize(Js(entry.get(0))).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Js(std::mem::replace(&mut self.value, JsValue::UNDEFINED)))
    }
}
