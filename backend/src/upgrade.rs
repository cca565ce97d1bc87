//! `GET /ws`: the WebSocket handshake, done by the relay itself so that it can choose the
//! socket's buffers.
//!
//! warp's own `ws()` filter offers no `read_buffer_size`, and tungstenite's default of 128 KiB
//! per connection is most of an idle connection's cost. So this filter takes hyper's
//! `OnUpgrade` from the request, answers `101 Switching Protocols` itself, and builds the
//! `WebSocketStream` with the relay's own [`WebSocketConfig`].
//!
//! Before it answers 101 it applies the relay's admission rules, in this order: the
//! handshake headers (426/400), the origin policy (403: cross-site WebSocket hijacking), and
//! the per-address limits on open and new connections (429), and the relay's share of
//! WebSockets in its connection budget (503; see `door.rs`). With `--public-origin`, a request
//! for another `Host` never gets here (421, see `public_origin`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::hyper::upgrade::OnUpgrade;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::connection::{self, Settings};
use crate::door::Ticket;
use crate::http::ClientAddr;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::public_origin::PublicOrigins;
use crate::throttle::{IpGuard, IpRefusal, PerIp};

/// Which pages may open a WebSocket: a browser sends its page's origin with the upgrade, and
/// a page from another site must not be able to use a visitor's browser to chat as them.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// `--allow-origin`'s, normalised (see [`normalise_origin`]): always allowed.
    extra: Vec<String>,
    /// `--public-origin`'s: when set, the only others allowed; when not, the relay's own
    /// origin (from `Host`) and [`DEV_ORIGINS`] are.
    public: Arc<PublicOrigins>,
    /// Refuse upgrades that carry no `Origin` (non-browser clients).
    require: bool,
}

/// `trunk serve`'s dev server (Trunk.toml), which proxies `/ws` to the relay.
pub const DEV_ORIGINS: [&str; 2] = ["http://127.0.0.1:8081", "http://localhost:8081"];

impl OriginPolicy {
    /// The relay's own origin and [`DEV_ORIGINS`], and `extra`.
    pub fn new(extra: &[String], require: bool) -> Self {
        let extra = extra.iter().map(|o| normalise_origin(o)).collect();
        Self {
            extra,
            public: Arc::default(),
            require,
        }
    }

    /// Only `public` (and `extra`) from now: not `Host`'s, nor the dev server's.
    #[must_use]
    pub fn with_public(mut self, public: Arc<PublicOrigins>) -> Self {
        self.public = public;
        self
    }

    /// Whether a request with these headers may be upgraded.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return !self.require;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalise_origin(origin);
        if self.extra.contains(&origin) {
            return true;
        }
        if self.public.is_set() {
            return self.public.contains(&origin);
        }
        if DEV_ORIGINS.contains(&origin.as_str()) {
            return true;
        }
        // The relay's own origin: the page was served by this relay under this Host.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        host.is_some_and(|host| {
            !host.is_empty()
                && origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"))
                    == Some(host.as_str())
        })
    }
}

/// An origin as compared: ASCII lowercase, without a trailing slash.
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// What the `/ws` route needs to start connections.
pub struct Upgrader {
    pub hub: Arc<Hub>,
    pub settings: Settings,
    pub ws_config: WebSocketConfig,
    /// Every connection task, so that shutdown can wait for them.
    pub tasks: TaskTracker,
    pub shutdown: CancellationToken,
    pub origins: OriginPolicy,
    pub per_ip: Arc<PerIp>,
    next_id: AtomicU64,
}

impl Upgrader {
    pub fn new(
        hub: Arc<Hub>,
        settings: Settings,
        ws_config: WebSocketConfig,
        tasks: TaskTracker,
        shutdown: CancellationToken,
        origins: OriginPolicy,
        per_ip: Arc<PerIp>,
    ) -> Self {
        Self {
            hub,
            settings,
            ws_config,
            tasks,
            shutdown,
            origins,
            per_ip,
            next_id: AtomicU64::new(1),
        }
    }
}

/// `GET /ws`.
pub fn route(
    upgrader: Arc<Upgrader>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path("ws")
        .and(warp::path::end())
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<OnUpgrade>())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::ext::optional::<Ticket>())
        .map(
            move |headers: HeaderMap,
                  on_upgrade: Option<OnUpgrade>,
                  client: Option<ClientAddr>,
                  ticket: Option<Ticket>| {
                match upgrader.admit(&headers, on_upgrade, client, ticket.as_ref()) {
                    Ok((accept_key, on_upgrade, guard)) => {
                        upgrader.start(on_upgrade, guard, ticket);
                        switching_protocols(&accept_key)
                    }
                    Err(refused) => {
                        Metrics::inc(&upgrader.hub.metrics().upgrades_refused);
                        refused.into_response()
                    }
                }
            },
        )
}

impl Upgrader {
    /// The handshake, the origin policy, the per-address limits and the relay's share of
    /// WebSockets, in that order.
    fn admit(
        &self,
        headers: &HeaderMap,
        on_upgrade: Option<OnUpgrade>,
        client: Option<ClientAddr>,
        ticket: Option<&Ticket>,
    ) -> Result<(String, OnUpgrade, Option<IpGuard>), Refused> {
        let (accept_key, on_upgrade) = accept(headers, on_upgrade)?;
        let metrics = self.hub.metrics();
        if !self.origins.allows(headers) {
            Metrics::inc(&metrics.refused_origin);
            return Err(Refused {
                status: StatusCode::FORBIDDEN,
                why: "this page's origin may not open a WebSocket to this relay \
                      (the relay's operator can allow it with --allow-origin)",
            });
        }
        let guard = match client {
            None => None,
            Some(ClientAddr(addr)) => Some(self.per_ip_admit(addr, metrics)?),
        };
        if ticket.is_some_and(|t| t.upgrade().is_err()) {
            Metrics::inc(&metrics.conns_refused_full);
            return Err(Refused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                why: "the relay holds all the WebSockets it can; try again later",
            });
        }
        Ok((accept_key, on_upgrade, guard))
    }

    /// The per-address limits on open and new WebSockets.
    fn per_ip_admit(
        &self,
        addr: std::net::SocketAddr,
        metrics: &Metrics,
    ) -> Result<IpGuard, Refused> {
        match self.per_ip.admit(addr.ip()) {
            Ok(guard) => Ok(guard),
            Err(IpRefusal::TooManyOpen) => {
                Metrics::inc(&metrics.refused_ip_open);
                Err(Refused {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    why: "too many WebSocket connections from your address; close one first",
                })
            }
            Err(IpRefusal::TooFast) => {
                Metrics::inc(&metrics.refused_ip_rate);
                Err(Refused {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    why: "too many new WebSocket connections from your address; try again in a second",
                })
            }
        }
    }

    /// Runs the connection once hyper hands over the socket (after the 101 is written). The
    /// connection counts against its address, and as a WebSocket in the door's budget, until
    /// it ends.
    fn start(&self, on_upgrade: OnUpgrade, guard: Option<IpGuard>, ticket: Option<Ticket>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let addr = guard.as_ref().map(IpGuard::key);
        let (hub, settings, config) = (self.hub.clone(), self.settings, self.ws_config);
        let shutdown = self.shutdown.clone();
        // Boxed: what the upgrade awaits is large, and so is what it captures. Kept inline,
        // both would stay in every connection's task for the connection's whole life; the
        // task keeps only the connection's own future (`connection::serve`).
        let open = Box::pin(async move {
            let upgraded = on_upgrade.await?;
            let io = TokioIo::new(upgraded);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            Ok::<_, warp::hyper::Error>(connection::serve(ws, id, addr, hub, settings, &shutdown))
        });
        self.tasks.spawn(async move {
            // Not awaited inside a `match` on the upgrade's result, whose temporary would keep
            // a second copy of it.
            let connection = match open.await {
                Ok(connection) => connection,
                Err(e) => return tracing::debug!(conn = id, "upgrade failed: {e}"),
            };
            connection.await;
            drop((guard, ticket));
        });
    }
}

/// Why a request to `/ws` was not upgraded.
struct Refused {
    status: StatusCode,
    why: &'static str,
}

impl Refused {
    fn into_response(self) -> Response {
        let mut response =
            warp::reply::with_status(format!("{}\n", self.why), self.status).into_response();
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UPGRADE_REQUIRED {
            // RFC 6455 section 4.4: say which version the server speaks.
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

/// Checks the handshake headers (RFC 6455 section 4.2.1). Returns the `Sec-WebSocket-Accept`
/// value and the upgrade to await.
fn accept(
    headers: &HeaderMap,
    on_upgrade: Option<OnUpgrade>,
) -> Result<(String, OnUpgrade), Refused> {
    let refuse = |status, why| Err(Refused { status, why });
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket only: send Connection: Upgrade and Upgrade: websocket",
        );
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is supported",
        );
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|key| is_handshake_key(key))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        );
    };
    let Some(on_upgrade) = on_upgrade else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this connection cannot be upgraded (HTTP/1.1 is needed)",
        );
    };
    Ok((derive_accept_key(key), on_upgrade))
}

/// A handshake key is 16 bytes in base64: 22 characters of the base64 alphabet and "==".
fn is_handshake_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn switching_protocols(accept_key: &str) -> Response {
    let mut response = warp::reply().into_response();
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(accept_key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_keys_match_the_rfc_and_the_seeds() {
        // RFC 6455 section 1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // The handshake example of the seed tutorials.
        assert_eq!(
            derive_accept_key(b"60jj9YDlrvPB+DzLmVJzcg=="),
            "Cx7gYudkmGmF8rMFP1W1HbLkWRA="
        );
    }

    fn with(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        h
    }

    #[test]
    fn origins_are_checked_against_the_host_the_dev_server_and_the_list() {
        let policy = OriginPolicy::new(&["https://Chat.Example/".into()], false);
        let host = "relay.test:8080";
        assert!(policy.allows(&with(None, host)), "no Origin: not a browser");
        assert!(policy.allows(&with(Some("http://relay.test:8080"), host)));
        assert!(policy.allows(&with(Some("https://RELAY.test:8080"), host)));
        assert!(policy.allows(&with(Some("http://127.0.0.1:8081"), host)));
        assert!(policy.allows(&with(Some("http://localhost:8081"), host)));
        assert!(policy.allows(&with(Some("https://chat.example"), host)));
        assert!(!policy.allows(&with(Some("http://evil.test"), host)));
        assert!(!policy.allows(&with(Some("http://relay.test:8080.evil.test"), host)));
        assert!(!policy.allows(&with(Some("null"), host)));
        assert!(!policy.allows(&with(Some("http://relay.test:8081"), host)));
        let strict = OriginPolicy::new(&[], true);
        assert!(!strict.allows(&with(None, host)));
        assert!(strict.allows(&with(Some("http://relay.test:8080"), host)));
    }

    #[test]
    fn public_origins_replace_the_host_and_the_dev_server() {
        let public = Arc::new(PublicOrigins::new(&["https://chat.example".into()]));
        let policy = OriginPolicy::new(&["https://app.example".into()], false).with_public(public);
        let rebound = with(Some("http://evil.test"), "evil.test");
        assert!(
            !policy.allows(&rebound),
            "DNS rebinding: Host and Origin agree"
        );
        assert!(policy.allows(&with(Some("https://chat.example"), "chat.example")));
        assert!(policy.allows(&with(Some("https://app.example"), "chat.example")));
        assert!(!policy.allows(&with(Some("http://127.0.0.1:8081"), "chat.example")));
        assert!(
            policy.allows(&with(None, "chat.example")),
            "no Origin: not a browser"
        );
    }

    #[test]
    fn handshake_keys_are_checked() {
        assert!(is_handshake_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_handshake_key(b"short=="));
        assert!(!is_handshake_key(b"dGhlIHNhbXBsZSBub25jZQ!!"));
    }
}
