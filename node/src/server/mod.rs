//! The HTTP server behind `cairn serve`.
//!
//! It always serves the block store as an IPFS trustless gateway
//! (`GET /ipfs/{cid}`, raw block responses) and `POST /v1/blobs`, plus
//! `/healthz`; Prometheus `/metrics` is served on a status listener of its
//! own ([`status`]). With the indexer enabled it also
//! mounts the read API of `cairn-indexer` (REST, GraphQL, WebSocket stream,
//! `/openapi.json`). [`Limits`] (body size, timeout, concurrency, per-IP rate)
//! wrap every route, and every error is JSON `{code, message}`.

mod blocks;
pub(crate) use blocks::store_error;
mod connections;
mod content;
mod node;
pub mod tls;
pub mod web;

use std::sync::Arc;

use axum::{extract::State, response::IntoResponse, routing::get, Json, Router};
use cairn_indexer::health::Progress;
pub use cairn_indexer::{
    api::{Limits, PerIpRate, PublicOrigins},
    http::ApiError,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

pub use crate::uploads::Uploads;
pub use content::StoreBlocks;
pub use node::{Node, NodeConfig, NodeError};

use cairn_client::store::BlobStore;

/// Shared state of the server's own handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where blocks are stored and served from.
    pub store: Arc<dyn BlobStore>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Indexer progress, when the indexer runs in this process.
    pub progress: Option<watch::Receiver<Progress>>,
    /// The OpenAPI document of every route this node serves, as JSON.
    pub openapi: Arc<serde_json::Value>,
    /// Signed uploads to `POST /v1/blobs`; `None` refuses every upload.
    pub uploads: Option<Arc<Uploads>>,
    /// Whether the gateway holds the batcher lease, when a gateway runs.
    pub batching: Option<watch::Receiver<bool>>,
    /// The last round of readiness checks ([`crate::health`]).
    pub readiness: watch::Receiver<crate::health::Readiness>,
}

/// The OpenAPI document of the node's own routes; [`openapi`] adds the rest.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "Cairn node",
        description = "Blocks (trustless gateway and uploads), and, when they run, the read API \
        (REST; WebSocket stream at GET /v1/stream?address=<addr>&after=<cursor>; GraphQL at /graphql) \
        and the batching gateway."
    ),
    paths(blocks::get_block, blocks::put_block),
    components(schemas(cairn_indexer::http::ErrorBody))
)]
struct NodeDoc;

/// The document for a node running the read API and/or the gateway, as JSON.
pub fn openapi(read_api: bool, gateway: bool) -> serde_json::Value {
    use utoipa::OpenApi;
    let mut doc = NodeDoc::openapi();
    if read_api {
        doc.merge(cairn_indexer::api::ApiDoc::openapi());
    }
    if gateway {
        doc.merge(crate::gateway::GatewayDoc::openapi());
    }
    serde_json::to_value(doc).expect("the OpenAPI document serializes")
}

/// The server's routes with all limits applied; `read_api` is the indexer's
/// router when it runs, `public` where users reach the node, and `rate`
/// its per-IP request rate ([`Limits::per_ip_rate`]), which the read API
/// shares. Tests call this with `tower::ServiceExt::oneshot`.
pub fn app(
    state: AppState,
    read_api: Option<Router>,
    limits: &Limits,
    public: &PublicOrigins,
    rate: &PerIpRate,
) -> Router {
    let own = Router::new()
        .route(
            "/ipfs/{cid}",
            get(blocks::get_block).head(blocks::head_block),
        )
        .route("/v1/blobs", axum::routing::post(blocks::put_block))
        .route("/healthz", get(health))
        .route("/livez", get(live))
        .route("/readyz", get(ready_public))
        .route(
            "/openapi.json",
            get(|State(s): State<AppState>| async move { Json(s.openapi.as_ref().clone()) }),
        )
        .with_state(state);
    let router = match read_api {
        Some(api) => own.merge(api),
        None => own,
    };
    limits.apply(router, public, rate)
}

/// The status listener's routes (`--metrics-listen`): `/healthz` and
/// Prometheus `/metrics`, with [`Limits::apply_status`]. Metrics stay off
/// the public port: their counters tell a stranger, a frame at a time,
/// things such as whether a wallet allowed them. On a listener of its own,
/// health also answers while the public port's connection cap is full.
pub fn status(state: AppState, limits: &Limits) -> Router {
    let router = Router::new()
        .route("/healthz", get(health))
        .route("/livez", get(live))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { s.metrics.render() }),
        )
        .with_state(state);
    limits.apply_status(router)
}

/// `/healthz`, `/livez`, `/readyz` and `/metrics` alone, as [`status`]:
/// what `cairn index` (an indexer without the read API) serves.
pub fn status_app(
    progress: watch::Receiver<Progress>,
    readiness: watch::Receiver<crate::health::Readiness>,
    limits: &Limits,
) -> Router {
    let metrics = metrics_handle();
    let router = Router::new()
        .route(
            "/healthz",
            get(move || async move { cairn_indexer::api::health(&progress.borrow()) }),
        )
        .route("/livez", get(live))
        .route(
            "/readyz",
            get(move || async move { readiness_response(&readiness.borrow()) }),
        )
        .route("/metrics", get(move || async move { metrics.render() }));
    limits.apply_status(router)
}

/// Liveness: the process answers HTTP. It asks nothing else, so a load
/// balancer or supervisor restarts only a node that is really stuck.
async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "live"}))
}

/// Readiness: 200 while every dependency group answers, else 503, with
/// each check ([`crate::health`]). Reads the last round; waits on nothing.
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    readiness_response(&state.readiness.borrow())
}

/// Readiness on the public port: the same code, and only the status. The
/// checks name private addresses (Kubo's, the database's errors), which a
/// stranger must not learn; the status listener shows them.
async fn ready_public(State(state): State<AppState>) -> axum::response::Response {
    let readiness = state.readiness.borrow();
    let code = readiness_code(&readiness);
    (code, Json(serde_json::json!({"status": readiness.status}))).into_response()
}

fn readiness_code(readiness: &crate::health::Readiness) -> axum::http::StatusCode {
    if readiness.ready() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

fn readiness_response(readiness: &crate::health::Readiness) -> axum::response::Response {
    (readiness_code(readiness), Json(readiness)).into_response()
}

/// The indexer's health when it runs, and the gateway's `batcher` role
/// (`batching` or `standby`) when a gateway runs.
async fn health(State(state): State<AppState>) -> axum::response::Response {
    let (code, mut body) = match &state.progress {
        Some(progress) => {
            let (code, health) = cairn_indexer::api::assess_health(&progress.borrow());
            (
                code,
                serde_json::to_value(health).expect("health serializes"),
            )
        }
        None => (
            axum::http::StatusCode::OK,
            serde_json::json!({"status": "ok"}),
        ),
    };
    if let Some(batching) = &state.batching {
        let role = if *batching.borrow() {
            "batching"
        } else {
            "standby"
        };
        body["batcher"] = role.into();
    }
    (code, Json(body)).into_response()
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

pub use connections::{serve, serve_with};
