//! The two Unicode facts the protocol's rules need: lowercase (names compare by it) and "letter or
//! digit" (room names are made of them).
//!
//! The relay, and every native build, takes them from Rust's own tables. The browser client
//! (wasm32 with the `browser` feature) takes them from the browser's, so that its bundle does not
//! carry a second copy: Rust's lowercase table alone is about 8 KB of the client's 200 KB
//! gzipped budget, and the letter and digit tables 2 KB more. Both sides follow the Unicode
//! standard (the full lowercase mapping with the final-sigma rule; the Alphabetic property and
//! the Number categories), so they agree but for characters that one side's Unicode version does
//! not know yet; and ASCII, nearly every name, never leaves Rust. Checked on 2026-11-30 for
//! every code point: Rust 1.95's tables and V8's (ICU 78, Unicode 17, as in Chromium 156) gave
//! the same lowercase and the same letter-or-digit answer for all of them, final sigma included.

/// `s` in Unicode lowercase, as [`str::to_lowercase`].
pub fn lowercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    #[cfg(all(target_arch = "wasm32", feature = "browser"))]
    {
        String::from(js_sys::JsString::from(s).to_lower_case())
    }
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    {
        s.to_lowercase()
    }
}

/// Whether `c` is a letter or a digit, as [`char::is_alphanumeric`].
pub fn is_letter_or_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    #[cfg(all(target_arch = "wasm32", feature = "browser"))]
    {
        js_sys::RegExp::new(r"^[\p{Alphabetic}\p{N}]$", "u").test(c.encode_utf8(&mut [0; 4]))
    }
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    {
        c.is_alphanumeric()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_shortcuts_agree_with_the_full_tables() {
        for b in 0..=127u8 {
            let c = char::from(b);
            assert_eq!(is_letter_or_digit(c), c.is_alphanumeric(), "{c:?}");
            let s = c.to_string();
            assert_eq!(lowercase(&s), s.to_lowercase(), "{c:?}");
        }
        assert_eq!(lowercase("ÅSA Σ ΟΔΟΣ"), "åsa σ οδος");
        assert!(is_letter_or_digit('é') && is_letter_or_digit('٣') && !is_letter_or_digit('·'));
    }
}
