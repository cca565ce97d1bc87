//! Courier's wire protocol, shared by the relay (`backend/`) and the browser client
//! (`frontend/`).
//!
//! Every frame is one JSON object in one WebSocket text frame, tagged by its `"type"` field.
//! [`ClientFrame`] is what a client sends, [`ServerMsg`] what the relay sends. The rules that
//! both ends must agree on (what a fit name or room is, the size limits) live in [`limits`] and
//! [`validate`], so a change to them changes both ends at once.
//!
//! The contract is `docs/PROTOCOL.md`; the tests in `tests/contract.rs` parse its example frames.

mod changes;
mod client_write;
mod error_code;
pub mod json;
pub mod limits;
mod message;
pub mod ops;
mod parse;
pub mod unicode;
pub mod validate;

pub use changes::{Ext, Quote, Reaction, quote_text};
pub use error_code::ErrorCode;
pub use message::{
    ChatMessage, ClientFrame, ClientMsg, ConversationId, FrameError, RoomInfo, ServerMsg, Target,
};
