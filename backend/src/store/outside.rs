//! Changes made to the database from outside the relay: `courier passwd`, which may run while
//! the relay runs.

use std::path::Path;

use std::sync::Mutex;

use rusqlite::Connection;

use super::reader::Reader;
use super::{Store, StoreError, Sync, configure, lock, migrate};
use crate::engine::{ReadError, User};

/// The users as the SQLite file has them, for an engine that keeps the chat elsewhere (Redis):
/// a password `courier passwd` sets goes to the file, and the relay reads it at the name's
/// next hello ([`crate::engine::Engine::user`]).
pub struct OutsideUsers {
    reader: Mutex<Reader>,
}

impl OutsideUsers {
    /// The file's reader; its writer (and the file's lock) are let go: this relay does not
    /// write the file.
    pub fn new(store: Store) -> Self {
        let (reader, _searcher, _writer) = store.split();
        Self {
            reader: Mutex::new(reader),
        }
    }

    /// The user `key` as the file has it now.
    ///
    /// # Errors
    /// The file could not be read.
    pub fn user(&self, key: &str) -> Result<Option<User>, ReadError> {
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        Ok(reader.user(key)?)
    }
}

/// Sets the password hash of `name` (remembering the name if it is new), as `protect` would,
/// at time `now` (ms since the epoch). With the relay stopped, the file is opened (created and
/// migrated if need be) as the relay opens it; with a relay running on it (its lock held),
/// this is a second writer that waits its turn, and the relay takes the password at the
/// name's next hello (it compares `password_at`).
///
/// # Errors
/// [`StoreError`] when the file cannot be opened, migrated or written.
pub fn set_password(
    path: &Path,
    sync: Sync,
    key: &str,
    name: &str,
    hash: &str,
    now: u64,
) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    // Held while this writes, if the relay is not running: a relay starting meanwhile waits.
    let _lock = match lock(path) {
        Ok(file) => Some(file),
        Err(StoreError::InUse { .. }) => None,
        Err(e) => return Err(e),
    };
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_error)?;
    configure(&conn, sync).map_err(open_error)?;
    migrate(&mut conn, path)?;
    conn.execute(
        "INSERT INTO users (key, name, password, last_seen, password_at, password_outside, since)
         VALUES (?1, ?2, ?3, ?4, ?4, 1, ?4)
         ON CONFLICT (key) DO UPDATE SET password = excluded.password,
                                         password_at = excluded.password_at,
                                         password_outside = 1,
                                         last_seen = max(last_seen, excluded.last_seen)",
        rusqlite::params![key, name, hash, now as i64],
    )
    .map_err(open_error)?;
    Ok(())
}
