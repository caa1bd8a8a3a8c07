//! `POST /v1/posts`: accept signed posts into the outbox.
//!
//! A request holds one post, or `{"posts": [...]}` with up to
//! `max_posts_per_request`. It is all or nothing: every post is checked
//! first, and if any fails the answer names it (`post 3: ...`) and nothing
//! is stored, neither post nor envelope. Checks, cheapest first: size and
//! shape, deadline, signature (recovered on every core), duplicate nonce in
//! the request, registered sender and recipient, a channel that lets the
//! sender post, nonce already used in the outbox, envelope block present
//! (or given inline, within the sender's upload KiB, and stored in one Kubo
//! call). Only then are the posts written, in one transaction, and the
//! answer is 202 with each post's id, its EIP-712 signing hash.

use cairn_indexer::http::ApiError;
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
};

use alloy::primitives::{Address, Bytes as HexBytes, Signature, B256};
use axum::{
    body::Bytes,
    extract::ConnectInfo,
    extract::{rejection::BytesRejection, State},
    http::StatusCode,
    Json,
};
use base64::Engine;
use cairn_contracts::{eip712::Post, manifest::SignedPost};
use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{now_ms, outbox::NewPost, Shared};
use crate::{block::MAX_BLOCK_SIZE, store::cid};

/// One signed post as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostRequest {
    /// The sender's wallet, which must be the signer.
    #[schema(value_type = String)]
    pub from: Address,
    /// The recipient address left-padded to 32 bytes, or a channel id.
    #[schema(value_type = String)]
    pub to: B256,
    /// sha2-256 of the envelope block.
    #[schema(value_type = String)]
    pub digest: B256,
    /// Per-sender nonce, never reused.
    pub nonce: u64,
    /// Unix seconds after which the post may no longer be anchored.
    pub deadline: u64,
    /// The 65-byte EIP-712 signature, hex.
    #[schema(value_type = String)]
    pub signature: HexBytes,
    /// The envelope block itself, base64, when it is not uploaded already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
}

impl PostRequest {
    /// The request for `signed`, with its envelope inline if given.
    pub fn new(signed: &SignedPost, envelope: Option<&[u8]>) -> Self {
        Self {
            from: signed.post.from,
            to: signed.post.to,
            digest: signed.post.digest,
            nonce: signed.post.nonce,
            deadline: signed.post.deadline,
            signature: HexBytes::from(
                signed
                    .signature
                    .map_or_else(|| vec![0; 65], |s| s.as_bytes().to_vec()),
            ),
            envelope: envelope.map(|e| base64::engine::general_purpose::STANDARD.encode(e)),
        }
    }

    /// The signed post; `signature` is `None` when its bytes do not parse.
    pub fn signed(&self) -> SignedPost {
        SignedPost {
            post: Post {
                from: self.from,
                to: self.to,
                digest: self.digest,
                nonce: self.nonce,
                deadline: self.deadline,
            },
            signature: Signature::from_raw(&self.signature).ok(),
        }
    }
}

/// The body of `POST /v1/posts`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Submission {
    /// Many posts.
    Many {
        /// The posts, accepted all or none.
        posts: Vec<PostRequest>,
    },
    /// One post.
    One(PostRequest),
}

/// The 202 answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Accepted {
    /// Each post's id (its EIP-712 signing hash), in request order.
    #[schema(value_type = Vec<String>)]
    pub ids: Vec<B256>,
    /// The ids among them that the outbox held already: accepted again,
    /// as they were, and charged to nobody's allowance.
    #[serde(default, rename = "alreadyHeld", skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub already_held: Vec<B256>,
}

fn reject(
    status: StatusCode,
    code: &'static str,
    at: Option<usize>,
    message: impl std::fmt::Display,
) -> ApiError {
    match at {
        Some(i) => ApiError::new(status, code, format!("post {i}: {message}")),
        None => ApiError::new(status, code, message.to_string()),
    }
}

/// A post that passed the checks that need no I/O.
struct Checked {
    new: NewPost,
    envelope: Option<Bytes>,
}

/// Accept signed posts into the outbox, all or none.
#[utoipa::path(post, path = "/v1/posts", request_body = Submission,
    responses((status = 202, body = Accepted), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 409, body = cairn_indexer::http::ErrorBody), (status = 413, body = cairn_indexer::http::ErrorBody),
        (status = 503, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn submit(
    State(gw): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let body = body.map_err(ApiError::from)?;
    let submission: Submission = serde_json::from_slice(&body).map_err(|e| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
            format!("not a signed post or {{\"posts\": [...]}}: {e}"),
        )
    })?;
    let (posts, many) = match submission {
        Submission::Many { posts } => (posts, true),
        Submission::One(post) => (vec![post], false),
    };
    let max = gw.config.max_posts_per_request;
    if posts.is_empty() || posts.len() > max {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_post_count",
            None,
            format!("a request holds 1 to {max} posts, not {}", posts.len()),
        ));
    }
    // Every post costs its client's allowance before any work is done.
    gw.ip_posts.take(&peer.ip(), posts.len())?;
    let result = accept(&gw, posts, many).await;
    let outcome = if result.is_ok() {
        "accepted"
    } else {
        "rejected"
    };
    metrics::counter!("cairn_gateway_requests_total", "result" => outcome).increment(1);
    let (ids, already_held) = result?;
    metrics::counter!("cairn_gateway_posts_accepted_total").increment(ids.len() as u64);
    gw.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(Accepted { ids, already_held })))
}

/// Checks and stores `posts`; returns their ids, and those among them the
/// outbox held already.
async fn accept(
    gw: &Arc<Shared>,
    posts: Vec<PostRequest>,
    many: bool,
) -> Result<(Vec<B256>, Vec<B256>), ApiError> {
    // Errors name the post (`post 3: ...`) when the request held many.
    let at = move |i: usize| many.then_some(i);
    let now = now_ms() / 1000;
    let earliest_deadline = now + gw.config.min_deadline_margin.as_secs();
    let domain = gw.domain.clone();
    // Shape, size, digest, deadline and signature: no I/O, on every core.
    let checked: Vec<Checked> = tokio::task::spawn_blocking(move || {
        posts
            .into_par_iter()
            .enumerate()
            .map(|(i, p)| check(p, at(i), now, earliest_deadline, &domain))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ApiError::internal("signature check", e))??;

    let mut seen = HashSet::new();
    for (i, c) in checked.iter().enumerate() {
        if !seen.insert((c.new.post.from, c.new.post.nonce)) {
            return Err(reject(
                StatusCode::CONFLICT,
                "nonce_used",
                at(i),
                format!(
                    "nonce {} of {} appears twice in this request",
                    c.new.post.nonce, c.new.post.from
                ),
            ));
        }
    }
    let news: Vec<NewPost> = checked.iter().map(|c| c.new.clone()).collect();
    let known = gw
        .outbox
        .known(&news)
        .await
        .map_err(|e| ApiError::internal("outbox", e))?;
    if let Some(&i) = known.conflicts.first() {
        return Err(nonce_used(&news[i], at(i)));
    }
    // Signatures hold, so each sender really sent its posts: count them,
    // but not those the outbox holds already. Anyone can resubmit a
    // sender's posts (they are public in every manifest); a replay must
    // not spend the sender's allowance.
    let held: HashSet<usize> = known.held.iter().copied().collect();
    let mut per_sender: HashMap<Address, usize> = HashMap::new();
    for (i, c) in checked.iter().enumerate() {
        if !held.contains(&i) {
            *per_sender.entry(c.new.post.from).or_default() += 1;
        }
    }
    for (sender, posts) in &per_sender {
        gw.sender_posts.take(sender, *posts)?;
    }
    // Inline envelopes are uploads: they spend their sender's KiB, as
    // `POST /v1/blobs` does, unless the outbox holds their post already.
    let mut kib_per_sender: HashMap<Address, usize> = HashMap::new();
    for (i, c) in checked.iter().enumerate() {
        if let (false, Some(envelope)) = (held.contains(&i), &c.envelope) {
            *kib_per_sender.entry(c.new.post.from).or_default() += envelope.len().div_ceil(1024);
        }
    }
    for (sender, kib) in &kib_per_sender {
        gw.uploads.charge_kib(sender, *kib)?;
    }
    check_registered(gw, &checked, at).await?;
    check_channel_posters(gw, &checked, at).await?;
    check_envelopes(gw, &checked, at).await?;
    let inline: Vec<Bytes> = checked.iter().filter_map(|c| c.envelope.clone()).collect();
    gw.store.put_many(inline).await.map_err(ApiError::from)?;
    let conflicts = gw
        .outbox
        .accept(&news, now_ms())
        .await
        .map_err(|e| ApiError::internal("outbox", e))?;
    if let Some(&i) = conflicts.first() {
        return Err(nonce_used(&news[i], at(i)));
    }
    let ids = news.iter().map(|n| n.id).collect();
    Ok((ids, known.held.iter().map(|&i| news[i].id).collect()))
}

fn nonce_used(p: &NewPost, at: Option<usize>) -> ApiError {
    reject(
        StatusCode::CONFLICT,
        "nonce_used",
        at,
        format!(
            "{} already used nonce {} for another post",
            p.post.from, p.post.nonce
        ),
    )
}

fn check(
    p: PostRequest,
    at: Option<usize>,
    now: u64,
    earliest_deadline: u64,
    domain: &alloy::sol_types::Eip712Domain,
) -> Result<Checked, ApiError> {
    let bad = |code, message: String| reject(StatusCode::BAD_REQUEST, code, at, message);
    let envelope = match &p.envelope {
        None => None,
        Some(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| bad("invalid_envelope", format!("envelope is not base64: {e}")))?;
            if bytes.len() > MAX_BLOCK_SIZE {
                return Err(reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "envelope_too_large",
                    at,
                    format!(
                        "envelope is {} bytes; a block holds at most {MAX_BLOCK_SIZE}",
                        bytes.len()
                    ),
                ));
            }
            if Sha256::digest(&bytes).as_slice() != p.digest.as_slice() {
                return Err(bad(
                    "digest_mismatch",
                    "the envelope does not hash to the signed digest".into(),
                ));
            }
            Some(Bytes::from(bytes))
        }
    };
    // The outbox keeps them as signed 64-bit integers: larger ones would
    // wrap (a deadline of 2^63 would read as long past).
    if i64::try_from(p.deadline).is_err() || i64::try_from(p.nonce).is_err() {
        return Err(bad(
            "out_of_range",
            format!(
                "nonce and deadline must be at most {} (got nonce {}, deadline {})",
                i64::MAX,
                p.nonce,
                p.deadline
            ),
        ));
    }
    if p.to.is_zero() || p.digest.is_zero() {
        return Err(bad(
            "invalid_post",
            "a post needs a recipient and a digest".into(),
        ));
    }
    if p.deadline <= now {
        return Err(bad(
            "expired",
            format!("the deadline {} has passed (now {now})", p.deadline),
        ));
    }
    if p.deadline < earliest_deadline {
        return Err(bad(
            "deadline_too_soon",
            format!(
                "the deadline {} leaves too little time to anchor; use {earliest_deadline} or later",
                p.deadline
            ),
        ));
    }
    let signed = p.signed();
    let signature = signed.signature.ok_or_else(|| {
        bad(
            "bad_signature",
            "the signature is not 65 bytes of r, s and v".into(),
        )
    })?;
    let id = signed.verify(domain).map_err(|_| {
        bad(
            "bad_signature",
            format!("the signature is not from {}", p.from),
        )
    })?;
    Ok(Checked {
        new: NewPost {
            id,
            post: signed.post,
            signature,
        },
        envelope,
    })
}

/// The sender, and a recipient that is an address, must have a registered
/// key. Senders are checked first, and lookups stop at the first miss: a
/// request of random addresses costs the node one lookup, and a repeat of
/// it none (see [`KeyRegistry`](crate::chain::KeyRegistry)).
async fn check_registered(
    gw: &Arc<Shared>,
    checked: &[Checked],
    at: impl Fn(usize) -> Option<usize>,
) -> Result<(), ApiError> {
    let unavailable = |e: crate::chain::ChainError| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "chain_unavailable",
            format!("cannot read the key registry: {e}"),
        )
    };
    let senders: Vec<Address> = checked.iter().map(|c| c.new.post.from).collect();
    if let Some(missing) = gw
        .registry
        .first_unregistered(&senders)
        .await
        .map_err(unavailable)?
    {
        let i = senders.iter().position(|a| *a == missing).unwrap_or(0);
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "sender_not_registered",
            at(i),
            format!("{missing} has no registered key; run `cairn register` first"),
        ));
    }
    let recipients: Vec<Address> = checked
        .iter()
        .filter_map(|c| recipient_address(c.new.post.to))
        .collect();
    if let Some(missing) = gw
        .registry
        .first_unregistered(&recipients)
        .await
        .map_err(unavailable)?
    {
        let i = checked
            .iter()
            .position(|c| recipient_address(c.new.post.to) == Some(missing))
            .unwrap_or(0);
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "recipient_not_registered",
            at(i),
            format!("{missing} has no registered key, so nothing can be sealed to it"),
        ));
    }
    Ok(())
}

/// A post to a channel needs a sender who may post there now: the channel
/// exists, the sender is a member, and holds its token if it is gated. The
/// contract checks the same for direct posts; for a batched one, nobody
/// would before the relayer paid to anchor it.
async fn check_channel_posters(
    gw: &Arc<Shared>,
    checked: &[Checked],
    at: impl Fn(usize) -> Option<usize>,
) -> Result<(), ApiError> {
    let pairs: Vec<(B256, Address)> = checked
        .iter()
        .filter(|c| recipient_address(c.new.post.to).is_none())
        .map(|c| (c.new.post.to, c.new.post.from))
        .collect();
    let refused = gw.posters.first_refused(&pairs).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "chain_unavailable",
            format!("cannot read the channel's members: {e}"),
        )
    })?;
    let Some(((channel, sender), why)) = refused else {
        return Ok(());
    };
    let i = checked
        .iter()
        .position(|c| (c.new.post.to, c.new.post.from) == (channel, sender))
        .unwrap_or(0);
    let (code, message) = match why {
        crate::chain::Refusal::NotAPoster => (
            "not_a_channel_poster",
            format!("{sender} may not post to channel {channel} now: no such channel, or not a member"),
        ),
        crate::chain::Refusal::Gated => (
            "gated_channel_takes_direct_posts",
            format!(
                "channel {channel} is token-gated: post to it directly (`cairn channel post` without \
                 --via-gateway), so that the contract checks the balance"
            ),
        ),
    };
    Err(reject(StatusCode::FORBIDDEN, code, at(i), message))
}

/// `to` as an address when it is one left-padded (a channel id is not).
fn recipient_address(to: B256) -> Option<Address> {
    to[..12]
        .iter()
        .all(|b| *b == 0)
        .then(|| Address::from_slice(&to[12..]))
}

/// Posts without an inline envelope need their block stored already.
async fn check_envelopes(
    gw: &Arc<Shared>,
    checked: &[Checked],
    at: impl Fn(usize) -> Option<usize>,
) -> Result<(), ApiError> {
    let wanted: Vec<(usize, B256)> = checked
        .iter()
        .enumerate()
        .filter(|(_, c)| c.envelope.is_none())
        .map(|(i, c)| (i, c.new.post.digest))
        .collect();
    let store = gw.store.clone();
    let missing: Vec<usize> = futures::stream::iter(wanted)
        .map(|(i, digest)| {
            let store = store.clone();
            async move {
                let cid = cid::cid_for_digest(digest);
                store.has(&cid).await.map(|has| (!has).then_some(i))
            }
        })
        .buffered(32)
        .try_filter_map(|m| async move { Ok(m) })
        .try_collect()
        .await
        .map_err(ApiError::from)?;
    match missing.first() {
        Some(&i) => Err(reject(
            StatusCode::BAD_REQUEST,
            "envelope_missing",
            at(i),
            format!(
                "no block {} is stored; upload it with POST /v1/blobs or send it inline as `envelope`",
                cid::cid_for_digest(checked[i].new.post.digest)
            ),
        )),
        None => Ok(()),
    }
}
