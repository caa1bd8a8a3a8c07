//! `GET /v1/proofs/{id}`: where a post stands, and its inclusion proof.
//!
//! The proof is everything a client needs to check inclusion against the
//! chain alone (`cairn proof` does): the signed post, its leaf index, the
//! sibling hashes, the batch root, and the anchoring transaction and block.
//! Nothing in it has to be trusted: the post's id is its signing hash, the
//! proof must rebuild the root, and the root must be in a `BatchAnchored`
//! log of that transaction.

use std::sync::Arc;

use alloy::primitives::B256;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use cairn_contracts::{
    eip712::Separator,
    merkle::{leaf_hash, MerkleTree},
};

use super::{
    outbox::{BatchState, PostState},
    Shared,
};
use cairn_indexer::http::ApiError;

use cairn_client::store::cid;
pub use cairn_proto::gateway::{PostRequest, Proof, ProofStatus};

/// Batches whose trees are kept for proofs.
const TREE_CACHE: usize = 64;

/// A post's status and, once sealed, its Merkle inclusion proof.
#[utoipa::path(get, path = "/v1/proofs/{id}", params(("id" = String, Path, description = "the post id")),
    responses((status = 200, body = Proof), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 404, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn proof(
    State(gw): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Proof>, ApiError> {
    let id: B256 = id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("{id:?} is not a post id (0x and 64 hex digits)"),
        )
    })?;
    let internal = |e| ApiError::internal("outbox", e);
    let record = gw.outbox.post(id).await.map_err(internal)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "post_not_found",
            format!("this gateway accepted no post {id}"),
        )
    })?;
    let mut answer = Proof {
        id,
        status: match record.state {
            PostState::Queued => ProofStatus::Queued,
            PostState::Expired => ProofStatus::Expired,
            PostState::Batched => ProofStatus::Sealed,
        },
        post: PostRequest::new(&record.post, None),
        chain_id: gw.relayer.chain_id(),
        contract: gw.config.contract,
        root: None,
        index: None,
        count: None,
        proof: Vec::new(),
        manifest_cid: None,
        tx: None,
        block: None,
        block_hash: None,
    };
    let Some((batch_id, index)) = record.batch else {
        return Ok(Json(answer));
    };
    let batch = gw
        .outbox
        .batch(batch_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::internal("outbox", format!("batch {batch_id} is gone")))?;
    let tree = tree(&gw, batch_id).await?;
    answer.proof = tree.proof(index as usize).unwrap_or_default();
    answer.root = Some(batch.root);
    answer.index = Some(index);
    answer.count = Some(batch.count);
    answer.manifest_cid = Some(cid::cid_for_digest(batch.manifest_digest).to_string());
    answer.tx = batch.tx.map(|(_, hash)| hash);
    answer.block = batch.mined.map(|(n, _)| n);
    answer.block_hash = batch.mined.map(|(_, h)| h);
    answer.status = match (batch.state, batch.mined) {
        (BatchState::Sealed, _) => ProofStatus::Sealed,
        (BatchState::Sent, None) => ProofStatus::Sent,
        (BatchState::Sent, Some(_)) => ProofStatus::Mined,
        (BatchState::Anchored, _) => ProofStatus::Anchored,
    };
    Ok(Json(answer))
}

/// The batch's Merkle tree, from the cache or rebuilt from the outbox.
async fn tree(gw: &Arc<Shared>, batch: i64) -> Result<Arc<MerkleTree>, ApiError> {
    if let Some(t) = gw.trees.lock().expect("not poisoned").get(&batch) {
        return Ok(t.clone());
    }
    let posts = gw
        .outbox
        .batch_posts(batch)
        .await
        .map_err(|e| ApiError::internal("outbox", e))?;
    let separator = Separator::from(&gw.domain);
    let tree = tokio::task::spawn_blocking(move || {
        MerkleTree::new(
            posts
                .iter()
                .map(|p| leaf_hash(p.signing_hash(separator)))
                .collect(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("proof", e))?
    .ok_or_else(|| ApiError::internal("proof", format!("batch {batch} has no posts")))?;
    let tree = Arc::new(tree);
    let mut cache = gw.trees.lock().expect("not poisoned");
    if cache.len() >= TREE_CACHE {
        // Evict the oldest batch: proofs are asked for recent ones.
        if let Some(oldest) = cache.keys().min().copied() {
            cache.remove(&oldest);
        }
    }
    cache.insert(batch, tree.clone());
    Ok(tree)
}
