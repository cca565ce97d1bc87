//! Courier's relay: a warp server that upgrades `GET /ws` to a WebSocket and routes chat
//! between sessions, rooms and private conversations.
//!
//! The data path reads in one direction: [`upgrade`] (HTTP → WebSocket) → [`connection`]
//! (frames → text) → [`hub`] (text → typed message → room or recipient) → [`outbox`] (bounded
//! queue) → back out through [`connection`]'s writer. `ARCHITECTURE.md` has the map.

pub mod attempts;
pub mod clock;
pub mod config;
pub mod connection;
pub mod door;
pub mod engine;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod metrics_access;
pub mod ops;
pub mod outbox;
pub mod passwords;
pub mod public_origin;
pub mod runner;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod upgrade;

pub use config::Config;
pub use server::{bind, run, run_with_tls};
