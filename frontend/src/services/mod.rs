//! Services: plain functions that reach outside the app (the socket, the clock, the page's
//! address, local storage) and hold no views, in the shape of yew's
//! `examples/async_clock/src/services.rs`.
//!
//! The socket service only exists in the browser (`wasm32`); natively a stand-in with the same
//! signature lets the crate (and its state tests) build under `cargo test --workspace`.

pub mod backoff;
pub mod browser;
pub mod storage;

#[cfg(target_arch = "wasm32")]
pub mod ws;

/// Native stand-in for the WebSocket service: it never connects.
#[cfg(not(target_arch = "wasm32"))]
pub mod ws {
    use futures::channel::mpsc::{UnboundedSender, unbounded};
    use shared::ClientFrame;
    use yew::Callback;

    use super::ConnEvent;

    /// Never connects; the frames sent go nowhere.
    pub fn connect(_url: String, _on_event: Callback<ConnEvent>) -> UnboundedSender<ClientFrame> {
        unbounded().0
    }
}

use shared::ServerMsg;
use shared::ops::OpsMsg;

/// One frame from the relay: the chat's, or one only operators get.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Chat(ServerMsg),
    Ops(OpsMsg),
}

/// What the socket service reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnEvent {
    /// Opening a socket; `attempt` 0 is the first, the others are reconnects.
    Connecting { attempt: u32 },
    /// The socket is open. Nothing has been sent on it yet: the first frame must be `hello`.
    Connected,
    /// Frames from the relay, in the order they came: those that arrived within one animation
    /// frame.
    Messages(Vec<Frame>),
    /// The socket closed or could not be opened; the next try is in `retry_in_ms`.
    Disconnected { retry_in_ms: u32 },
}
