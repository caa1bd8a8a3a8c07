//! The error every Cairn HTTP endpoint answers with: JSON `{code, message}`
//! with a stable code. The read API, the node's own routes and the gateway
//! all use it, so it lives here, below all of them.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::store::{InvalidCursor, StoreError};

/// An API error: a stable machine-readable `code` and a human `message`.
///
/// Client errors keep their status and message. Server errors send a generic
/// message and log the real one, so internals never leak to callers.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// A client error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Tells the client to wait `secs` (at least 1) before trying again.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// A server error: logs `error` and answers 503 with a generic message.
    pub fn internal(what: &'static str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, what, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the {what} is unavailable; try again"),
        )
    }

    /// The 400 for text that is not a wallet address
    /// ([`cairn_proto::ids::parse_address`]'s rule), with the same codes on
    /// every endpoint: `invalid_address`, or `invalid_checksum` for a
    /// mixed-case typo.
    pub fn address(raw: &str) -> Result<alloy::primitives::Address, Self> {
        use cairn_proto::ids::{parse_address, AddressError};
        parse_address(raw).map_err(|e| {
            let code = match e {
                AddressError::Invalid => "invalid_address",
                AddressError::BadChecksum => "invalid_checksum",
            };
            Self::new(StatusCode::BAD_REQUEST, code, format!("{raw:?} {e}"))
        })
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal("database", e)
    }
}

impl From<InvalidCursor> for ApiError {
    fn from(e: InvalidCursor) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_cursor", e.to_string())
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        Self::new(status, code, rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Rewrites any error response that is not JSON yet (axum's 404 and 405,
/// extractor rejections such as a path that is not UTF-8, WebSocket
/// handshake failures) as `{code, message}`, keeping its status and
/// headers (`Allow`, `Retry-After`).
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = match (status, text.is_empty()) {
        (StatusCode::NOT_FOUND, true) => "no such route; see /openapi.json".to_string(),
        (StatusCode::METHOD_NOT_ALLOWED, true) => "this route does not take that method".into(),
        (s, _) if s.is_server_error() => {
            tracing::error!(%status, body = %text, "server error");
            "internal error".into()
        }
        (_, false) => text,
        (s, true) => s.canonical_reason().unwrap_or("bad request").to_string(),
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut rewritten = ApiError::new(status, code, message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// The JSON error body, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_address`.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}
