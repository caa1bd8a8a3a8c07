//! Which web pages may use this node: CORS for reads, and a guard that
//! refuses writes and WebSocket handshakes from any other page.
//!
//! CORS only stops a page from reading a response. A cross-site form post
//! or WebSocket still reaches the server, so requests that change state or
//! open a stream are refused outright when their `Origin` is not allowed.
//! Clients that are not browsers send no `Origin` and are not affected.

use std::sync::Arc;

use axum::{
    extract::Request,
    http::{header, request::Parts, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ApiError;

/// Allowed origins: the node's own (the `Origin` names the `Host` the
/// request was sent to), pages on this machine (`localhost`, `127.0.0.1`,
/// `[::1]`, any port), and the configured list.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    listed: Arc<Vec<String>>,
}

impl Origins {
    /// With `listed` origins (`https://dao.example`) allowed besides the defaults.
    pub fn new(listed: Vec<String>) -> Self {
        let listed = listed
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Self {
            listed: Arc::new(listed),
        }
    }

    /// Whether a page at `origin` may use the node reached as `host`.
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.to_ascii_lowercase();
        let Some((_, authority)) = origin.split_once("://") else {
            return false;
        };
        let hostname = match authority.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => authority,
        };
        host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
            || matches!(hostname, "localhost" | "127.0.0.1" | "[::1]")
            || self.listed.contains(&origin)
    }

    fn allows_parts(&self, origin: &HeaderValue, parts: &Parts) -> bool {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        origin.to_str().is_ok_and(|o| self.allows(o, host))
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

    #[test]
    fn allows_its_own_origin_this_machine_and_the_list() {
        let origins = Origins::new(vec!["https://DAO.example/".into()]);
        let host = Some("node.example:8080");
        assert!(origins.allows("http://node.example:8080", host));
        assert!(origins.allows("http://localhost:5173", host));
        assert!(origins.allows("http://127.0.0.1", host));
        assert!(origins.allows("https://dao.example", host));
        assert!(!origins.allows("https://evil.example", host));
        assert!(!origins.allows("https://dao.example.evil", host));
        assert!(!origins.allows("http://localhost.evil:80", host));
        assert!(!origins.allows("null", host));
        assert!(!origins.allows("http://node.example:8081", host));
    }
}
