//! REST handlers under `/v1`.

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;

use super::{
    query::{self, Changes, Mailbox, Page},
    ApiError, ApiState,
};
use crate::store::{BatchRecord, ChannelRecord, KeyRecord, Message};

/// `?after=&before=&order=&limit=` of message lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
    /// A cursor from a previous oldest-first page or message.
    after: Option<String>,
    /// A cursor from a previous newest-first page: the messages before it,
    /// newest first.
    before: Option<String>,
    /// `oldest` (the default) or `newest`: newest first, from the newest.
    order: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
}

impl ListParams {
    fn from(&self) -> query::ListFrom<'_> {
        query::ListFrom {
            after: self.after.as_deref(),
            before: self.before.as_deref(),
            order: self.order.as_deref(),
        }
    }
}

/// `?after=&before=&order=&limit=&view=` of the inbox.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct InboxParams {
    /// A cursor from a previous oldest-first page or message.
    after: Option<String>,
    /// A cursor from a previous newest-first page: the messages before it,
    /// newest first.
    before: Option<String>,
    /// `oldest` (the default) or `newest`: newest first, from the newest.
    order: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `inbox` (senders the owner allowed), `requests` (senders the owner
    /// has not decided on) or `all`. The first two need the owner's session;
    /// the owner signed in gets `inbox` by default, anyone else `all`.
    /// Blocked senders are in neither `inbox` nor `requests`.
    view: Option<String>,
}

fn params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// Messages to an address, oldest first (newest first with `order=newest`
/// or `before`), pending and confirmed; for its
/// signed-in owner, narrowed by their consent.
#[utoipa::path(get, path = "/v1/inbox/{address}", params(("address" = String, Path), InboxParams),
    responses((status = 200, body = Page), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub(super) async fn inbox(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    headers: HeaderMap,
    q: Result<Query<InboxParams>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let p = params(q)?;
    let folder = query::folder(&address, p.view.as_deref(), state.viewer(&headers).await?)?;
    Ok(Json(
        query::page(
            &state,
            Mailbox::Inbox(folder),
            &address,
            query::ListFrom {
                after: p.after.as_deref(),
                before: p.before.as_deref(),
                order: p.order.as_deref(),
            },
            p.limit,
        )
        .await?,
    ))
}

/// `?after=&limit=` of a changes feed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChangesParams {
    /// A stream cursor: `next` of a previous page, or an event's `cursor`
    /// (absent: from the start).
    after: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
}

/// Confirmed messages to an address and retractions, in the order the node
/// learned of them (the stream's), for clients that poll: a batch whose
/// manifest arrived late comes after the cursor of a client that read
/// everything before it. For the signed-in owner, without blocked senders.
#[utoipa::path(get, path = "/v1/inbox/{address}/changes", params(("address" = String, Path), ChangesParams),
    responses((status = 200, body = Changes), (status = 400, body = super::ErrorBody)))]
pub(super) async fn inbox_changes(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    headers: HeaderMap,
    q: Result<Query<ChangesParams>, QueryRejection>,
) -> Result<Json<Changes>, ApiError> {
    let p = params(q)?;
    let subscribed = query::address(&address)?;
    let owner = state.viewer(&headers).await?.filter(|v| *v == subscribed);
    let recipient = query::recipient_key(subscribed);
    Ok(Json(
        query::changes(&state, &recipient, owner, p.after.as_deref(), p.limit).await?,
    ))
}

/// A channel's confirmed messages and retractions in the stream's order:
/// [`inbox_changes`] for a channel.
#[utoipa::path(get, path = "/v1/channels/{id}/changes", params(("id" = String, Path), ChangesParams),
    responses((status = 200, body = Changes), (status = 400, body = super::ErrorBody)))]
pub(super) async fn channel_changes(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    q: Result<Query<ChangesParams>, QueryRejection>,
) -> Result<Json<Changes>, ApiError> {
    let p = params(q)?;
    let channel = query::channel(&id)?.to_string();
    Ok(Json(
        query::changes(&state, &channel, None, p.after.as_deref(), p.limit).await?,
    ))
}

/// Messages from an address, oldest first, pending and confirmed.
#[utoipa::path(get, path = "/v1/sent/{address}", params(("address" = String, Path), ListParams),
    responses((status = 200, body = Page), (status = 400, body = super::ErrorBody)))]
pub(super) async fn sent(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        query::page(&state, Mailbox::Sent, &address, p.from(), p.limit).await?,
    ))
}

/// `?member=` of the channel list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MemberParams {
    /// A wallet address.
    member: Option<String>,
}

/// One channel: name, creator, policy, epoch (and its key bundle), members and admins.
#[utoipa::path(get, path = "/v1/channels/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ChannelRecord), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn channel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ChannelRecord>, ApiError> {
    Ok(Json(query::channel_record(&state, &id).await?))
}

/// The channels a wallet is a member of.
#[utoipa::path(get, path = "/v1/channels", params(MemberParams),
    responses((status = 200, body = [ChannelRecord]), (status = 400, body = super::ErrorBody)))]
pub(super) async fn channels(
    State(state): State<ApiState>,
    q: Result<Query<MemberParams>, QueryRejection>,
) -> Result<Json<Vec<ChannelRecord>>, ApiError> {
    let member = params(q)?.member.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_member",
            "pass ?member=<wallet address>",
        )
    })?;
    Ok(Json(query::channels_of(&state, &member).await?))
}

/// A channel's messages, oldest first, pending and confirmed. They are
/// ciphertext for the channel's members; anyone may list them.
#[utoipa::path(get, path = "/v1/channels/{id}/messages", params(("id" = String, Path), ListParams),
    responses((status = 200, body = Page), (status = 400, body = super::ErrorBody)))]
pub(super) async fn channel_messages(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let p = params(q)?;
    Ok(Json(
        query::channel_page(&state, &id, p.from(), p.limit).await?,
    ))
}

/// One message by id.
#[utoipa::path(get, path = "/v1/messages/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn message(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    Ok(Json(query::message(&state, &id).await?))
}

/// The registered messaging key of an address.
#[utoipa::path(get, path = "/v1/keys/{address}", params(("address" = String, Path)),
    responses((status = 200, body = KeyRecord), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn key(
    State(state): State<ApiState>,
    Path(address): Path<String>,
) -> Result<Json<KeyRecord>, ApiError> {
    Ok(Json(query::key(&state, &address).await?))
}

/// One batch anchor: what its manifest check found, and its invalid posts.
#[utoipa::path(get, path = "/v1/batches/{id}", params(("id" = String, Path)),
    responses((status = 200, body = BatchRecord), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn batch(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<BatchRecord>, ApiError> {
    Ok(Json(query::batch(&state, &id).await?))
}
