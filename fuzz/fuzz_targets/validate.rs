//! The checks in `shared::validate` on arbitrary strings: no panic, and each answer keeps the
//! contract's promise (a fit name is trimmed, 1–32 characters without control characters; a
//! fit room is 1–64 letters, digits, '-', '_' or '.'; a fit text is 1–4000 characters; a fit
//! cid at most 64).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::validate::{self, TextError};

fuzz_target!(|s: &str| {
    match validate::name(s) {
        Ok(name) => {
            let n = name.chars().count();
            assert!((1..=32).contains(&n), "{name:?}");
            assert_eq!(name, name.trim());
            assert!(!name.chars().any(char::is_control));
            // The key of a fit name is stable.
            let key = validate::name_key(name);
            assert_eq!(validate::name_key(&key), key.to_lowercase());
        }
        Err(why) => assert!(!why.is_empty()),
    }
    let chars = s.chars().count();
    match validate::room(s) {
        Ok(()) => {
            assert!((1..=64).contains(&chars));
            assert!(s.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)));
        }
        Err(why) => assert!(!why.is_empty()),
    }
    match validate::text(s) {
        Ok(()) => assert!((1..=4000).contains(&chars)),
        Err(TextError::Empty) => assert!(s.is_empty()),
        Err(TextError::TooLong) => assert!(chars > 4000),
    }
    assert_eq!(validate::cid(s), chars <= 64);
});
