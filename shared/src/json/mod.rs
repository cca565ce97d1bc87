//! JSON for the web client's sake: reading ([`from_str`]) and writing by hand ([`Object`],
//! `write.rs`), so that its bundle carries no serde_json.
//!
//! Reading JSON text into a serde type: `serde_json::from_str`, except in the web client
//! (wasm32 with the `browser` feature), where the browser's `JSON.parse` reads the text and a
//! small serde [`Deserializer`](serde::de::Deserializer) walks the JavaScript value it gives, so that
//! the same visitors (`parse.rs`'s `Fields`, the client's kept entries) build the result and
//! the bundle carries no serde_json reader (docs/BENCHMARKS.md).
//!
//! In the browser it reads what serde_json reads for every frame the relay sends and every
//! entry the client keeps. Where the two differ, it is on numbers, which `JSON.parse` makes
//! doubles: a whole number written with a fraction or an exponent (`1.0`, `1e3`) counts as an
//! integer there, and integers beyond 2^53 lose precision (seqs and times are far below).

use serde::de::DeserializeOwned;

/// Why a text is not what was asked for: serde_json's error natively; in the browser, the
/// message alone (serde_json's error type would bring its own formatting into the bundle).
#[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
pub type Error = serde_json::Error;
#[cfg(all(target_arch = "wasm32", feature = "browser"))]
pub use browser::Error;

/// Reads `text` as a `T`.
///
/// # Errors
/// When `text` is not JSON, or not a `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    #[cfg(all(target_arch = "wasm32", feature = "browser"))]
    {
        browser::from_str(text)
    }
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    {
        serde_json::from_str(text)
    }
}

#[cfg(all(target_arch = "wasm32", feature = "browser"))]
mod browser;
mod write;

pub use write::{Object, array, string};
