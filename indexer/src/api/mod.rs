//! The read API: REST under `/v1`, GraphQL at `/graphql`, the WebSocket
//! stream at `/v1/stream` and the OpenAPI document at `/openapi.json`.
//!
//! Every error is JSON `{code, message}` with a stable `code`. Every input
//! (address, cursor, limit, id) is validated with a 400 and a reason. Limits
//! on size, rate and time come from [`Limits`], applied by the server that
//! mounts these routes.

mod expansion;
mod graphql;
mod limits;
mod origins;
pub mod presence;
mod proxies;
pub mod query;
mod rest;
mod slots;
mod stream;
mod viewer;

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use axum::{
    extract::{DefaultBodyLimit, Request, State},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use tokio::sync::watch;
use utoipa::OpenApi;

pub use crate::http::{ApiError, ErrorBody};
pub use graphql::{schema, CairnSchema};
pub use limits::{Limits, PerIpRate};
pub use origins::{OriginError, Origins, PublicOrigins};
pub use presence::Presence;
pub use proxies::TrustedProxies;
pub use slots::{Slot, Slots};
pub use stream::{StreamConfig, SESSION_ENDED, VIEWER_HEADER};
pub use viewer::Viewers;

use crate::{health::Progress, store::Store};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The indexer's store.
    pub store: Arc<dyn Store>,
    /// Confirmed events, pushed to the streams that subscribe.
    pub fanout: Arc<crate::fanout::Fanout>,
    /// Ingestion progress, for `/healthz`.
    pub progress: watch::Receiver<Progress>,
    /// Stream tuning.
    pub stream: StreamConfig,
    /// Open streams per subscribed address.
    pub streams: Arc<Slots<String>>,
    /// Who is signed in; `None` when sign-in is off, and then nobody's
    /// consent narrows anything and nobody has presence.
    pub viewers: Option<Arc<dyn Viewers>>,
    /// Presence between signed-in stream connections.
    pub presence: Arc<Presence>,
    /// Marks each request, so that the content check steps aside for them.
    pub reads: Arc<crate::read_load::ReadLoad>,
    /// The node's per-IP request rate, which operations sent on a GraphQL
    /// WebSocket spend too.
    pub rate: PerIpRate,
    /// Whether `GET /graphql` serves GraphiQL. Its page loads scripts from
    /// a CDN; on the origin of the web client they could read the
    /// client's keys, so a node that serves the web client turns it off.
    pub graphiql: bool,
}

impl ApiState {
    /// The wallet signed in behind `headers`, if any; an error when
    /// sessions cannot be read.
    pub async fn viewer(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Option<alloy::primitives::Address>, ApiError> {
        match &self.viewers {
            Some(viewers) => viewers.viewer(headers).await,
            None => Ok(None),
        }
    }
}

/// The OpenAPI document of the read API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Cairn read API",
        description = "Inboxes, messages and keys indexed from the Cairn contract. \
        WebSocket stream: GET /v1/stream?address=<addr>&after=<cursor>. GraphQL: /graphql."
    ),
    paths(
        rest::inbox,
        rest::inbox_changes,
        rest::channel_changes,
        rest::sent,
        rest::channel_messages,
        rest::message,
        rest::key,
        rest::batch
    ),
    components(schemas(
        ErrorBody,
        query::Page,
        query::Changes,
        crate::store::Message,
        crate::store::KeyRecord,
        crate::store::StreamEvent,
        crate::store::ConsentEntry,
        crate::store::ChannelRecord,
        crate::store::ConsentState,
        crate::store::BatchRecord,
        crate::store::InvalidPost,
        crate::store::Resolution
    ))
)]
pub struct ApiDoc;

/// The read API's routes, without limits (the server applies them).
pub fn router(state: ApiState) -> Router {
    let schema = schema(state.clone());
    Router::new()
        .route("/v1/inbox/{address}", get(rest::inbox))
        .route("/v1/inbox/{address}/changes", get(rest::inbox_changes))
        .route("/v1/channels/{id}/changes", get(rest::channel_changes))
        .route("/v1/sent/{address}", get(rest::sent))
        .route("/v1/channels", get(rest::channels))
        .route("/v1/channels/{id}", get(rest::channel))
        .route("/v1/channels/{id}/messages", get(rest::channel_messages))
        .route("/v1/messages/{id}", get(rest::message))
        .route("/v1/keys/{address}", get(rest::key))
        .route("/v1/batches/{id}", get(rest::batch))
        .route(
            "/graphql",
            get(|State(state): State<ApiState>| async move {
                if !state.graphiql {
                    return Err(ApiError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "graphiql_off",
                        "GraphiQL is off on a node that serves the web client (its CDN scripts would run on the app's origin); POST queries to /graphql with any GraphQL client",
                    ));
                }
                Ok(Html(
                    GraphiQLSource::build()
                        .endpoint("/graphql")
                        .subscription_endpoint("/graphql/ws")
                        .finish(),
                ))
            })
            .merge(post({
                let schema = schema.clone();
                move |headers, body| graphql::http(schema.clone(), headers, body)
            }))
            .layer(DefaultBodyLimit::max(graphql::MAX_BODY)),
        )
        // Requests, not streams: an open stream is not a busy reader.
        .route_layer(middleware::from_fn_with_state(
            state.reads.clone(),
            mark_read,
        ))
        .route("/v1/stream", get(stream::stream))
        .route("/graphql/ws", {
            let rate = state.rate.clone();
            get(move |peer, protocol, upgrade| {
                graphql::websocket(schema.clone(), rate.clone(), peer, protocol, upgrade)
            })
        })
        .with_state(state)
}

async fn mark_read(
    State(reads): State<Arc<crate::read_load::ReadLoad>>,
    request: Request,
    next: Next,
) -> Response {
    let _reading = reads.begin();
    next.run(request).await
}

/// The [`crate::health`] verdict now, with its HTTP status: 200 while the
/// node serves (ok, syncing, degraded) and 503 when it is stalled or failed.
pub fn assess_health(progress: &Progress) -> (axum::http::StatusCode, crate::health::Health) {
    let health = crate::health::assess(progress, std::time::Instant::now());
    let status = if health.status.serving() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, health)
}

/// `/healthz`: [`assess_health`] as JSON.
pub fn health(progress: &Progress) -> impl IntoResponse {
    let (status, health) = assess_health(progress);
    (status, Json(health))
}
