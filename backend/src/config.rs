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

    /// Address to serve GET /metrics (and /healthz) on, apart from the public one: the public
    /// address's /metrics then answers 404. Plain http, for a private network or loopback.
    #[arg(long, env = "COURIER_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Bearer token that GET /metrics requires (`Authorization: Bearer TOKEN`), wherever it is
    /// served; without it, 401. Prefer the variable to the flag, which other local users can
    /// read in the process list. With neither this nor --metrics-listen, /metrics is public.
    #[arg(long, env = "COURIER_METRICS_TOKEN", value_name = "TOKEN", value_parser = parse_token, hide_env_values = true)]
    pub metrics_token: Option<String>,

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
    #[arg(long, env = "COURIER_DB", default_value = "data/courier.db", value_parser = parse_db, global = true)]
    pub db: PathBuf,

    /// How hard each commit waits for the disk: `full` (an acknowledged message survives
    /// even a power loss), `normal` (it survives the relay crashing, not the machine), `off`
    /// (benchmarks only).
    #[arg(
        long,
        env = "COURIER_DB_SYNC",
        value_enum,
        default_value = "full",
        global = true
    )]
    pub db_sync: Sync,

    /// Keep messages, mailboxes and the known users in Redis (`redis://HOST:PORT/DB`) instead
    /// of the SQLite file (docs/CLUSTER.md). The SQLite file still keeps the runner's audit
    /// and the passwords `courier passwd` sets.
    #[arg(long, env = "COURIER_REDIS", value_name = "URL")]
    pub redis: Option<String>,

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

    /// Members a room may have and still announce each one who comes or goes (`presence`)
    /// and list them all in `joined`. A bigger room lists this many names in `joined` and
    /// tells its members its count instead (`members`, at most once a second), so that
    /// filling a room of thousands does not cost a frame per member per join.
    #[arg(long, env = "COURIER_PRESENCE_LIMIT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub presence_limit: u32,

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

    /// Days a name may go unused (no session has it) before the relay forgets it, with its
    /// protection, mailbox and private conversations; anyone may then take it afresh.
    /// Fractions are allowed; 0 keeps names for ever.
    #[arg(long, env = "COURIER_NAME_IDLE_DAYS", default_value_t = 180.0, value_parser = parse_days)]
    pub name_idle_days: f64,

    /// New names one IP address (IPv6: one /64) may make an hour (all at once if it likes);
    /// past it, a `hello` with a name the relay does not know gets `rate_limited`. 0 turns
    /// the limit off.
    #[arg(long, env = "COURIER_NAMES_PER_IP_HOUR", default_value_t = 20)]
    pub names_per_ip_hour: u32,

    /// `protect` frames one IP address may send an hour; past it, `rate_limited`. 0 turns the
    /// limit off.
    #[arg(long, env = "COURIER_PROTECTS_PER_IP_HOUR", default_value_t = 10)]
    pub protects_per_ip_hour: u32,

    /// Password checks (`hello` with a password for a protected name) per second one IP
    /// address may ask for, on average; past it, `rate_limited` at once. Each address also
    /// has at most one check under way, and each protected name backs off (1 s, doubling to
    /// 60 s) after 5 wrong passwords in a row. 0 turns the per-address rate off.
    #[arg(long, env = "COURIER_PASSWORD_RATE_PER_IP", default_value_t = 0.5, value_parser = parse_rate)]
    pub password_rate_per_ip: f64,

    /// Password checks one IP address may ask for at once before --password-rate-per-ip
    /// applies.
    #[arg(long, env = "COURIER_PASSWORD_BURST_PER_IP", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub password_burst_per_ip: u32,

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

    /// The origin the relay is reached at by browsers (for example https://chat.example.com).
    /// Repeat the flag for more; the variable takes a comma-separated list. When set, a
    /// WebSocket is opened only from these origins (and --allow-origin's), not from whatever
    /// the request's Host says, and a request whose Host is not one of theirs gets 421 (except
    /// /healthz): this stops DNS rebinding, where a hostile page renames itself to the
    /// relay's address. Recommended for every deployment.
    #[arg(
        long = "public-origin",
        env = "COURIER_PUBLIC_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN",
        value_parser = parse_origin
    )]
    pub public_origins: Vec<String>,

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

    /// Connections one person (one name) may have at once with `hello` … `attach`
    /// (docs/PROTOCOL.md, "One person, several connections"); one more gets `forbidden`.
    #[arg(long, env = "COURIER_CONNECTIONS_PER_NAME", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections_per_name: u32,

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

    /// TCP connections one IP address (IPv6: one /64) may hold that are not WebSockets: waiting
    /// for, or sending, a request head, or idle between requests. When it has this many, its
    /// oldest is closed to make room for its newest. 0 turns the limit off (the relay-wide
    /// budget, see --reserved-fds, still holds).
    #[arg(long, env = "COURIER_HTTP_CONNS_PER_IP", default_value_t = 32)]
    pub http_conns_per_ip: u32,

    /// TCP connections from all addresses together that are not WebSockets (as for
    /// --http-conns-per-ip). Each holds about 19 KiB of buffers while it waits; when there are
    /// this many, the oldest is closed to make room. 0: only the connection budget (see
    /// --reserved-fds) limits them.
    #[arg(long, env = "COURIER_HTTP_CONNS", default_value_t = 2048)]
    pub http_conns: u32,

    /// File descriptors kept out of the connection budget, for the database, the listener,
    /// the log and files being served. The relay holds at most its open-file limit
    /// (RLIMIT_NOFILE, raised to the hard limit at start) less this many connections (the
    /// reserve is at most half the limit); WebSockets leave an eighth of that (at most 512)
    /// to the rest, so /healthz, /metrics and the page always have room. When the budget is full, the oldest connection
    /// that is not a WebSocket is closed to make room.
    #[arg(long, env = "COURIER_RESERVED_FDS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..))]
    pub reserved_fds: u32,

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

    /// The operators, the dashboard and the runner (docs/OPS.md).
    #[command(flatten)]
    pub ops: crate::ops::OpsConfig,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `courier` does other than run the relay.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Sets NAME's password, read from the first line of standard input (8 to 128
    /// characters), and protects the name as `protect` would. The only way an operator
    /// (--admin) gets a password. Uses --db; may run while the relay runs.
    Passwd {
        /// The name, as a session would say it.
        name: String,
    },
}

impl Config {
    /// The defaults, as if no flag or variable were given; for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["courier"])
    }

    /// How long a name may go unused before it expires, in ms; 0: never.
    pub fn name_idle_ms(&self) -> u64 {
        (self.name_idle_days * 86_400_000.0).round() as u64
    }

    /// What old messages the store drops.
    pub fn retention(&self) -> crate::engine::Retention {
        crate::engine::Retention {
            messages: self.retain_messages,
            max_age_ms: u64::from(self.retain_days) * 24 * 3600 * 1000,
        }
    }
}

/// Parses a duration in seconds; fractions are allowed ("0.5").
pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
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

/// Parses a number of days from 0 (never) to 100 years; fractions are allowed.
fn parse_days(s: &str) -> Result<f64, String> {
    let days: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of days"))?;
    if !(0.0..=36_500.0).contains(&days) {
        return Err(format!("'{s}' is outside 0 to 36500 days"));
    }
    Ok(days)
}

/// Parses a public origin: `http` or `https`, a host and maybe a port, nothing after (a
/// trailing slash is dropped). Lowercased, and a default port (80, 443) dropped, as browsers
/// send it.
fn parse_origin(s: &str) -> Result<String, String> {
    let origin = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let bad = || {
        format!("'{s}' is not an origin: give a scheme and a host, like https://chat.example.com")
    };
    let (scheme, authority) = origin.split_once("://").ok_or_else(bad)?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(bad()),
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad());
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    Ok(format!("{scheme}://{authority}"))
}

/// Parses a bearer token: at least 16 characters (it guards counters, but a guessable token
/// guards nothing), of those an HTTP header value can carry.
fn parse_token(s: &str) -> Result<String, String> {
    if s.chars().count() < 16 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a metrics token has at least 16 printable ASCII characters, no spaces".into());
    }
    Ok(s.to_owned())
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
        assert_eq!(c.redis, None);
        assert_eq!(c.retain_messages, 10_000);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!((c.msg_rate, c.msg_burst), (20.0, 200));
        assert_eq!((c.typing_rate, c.typing_burst), (1.0, 10));
        assert_eq!(c.rooms_per_conn, 100);
        assert_eq!(c.connections_per_name, 8);
        assert_eq!((c.mailbox_share, c.dm_rate, c.dm_burst), (100, 5.0, 50));
        assert_eq!(c.page_kib, 64);
        assert_eq!(c.conns_per_ip, 256);
        assert_eq!((c.conn_rate_per_ip, c.conn_burst_per_ip), (20.0, 100));
        assert_eq!(
            (c.http_conns_per_ip, c.http_conns, c.reserved_fds),
            (32, 2048, 64)
        );
        assert_eq!(c.name_idle_ms(), 180 * 86_400_000);
        assert_eq!((c.names_per_ip_hour, c.protects_per_ip_hour), (20, 10));
        assert_eq!((c.password_rate_per_ip, c.password_burst_per_ip), (0.5, 5));
        assert!(c.allow_origins.is_empty() && !c.require_origin);
        assert!(c.tls_cert.is_none() && c.tls_key.is_none());
        assert!(c.metrics_listen.is_none() && c.metrics_token.is_none());
        assert!(c.public_origins.is_empty());
    }

    #[test]
    fn public_origins_are_normalised_and_checked() {
        let c = Config::parse_from([
            "courier",
            "--public-origin",
            "https://Chat.Example:443/",
            "--public-origin=http://relay.lan:8080,http://relay.lan:80",
        ]);
        assert_eq!(
            c.public_origins,
            [
                "https://chat.example",
                "http://relay.lan:8080",
                "http://relay.lan"
            ]
        );
        for bad in [
            "chat.example",
            "ftp://x",
            "https://",
            "https://x/path",
            "https://u@x",
        ] {
            let err = Config::try_parse_from(["courier", "--public-origin", bad]).unwrap_err();
            assert!(err.to_string().contains("not an origin"), "{bad}: {err}");
        }
        assert!(Config::try_parse_from(["courier", "--metrics-token", "short"]).is_err());
        let c = Config::parse_from(["courier", "--metrics-listen", "127.0.0.1:0"]);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:0".parse().unwrap()));
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
        let c = Config::parse_from(["courier", "--name-idle-days", "0.00002"]);
        assert_eq!(c.name_idle_ms(), 1728);
        assert!(parse_days("-1").is_err() && parse_days("never").is_err());
    }
}
