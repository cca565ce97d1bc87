//! Storage engines beside the embedded SQLite store: for now the Redis engine's message log,
//! which several relays on one Redis share.

pub mod redis;
