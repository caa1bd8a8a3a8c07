//! Who is asking: the wallet signed in behind a request, if any.
//!
//! The read API is public, and serves everyone the same inboxes, because
//! everything in them is on the chain already. A signed-in owner gets more:
//! an inbox narrowed by their consent, a stream that never pushes blocked
//! senders, and presence. Sign-in itself (SIWE, sessions) lives in the
//! `cairn` crate; this trait is the seam, so the indexer knows nothing of
//! cookies or signatures.

use alloy::primitives::Address;
use axum::http::HeaderMap;

use crate::http::ApiError;

/// Finds the signed-in wallet of a request.
#[async_trait::async_trait]
pub trait Viewers: Send + Sync + std::fmt::Debug {
    /// The wallet whose live session the request's headers carry, if any.
    /// An error when sessions cannot be read: the request must then fail,
    /// not be served as anonymous, or an owner's consent would be ignored.
    async fn viewer(&self, headers: &HeaderMap) -> Result<Option<Address>, ApiError>;
}
