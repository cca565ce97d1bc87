//! `--public-origin`: the origins browsers reach the relay at, and so the only `Host`s it
//! answers.
//!
//! Without it, the relay's own origin is whatever the request's `Host` says, which a hostile
//! page controls under DNS rebinding: `evil.example` first resolves to the attacker, then to
//! a relay on the visitor's internal network, and the page's requests carry
//! `Host: evil.example` and `Origin: http://evil.example`, a pair that looks same-origin.
//! With public origins set, the origin check accepts only them (see `upgrade::OriginPolicy`),
//! and every request whose `Host` is not one of theirs gets 421 Misdirected Request, except
//! `/healthz`, which health checkers ask by address.

use std::sync::Arc;

use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

/// The configured public origins (normalised by the flag's parser: lowercase, no trailing
/// slash, no default port) and their hosts.
#[derive(Debug, Clone, Default)]
pub struct PublicOrigins {
    origins: Vec<String>,
    /// `host` or `host:port`, as a `Host` header names them.
    hosts: Vec<String>,
}

impl PublicOrigins {
    /// From `--public-origin`'s values, each `scheme://authority`.
    pub fn new(origins: &[String]) -> Self {
        let hosts = origins
            .iter()
            .filter_map(|o| {
                o.split_once("://")
                    .map(|(_, authority)| authority.to_owned())
            })
            .collect();
        Self {
            origins: origins.to_vec(),
            hosts,
        }
    }

    /// Whether any is configured; without any, the relay trusts `Host` as before.
    pub fn is_set(&self) -> bool {
        !self.origins.is_empty()
    }

    /// Whether `origin` (lowercase, without a trailing slash) is one of them.
    pub fn contains(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// Whether a request with this `Host` is addressed to one of them (always, when none is
    /// configured).
    pub fn allows_host(&self, host: Option<&str>) -> bool {
        if !self.is_set() {
            return true;
        }
        let Some(host) = host else {
            return false;
        };
        let host = host.trim().to_ascii_lowercase();
        // A client may name the default port, which the origins leave out.
        let bare = host
            .strip_suffix(":80")
            .or_else(|| host.strip_suffix(":443"))
            .unwrap_or(&host);
        self.hosts.iter().any(|h| h == &host || h == bare)
    }
}

/// Answers 421 to a request whose `Host` is not a public origin's (but for `/healthz`), and
/// rejects (passes on) every other request, so it goes first among the routes.
pub fn misdirected(
    public: Arc<PublicOrigins>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // The whole map, not `warp::header::optional`, which rejects a Host that is not text and
    // so would pass the request on to the routes unchecked.
    warp::header::headers_cloned()
        .and(warp::path::full())
        .and_then(move |headers: HeaderMap, path: warp::path::FullPath| {
            let host = headers.get(header::HOST).map(HeaderValue::to_str);
            let host = host.and_then(Result::ok).map(str::to_owned);
            let refuse = !public.allows_host(host.as_deref()) && path.as_str() != "/healthz";
            async move {
                if !refuse {
                    return Err(warp::reject());
                }
                tracing::debug!(
                    ?host,
                    "refused a request for a host that is not a public origin's"
                );
                Ok(warp::reply::with_status(
                    "this relay answers only at its public origins (--public-origin)\n",
                    StatusCode::MISDIRECTED_REQUEST,
                )
                .into_response())
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_origins_hosts_are_allowed_once_set() {
        let none = PublicOrigins::new(&[]);
        assert!(none.allows_host(Some("evil.example")));
        assert!(none.allows_host(None));
        let public = PublicOrigins::new(&[
            "https://chat.example".into(),
            "http://relay.lan:8080".into(),
        ]);
        assert!(public.allows_host(Some("chat.example")));
        assert!(public.allows_host(Some("Chat.Example:443")));
        assert!(public.allows_host(Some("relay.lan:8080")));
        assert!(!public.allows_host(Some("relay.lan")));
        assert!(!public.allows_host(Some("evil.example")));
        assert!(!public.allows_host(Some("chat.example.evil.example")));
        assert!(!public.allows_host(Some("10.0.0.5:8080")));
        assert!(!public.allows_host(None));
        assert!(public.contains("https://chat.example"));
        assert!(!public.contains("http://chat.example"));
    }
}
