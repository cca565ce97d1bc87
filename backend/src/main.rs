//! `courier`: reads the configuration, opens the database, binds the listener and runs the
//! relay until SIGINT or SIGTERM. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use courier::config::Command;
use courier::store::Store;
use courier::{Config, bind, run_with_tls, shutdown, tls};

/// jemalloc, set up (in .cargo/config.toml) to give freed memory back to the system within
/// about a second: with glibc's malloc, what a burst of large replies took stayed with the
/// process after the connections were gone.
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A log that cannot be written (the reader of stderr went away) must not stop the
        // relay: by default the subscriber reports that with eprintln!, which panics then.
        .log_internal_errors(false)
        .init();

    if let Some(Command::Passwd { name }) = &config.command {
        return passwd(&config, name);
    }
    raise_open_file_limit();
    let tls = match tls::from_config(&config) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match Store::open(&config.db, config.db_sync) {
        Ok(store) => store,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(path = %config.db.display(), sync = ?config.db_sync, "database open");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = match bind(config.listen) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => tracing::info!("Courier listening on {scheme}://{addr}"),
        Err(e) => tracing::warn!("listening, but the address is unknown: {e}"),
    }
    if let Err(e) = run_with_tls(listener, config, store, tls, shutdown::signal()).await {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// `courier passwd NAME`: the password from standard input, its hash into the database.
fn passwd(config: &Config, name: &str) -> ExitCode {
    let now = courier::clock::system_clock()();
    let stdin = std::io::stdin().lock();
    match courier::ops::passwd::run(&config.db, config.db_sync, name, stdin, now) {
        Ok(name) => {
            tracing::info!(%name, path = %config.db.display(), "password set; the name is protected");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Each connection is a file descriptor: raise the soft limit on open files to the hard one.
/// The connection budget (`door.rs`) is derived from the limit this leaves.
fn raise_open_file_limit() {
    #[cfg(unix)]
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!("open-file limit: {limit} (connections: this less --reserved-fds)")
        }
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}
