//! The HTTP/1.1 server under the routes: the accept loop, TLS, and the bound on how long a
//! connection may take to send its request head.
//!
//! warp 0.4's own server (`warp::serve(..).incoming(..)`) takes only a plain `TcpListener`
//! (its acceptor trait is private), sets no timer, so hyper's header-read timeout never
//! fires, and has no TLS. So the relay runs hyper itself, as warp does inside, with those
//! three added: `warp::service` turns the routes into a service, and every request carries
//! the client's address as a [`ClientAddr`] extension. It uses hyper's HTTP/1 connection
//! directly: hyper-util's `auto` builder (warp's) first waits for 24 bytes to tell HTTP/1
//! from HTTP/2, with no timeout, so a client that sends nothing would be held forever.
//!
//! Every accepted socket is first counted by the [`Door`] (per address and in total); a
//! connection the door sheds is dropped, socket and buffers, wherever it is in its request.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::Filter;
use warp::hyper::Request;
use warp::hyper::body::Incoming;
use warp::hyper::server::conn::http1;
use warp::hyper::service::{Service, service_fn};
use warp::reply::Response;

use crate::door::Door;
use crate::metrics::Metrics;

/// The address a request came from, put in its extensions for the routes
/// (`warp::ext::optional::<ClientAddr>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// How connections are served.
pub struct HttpSettings {
    /// Time to send a complete request head (and to finish the TLS handshake).
    pub header_timeout: Duration,
    /// Serve TLS (https, wss) with this.
    pub tls: Option<TlsAcceptor>,
    /// How long, after `shutdown`, HTTP connections get to finish their request.
    pub grace: Duration,
}

/// Serves `routes` on `listener` until `shutdown` completes; then stops accepting and lets
/// the HTTP connections finish (WebSockets run on in their own tasks: see `server.rs`).
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    settings: HttpSettings,
    door: Arc<Door>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
{
    let service = TowerToHyperService::new(warp::service(routes));
    let settings = Arc::new(settings);
    // HTTP connections (not yet upgraded): asked to finish on shutdown, and waited for.
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    let mut accept_errors = ErrorLog::default();
    loop {
        tokio::select! {
            () = door.room() => {}
            () = &mut shutdown => break,
        }
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if accept_errors.must_wait(&e) {
                        // Out of file descriptors, most likely: wait rather than spin.
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Counted before hyper reads a byte; with no room, closed at once.
        let Ok(ticket) = door.admit(addr.ip()) else {
            tracing::debug!(%addr, "connection budget full of WebSockets: closed");
            continue;
        };
        let service = service.clone();
        let settings = settings.clone();
        let metrics = metrics.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let in_requests = ticket.clone();
            let service = service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ClientAddr(addr));
                request.extensions_mut().insert(in_requests.clone());
                // A whole request head: not shed while it is answered (see `door.rs`).
                let ticket = in_requests.clone();
                ticket.serve();
                let answer = service.call(request);
                async move {
                    let response = answer.await;
                    ticket.idle();
                    response
                }
            });
            let serve = async {
                match &settings.tls {
                    None => serve_connection(tcp, service, &settings, &metrics, stop).await,
                    Some(tls) => {
                        match tokio::time::timeout(settings.header_timeout, tls.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                serve_connection(stream, service, &settings, &metrics, stop).await;
                            }
                            Ok(Err(e)) => tracing::debug!(%addr, "TLS handshake failed: {e}"),
                            Err(_) => {
                                Metrics::inc(&metrics.header_timeouts);
                                tracing::debug!(%addr, "no TLS handshake in time");
                            }
                        }
                    }
                }
            };
            tokio::select! {
                () = serve => {}
                // Dropping the connection closes the socket and frees its buffers.
                () = ticket.shed() => tracing::debug!(%addr, "unfinished connection shed"),
            }
        });
    }
    drop(listener);
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(settings.grace, tasks.wait())
        .await
        .is_err()
    {
        tracing::debug!("HTTP connections still open after the grace time");
    }
}

/// Serves HTTP/1.1 on one connection, with WebSocket upgrades, until it closes.
async fn serve_connection<I, S>(
    io: I,
    service: S,
    settings: &HttpSettings,
    metrics: &Metrics,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut connection = pin!(
        http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout)
            .max_buf_size(MAX_REQUEST_HEAD)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
    );
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stop.cancelled() => {
            // Finish the request in flight, take no more.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        if e.is_timeout() {
            Metrics::inc(&metrics.header_timeouts);
            tracing::debug!("no complete request head in time: connection closed");
        } else {
            tracing::debug!("HTTP connection ended: {e}");
        }
    }
}

/// The most a connection buffers of a request head (hyper's default is 408 KiB, which a
/// header sent slowly would hold for the whole header timeout). A longer head gets 431. The
/// relay's requests carry no cookies; browsers send well under 8 KiB.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How long the accept loop pauses after an error such as EMFILE: brief, so that a freed
/// descriptor is used soon, but long enough not to spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// At most one log line per this, however many accepts fail.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Accept errors, logged once per [`ERROR_LOG_INTERVAL`] with the count since the last line.
#[derive(Default)]
struct ErrorLog {
    last: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl ErrorLog {
    /// Whether a failed accept is worth a pause: a connection gone before it was accepted is
    /// nothing; anything else (running out of file descriptors) is logged, once an interval.
    fn must_wait(&mut self, e: &io::Error) -> bool {
        use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            e.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            return false;
        }
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_none_or(|last| now - last >= ERROR_LOG_INTERVAL)
        {
            tracing::error!(
                more = self.unlogged,
                "accept error: {e} (more: the errors since the last line)"
            );
            self.last = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        true
    }
}
