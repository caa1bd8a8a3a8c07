//! Block routes: the trustless gateway and uploads.

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use super::{ApiError, AppState};
use cairn_client::store::{cid, StoreError};

/// The media type of a raw block in the trustless gateway spec.
const RAW_BLOCK: &str = "application/vnd.ipld.raw";

/// A raw block by CID, re-hashed before it is served.
#[utoipa::path(get, path = "/ipfs/{cid}", params(("cid" = String, Path)),
    responses((status = 200, description = "the block, application/vnd.ipld.raw"),
        (status = 400, body = cairn_indexer::http::ErrorBody), (status = 404, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn get_block(
    State(state): State<AppState>,
    Path(cid): Path<String>,
) -> Result<Response, ApiError> {
    let cid = cid::parse(&cid).map_err(|e| store_error(e.into()))?;
    let bytes = state.store.get(&cid).await.map_err(store_error)?;
    metrics::counter!("cairn_blocks_served_total").increment(1);
    Ok(raw_block_response(&cid, bytes))
}

pub(super) async fn head_block(
    State(state): State<AppState>,
    Path(cid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let cid = cid::parse(&cid).map_err(|e| store_error(e.into()))?;
    if state.store.has(&cid).await.map_err(store_error)? {
        Ok(StatusCode::OK)
    } else {
        Err(store_error(StoreError::NotFound(Box::new(cid))))
    }
}

/// A stored block.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Stored {
    cid: String,
    size: usize,
    /// The block was stored already: nothing was charged.
    #[serde(rename = "alreadyStored", skip_serializing_if = "std::ops::Not::not")]
    already_stored: bool,
}

/// Stores a raw block (at most 1 MiB) and answers its CID.
#[utoipa::path(post, path = "/v1/blobs", request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Stored), (status = 400, body = cairn_indexer::http::ErrorBody), (status = 413, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn put_block(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Stored>), ApiError> {
    let body = body.map_err(ApiError::from)?;
    let Some(uploads) = &state.uploads else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "uploads_disabled",
            "this node takes blocks only inside signed posts (POST /v1/posts with the envelope inline)",
        ));
    };
    let octet_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/octet-stream"));
    if !octet_stream {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "upload the raw block as application/octet-stream",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_block",
            "the request body is empty",
        ));
    }
    cairn_client::store::check_size(&body).map_err(store_error)?;
    let uploader = uploads.check(&headers, &body).await?;
    let size = body.len();
    // An upload signature names its block, not a use: anyone who saw one
    // can send it again until its deadline. A block stored already costs
    // nothing again, so a replay cannot drain its signer's allowance.
    let cid = cid::cid_for_block(&body);
    if state.store.has(&cid).await.map_err(store_error)? {
        return Ok((
            StatusCode::OK,
            Json(Stored {
                cid: cid.to_string(),
                size,
                already_stored: true,
            }),
        ));
    }
    uploads.charge(&uploader, size).await?;
    let cid = state.store.put(body).await.map_err(store_error)?;
    tracing::debug!(%uploader, %cid, size, "block uploaded");
    metrics::counter!("cairn_blocks_stored_total").increment(1);
    Ok((
        StatusCode::CREATED,
        Json(Stored {
            cid: cid.to_string(),
            size,
            already_stored: false,
        }),
    ))
}

fn raw_block_response(cid: &cid::Cid, bytes: Bytes) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_BLOCK));
    // A CID names immutable bytes: cache forever.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=29030400, immutable"),
    );
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{cid}.raw\"")) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The API's answer to a block store's error: a bad CID is the caller's
/// fault, a tampered block the store's.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "block_too_large",
            e.to_string(),
        ),
        StoreError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "block_not_found", e.to_string())
        }
        StoreError::UnsupportedCid(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_cid", e.to_string())
        }
        StoreError::Tampered { .. } => {
            tracing::error!(error = %e, "stored block failed its hash check");
            ApiError::new(StatusCode::BAD_GATEWAY, "block_tampered", e.to_string())
        }
        other => ApiError::internal("block store", other),
    }
}
