//! Load for a Courier relay, over real sockets on loopback: the library behind
//! `courier-bench`, so that tests can run the same loads in-process.
//!
//! - [`idle`]: N welcomed, idle connections, for the relay's memory per connection.
//! - [`chat`]: N clients in rooms, S senders at R msg/s; deliveries, losses, duplicates,
//!   latency percentiles, and the relay's CPU and memory from /proc.
//! - [`floor`]: a minimal broadcast server with the relay's socket settings, the baseline
//!   Courier's figures are compared with (`compare` runs one load against both).
//! - [`render`]: the browser client under a busy room, in headless Chromium ([`browser`]).
//!
//! Everything is bounded in count and time and stops by itself.

pub mod browser;
pub mod chat;
pub mod cli;
mod client;
pub mod floor;
pub mod idle;
pub mod latency;
pub mod net;
pub mod proc_stats;
pub mod redis_info;
pub mod render;
pub mod report;
mod tally;

pub use chat::Plan;
pub use client::Protocol;
pub use report::{ChatReport, CompareReport, IdleReport};
