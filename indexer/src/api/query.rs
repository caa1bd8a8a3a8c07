//! Input validation and lookups shared by REST and GraphQL, so both reject
//! the same inputs with the same codes.

use alloy::primitives::{Address, B256};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState};
use crate::store::{
    BatchRecord, ChannelRecord, Folder, KeyRecord, ListCursor, Message, Seek, StreamCursor,
    StreamEvent,
};

/// Channels listed per member at most; a member of more sees the first ones.
pub const MAX_CHANNELS: usize = 200;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page a client may ask for.
pub const MAX_LIMIT: u32 = 500;

/// Parses a wallet address: all lowercase, all uppercase, or mixed case
/// with a valid EIP-55 checksum ([`ApiError::address`]).
pub fn address(raw: &str) -> Result<Address, ApiError> {
    ApiError::address(raw)
}

/// Parses a channel id: 32 bytes whose top 12 are not all zero (those
/// would be a left-padded address, an inbox).
pub fn channel(raw: &str) -> Result<B256, ApiError> {
    let id: B256 = raw.trim().parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_channel",
            format!("{raw:?} is not a 32-byte hex channel id"),
        )
    })?;
    if !cairn_contracts::eip712::is_channel(id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_channel",
            format!("{raw:?} is an address, not a channel id: use /v1/inbox"),
        ));
    }
    Ok(id)
}

/// One channel: metadata, members, admins, policy and epoch.
pub async fn channel_record(state: &ApiState, id: &str) -> Result<ChannelRecord, ApiError> {
    let id = channel(id)?;
    state.store.channel(&id.to_string()).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "channel_not_found",
            format!("no channel {id}"),
        )
    })
}

/// The channels `member` belongs to (the first [`MAX_CHANNELS`]).
pub async fn channels_of(state: &ApiState, member: &str) -> Result<Vec<ChannelRecord>, ApiError> {
    let member = owner_key(address(member)?);
    let mut out = Vec::new();
    for id in state
        .store
        .channels_of(&member)
        .await?
        .into_iter()
        .take(MAX_CHANNELS)
    {
        if let Some(record) = state.store.channel(&id).await? {
            out.push(record);
        }
    }
    Ok(out)
}

/// A page of a channel's messages.
pub async fn channel_page(
    state: &ApiState,
    channel: &str,
    from: ListFrom<'_>,
    limit_raw: Option<u32>,
) -> Result<Page, ApiError> {
    let channel = self::channel(channel)?;
    let seek = from.seek()?;
    let limit = limit(limit_raw)?;
    let messages = state.store.inbox(&channel.to_string(), seek, limit).await?;
    Ok(page_of(messages, limit, from.given()))
}

/// How the store spells a recipient: the address as a left-padded bytes32.
pub fn recipient_key(address: Address) -> String {
    address.into_word().to_string()
}

/// How the store spells a sender or key owner.
pub fn owner_key(address: Address) -> String {
    cairn_proto::ids::lowercase(address)
}

/// Validates a page size.
pub fn limit(raw: Option<u32>) -> Result<u32, ApiError> {
    match raw.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIMIT}, not {n}"),
        )),
    }
}

/// Where a list request starts: `after` a cursor, oldest first (the
/// default), or newest first with `order=newest`, `before` a cursor for
/// the pages that follow.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListFrom<'a> {
    /// A cursor from a previous oldest-first page.
    pub after: Option<&'a str>,
    /// A cursor from a previous newest-first page.
    pub before: Option<&'a str>,
    /// `oldest` (the default) or `newest`.
    pub order: Option<&'a str>,
}

impl ListFrom<'_> {
    /// Only `after`, as the feeds and the CLI page.
    pub fn after(after: Option<&str>) -> ListFrom<'_> {
        ListFrom {
            after,
            ..ListFrom::default()
        }
    }

    /// The store's seek; a cursor that does not fit the order is refused.
    pub fn seek(&self) -> Result<Seek, ApiError> {
        let newest = match self.order {
            None | Some("oldest") => self.before.is_some(),
            Some("newest") => true,
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("order is oldest or newest, not {other:?}"),
                ))
            }
        };
        match (newest, self.after, self.before) {
            (true, Some(_), _) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "newest first pages with before=, not after=",
            )),
            (false, after, _) => Ok(Seek::After(list_cursor(after)?)),
            (true, None, before) => Ok(Seek::Before(list_cursor(before)?)),
        }
    }

    /// The cursor given, for the `next` of an empty page.
    fn given(&self) -> Option<&str> {
        self.after.or(self.before).filter(|s| !s.is_empty())
    }
}

/// Parses an optional list cursor.
pub fn list_cursor(raw: Option<&str>) -> Result<Option<ListCursor>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(ListCursor::decode)
        .transpose()
        .map_err(Into::into)
}

/// Parses an optional stream cursor.
pub fn stream_cursor(raw: Option<&str>) -> Result<Option<StreamCursor>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(StreamCursor::decode)
        .transpose()
        .map_err(Into::into)
}

/// Which list a page comes from.
#[derive(Debug, Clone, Copy)]
pub enum Mailbox {
    /// Messages to the address: all of them, or one of its owner's consent folders.
    Inbox(Option<Folder>),
    /// Messages from the address.
    Sent,
}

/// Which part of `address`'s inbox `view` (`inbox`, `requests` or `all`)
/// names for a request signed in as `viewer`. Without a view, the owner
/// signed in sees the inbox proper, and anyone else everything (it is all on
/// the chain). Only the owner may ask for a folder: it tells whom they
/// allowed.
pub fn folder(
    address: &str,
    view: Option<&str>,
    viewer: Option<Address>,
) -> Result<Option<Folder>, ApiError> {
    let owner = viewer == Some(self::address(address)?);
    let folder = match view {
        None if owner => Some(Folder::Accepted),
        None | Some("all") => None,
        Some("inbox") => Some(Folder::Accepted),
        Some("requests") => Some(Folder::Requests),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_view",
                format!("view must be inbox, requests or all, not {other:?}"),
            ))
        }
    };
    if folder.is_some() && !owner {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no_session",
            "the inbox and requests views are the owner's: sign in as this address",
        ));
    }
    Ok(folder)
}

/// A page of `address`'s inbox or sent messages.
pub async fn page(
    state: &ApiState,
    mailbox: Mailbox,
    address: &str,
    from: ListFrom<'_>,
    limit_raw: Option<u32>,
) -> Result<Page, ApiError> {
    let address = self::address(address)?;
    let seek = from.seek()?;
    let limit = limit(limit_raw)?;
    let messages = match mailbox {
        Mailbox::Inbox(None) => {
            state
                .store
                .inbox(&recipient_key(address), seek, limit)
                .await?
        }
        Mailbox::Inbox(Some(folder)) => {
            state
                .store
                .folder(
                    &recipient_key(address),
                    &owner_key(address),
                    folder,
                    seek,
                    limit,
                )
                .await?
        }
        Mailbox::Sent => state.store.sent(&owner_key(address), seek, limit).await?,
    };
    Ok(page_of(messages, limit, from.given()))
}

fn page_of(messages: Vec<Message>, limit: u32, given: Option<&str>) -> Page {
    let more = messages.len() == limit as usize;
    let next = messages
        .last()
        .map(|m| m.cursor.clone())
        .or_else(|| given.map(str::to_string));
    Page {
        messages,
        next,
        more,
    }
}

/// A page of the changes feed: stream events in stream order.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Changes {
    /// Confirmed messages and retractions, in the stream's order.
    pub events: Vec<StreamEvent>,
    /// Pass as `after` for the next page; it moves past events the owner's
    /// consent hid, so it may move when `events` is empty.
    pub next: String,
    /// Whether the page was full, so more may follow.
    pub more: bool,
}

/// Stream events for `recipient` after the stream cursor `after` (from the
/// start when absent), as the stream would send them to `owner` (signed in
/// as the subscribed address) or to anyone: the feed for clients that poll.
/// Unlike an inbox page, it is ordered by when the node learned of each
/// event, so a batch whose manifest came late is after the poller's cursor.
pub async fn changes(
    state: &ApiState,
    recipient: &str,
    owner: Option<Address>,
    after: Option<&str>,
    limit_raw: Option<u32>,
) -> Result<Changes, ApiError> {
    let after = stream_cursor(after)?.unwrap_or(StreamCursor(0));
    let limit = limit(limit_raw)?;
    let events = state.store.events_after(recipient, after, limit).await?;
    let more = events.len() == limit as usize;
    let next = events.last().map_or(after, |e| StreamCursor(e.seq()));
    let events = match owner {
        Some(owner) => super::stream::without_blocked(state, owner, events).await?,
        None => events,
    };
    Ok(Changes {
        events,
        next: next.encode(),
        more,
    })
}

pub use cairn_proto::{ids::parse_log_id, listing::Page};

/// [`parse_log_id`], refusing with `invalid_id` and what was `expected`.
fn log_id(id: &str, extra: usize, expected: &str) -> Result<(B256, u64, Vec<u64>), ApiError> {
    parse_log_id(id, extra).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("{id:?} is not {expected}"),
        )
    })
}

/// One message by its id: `<block hash>-<log index>`, with `-<item>` for a batched post.
pub async fn message(state: &ApiState, id: &str) -> Result<Message, ApiError> {
    let (hash, index, item) = log_id(id, 1, "a message id (<block hash>-<log index>[-<item>])")?;
    state
        .store
        .message(&hash.to_string(), index, item.first().copied())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "message_not_found",
                format!("no message {id}"),
            )
        })
}

/// The registered key of an address.
pub async fn key(state: &ApiState, address: &str) -> Result<KeyRecord, ApiError> {
    let address = self::address(address)?;
    state.store.key(&owner_key(address)).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "key_not_found",
            format!("{address} has registered no key"),
        )
    })
}

/// One batch anchor by its id (`<block hash>-<log index>`), with its invalid posts.
pub async fn batch(state: &ApiState, id: &str) -> Result<BatchRecord, ApiError> {
    let (hash, index, _) = log_id(id, 0, "a batch id (<block hash>-<log index>)")?;
    state
        .store
        .batch(&hash.to_string(), index)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "batch_not_found",
                format!("no batch {id}"),
            )
        })
}
