//! `POST /v1/posts`: accept signed posts into the outbox.
//!
//! A request holds one post, or `{"posts": [...]}` with up to
//! `max_posts_per_request`. It is all or nothing: every post is checked
//! first, and if any fails the answer names it (`post 3: ...`) and nothing
//! is stored, neither post nor envelope. Checks, cheapest first: size and
//! shape, deadline, signature (recovered on every core; by `from`, or by a
//! device key that signs for `from` now), duplicate nonce in
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

use alloy::primitives::{Address, B256};
use axum::{body::Bytes, extract::ConnectInfo, extract::State, http::StatusCode, Json};
use base64::Engine;
use cairn_contracts::eip712::{recipient_address, Separator};
use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{now_ms, outbox::NewPost, Shared};
use cairn_client::{block::MAX_BLOCK_SIZE, store::cid};
pub use cairn_proto::gateway::{Accepted, PostRequest, Submission};

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
    /// The device key that signed for `from`, when not `from` itself.
    key: Option<Address>,
}

/// Accept signed posts into the outbox, all or none.
#[utoipa::path(post, path = "/v1/posts", request_body = Submission,
    responses((status = 202, body = Accepted), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 409, body = cairn_indexer::http::ErrorBody), (status = 413, body = cairn_indexer::http::ErrorBody),
        (status = 503, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn submit(
    State(gw): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // Bodies are read within a budget of bytes in flight across requests,
    // so that many large ones at once cannot take the node's memory.
    let claimed = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let _reading = gw.in_flight.reserve(claimed).await?;
    let body = axum::body::to_bytes(body, gw.config.max_request_bytes)
        .await
        .map_err(|e| {
            reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                None,
                format!(
                    "a request body holds at most {} bytes: {e}",
                    gw.config.max_request_bytes
                ),
            )
        })?;
    let (posts, many) = parse_submission(&body, gw.config.max_posts_per_request)?;
    // Every post costs its client's allowance before any work is done.
    gw.ip_posts.take(&peer.ip(), posts.len()).await?;
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

/// Parses `body`: one post, or `{"posts": [...]}` of 1 to `max`. Nothing
/// is built for the whole document first: the object's members are sliced
/// from the bytes, and the list stops at its first bad post or at post
/// `max + 1`, so a large body of junk costs little more than its bytes.
/// Returns the posts and whether they came as a list.
pub fn parse_submission(body: &[u8], max: usize) -> Result<(Vec<PostRequest>, bool), ApiError> {
    use serde::de::{DeserializeSeed, Error as _};
    let invalid = |e: serde_json::Error| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
            format!("not a signed post or {{\"posts\": [...]}}: {e}"),
        )
    };
    let count = |n: usize| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_post_count",
            None,
            format!("a request holds 1 to {max} posts, not {n}"),
        )
    };
    let members: HashMap<&str, &serde_json::value::RawValue> =
        serde_json::from_slice(body).map_err(invalid)?;
    let Some(list) = members.get("posts") else {
        let post: PostRequest = serde_json::from_slice(body).map_err(invalid)?;
        return Ok((vec![post], false));
    };
    if members.len() > 1 {
        return Err(invalid(serde_json::Error::custom(
            "a list of posts is {\"posts\": [...]} and nothing else",
        )));
    }
    let mut de = serde_json::Deserializer::from_str(list.get());
    let posts = AtMost(max)
        .deserialize(&mut de)
        .map_err(invalid)?
        .map_err(|()| count(max + 1))?;
    match posts.len() {
        0 => Err(count(0)),
        _ => Ok((posts, true)),
    }
}

/// A list of at most `.0` posts: `Err(())` as soon as there is one more.
struct AtMost(usize);

impl<'de> serde::de::DeserializeSeed<'de> for AtMost {
    type Value = Result<Vec<PostRequest>, ()>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AtMost {
    type Value = Result<Vec<PostRequest>, ()>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a list of at most {} signed posts", self.0)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut posts = Vec::with_capacity(self.0.min(64));
        while let Some(post) = seq.next_element::<PostRequest>()? {
            if posts.len() == self.0 {
                return Ok(Err(()));
            }
            posts.push(post);
        }
        Ok(Ok(posts))
    }
}

/// Bytes of request bodies being read at once, across requests.
#[derive(Debug)]
pub(crate) struct InFlight {
    budget: Arc<tokio::sync::Semaphore>,
    /// KiB a request of unknown length reserves (the largest body).
    largest: u32,
}

/// How long a request waits for room in the budget before `503 busy`.
const IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl InFlight {
    /// A budget of `budget` bytes, for bodies of at most `largest` bytes.
    pub(crate) fn new(budget: usize, largest: usize) -> Self {
        let kib = |bytes: usize| u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        Self {
            budget: Arc::new(tokio::sync::Semaphore::new(
                kib(budget.max(largest)) as usize
            )),
            largest: kib(largest),
        }
    }

    /// Room for a body of `length` bytes (unknown: the largest), held until
    /// dropped; `503 busy` when none frees up in time.
    async fn reserve(&self, length: Option<usize>) -> Result<Reading, ApiError> {
        let kib = length.map_or(self.largest, |n| {
            u32::try_from(n.div_ceil(1024))
                .unwrap_or(u32::MAX)
                .min(self.largest)
        });
        let wait = self.budget.clone().acquire_many_owned(kib.max(1));
        match tokio::time::timeout(IN_FLIGHT_WAIT, wait).await {
            Ok(Ok(permit)) => {
                metrics::gauge!("cairn_gateway_body_kib_in_flight")
                    .increment(permit.num_permits() as f64);
                Ok(Reading(permit))
            }
            _ => {
                metrics::counter!("cairn_gateway_busy_total").increment(1);
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many large requests are being read at once; retry shortly",
                )
                .with_retry_after(1))
            }
        }
    }
}

/// Room held in [`InFlight`] while a body is read and checked.
struct Reading(tokio::sync::OwnedSemaphorePermit);

impl Drop for Reading {
    fn drop(&mut self) {
        metrics::gauge!("cairn_gateway_body_kib_in_flight").decrement(self.0.num_permits() as f64);
    }
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
    let separator = Separator::from(&gw.domain);
    // Shape, size, digest, deadline and signature: no I/O, on every core.
    let checked: Vec<Checked> = tokio::task::spawn_blocking(move || {
        posts
            .into_par_iter()
            .enumerate()
            .map(|(i, p)| check(p, at(i), now, earliest_deadline, separator))
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
    // Before anything is charged to a sender: a post signed by a key that
    // does not sign for its `from` spends nobody's allowance.
    check_signers(gw, &checked, now, at).await?;
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
    let per_sender: Vec<(Address, usize)> = per_sender.into_iter().collect();
    gw.sender_posts.take_each(&per_sender).await?;
    // Inline envelopes are uploads: they spend their sender's KiB, as
    // `POST /v1/blobs` does, unless the outbox holds their post already.
    let mut kib_per_sender: HashMap<Address, usize> = HashMap::new();
    for (i, c) in checked.iter().enumerate() {
        if let (false, Some(envelope)) = (held.contains(&i), &c.envelope) {
            *kib_per_sender.entry(c.new.post.from).or_default() += envelope.len().div_ceil(1024);
        }
    }
    let kib_per_sender: Vec<(Address, usize)> = kib_per_sender.into_iter().collect();
    gw.uploads.charge_kib(&kib_per_sender).await?;
    check_registered(gw, &checked, at).await?;
    check_channel_posters(gw, &checked, at).await?;
    check_envelopes(gw, &checked, at).await?;
    let inline: Vec<Bytes> = checked.iter().filter_map(|c| c.envelope.clone()).collect();
    gw.store
        .put_many(inline)
        .await
        .map_err(crate::server::store_error)?;
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
    separator: Separator,
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
    let (id, signer) = signed.signer(separator).map_err(|_| {
        bad(
            "bad_signature",
            "the signature is malformed (or has a high s)".into(),
        )
    })?;
    Ok(Checked {
        new: NewPost {
            id,
            post: signed.post,
            signature,
        },
        envelope,
        key: (signer != p.from).then_some(signer),
    })
}

/// A post signed by a device key needs that key to sign for its `from`
/// now: authorized, not revoked, not expired (docs/SIGNERS.md).
async fn check_signers(
    gw: &Arc<Shared>,
    checked: &[Checked],
    now: u64,
    at: impl Fn(usize) -> Option<usize>,
) -> Result<(), ApiError> {
    let pairs: Vec<(Address, Address)> = checked
        .iter()
        .filter_map(|c| c.key.map(|k| (c.new.post.from, k)))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    let refused = gw
        .registry
        .first_unauthorized(&pairs, now)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
                format!("cannot read the signer registry: {e}"),
            )
        })?;
    match refused {
        None => Ok(()),
        Some((from, key)) => {
            let i = checked
                .iter()
                .position(|c| c.key == Some(key) && c.new.post.from == from)
                .unwrap_or(0);
            Err(reject(
                StatusCode::FORBIDDEN,
                "signer_not_authorized",
                at(i),
                format!("the post is signed by {key}, which does not sign for {from} (never authorized, revoked or expired)"),
            ))
        }
    }
}

/// The sender, and a recipient that is an address, must have a registered
/// key. Senders are checked first, and lookups stop at the first miss: a
/// request of random addresses costs the node one lookup, and a repeat of
/// it none (see [`KeyRegistry`](cairn_client::chain::KeyRegistry)).
async fn check_registered(
    gw: &Arc<Shared>,
    checked: &[Checked],
    at: impl Fn(usize) -> Option<usize>,
) -> Result<(), ApiError> {
    let unavailable = |e: cairn_client::chain::ChainError| {
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
        cairn_client::chain::Refusal::NotAPoster => (
            "not_a_channel_poster",
            format!("{sender} may not post to channel {channel} now: no such channel, or not a member"),
        ),
        cairn_client::chain::Refusal::Gated => (
            "gated_channel_takes_direct_posts",
            format!(
                "channel {channel} is token-gated: post to it directly (`cairn channel post` without \
                 --via-gateway), so that the contract checks the balance"
            ),
        ),
    };
    Err(reject(StatusCode::FORBIDDEN, code, at(i), message))
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
        .map_err(crate::server::store_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn post(nonce: u64) -> PostRequest {
        PostRequest {
            from: Address::with_last_byte(1),
            to: B256::with_last_byte(2),
            digest: B256::with_last_byte(3),
            nonce,
            deadline: 4,
            signature: alloy::primitives::Bytes::from(vec![0; 65]),
            envelope: None,
        }
    }

    fn code(body: &[u8], max: usize) -> &'static str {
        parse_submission(body, max).unwrap_err().code()
    }

    #[test]
    fn a_post_or_a_list_of_one_to_max() {
        let one = serde_json::to_vec(&post(1)).unwrap();
        assert_eq!(parse_submission(&one, 3).unwrap(), (vec![post(1)], false));
        let three = serde_json::to_vec(&json_posts(3)).unwrap();
        let (posts, many) = parse_submission(&three, 3).unwrap();
        assert_eq!((posts.len(), many), (3, true));
        let four = serde_json::to_vec(&json_posts(4)).unwrap();
        assert_eq!(code(&four, 3), "invalid_post_count");
        assert_eq!(code(br#"{"posts": []}"#, 3), "invalid_post_count");
        assert_eq!(code(br#"{"posts": [], "from": "0x00"}"#, 3), "invalid_body");
        assert_eq!(code(b"[1, 2]", 3), "invalid_body");
        assert_eq!(code(b"{", 3), "invalid_body");
    }

    #[test]
    fn a_large_body_of_junk_is_refused_at_its_first_item() {
        // 7 MiB of `0,`: refused at the first item, never built into a
        // document of millions of values.
        let mut body = b"{\"posts\": [".to_vec();
        body.extend(std::iter::repeat_n(b"0,".as_slice(), 7 << 19).flatten());
        body.extend(b"0]}");
        let err = parse_submission(&body, 1024).unwrap_err();
        assert_eq!(err.code(), "invalid_body");
        assert!(
            err.message()
                .contains("expected struct PostRequest at line 1 column 2"),
            "{}",
            err.message()
        );
    }

    fn json_posts(n: u64) -> serde_json::Value {
        serde_json::json!({ "posts": (0..n).map(post).collect::<Vec<_>>() })
    }
}
