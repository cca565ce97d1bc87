//! The SQLite engine: one relay on one file. Its writer thread stores every job
//! (`writer.rs`); its reader answers history pages and mailboxes on a read-only connection
//! (`reader.rs`), which in WAL mode never waits for the writer.

use std::sync::Arc;

use super::Store;
use super::reader::Reader;
use super::writer::{self, CommitQueue};
use crate::clock::Clock;
use crate::engine::{
    Busy, Closed, Engine, EngineLimits, Job, Mail, Page, ReadError, Retention, Sink, User,
};
use crate::metrics::Metrics;

/// The SQLite engine. See the module's doc.
pub struct Sqlite {
    reader: Reader,
    queue: CommitQueue,
    users: Vec<User>,
}

impl Sqlite {
    /// Starts the writer thread on `store`; stored batches go down `sink`.
    ///
    /// # Errors
    /// The writer's (or the checkpoints') thread could not be started.
    pub fn start(
        mut store: Store,
        retention: Retention,
        limits: EngineLimits,
        clock: Clock,
        metrics: Arc<Metrics>,
        sink: Sink,
    ) -> std::io::Result<Self> {
        let users = store.take_users();
        let (reader, writer) = store.split();
        let queue = writer::spawn(writer, retention, clock, metrics, sink, limits)?;
        Ok(Self {
            reader,
            queue,
            users,
        })
    }
}

impl Engine for Sqlite {
    fn take_users(&mut self) -> Vec<User> {
        std::mem::take(&mut self.users)
    }

    fn submit(&self, job: Job) -> Result<(), Busy> {
        self.queue.submit(job)
    }

    fn room_page(
        &mut self,
        room: &str,
        after: u64,
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Result<Page, ReadError> {
        Ok(self.reader.room_page(room, after, before, bounds)?)
    }

    fn direct_page(
        &mut self,
        pair: (&str, &str),
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Result<Page, ReadError> {
        Ok(self.reader.direct_page(pair, before, bounds)?)
    }

    fn mailbox(&mut self, key: &str) -> Result<Vec<Mail>, ReadError> {
        Ok(self.reader.mailbox(key)?)
    }

    fn user(&mut self, key: &str) -> Result<Option<User>, ReadError> {
        Ok(self.reader.user(key)?)
    }

    fn close(&mut self) -> Closed {
        Closed::thread(self.queue.close())
    }
}
