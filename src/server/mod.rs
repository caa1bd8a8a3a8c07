//! The HTTP server behind `cairn serve`.
//!
//! It exposes the embedded block store as an IPFS trustless gateway
//! (`GET /ipfs/{cid}`, raw block responses) plus `POST /v1/blobs` for clients
//! that do not run a store of their own, and the operational endpoints
//! `/healthz` and `/metrics`. Every route has a body-size limit, a timeout and
//! a per-client rate limit.

mod blocks;
mod error;
mod limits;

use std::{net::SocketAddr, sync::Arc};

use axum::{routing::get, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::store::BlobStore;
pub use error::ApiError;
pub use limits::Limits;

/// Shared state of the server's handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where blocks are stored and served from.
    pub store: Arc<dyn BlobStore>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The server's routes with all limits applied. Tests call it with
/// `tower::ServiceExt::oneshot`, without binding a port.
pub fn app(state: AppState, limits: &Limits) -> Router {
    let api = Router::new()
        .route(
            "/ipfs/{cid}",
            get(blocks::get_block).head(blocks::head_block),
        )
        .route("/v1/blobs", axum::routing::post(blocks::put_block))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move {
                    s.metrics.render()
                },
            ),
        )
        .with_state(state);
    limits.apply(api)
}

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Serves [`app`] on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        app(state, limits).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
