//! Which web pages may use this node, and under which names: CORS for
//! reads, a guard that refuses writes and WebSocket handshakes from any
//! other page, and one that refuses requests for another `Host`.
//!
//! CORS only stops a page from reading a response. A cross-site form post
//! or WebSocket still reaches the server, so requests that change state or
//! open a stream are refused outright when their `Origin` is not allowed.
//! Clients that are not browsers send no `Origin` and are not affected.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::Request,
    http::{header, request::Parts, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ApiError;

/// Why a `--public-origin` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not an `http(s)://host[:port]` origin.
    #[error(
        "{0:?} is not an origin: write scheme, host and port only, as https://chat.dao.example"
    )]
    NotAnOrigin(String),
}

/// One place users reach the node: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    scheme: String,
    host: String,
    port: u16,
}

impl Place {
    /// `http(s)://host[:port]`, with nothing after it but an optional `/`.
    fn parse_origin(text: &str) -> Result<Self, OriginError> {
        let refuse = || OriginError::NotAnOrigin(text.to_string());
        let url = url::Url::parse(text).map_err(|_| refuse())?;
        let bare = url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !bare || !matches!(url.scheme(), "http" | "https") {
            return Err(refuse());
        }
        Self::of(&url).ok_or_else(refuse)
    }

    fn of(url: &url::Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" {
            443
        } else {
            80
        }
    }

    /// Whether `authority` (`host[:port]`, as a `Host` header or a SIWE
    /// domain writes it) names this place; no port means the scheme's.
    fn is_authority(&self, authority: &str) -> bool {
        let (host, port) = split_authority(authority);
        let port = match port {
            Some(port) => port.parse::<u16>().ok(),
            None => Some(self.default_port()),
        };
        host.eq_ignore_ascii_case(&self.host) && port == Some(self.port)
    }

    fn serialized(&self) -> String {
        match self.port == self.default_port() {
            true => format!("{}://{}", self.scheme, self.host),
            false => format!("{}://{}:{}", self.scheme, self.host, self.port),
        }
    }
}

/// `host[:port]` split at the port's colon (an IPv6 host is bracketed).
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    let after_host = match authority.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(authority.len(), |i| i + 2),
        None => authority.find(':').unwrap_or(authority.len()),
    };
    let (host, rest) = authority.split_at(after_host);
    (host, rest.strip_prefix(':'))
}

/// Where users reach this node: the origins of its public URLs
/// (`--public-origin`), or in development the node's own address on this
/// machine (`http://127.0.0.1:<port>`, `localhost` and `[::1]`).
///
/// The `Host` header is the client's to choose, so it decides nothing:
/// a sign-in must name one of these origins as its domain and URI, only
/// pages at one of these (or `--allow-origin`) may use the node, and a
/// request whose `Host` names none of them is refused, which stops DNS
/// rebinding. Requests to the node's own listen address (by IP, and by
/// `localhost`) are always accepted: no rebinding page can send them.
#[derive(Debug, Clone)]
pub struct PublicOrigins {
    public: Arc<Vec<Place>>,
    /// Names of the node itself, at its own port, accepted as `Host`.
    own: Arc<Vec<Place>>,
    configured: bool,
}

impl PublicOrigins {
    /// Checks `configured` origins, before anything is bound.
    pub fn validate(configured: &[String]) -> Result<(), OriginError> {
        configured
            .iter()
            .try_for_each(|o| Place::parse_origin(o).map(drop))
    }

    /// The `configured` origins of a node listening on `listen` (its bound
    /// address), or the development ones when none are configured.
    pub fn new(configured: &[String], listen: SocketAddr) -> Result<Self, OriginError> {
        let port = listen.port();
        let mut own: Vec<Place> = ["127.0.0.1", "localhost", "[::1]"]
            .into_iter()
            .map(|host| Place {
                scheme: "http".into(),
                host: host.into(),
                port,
            })
            .collect();
        let ip = listen.ip();
        if !ip.is_loopback() && !ip.is_unspecified() {
            let host = match ip {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            };
            own.push(Place {
                scheme: "http".into(),
                host,
                port,
            });
        }
        let public = match configured.is_empty() {
            true => own.clone(),
            false => configured
                .iter()
                .map(|o| Place::parse_origin(o))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            public: Arc::new(public),
            own: Arc::new(own),
            configured: !configured.is_empty(),
        })
    }

    /// The same origins for a node that serves TLS itself: its own
    /// addresses are `https://`, and so are development's public origins.
    pub fn over_tls(self) -> Self {
        let https = |places: &Vec<Place>| {
            places
                .iter()
                .map(|p| Place {
                    scheme: "https".into(),
                    ..p.clone()
                })
                .collect::<Vec<_>>()
        };
        Self {
            public: match self.configured {
                true => self.public,
                false => Arc::new(https(&self.public)),
            },
            own: Arc::new(https(&self.own)),
            configured: self.configured,
        }
    }

    /// Whether the origins were configured, rather than development's.
    pub fn configured(&self) -> bool {
        self.configured
    }

    /// Whether every public origin is https, so cookies can be `Secure`.
    pub fn all_https(&self) -> bool {
        self.public.iter().all(|p| p.scheme == "https")
    }

    /// The public origins, serialized (`https://chat.dao.example`).
    pub fn list(&self) -> Vec<String> {
        self.public.iter().map(Place::serialized).collect()
    }

    /// Whether a request with this `Host` is for this node.
    pub fn allows_host(&self, host: &str) -> bool {
        self.public
            .iter()
            .chain(self.own.iter())
            .any(|p| p.is_authority(host))
    }

    /// Whether a page at `origin` is one of the public origins.
    pub fn is_public_origin(&self, origin: &str) -> bool {
        url::Url::parse(origin)
            .ok()
            .and_then(|u| Place::of(&u))
            .is_some_and(|place| self.public.contains(&place))
    }

    /// Whether a sign-in for `domain` (an authority) at `uri` was made for
    /// one of the public origins: the domain names it, and the URI is on it.
    pub fn allows_sign_in(&self, domain: &str, uri: &str) -> bool {
        let Some(at) = url::Url::parse(uri).ok().and_then(|u| Place::of(&u)) else {
            return false;
        };
        self.public
            .iter()
            .any(|p| *p == at && p.is_authority(domain))
    }
}

/// Allowed page origins: the public ones ([`PublicOrigins`]) and the
/// configured list (`--allow-origin`). In development, the public origins
/// are the node's own address on this machine, at its own port: a page on
/// another local port does not share the node's session.
#[derive(Debug, Clone)]
pub struct Origins {
    public: PublicOrigins,
    listed: Arc<Vec<String>>,
}

impl Origins {
    /// The `public` origins and the `listed` ones (`https://dao.example`).
    pub fn new(public: PublicOrigins, listed: Vec<String>) -> Self {
        let listed = listed
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Self {
            public,
            listed: Arc::new(listed),
        }
    }

    /// Whether a page at `origin` may use the node.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.public.is_public_origin(&origin) || self.listed.contains(&origin)
    }

    /// Middleware: refuses a request whose `Host` names another site
    /// (421 `unknown_host`), on every route. A request with no `Host`
    /// (HTTP/1.0, in-process calls) is not a browser's and passes.
    pub async fn host_guard(self, request: Request, next: Next) -> Response {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or("\u{fffd}").to_string())
            .or_else(|| request.uri().authority().map(|a| a.to_string()));
        if let Some(host) = host {
            if !self.public.allows_host(&host) {
                return ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    "unknown_host",
                    format!(
                        "this node does not serve {host:?}; its operator names its public origins with --public-origin"
                    ),
                )
                .into_response();
            }
        }
        next.run(request).await
    }

    fn allows_parts(&self, origin: &HeaderValue, _parts: &Parts) -> bool {
        origin.to_str().is_ok_and(|o| self.allows(o))
    }

    /// CORS for the allowed origins.
    pub fn cors(&self) -> CorsLayer {
        let origins = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, parts| {
                origins.allows_parts(origin, parts)
            }))
            .allow_methods([Method::GET, Method::POST, Method::HEAD])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600))
    }

    /// Middleware: refuses state changes and WebSocket handshakes whose
    /// `Origin` is not allowed (403 `origin_not_allowed`).
    pub async fn guard(self, request: Request, next: Next) -> Response {
        let upgrade = request.headers().contains_key(header::UPGRADE);
        let safe = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        let (parts, body) = request.into_parts();
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            if (upgrade || !safe) && !self.allows_parts(origin, &parts) {
                let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    format!("pages at {origin} may not use this node; its operator can allow them with --allow-origin"),
                )
                .into_response();
            }
        }
        let request = Request::from_parts(parts, body);
        next.run(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(configured: &[&str], listen: &str) -> PublicOrigins {
        let configured: Vec<String> = configured.iter().map(|s| s.to_string()).collect();
        PublicOrigins::new(&configured, listen.parse().unwrap()).unwrap()
    }

    #[test]
    fn development_origins_are_the_node_itself_at_its_port() {
        let dev = public(&[], "127.0.0.1:8080");
        assert!(!dev.configured());
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(dev.allows_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1:8081",
            "localhost",
            "127.0.0.1:8080.evil",
        ] {
            assert!(!dev.allows_host(host), "{host}");
        }
        let origins = Origins::new(dev, vec!["https://DAO.example/".into()]);
        assert!(origins.allows("http://127.0.0.1:8080"));
        assert!(origins.allows("http://localhost:8080"));
        assert!(origins.allows("https://dao.example"));
        // Another local port is another site, and so is a look-alike.
        assert!(!origins.allows("http://localhost:5173"));
        assert!(!origins.allows("https://evil.example"));
        assert!(!origins.allows("https://dao.example.evil"));
        assert!(!origins.allows("http://localhost.evil:8080"));
        assert!(!origins.allows("null"));
    }

    #[test]
    fn configured_origins_replace_development_for_sign_in_not_for_own_hosts() {
        let p = public(
            &["https://chat.dao.example", "http://10.0.0.5:9000/"],
            "0.0.0.0:8080",
        );
        assert!(p.configured());
        assert!(!p.all_https());
        assert_eq!(
            p.list(),
            ["https://chat.dao.example", "http://10.0.0.5:9000"]
        );
        assert!(p.allows_host("chat.dao.example"));
        assert!(p.allows_host("chat.dao.example:443"));
        assert!(!p.allows_host("chat.dao.example:8443"));
        assert!(p.allows_host("10.0.0.5:9000"));
        // The node's own name on this machine still answers (health checks).
        assert!(p.allows_host("127.0.0.1:8080"));
        assert!(!p.allows_host("evil.example"));
        assert!(p.allows_sign_in("chat.dao.example", "https://chat.dao.example/app"));
        assert!(p.allows_sign_in("chat.dao.example", "https://chat.dao.example"));
        // A domain of another site, a URI elsewhere, or the wrong scheme.
        assert!(!p.allows_sign_in("evil.example", "https://evil.example/"));
        assert!(!p.allows_sign_in("chat.dao.example", "https://evil.example/"));
        assert!(!p.allows_sign_in("chat.dao.example", "http://chat.dao.example/"));
        // Development names are not public once origins are configured.
        assert!(!p.allows_sign_in("127.0.0.1:8080", "http://127.0.0.1:8080/"));
        assert!(public(&["https://chat.dao.example"], "127.0.0.1:1").all_https());
    }

    #[test]
    fn only_bare_origins_are_accepted() {
        for bad in [
            "chat.dao.example",
            "ftp://x.example",
            "https://x.example/app",
            "https://u@x.example",
            "https://x.example/?a=1",
        ] {
            assert!(PublicOrigins::validate(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(PublicOrigins::validate(&["https://x.example/".into()]).is_ok());
    }

    #[test]
    fn authorities_split_at_the_port() {
        assert_eq!(split_authority("a.example:80"), ("a.example", Some("80")));
        assert_eq!(split_authority("a.example"), ("a.example", None));
        assert_eq!(split_authority("[::1]:8080"), ("[::1]", Some("8080")));
        assert_eq!(split_authority("[::1]"), ("[::1]", None));
    }

    #[test]
    fn a_node_serving_tls_is_reached_at_https() {
        let dev = public(&[], "127.0.0.1:8443").over_tls();
        assert!(dev.is_public_origin("https://127.0.0.1:8443"));
        assert!(dev.is_public_origin("https://localhost:8443"));
        assert!(!dev.is_public_origin("http://127.0.0.1:8443"));
        assert!(dev.all_https());
        assert!(dev.allows_host("127.0.0.1:8443"));
        // Configured origins stay as configured.
        let configured = public(&["http://chat.dao.example"], "127.0.0.1:8443").over_tls();
        assert!(configured.is_public_origin("http://chat.dao.example"));
    }
}
