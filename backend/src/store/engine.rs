//! The SQLite engine: one relay on one file. Its writer thread stores every job
//! (`writer.rs`); its reader answers history pages, mailboxes and users on a read-only
//! connection (`reader.rs`), which in WAL mode never waits for the writer.

use std::sync::{Arc, Mutex, MutexGuard};

use super::Store;
use super::reader::Reader;
use super::writer::{self, CommitQueue};
use crate::clock::Clock;
use crate::engine::search::Scope;
use crate::engine::{
    Busy, Closed, Engine, EngineLimits, Job, Mail, Page, Place, ReadError, Reading, Reads,
    Retention, Sink, User,
};
use crate::metrics::Metrics;
use shared::ChatMessage;

/// The SQLite engine. See the module's doc.
pub struct Sqlite {
    reads: Arc<SqliteReads>,
    queue: CommitQueue,
    users: Vec<User>,
}

/// The read-only connection. Each read is a short, bounded range scan, so the reads take turns
/// on one connection (never under the hub's lock).
struct SqliteReads {
    reader: Mutex<Reader>,
    /// Searches' own connection, used off the async workers (`spawn_blocking`): a search
    /// may scan megabytes, and neither the other reads nor the workers wait for it.
    searcher: Arc<Mutex<Reader>>,
}

impl SqliteReads {
    fn reader(&self) -> MutexGuard<'_, Reader> {
        // A read that panicked left nothing half-done: the connection is still usable.
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
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
        let (reader, searcher, writer) = store.split();
        let queue = writer::spawn(writer, retention, clock, metrics, sink, limits)?;
        Ok(Self {
            reads: Arc::new(SqliteReads {
                reader: Mutex::new(reader),
                searcher: Arc::new(Mutex::new(searcher)),
            }),
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

    fn reads(&self) -> Arc<dyn Reads> {
        self.reads.clone()
    }

    fn user(&mut self, key: &str) -> Result<Option<User>, ReadError> {
        Ok(self.reads.reader().user(key)?)
    }

    fn close(&mut self) -> Closed {
        Closed::thread(self.queue.close())
    }
}

impl Reads for SqliteReads {
    fn room_page<'a>(
        &'a self,
        room: &'a str,
        after: u64,
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Reading<'a, Page> {
        let page = self.reader().room_page(room, after, before, bounds);
        Box::pin(std::future::ready(page.map_err(ReadError::from)))
    }

    fn direct_page<'a>(
        &'a self,
        pair: (&'a str, &'a str),
        before: Option<u64>,
        bounds: (usize, usize),
    ) -> Reading<'a, Page> {
        let page = self.reader().direct_page(pair, before, bounds);
        Box::pin(std::future::ready(page.map_err(ReadError::from)))
    }

    fn changes<'a>(&'a self, place: &'a Place, rev: u64, limit: usize) -> Reading<'a, Page> {
        let page = self.reader().changes(place, rev, limit);
        Box::pin(std::future::ready(page.map_err(ReadError::from)))
    }

    fn mailbox<'a>(&'a self, key: &'a str) -> Reading<'a, Vec<Mail>> {
        let mail = self.reader().mailbox(key);
        Box::pin(std::future::ready(mail.map_err(ReadError::from)))
    }

    fn search<'a>(&'a self, scope: &'a Scope, query: &'a str) -> Reading<'a, Vec<ChatMessage>> {
        let (searcher, scope, query) = (self.searcher.clone(), scope.clone(), query.to_owned());
        Box::pin(async move {
            let found = tokio::task::spawn_blocking(move || {
                let mut searcher = searcher.lock().unwrap_or_else(|p| p.into_inner());
                searcher.search(&scope, &query)
            })
            .await?;
            Ok(found?)
        })
    }
}
