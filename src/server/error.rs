use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::store::StoreError;

/// An API error: a stable machine-readable `code` and a human `message`.
///
/// Client errors keep their status and message. Server errors send a generic
/// message and log the real one, so internals never leak to callers.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
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
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "block_too_large",
                e.to_string(),
            ),
            StoreError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "block_not_found", e.to_string())
            }
            StoreError::UnsupportedCid(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_cid", e.to_string())
            }
            StoreError::Tampered { .. } => {
                tracing::error!(error = %e, "stored block failed its hash check");
                Self::new(StatusCode::BAD_GATEWAY, "block_tampered", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "block store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the block store is unavailable",
                )
            }
        }
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
        (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response()
    }
}
