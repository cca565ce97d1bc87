//! Where the runner's audit is kept: the relay's SQLite file (`store::audit`), or with
//! `--redis` in Redis (`engine::redis::RedisAudit`), where every relay of a cluster shares it.

use shared::ops::{HostResult, RunSummary};

use crate::engine::redis::RedisAudit;
use crate::store::audit::{Audit as SqliteAudit, RunRecord};

pub enum Audit {
    Sqlite(SqliteAudit),
    Redis(RedisAudit),
}

/// Why the audit could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit in the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the audit in Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
}

impl Audit {
    /// Records a run before it starts.
    ///
    /// # Errors
    /// It could not be written.
    pub fn started(&mut self, record: &RunRecord) -> Result<(), AuditError> {
        match self {
            Self::Sqlite(audit) => Ok(audit.started(record)?),
            Self::Redis(audit) => Ok(audit.started(record)?),
        }
    }

    /// Records how one host of `run` ended.
    ///
    /// # Errors
    /// It could not be written.
    pub fn host(&mut self, run: &str, result: &HostResult) -> Result<(), AuditError> {
        match self {
            Self::Sqlite(audit) => Ok(audit.host(run, result)?),
            Self::Redis(audit) => Ok(audit.host(run, result)?),
        }
    }

    /// Records that every host of `run` has ended.
    ///
    /// # Errors
    /// It could not be written.
    pub fn done(&mut self, run: &str) -> Result<(), AuditError> {
        match self {
            Self::Sqlite(audit) => Ok(audit.done(run)?),
            Self::Redis(audit) => Ok(audit.done(run)?),
        }
    }

    /// The newest `limit` runs, newest first.
    ///
    /// # Errors
    /// It could not be read.
    pub fn recent(&mut self, limit: usize) -> Result<Vec<RunSummary>, AuditError> {
        match self {
            Self::Sqlite(audit) => Ok(audit.recent(limit)?),
            Self::Redis(audit) => Ok(audit.recent(limit)?),
        }
    }
}
