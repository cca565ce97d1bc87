//! The relay as a whole: the routes, the listener, and shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use shared::limits::{MAX_MESSAGE_BYTES, close};

use tokio_rustls::TlsAcceptor;

use crate::attempts::AttemptLimits;
use crate::clock;
use crate::config::Config;
use crate::connection::Settings;
use crate::door::{self, Door, DoorLimits};
use crate::engine::redis::{MailboxLimits, RedisEngine, RedisLogConfig};
use crate::engine::{Engine, EngineLimits, SINK_BATCHES};
use crate::http::{self, HttpSettings};
use crate::hub::{FanOut, Hub, HubLimits};
use crate::metrics::Metrics;
use crate::metrics_access;
use crate::ops::{Operators, sampler};
use crate::outbox::QueueLimits;
use crate::public_origin::{self, PublicOrigins};
use crate::store::{OutsideUsers, Sqlite, Store};
use crate::throttle::{FrameRates, IpLimits, PerIp, Rate};
use crate::tls;
use crate::upgrade::{self, OriginPolicy, Upgrader};

/// Binds the listening socket with TCP_NODELAY set, which Linux passes on to every accepted
/// socket (warp's accept path is private, so this is where it can be set). Without it,
/// Nagle's algorithm holds small frames back for tens of milliseconds.
///
/// # Errors
/// The address is in use, or not ours to bind.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Messages (and bytes of them) that may wait for the store's writer; past that a `say` or
/// `dm` gets `rate_limited`. A second or so of the writer's throughput.
const MAX_UNCOMMITTED: usize = 16_384;
const MAX_UNCOMMITTED_BYTES: usize = 32 * 1024 * 1024;

/// Serves the relay on `listener`, keeping messages in `store`, until `shutdown` completes;
/// then stops accepting, closes every WebSocket with 1001, waits for them to end (or the
/// grace time to pass) and for every message taken to be committed. With `--tls-cert` and
/// `--tls-key` it serves TLS.
///
/// # Errors
/// The TLS files cannot be used, the store could not be read at start, or its writer thread
/// could not start.
pub async fn run(
    listener: TcpListener,
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tls = tls::from_config(&config).map_err(io::Error::other)?;
    run_with_tls(listener, config, store, tls, shutdown).await
}

/// [`run`], with TLS already set up (`None`: plain http and ws).
///
/// # Errors
/// As [`run`].
pub async fn run_with_tls(
    listener: TcpListener,
    config: Config,
    store: Store,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let metrics = Arc::new(Metrics::default());
    if config.mailbox >= config.queue_frames {
        tracing::warn!(
            mailbox = config.mailbox,
            queue_frames = config.queue_frames,
            "--mailbox is capped at --queue-frames - 1, so that a mailbox fits in one delivery"
        );
    }
    // What waits for one user is sent in one go after the welcome: it must fit the queue.
    let mailbox = (config.mailbox as usize).min(config.queue_frames as usize - 1);
    let user_mailbox_bytes = config.queue_mib as usize * 1024 * 1024 / 2;
    let mailbox_share = (config.mailbox_share as usize).min(mailbox);
    let engine_limits = EngineLimits {
        queue_messages: MAX_UNCOMMITTED,
        queue_bytes: MAX_UNCOMMITTED_BYTES,
        mailbox_messages: mailbox,
        mailbox_bytes: user_mailbox_bytes,
        share_messages: mailbox_share,
        // The same fraction of the bytes, but room for a message of any length.
        share_bytes: (user_mailbox_bytes / mailbox * mailbox_share)
            .max(MAX_MESSAGE_BYTES)
            .min(user_mailbox_bytes),
    };
    let limits = HubLimits {
        max_rooms: config.max_rooms as usize,
        presence_limit: config.presence_limit as usize,
        dm_rate: Rate {
            per_sec: config.dm_rate,
            burst: f64::from(config.dm_burst),
        },
        max_users: config.max_users as usize,
        rooms_per_conn: config.rooms_per_conn as usize,
        connections_per_name: config.connections_per_name as usize,
        attempts: AttemptLimits {
            checks_per_ip: Rate {
                per_sec: config.password_rate_per_ip,
                burst: f64::from(config.password_burst_per_ip),
            },
            names_per_ip: AttemptLimits::per_hour(config.names_per_ip_hour),
            protects_per_ip: AttemptLimits::per_hour(config.protects_per_ip_hour),
        },
        name_idle_ms: config.name_idle_ms(),
        page_bytes: config.page_kib as usize * 1024,
    };
    // The engine sends what it stores down `sink`; the fan-out takes it from there to the hub.
    let (sink, stored) = std::sync::mpsc::sync_channel(SINK_BATCHES);
    let engine: Box<dyn Engine> = match &config.redis {
        None => Box::new(Sqlite::start(
            store,
            config.retention(),
            engine_limits,
            clock::system_clock(),
            metrics.clone(),
            sink,
        )?),
        Some(url) => {
            let mut redis = RedisLogConfig::new(url.clone());
            redis.retention = config.retention().messages;
            redis.max_age_ms = config.retention().max_age_ms;
            redis.mailbox = MailboxLimits {
                messages: engine_limits.mailbox_messages,
                bytes: engine_limits.mailbox_bytes,
                share_messages: engine_limits.share_messages,
                share_bytes: engine_limits.share_bytes,
            };
            let outside = OutsideUsers::new(store);
            let engine = RedisEngine::start(redis, outside, engine_limits, metrics.clone(), sink)
                .await
                .map_err(io::Error::other)?;
            Box::new(engine)
        }
    };
    let hub = Hub::new(limits, engine, metrics.clone(), clock::system_clock());
    let fanout = FanOut::spawn(hub.clone(), stored)?;
    hub.set_operators(Operators::new(&config.ops.admins));
    let runs = crate::ops::runs_from_config(&config, clock::system_clock(), metrics.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    hub.set_runs(runs);
    if !config.ops.admins.is_empty() {
        tracing::info!(operators = ?config.ops.admins, "operators named");
    }
    let settings = Settings {
        queue: QueueLimits {
            frames: config.queue_frames as usize,
            bytes: config.queue_mib as usize * 1024 * 1024,
        },
        ping_interval: config.ping_interval,
        ping_timeout: config.ping_timeout,
        hello_timeout: config.hello_timeout,
        rates: FrameRates {
            frames: Rate {
                per_sec: config.msg_rate,
                burst: f64::from(config.msg_burst),
            },
            typing: Rate {
                per_sec: config.typing_rate,
                burst: f64::from(config.typing_burst),
            },
        },
    };
    let per_ip = PerIp::new(IpLimits {
        max_open: config.conns_per_ip,
        new: Rate {
            per_sec: config.conn_rate_per_ip,
            burst: f64::from(config.conn_burst_per_ip),
        },
    });
    let read_buffer = config.read_buffer as usize;
    let write_buffer = config.write_buffer as usize;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(write_buffer)
        // tungstenite holds a whole outgoing message in its write buffer, and refuses one that
        // does not fit: room for the largest reply (a `joined` or a `history` page can be a few
        // MiB), which the queue's byte bound (--queue-mib) already caps.
        .max_write_buffer_size(
            write_buffer + config.queue_mib as usize * 1024 * 1024 + MAX_MESSAGE_BYTES,
        )
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let tasks = TaskTracker::new();
    let stop = CancellationToken::new();
    tokio::spawn(sampler::run(
        hub.clone(),
        metrics.clone(),
        clock::system_clock(),
        config.ops.stats_interval,
        sampler::node_name(),
        stop.clone(),
    ));
    tokio::spawn(hub.clone().tell_counts(stop.clone()));
    let public = Arc::new(PublicOrigins::new(&config.public_origins));
    let upgrader = Arc::new(Upgrader::new(
        hub.clone(),
        settings,
        ws_config,
        tasks.clone(),
        stop.clone(),
        OriginPolicy::new(&config.allow_origins, config.require_origin).with_public(public.clone()),
        per_ip,
    ));

    // /metrics: on a private listener (404 here), or here, with a token or public.
    let token: Option<Arc<str>> = config.metrics_token.as_deref().map(Arc::from);
    let private = match config.metrics_listen {
        Some(addr) => Some(bind(addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} for metrics: {e}"),
            )
        })?),
        None => None,
    };
    metrics_access::announce(
        private.as_ref().and_then(|l| l.local_addr().ok()),
        token.is_some(),
    );
    let metrics_here = match private {
        Some(_) => metrics_access::elsewhere().boxed(),
        None => metrics_access::route(hub.clone(), token.clone()).boxed(),
    };
    let private = private.map(|listener| {
        let done = stop.clone().cancelled_owned();
        let (hub, metrics) = (hub.clone(), metrics.clone());
        tokio::spawn(metrics_access::serve_private(
            listener,
            hub,
            metrics,
            token,
            config.header_timeout,
            done,
        ))
    });
    let routes = public_origin::misdirected(public)
        .or(upgrade::route(upgrader))
        .unify()
        .or(health(hub.clone()))
        .unify()
        .or(metrics_here)
        .unify()
        .or(static_files(config.static_dir.clone()))
        .unify()
        .with(warp::log::custom(|info| {
            tracing::debug!(
                method = %info.method(),
                path = info.path(),
                status = info.status().as_u16(),
                "http"
            );
        }))
        .map(Reply::into_response);

    let open_files = door::open_file_limit();
    let door_limits = DoorLimits::from_open_files(
        open_files,
        u64::from(config.reserved_fds),
        config.http_conns_per_ip as usize,
        config.http_conns as usize,
    );
    tracing::info!(
        open_files,
        connections = door_limits.budget,
        websockets = door_limits.websockets,
        "connection budget: the open-file limit less --reserved-fds"
    );
    let door = Door::new(door_limits, metrics.clone());

    let closing = hub.clone();
    let settings = HttpSettings {
        header_timeout: config.header_timeout,
        tls,
        grace: config.shutdown_grace,
    };
    // Serving ends only once this future has completed: by then every WebSocket connection
    // has been asked to close, and the HTTP ones have had their grace.
    http::serve(listener, routes, settings, door, metrics, async move {
        shutdown.await;
        tracing::info!("shutting down: closing every connection with 1001");
        // Cancel first: a connection that joins the hub after close_all sees the token.
        stop.cancel();
        closing.close_all(close::GOING_AWAY);
    })
    .await;

    if let Some(private) = private {
        let _ = private.await;
    }
    tasks.close();
    if tokio::time::timeout(config.shutdown_grace, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = tasks.len(),
            "connections still open after the grace time; exiting anyway"
        );
    }
    // Every connection has ended (or been given up on): store what the engine still has,
    // and let the fan-out finish with it (it ends when the engine drops its sink).
    if tokio::task::spawn_blocking(move || {
        hub.flush();
        fanout.wait();
    })
    .await
    .is_err()
    {
        tracing::error!("could not wait for the engine");
    }
    Ok(())
}

/// `GET /healthz`: 200 and a line of JSON while the relay runs.
pub(crate) fn health(
    hub: Arc<Hub>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::path("healthz")
        .and(warp::path::end())
        .and(get_or_head())
        .map(move || {
            let g = hub.gauges();
            let mut body = serde_json::json!({
                "status": "ok",
                "connections": g.connections,
                "sessions": g.sessions,
                "engine": "sqlite",
            });
            if let Some(node) = hub.node() {
                body["engine"] = "redis".into();
                body["node"] = node.node.into();
                body["relays"] = node.relays.into();
                body["redis"] = if node.redis_up { "up" } else { "down" }.into();
            }
            match hub.trouble() {
                None => warp::reply::json(&body).into_response(),
                Some(reason) => {
                    body["status"] = "unavailable".into();
                    body["reason"] = reason.into();
                    warp::reply::with_status(
                        warp::reply::json(&body),
                        StatusCode::SERVICE_UNAVAILABLE,
                    )
                    .into_response()
                }
            }
        })
}

/// `GET /…`: the built web client. When it has not been built, `/` says how to build it.
fn static_files(
    dir: PathBuf,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    if !dir.join("index.html").is_file() {
        tracing::warn!(
            dir = %dir.display(),
            "no web client here (no index.html); build it with `trunk build --release` or pass --static-dir"
        );
    }
    let missing = format!(
        "<!doctype html><meta charset=utf-8><title>Courier</title>\
         <p>The relay is running, but the web client is not built in <code>{}</code>. \
         Run <code>trunk build --release</code> (or <code>scripts/run</code>) and reload.</p>",
        html_escape(&dir.display().to_string())
    );
    let files = get_or_head()
        .and(warp::fs::dir(dir))
        .map(Reply::into_response);
    let not_built = get_or_head().and(warp::path::end()).map(move || {
        warp::reply::with_status(warp::reply::html(missing.clone()), StatusCode::NOT_FOUND)
            .into_response()
    });
    files.or(not_built).unify()
}

/// GET, or HEAD (which health checkers and caches use; hyper leaves the body out).
fn get_or_head() -> impl Filter<Extract = (), Error = warp::Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
