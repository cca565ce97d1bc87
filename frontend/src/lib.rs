//! Courier's browser client: a yew app that talks to the relay over one WebSocket.
//!
//! - [`state`]: all chat state and its rules, pure Rust, tested natively.
//! - [`persist`]: what is kept in `localStorage` across page loads (format, pure).
//! - [`services`]: the WebSocket service and small browser facts (clock, address, storage).
//! - [`markup`]: links and light formatting in message text, cut into pieces (pure).
//! - [`i18n`]: the interface's text in English and Simplified Chinese, one table each.
//! - [`hooks`]: window events (keys, online/offline) and moving the focus.
//! - [`components`]: the views, one per file; they get data and callbacks, never the state.
//! - [`app`]: the root component, which owns the state and the socket.

pub mod app;
pub mod components;
pub mod hooks;
pub mod i18n;
pub mod markup;
pub mod persist;
pub mod services;
pub mod state;

pub use app::App;
