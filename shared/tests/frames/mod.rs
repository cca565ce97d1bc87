//! What the frame tests share: a frame's JSON parses to the value expected and serialises back
//! to the same JSON object.

use serde_json::Value;
use shared::{ClientFrame, ServerMsg};

/// Parses `text` as a client frame, checks it is `expected`, and that it serialises back to the
/// same JSON object.
pub fn client(text: &str, expected: ClientFrame) {
    let parsed = ClientFrame::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(parsed, expected, "{text}");
    let original: Value = serde_json::from_str(text).unwrap();
    let reserialised: Value = serde_json::from_str(&parsed.to_json()).unwrap();
    assert_eq!(reserialised, original, "{text}");
}

/// The same for a relay frame.
pub fn server(text: &str, expected: ServerMsg) {
    let parsed = ServerMsg::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(parsed, expected, "{text}");
    let original: Value = serde_json::from_str(text).unwrap();
    let reserialised: Value = serde_json::from_str(&parsed.to_json()).unwrap();
    assert_eq!(reserialised, original, "{text}");
}
