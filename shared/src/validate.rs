//! What counts as a fit name, room, text and cid. The relay enforces these; the client uses
//! them to explain a refusal before it sends anything.

use crate::limits::{MAX_CID_CHARS, MAX_NAME_CHARS, MAX_ROOM_CHARS, MAX_TEXT_CHARS};
use crate::unicode;

/// Trims a nickname and checks it: 1 to 32 characters after trimming white space, with no
/// control characters. Returns the trimmed name, the one that is stored and echoed.
///
/// # Errors
/// A sentence saying what is wrong with the name.
pub fn name(raw: &str) -> Result<&str, &'static str> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        Err("a name needs at least one character that is not white space")
    } else if chars > MAX_NAME_CHARS {
        Err("a name has at most 32 characters")
    } else if name.chars().any(char::is_control) {
        Err("a name may not contain control characters")
    } else {
        Ok(name)
    }
}

/// The form of a name used to compare names: Unicode lowercase.
pub fn name_key(name: &str) -> String {
    unicode::lowercase(name)
}

/// Checks a room name: 1 to 64 characters, each a Unicode letter or digit or one of `-`, `_`,
/// `.`. Room names are case-sensitive and are not trimmed.
///
/// # Errors
/// A sentence saying what is wrong with the room name.
pub fn room(room: &str) -> Result<(), &'static str> {
    let chars = room.chars().count();
    if chars == 0 {
        Err("a room name needs at least one character")
    } else if chars > MAX_ROOM_CHARS {
        Err("a room name has at most 64 characters")
    } else if !room
        .chars()
        .all(|c| unicode::is_letter_or_digit(c) || matches!(c, '-' | '_' | '.'))
    {
        Err("a room name may contain only letters, digits, '-', '_' and '.'")
    } else {
        Ok(())
    }
}

/// Checks a message text: at most 4000 characters, and not empty.
///
/// # Errors
/// [`TextError::TooLong`] (answered with `too_long`) or [`TextError::Empty`] (`bad_request`).
pub fn text(text: &str) -> Result<(), TextError> {
    if text.is_empty() {
        Err(TextError::Empty)
    } else if text.len() > MAX_TEXT_CHARS && text.chars().count() > MAX_TEXT_CHARS {
        Err(TextError::TooLong)
    } else {
        Ok(())
    }
}

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// The text is empty.
    Empty,
    /// The text has more than [`MAX_TEXT_CHARS`] characters.
    TooLong,
}

/// Checks a client's `cid`: at most 64 characters.
pub fn cid(cid: &str) -> bool {
    cid.len() <= MAX_CID_CHARS || cid.chars().count() <= MAX_CID_CHARS
}

/// Checks a client's message id (`mid` of a `say` or `dm`): 1 to 64 characters.
pub fn mid(mid: &str) -> bool {
    !mid.is_empty() && cid(mid)
}

/// Checks a reaction's `emoji`: 1 to [`MAX_EMOJI_BYTES`] bytes, with no white space and no
/// control characters. It need not be an emoji: the relay does not keep Unicode's emoji list,
/// only what keeps the reaction one short, visible token.
///
/// [`MAX_EMOJI_BYTES`]: crate::limits::MAX_EMOJI_BYTES
pub fn emoji(emoji: &str) -> bool {
    (1..=crate::limits::MAX_EMOJI_BYTES).contains(&emoji.len())
        && !emoji.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_counted_in_chars() {
        assert_eq!(name("  alice \t"), Ok("alice"));
        assert_eq!(name(&"é".repeat(32)), Ok("é".repeat(32).as_str()));
        assert!(name(&"é".repeat(33)).is_err());
        assert!(name("").is_err());
        assert!(name("   ").is_err());
        assert!(name("al\u{7}ice").is_err());
        assert!(name("a\nb").is_err());
        assert_eq!(name("李 雷"), Ok("李 雷"));
    }

    #[test]
    fn name_keys_are_unicode_lowercase() {
        assert_eq!(name_key("ÄLICE"), name_key("älice"));
    }

    #[test]
    fn rooms_allow_letters_digits_and_three_marks() {
        assert!(room("lobby").is_ok());
        assert!(room("Room-1_a.b").is_ok());
        assert!(room("大厅").is_ok());
        assert!(room(&"x".repeat(64)).is_ok());
        assert!(room(&"x".repeat(65)).is_err());
        assert!(room("").is_err());
        assert!(room("a b").is_err());
        assert!(room("a/b").is_err());
        assert!(room("<script>").is_err());
    }

    #[test]
    fn texts_are_limited_in_chars_not_bytes() {
        assert!(text(&"字".repeat(4000)).is_ok());
        assert_eq!(text(&"a".repeat(4001)), Err(TextError::TooLong));
        assert_eq!(text(""), Err(TextError::Empty));
    }

    #[test]
    fn cids_are_limited_to_64_chars() {
        assert!(cid(&"字".repeat(64)));
        assert!(!cid(&"a".repeat(65)));
    }

    #[test]
    fn emojis_are_short_visible_tokens() {
        assert!(emoji("👍"));
        assert!(emoji("👍🏽"));
        assert!(emoji("👨‍👩‍👧‍👦")); // joined by ZWJ: 25 bytes
        assert!(emoji("+1"));
        assert!(!emoji(""));
        assert!(!emoji("👍 "));
        assert!(!emoji("a\tb"));
        assert!(!emoji("\u{7}"));
        assert!(!emoji("\u{a0}"));
        assert!(!emoji(&"x".repeat(33)));
        assert!(emoji(&"x".repeat(32)));
    }
}
