//! Who may read `GET /metrics`: its counters tell the relay's load and what it refuses, which
//! is for operators, not for everyone who can reach the chat.
//!
//! `--metrics-listen ADDR` serves it (and `/healthz`) on a second, private listener, and the
//! public one answers 404 for it; `--metrics-token` asks for `Authorization: Bearer TOKEN`
//! wherever it is served. With neither, it stays on the public address, as it always was
//! (the tests and local runs read it there), and the relay says so at startup.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::door::{Door, DoorLimits};
use crate::http::{self, HttpSettings};
use crate::hub::Hub;
use crate::metrics::Metrics;

/// `GET /metrics`: counters and gauges in the Prometheus text format, for a request with the
/// token if one is configured (401 otherwise).
pub fn route(
    hub: Arc<Hub>,
    token: Option<Arc<str>>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path("metrics")
        .and(warp::path::end())
        .and(get_or_head())
        .and(warp::header::headers_cloned())
        .map(move |headers: HeaderMap| {
            if let Some(token) = &token
                && !bearer_matches(&headers, token)
            {
                let mut response = warp::reply::with_status(
                    "GET /metrics needs Authorization: Bearer with the relay's --metrics-token\n",
                    StatusCode::UNAUTHORIZED,
                )
                .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"courier metrics\""),
                );
                return response;
            }
            hub.metrics().set_node(hub.node().as_ref());
            let text = hub.metrics().render(hub.gauges());
            warp::reply::with_header(text, "content-type", crate::metrics::CONTENT_TYPE)
                .into_response()
        })
}

/// `GET /metrics` on the public address when it is served elsewhere: 404, as for any path
/// the relay does not serve there.
pub fn elsewhere() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path("metrics")
        .and(warp::path::end())
        .map(|| warp::reply::with_status("not found\n", StatusCode::NOT_FOUND).into_response())
}

/// Connections the metrics listener holds at once (scrapers and health checks).
const PRIVATE_CONNECTIONS: usize = 16;

/// Serves `/metrics` and `/healthz` (nothing else) on `listener`, plain http, until
/// `shutdown` completes.
pub async fn serve_private(
    listener: TcpListener,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    token: Option<Arc<str>>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let routes = route(hub.clone(), token)
        .or(crate::server::health(hub))
        .unify();
    let settings = HttpSettings {
        header_timeout,
        tls: None,
        grace: Duration::from_secs(1),
    };
    // Its connections come out of the descriptors the main door keeps in reserve
    // (`--reserved-fds`): a few, and no WebSockets.
    let door = Door::new(
        DoorLimits {
            budget: PRIVATE_CONNECTIONS,
            websockets: 0,
            http_per_ip: 0,
            http: PRIVATE_CONNECTIONS,
        },
        metrics.clone(),
    );
    http::serve(listener, routes, settings, door, metrics, shutdown).await;
}

/// Says at startup where /metrics is and who may read it.
pub fn announce(private: Option<SocketAddr>, token: bool) {
    match (private, token) {
        (Some(addr), _) => tracing::info!(
            token,
            "metrics at http://{addr}/metrics (not on the public address)"
        ),
        (None, true) => tracing::info!("metrics at /metrics, for the bearer of --metrics-token"),
        (None, false) => tracing::warn!(
            "GET /metrics is public on the listening address; serve it apart with \
             --metrics-listen, or guard it with --metrics-token"
        ),
    }
}

/// Whether the request carries `Authorization: Bearer <token>`. Compared in time that does
/// not depend on where the first difference is.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
    else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut differ = u8::from(a.len() != b.len());
    for (i, &x) in b.iter().enumerate() {
        differ |= x ^ a.get(i).copied().unwrap_or(!x);
    }
    differ == 0
}

/// GET, or HEAD (which monitoring uses; hyper leaves the body out).
fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = "0123456789abcdef";
        assert!(bearer_matches(&auth("Bearer 0123456789abcdef"), token));
        assert!(bearer_matches(&auth("bearer  0123456789abcdef "), token));
        assert!(!bearer_matches(&auth("Bearer 0123456789abcde"), token));
        assert!(!bearer_matches(&auth("Bearer 0123456789abcdefg"), token));
        assert!(!bearer_matches(&auth("Bearer 0123456789abcdeF"), token));
        assert!(!bearer_matches(&auth("Basic 0123456789abcdef"), token));
        assert!(!bearer_matches(&auth("0123456789abcdef"), token));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }
}
