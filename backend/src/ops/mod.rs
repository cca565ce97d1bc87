//! What operators have (docs/OPS.md): who they are, the `courier passwd` command that gives
//! them a password, and the live dashboard's points.

pub mod config;
pub mod passwd;
pub mod sampler;
pub mod stats;

use std::collections::HashSet;

pub use config::OpsConfig;

/// The names listed with `--admin`, by key (`validate::name_key`).
#[derive(Debug, Clone, Default)]
pub struct Operators(HashSet<String>);

impl Operators {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> Self {
        Self(
            names
                .into_iter()
                .map(|n| shared::validate::name_key(n))
                .collect(),
        )
    }

    /// Whether the name with this key is an operator's.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
