//! `courier passwd NAME`: sets a name's password from outside the relay, the only way an
//! operator's name gets one (docs/OPS.md).

use std::io::BufRead;
use std::path::Path;

use shared::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use shared::validate;

use crate::store::{self, Sync};

/// Why `courier passwd` did not set the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    #[error("'{name}' is not a name: {why}")]
    Name { name: String, why: &'static str },
    #[error("no password on standard input (give it as the first line)")]
    Missing,
    #[error("cannot read standard input: {0}")]
    Read(#[from] std::io::Error),
    #[error(
        "a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters; this one has {0}"
    )]
    Length(usize),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Reads the password from the first line of `input` and stores its hash for `name` in the
/// database at `db`. Returns the name as it will be shown.
///
/// # Errors
/// [`PasswdError`]: a bad name or password, or a database that cannot be written.
pub fn run(
    db: &Path,
    sync: Sync,
    name: &str,
    mut input: impl BufRead,
    now: u64,
) -> Result<String, PasswdError> {
    let name = validate::name(name).map_err(|why| PasswdError::Name {
        name: name.to_owned(),
        why,
    })?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(PasswdError::Missing);
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(PasswdError::Length(chars));
    }
    let hash = crate::passwords::hash(password, &mut Vec::new()).map_err(PasswdError::Hash)?;
    store::set_password(db, sync, &validate::name_key(name), name, &hash, now)?;
    Ok(name.to_owned())
}
