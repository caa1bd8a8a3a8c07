//! The web client (`web/`, built by Vite into `web/dist`) at `/`, and the
//! little it needs to know about this node at `/v1/config`.
//!
//! Only `/` and `/assets/*` are files: an unknown path stays a JSON 404, so
//! a typo in an API path is never answered with the app's HTML. The pages
//! carry a strict Content-Security-Policy: scripts, styles and connections
//! to this origin only. The app reaches the chain through the user's wallet,
//! never through a URL this node could choose.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use axum::{
    http::{header, HeaderValue},
    routing::get,
    Json, Router,
};
use serde::Serialize;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// Where the built app is, and what it is told about this node.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The built assets (`index.html`, `assets/`).
    pub dir: PathBuf,
    /// What `GET /v1/config` answers.
    pub node: NodeInfo,
}

/// What the app needs to know about the node serving it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The Cairn contract the node indexes.
    pub contract: Address,
    /// The chain the contract lives on, when the node knows it; the app then
    /// asks the wallet to switch to it.
    pub chain_id: Option<u64>,
    /// Blocks on top of a message before it is confirmed (K).
    pub confirmations: u64,
    /// Whether this node runs the batching gateway (gasless posts).
    pub gateway: bool,
}

/// `img-src https:` is for ENS avatars, which the page loads only when the
/// user turns them on (`web/src/dom.ts`, `person`); no image ever comes
/// from message text, which is never rendered as HTML.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The app's routes, each with the security headers.
pub fn router(config: &WebConfig) -> Router {
    let info = config.node.clone();
    let assets: &Path = &config.dir;
    Router::new()
        .route_service("/", ServeFile::new(assets.join("index.html")))
        .nest_service("/assets", ServeDir::new(assets.join("assets")))
        .route(
            "/v1/config",
            get(move || {
                let info = info.clone();
                async move { Json(info) }
            }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}
