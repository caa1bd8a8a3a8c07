//! Limits every route gets: body size, request timeout, concurrency and a
//! per-client-IP rate limit. Each limit answers with the same JSON error
//! shape as the handlers (`{code, message}`).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    error_handling::HandleErrorLayer, extract::DefaultBodyLimit, http::StatusCode,
    response::IntoResponse, BoxError, Router,
};
use tower::ServiceBuilder;
use tower_governor::{
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::PeerIpKeyExtractor,
    GovernorError, GovernorLayer,
};

use super::{
    origins::{OriginError, Origins, PublicOrigins},
    ApiError,
};
use crate::http::json_errors;

/// Server limits, all configurable from `cairn serve`'s flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest a request may take, queueing included, before it is answered with 408.
    pub request_timeout: Duration,
    /// Sustained requests per second per client IP.
    pub per_ip_per_second: u64,
    /// Requests one client IP may burst above the sustained rate.
    pub per_ip_burst: u32,
    /// Requests in flight at once across all clients; more wait in line.
    pub max_in_flight: usize,
    /// Open connections at most, WebSockets included. Keep it well below
    /// the process's file descriptor limit (`ulimit -n`).
    pub max_connections: usize,
    /// Open connections at most from one client IP.
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request's headers, and how long
    /// a keep-alive connection may sit idle before its next request.
    pub header_read_timeout: Duration,
    /// Web origins allowed besides the public ones (CORS, and the
    /// `Origin` of writes and WebSocket handshakes).
    pub allowed_origins: Vec<String>,
    /// The origins users reach the node at (`--public-origin`); empty in
    /// development, where they are the node's own address. See
    /// [`PublicOrigins`].
    pub public_origins: Vec<String>,
    /// Load balancers and proxies whose `X-Forwarded-For` names the client
    /// (`--trusted-proxy`); they are exempt from the per-IP connection cap,
    /// and every per-IP limit counts the client they name. See
    /// [`TrustedProxies`](super::TrustedProxies).
    pub trusted_proxies: super::TrustedProxies,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // One 1 MiB block plus room for multipart framing.
            max_body_bytes: (1 << 20) + 64 * 1024,
            request_timeout: Duration::from_secs(30),
            // A client paging its inbox as fast as the node answers (about
            // 1 ms a page) sends 1,000 requests a second: the burst lets
            // 2,000 through back to back, and the sustained rate keeps one
            // address to about half of what two cores serve. Streams and
            // GraphQL subscriptions count once, at their handshake.
            per_ip_per_second: 1_000,
            per_ip_burst: 2_000,
            max_in_flight: 1024,
            max_connections: 4096,
            max_connections_per_ip: 256,
            header_read_timeout: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            public_origins: Vec::new(),
            trusted_proxies: Default::default(),
        }
    }
}

impl Limits {
    /// The public origins of a node bound to `addr`.
    pub fn public_origins_at(&self, addr: SocketAddr) -> Result<PublicOrigins, OriginError> {
        PublicOrigins::new(&self.public_origins, addr)
    }

    /// A node's per-IP request rate: one per node, shared by its routes
    /// ([`Limits::apply`]) and the operations sent on its GraphQL
    /// WebSockets, so that a socket is no way around it.
    pub fn per_ip_rate(&self) -> PerIpRate {
        let governor = GovernorConfigBuilder::default()
            .per_nanosecond(1_000_000_000 / self.per_ip_per_second.max(1))
            .burst_size(self.per_ip_burst.max(1))
            .finish()
            .expect("rate limit settings are non-zero");
        PerIpRate(Arc::new(governor))
    }

    /// Wraps `router` in every limit, `rate` among them, the origin and
    /// `Host` checks against `public`, and the rewriting of every error to
    /// `{code, message}`. The rate limit keys on the client address of
    /// axum's `ConnectInfo`: the TCP peer's, or, from a trusted proxy only,
    /// the one its `X-Forwarded-For` names (set per request by the server).
    pub fn apply(&self, router: Router, public: &PublicOrigins, rate: &PerIpRate) -> Router {
        let origins = Origins::new(public.clone(), self.allowed_origins.clone());
        let hosts = origins.clone();
        let cors = origins.cors();
        let rate_limit = GovernorLayer::new(rate.0.clone()).error_handler(rate_limit_error);
        router
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(|err: BoxError| async move {
                        timeout_error(err)
                    }))
                    .timeout(self.request_timeout)
                    .concurrency_limit(self.max_in_flight),
            )
            .layer(rate_limit)
            .layer(axum::middleware::from_fn(move |request, next| {
                origins.clone().guard(request, next)
            }))
            .layer(cors)
            .layer(axum::middleware::from_fn(move |request, next| {
                hosts.clone().host_guard(request, next)
            }))
            .layer(axum::middleware::map_response(json_errors))
    }

    /// The limits of the status listener (`/healthz`, `/metrics`): no body,
    /// the request timeout and a few requests at once. No origin or `Host`
    /// check: no browser session means anything there, and a scraper names
    /// whatever address it reaches the listener at.
    pub fn apply_status(&self, router: Router) -> Router {
        router
            .layer(DefaultBodyLimit::max(0))
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(|err: BoxError| async move {
                        timeout_error(err)
                    }))
                    .timeout(self.request_timeout)
                    .concurrency_limit(STATUS_IN_FLIGHT),
            )
            .layer(axum::middleware::map_response(json_errors))
    }

    /// The connection caps of the status listener: a few scrapers and
    /// probes, which the public port's clients never compete with.
    pub fn status(&self) -> Self {
        Self {
            max_connections: 64,
            max_connections_per_ip: 16,
            ..self.clone()
        }
    }
}

/// Status requests in flight at once.
const STATUS_IN_FLIGHT: usize = 16;

/// The per-IP request rate of one node ([`Limits::per_ip_rate`]).
#[derive(Clone)]
pub struct PerIpRate(
    Arc<
        GovernorConfig<
            PeerIpKeyExtractor,
            governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
        >,
    >,
);

impl PerIpRate {
    /// Takes one request from `ip`'s allowance; `Err` with the seconds to
    /// wait (at least 1) when it is spent.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        self.0.limiter().check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }

    /// Forgets the addresses whose allowance is full again: otherwise one
    /// request from each of many addresses would hold memory for good.
    /// The node calls it every minute.
    pub fn forget_idle(&self) {
        let limiter = self.0.limiter();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    /// How many addresses the limiter holds a state for.
    pub fn tracked(&self) -> usize {
        self.0.limiter().len()
    }
}

impl std::fmt::Debug for PerIpRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerIpRate")
    }
}

fn timeout_error(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took too long",
        )
    } else {
        tracing::error!(error = %err, "middleware failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

fn rate_limit_error(err: GovernorError) -> axum::response::Response {
    match err {
        GovernorError::TooManyRequests { wait_time, .. } => {
            // Never "retry in 0 s": clients that obey it would spin.
            let wait_time = wait_time.max(1);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {wait_time} s"),
            )
            .with_retry_after(wait_time)
            .into_response()
        }
        other => {
            tracing::error!(error = %other, "rate limiter could not identify the client");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_whose_allowance_refilled_are_forgotten() {
        let limits = Limits {
            per_ip_per_second: 1_000_000,
            per_ip_burst: 1,
            ..Limits::default()
        };
        let rate = limits.per_ip_rate();
        for i in 0..1_000u32 {
            assert!(rate.check(IpAddr::from(i.to_be_bytes())).is_ok());
        }
        assert_eq!(rate.tracked(), 1_000);
        // One microsecond refills an allowance; wait well past it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        rate.forget_idle();
        assert_eq!(rate.tracked(), 0);
        // A spent allowance is kept: forgetting it would reset the limit.
        let slow = Limits {
            per_ip_per_second: 1,
            per_ip_burst: 1,
            ..Limits::default()
        }
        .per_ip_rate();
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert!(slow.check(ip).is_ok());
        assert!(slow.check(ip).is_err());
        slow.forget_idle();
        assert_eq!(slow.tracked(), 1);
        assert!(slow.check(ip).is_err());
    }
}
