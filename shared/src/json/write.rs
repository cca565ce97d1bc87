//! Writing JSON by hand, byte for byte as serde_json writes it (no spaces, the same string
//! escapes), for the frames a client sends and the web client's kept entries. serde's derived
//! `Serialize` and serde_json's writer cost the web client's bundle about 5 KB gzipped;
//! `tests/client_json.rs` checks that both write the same.

use std::fmt::Write as _;

/// A JSON object being written: fields in the order they are added.
pub struct Object(String);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self(String::from("{"))
    }

    /// An object whose first field is `"type": kind`, as serde writes an internally tagged enum.
    pub fn tagged(kind: &str) -> Self {
        let mut object = Self::new();
        object.str("type", kind);
        object
    }

    /// Adds `key` and the separator before its value.
    fn key(&mut self, key: &str) -> &mut String {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_string(&mut self.0, key);
        self.0.push(':');
        &mut self.0
    }

    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        push_string(self.key(key), value);
        self
    }

    /// A string field, left out when `None` (`skip_serializing_if = "Option::is_none"`).
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.str(key, value);
        }
        self
    }

    /// A number field.
    pub fn num(&mut self, key: &str, value: u64) -> &mut Self {
        let _ = write!(self.key(key), "{value}");
        self
    }

    /// A number field, left out when `None`.
    pub fn opt_num(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        if let Some(value) = value {
            self.num(key, value);
        }
        self
    }

    /// A field whose value is JSON already written (an object or an array).
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).push_str(json);
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl Default for Object {
    fn default() -> Self {
        Self::new()
    }
}

/// A JSON array of values already written.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// `s` as a JSON string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// Appends `s` as a JSON string: `"` and `\` escaped, control characters as serde_json writes
/// them (`\n`, `\t`, … or `\u001b`), everything else as it is.
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0..=0x7f_u8)
            .map(char::from)
            .chain("é字😀".chars())
            .collect();
        assert_eq!(string(&all), serde_json::to_string(&all).unwrap());
        let mut o = Object::tagged("t");
        o.num("n", u64::MAX)
            .opt_str("none", None)
            .raw("list", &array([string("a"), "1".into()]));
        assert_eq!(
            o.finish(),
            r#"{"type":"t","n":18446744073709551615,"list":["a",1]}"#
        );
        assert_eq!(array([]), "[]");
    }
}
