//! Command-line flags, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub use crate::store::Sync;

/// Courier's relay: serves the web client and routes chat over WebSockets.
///
/// Every flag can also be set by the environment variable shown. Logs go to stderr; set their
/// level with RUST_LOG (e.g. RUST_LOG=courier=debug).
#[derive(Debug, Clone, Parser)]
#[command(name = "courier", version, about, long_about)]
pub struct Config {
    /// Address to listen on, for the web client (GET /), the WebSocket (GET /ws), /healthz and
    /// /metrics. Port 0 picks a free port (the log says which).
    #[arg(long, env = "COURIER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of the built web client (the dist/ of `trunk build --release`), served at /.
    #[arg(long, env = "COURIER_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Frames each connection may have waiting to be written. A client that falls this far
    /// behind is disconnected with close code 1013 instead of growing the relay's memory.
    /// The queue holds memory only while frames wait, and frames are shared between
    /// recipients, so a full queue costs 32 bytes a frame.
    #[arg(long, env = "COURIER_QUEUE_FRAMES", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub queue_frames: u32,

    /// MiB each connection may have waiting to be written; past it, as past --queue-frames,
    /// the connection is closed with 1013. It bounds replies made for one connection, like a
    /// `joined` with a long history asked for again and again. Offline mail for one user is
    /// kept to half of it, so that it fits when delivered.
    #[arg(long, env = "COURIER_QUEUE_MIB", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub queue_mib: u32,

    /// KiB of messages one `history` page, or the history in one `joined`, holds at most (at
    /// least one message). A page that stops early says `more`, and the client pages on. It
    /// bounds what a small request can ask for: 100 long messages are over 2 MB.
    #[arg(long, env = "COURIER_PAGE_KIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub page_kib: u32,

    /// Bytes of each connection's read buffer. Small keeps idle connections cheap (chat frames
    /// are mostly a few hundred bytes); a larger frame is still read whole, in several reads,
    /// up to the 64 KiB message limit.
    #[arg(long, env = "COURIER_READ_BUFFER", default_value_t = 512, value_parser = clap::value_parser!(u32).range(256..=1_048_576))]
    pub read_buffer: u32,

    /// Bytes a connection gathers before writing to its socket; every burst is flushed at once
    /// anyway. 0 writes every frame as it comes.
    #[arg(long, env = "COURIER_WRITE_BUFFER", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub write_buffer: u32,

    /// Seconds between the relay's pings to a connection.
    #[arg(long, env = "COURIER_PING_INTERVAL", default_value = "30", value_parser = parse_secs)]
    pub ping_interval: Duration,

    /// Seconds a connection may stay silent past a ping (or take to accept a write) before it
    /// is dropped as dead.
    #[arg(long, env = "COURIER_PING_TIMEOUT", default_value = "20", value_parser = parse_secs)]
    pub ping_timeout: Duration,

    /// Seconds a new connection has to say a successful hello before it is closed (code 1008).
    #[arg(long, env = "COURIER_HELLO_TIMEOUT", default_value = "10", value_parser = parse_secs)]
    pub hello_timeout: Duration,

    /// The SQLite database file that keeps every message, the known users and the mailboxes
    /// (created, with its directory, if missing).
    #[arg(long, env = "COURIER_DB", default_value = "data/courier.db", value_parser = parse_db)]
    pub db: PathBuf,

    /// How hard each commit waits for the disk: `full` (an acknowledged message survives
    /// even a power loss), `normal` (it survives the relay crashing, not the machine), `off`
    /// (benchmarks only).
    #[arg(long, env = "COURIER_DB_SYNC", value_enum, default_value = "full")]
    pub db_sync: Sync,

    /// Messages kept per room and per pair of users (the newest); 0 keeps all. A private
    /// message is kept until its recipient has received it, whatever this says.
    #[arg(long, env = "COURIER_RETAIN_MESSAGES", default_value_t = 10_000)]
    pub retain_messages: u64,

    /// Days a message is kept; 0 keeps messages whatever their age.
    #[arg(long, env = "COURIER_RETAIN_DAYS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub retain_days: u32,

    /// Rooms that may have members at once; a join that would open one more gets
    /// `forbidden`. An empty room costs nothing: its history is in the database.
    #[arg(long, env = "COURIER_MAX_ROOMS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms: u32,

    /// Private messages one user may have waiting (not yet received). A dm to a full mailbox
    /// gets `mailbox_full`. A mailbox also holds at most half of --queue-mib, so that it fits
    /// in one delivery.
    #[arg(long, env = "COURIER_MAILBOX", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub mailbox: u32,

    /// Private messages from one sender (by name, and by address: IPv6 by its /64) that may
    /// wait in one user's mailbox; past it that sender's dm gets `mailbox_full`, while others
    /// still have room. The same fraction of the mailbox's bytes. At most --mailbox.
    #[arg(long, env = "COURIER_MAILBOX_SHARE", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub mailbox_share: u32,

    /// Private messages per second one address (IPv6: one /64) may send to one user, on
    /// average. Past it a dm is dropped and answered with `rate_limited`. 0 turns it off.
    #[arg(long, env = "COURIER_DM_RATE", default_value_t = 5.0, value_parser = parse_rate)]
    pub dm_rate: f64,

    /// Private messages one address may send to one user at once before --dm-rate applies.
    #[arg(long, env = "COURIER_DM_BURST", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub dm_burst: u32,

    /// Distinct names the relay remembers (users who ever said hello). A hello with a new name
    /// past this is refused with `forbidden`.
    #[arg(long, env = "COURIER_MAX_USERS", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_users: u32,

    /// Seconds open connections get to close after SIGINT/SIGTERM before the relay exits anyway.
    #[arg(long, env = "COURIER_SHUTDOWN_GRACE", default_value = "5", value_parser = parse_secs)]
    pub shutdown_grace: Duration,

    /// Seconds a client has to send a complete HTTP request head (and, with TLS, to finish the
    /// TLS handshake). A connection that sends nothing, or its headers byte by byte, is cut
    /// off after this (slowloris).
    #[arg(long, env = "COURIER_HEADER_TIMEOUT", default_value = "10", value_parser = parse_secs)]
    pub header_timeout: Duration,

    /// Another origin whose pages may open WebSockets to the relay (for example
    /// https://chat.example.com). Repeat the flag for more; the variable takes a comma-separated
    /// list. The relay's own origin (its Host, http or https) and trunk serve's dev origin
    /// (http://127.0.0.1:8081, http://localhost:8081) are always allowed. A browser page from
    /// any other origin is refused at the upgrade with 403.
    #[arg(
        long = "allow-origin",
        env = "COURIER_ALLOW_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub allow_origins: Vec<String>,

    /// Refuse WebSocket upgrades without an Origin header (403). Browsers always send one;
    /// scripts and other non-browser clients usually do not, and are allowed by default.
    #[arg(long, env = "COURIER_REQUIRE_ORIGIN")]
    pub require_origin: bool,

    /// Frames per second one connection may send, on average (every frame but typing: say,
    /// dm, join, hello, junk…). Past it a frame is dropped and answered with `rate_limited`;
    /// the connection stays. 0 turns the limit off.
    #[arg(long, env = "COURIER_MSG_RATE", default_value_t = 20.0, value_parser = parse_rate)]
    pub msg_rate: f64,

    /// Frames one connection may send at once before --msg-rate applies (the bucket's size).
    /// Large enough for a reconnect: hello, a join for each of --rooms-per-conn rooms, and
    /// the history pages and acks that catch up after it.
    #[arg(long, env = "COURIER_MSG_BURST", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub msg_burst: u32,

    /// `typing` frames per second one connection may send, on average (clients send one every
    /// couple of seconds). Past it, like --msg-rate: `rate_limited`. 0 turns it off.
    #[arg(long, env = "COURIER_TYPING_RATE", default_value_t = 1.0, value_parser = parse_rate)]
    pub typing_rate: f64,

    /// `typing` frames one connection may send at once before --typing-rate applies.
    #[arg(long, env = "COURIER_TYPING_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub typing_burst: u32,

    /// Rooms one connection may be in at once; a `join` of one more gets `forbidden`.
    #[arg(long, env = "COURIER_ROOMS_PER_CONN", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rooms_per_conn: u32,

    /// WebSocket connections one IP address (IPv6: one /64) may have open at once; one more is
    /// refused at the upgrade with 429. 0 turns the limit off. Behind a reverse proxy every
    /// client has the proxy's address: raise or turn off this and --conn-rate-per-ip there,
    /// and limit at the proxy.
    #[arg(long, env = "COURIER_CONNS_PER_IP", default_value_t = 256)]
    pub conns_per_ip: u32,

    /// New WebSocket connections per second one IP address (IPv6: one /64) may open, on
    /// average; past it, refused at the upgrade with 429. 0 turns the limit off.
    #[arg(long, env = "COURIER_CONN_RATE_PER_IP", default_value_t = 20.0, value_parser = parse_rate)]
    pub conn_rate_per_ip: f64,

    /// New WebSocket connections one IP address may open at once before --conn-rate-per-ip
    /// applies.
    #[arg(long, env = "COURIER_CONN_BURST_PER_IP", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub conn_burst_per_ip: u32,

    /// PEM file of the TLS certificate chain. With --tls-key, the relay serves https and wss
    /// itself (rustls) instead of plain http and ws.
    #[arg(
        long,
        env = "COURIER_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM file of the TLS private key (PKCS#8, PKCS#1 or SEC1), for --tls-cert.
    #[arg(
        long,
        env = "COURIER_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    pub tls_key: Option<PathBuf>,
}

impl Config {
    /// The defaults, as if no flag or variable were given; for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["courier"])
    }

    /// What old messages the store drops.
    pub fn retention(&self) -> crate::store::Retention {
        crate::store::Retention {
            messages: self.retain_messages,
            max_age_ms: u64::from(self.retain_days) * 24 * 3600 * 1000,
        }
    }
}

/// Parses a duration in seconds; fractions are allowed ("0.5").
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.01..=86_400.0).contains(&secs) {
        return Err(format!("'{s}' is outside 0.01 to 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses the database path: a file, not one of SQLite's special names (`:memory:`, the empty
/// name for a temporary database, `file:` URIs), which would not keep anything.
fn parse_db(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() || s.starts_with(':') || s.starts_with("file:") {
        return Err(format!(
            "'{s}' is not a file path; the relay keeps its messages in a file (for a \
             throwaway one, give a path under /tmp)"
        ));
    }
    Ok(PathBuf::from(s))
}

/// Parses a rate per second: a number from 0 (no limit) to a million.
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number per second"))?;
    if !(0.0..=1_000_000.0).contains(&rate) {
        return Err(format!("'{s}' is outside 0 to 1000000 per second"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = Config::defaults();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.static_dir, PathBuf::from("dist"));
        assert_eq!(c.hello_timeout, Duration::from_secs(10));
        assert_eq!(c.db, PathBuf::from("data/courier.db"));
        assert_eq!(c.db_sync, Sync::Full);
        assert_eq!(c.retain_messages, 10_000);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!((c.msg_rate, c.msg_burst), (20.0, 200));
        assert_eq!((c.typing_rate, c.typing_burst), (1.0, 10));
        assert_eq!(c.rooms_per_conn, 100);
        assert_eq!((c.mailbox_share, c.dm_rate, c.dm_burst), (100, 5.0, 50));
        assert_eq!(c.page_kib, 64);
        assert_eq!(c.conns_per_ip, 256);
        assert_eq!((c.conn_rate_per_ip, c.conn_burst_per_ip), (20.0, 100));
        assert!(c.allow_origins.is_empty() && !c.require_origin);
        assert!(c.tls_cert.is_none() && c.tls_key.is_none());
    }

    #[test]
    fn origins_repeat_and_tls_needs_both_files() {
        let c = Config::parse_from([
            "courier",
            "--allow-origin",
            "https://a.example",
            "--allow-origin=https://b.example,https://c.example",
        ]);
        assert_eq!(c.allow_origins.len(), 3);
        assert!(Config::try_parse_from(["courier", "--tls-cert", "c.pem"]).is_err());
        assert!(Config::try_parse_from(["courier", "--msg-rate", "-1"]).is_err());
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let err = Config::try_parse_from(["courier", "--listen", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("nowhere"));
        let err = Config::try_parse_from(["courier", "--ping-interval=-1"]).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(Config::try_parse_from(["courier", "--queue-frames", "0"]).is_err());
        for db in [":memory:", "", "file:x.db?mode=memory"] {
            let err = Config::try_parse_from(["courier", "--db", db]).unwrap_err();
            assert!(err.to_string().contains("not a file path"), "{err}");
        }
        assert!(Config::try_parse_from(["courier", "--db", "/tmp/x/c.db"]).is_ok());
    }

    #[test]
    fn seconds_may_be_fractional() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("soon").is_err());
    }
}
