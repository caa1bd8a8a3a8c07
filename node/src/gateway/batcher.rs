//! The batcher: seal, store the manifest, sign, send, watch.
//!
//! Each round it
//! 1. seals queued posts into batches while a full batch waits or the
//!    oldest post is older than `max_age` (posts too close to their
//!    deadline expire instead);
//! 2. for each sealed batch, stores the manifest block, signs `anchorBatch`
//!    with the next nonce, records the raw transaction, then broadcasts it;
//! 3. for each sent batch, looks up the receipt: confirmed `confirmations`
//!    deep, it is anchored; reverted, it is sealed again for a new
//!    transaction; missing for `rebroadcast_after`, the same bytes are sent
//!    again (the node may have lost them: a restart, a dropped mempool);
//!    none for `fee_bump_after`, a replacement with the same nonce and fees a
//!    quarter higher (or the node's estimate, if higher) is signed, stored
//!    and sent, and every transaction of that nonce is watched, since any of
//!    them may be the one mined;
//!    and if the nonce went to some other transaction, sealed again.
//!
//! A failing round (RPC or database down) is retried with backoff; the
//! outbox holds everything, so nothing waits in memory.
//!
//! Gateways that share a PostgreSQL outbox all accept posts, but only the
//! holder of the batcher lease runs rounds; the others stand by and take
//! over within a poll (250 ms) of its death. Every accepted post notifies
//! `cairn_posts` on commit, so the batcher hears of posts another gateway
//! took as soon as of its own. The new holder reads the next
//! nonce from the outbox and the chain, and sends every pending anchor
//! again at once, so a transaction its predecessor stored but never
//! broadcast does not hold up the nonces after it.

use std::{sync::Arc, time::Duration};

use alloy::primitives::B256;
use bytes::Bytes;
use cairn_contracts::manifest::{self, SignedPost};
use tokio_util::sync::CancellationToken;

use super::{
    now_ms,
    outbox::{BatchRecord, BatchState},
    Shared,
};
use cairn_client::{
    chain::{Broadcast, Fees, SignedTx},
    store::cid,
};

/// Posts whose deadline is closer than this are not sealed: the anchor
/// could land after it, and readers would then reject the post.
const SEAL_MARGIN_SECS: u64 = 30;

/// Errors of one round; all are retried.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// The outbox failed.
    #[error(transparent)]
    Outbox(#[from] super::OutboxError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] cairn_client::chain::ChainError),
    /// The block store failed.
    #[error("storing the manifest: {0}")]
    Store(#[from] cairn_client::store::StoreError),
    /// A stored batch does not rebuild to its recorded manifest.
    #[error("batch {0} no longer matches its manifest digest")]
    Corrupt(i64),
}

/// Pause after a failed round: 0.2 s doubling to 3.2 s.
const FAILURE_BACKOFF: cairn_indexer::retry::Backoff = cairn_indexer::retry::Backoff {
    first: Duration::from_millis(200),
    cap: Duration::from_millis(3_200),
};

/// How often a standby gateway asks for the batcher lease.
const STANDBY_POLL: Duration = Duration::from_millis(250);

/// Batches while this gateway holds the batcher lease, and stands by while
/// another does, until `shutdown` is cancelled.
pub(super) async fn run(gw: Arc<Shared>, shutdown: CancellationToken) {
    let holder = cairn_indexer::lease::holder_name();
    loop {
        let mut lease = tokio::select! {
            _ = shutdown.cancelled() => return,
            lease = stand_by(&gw, &holder) => lease,
        };
        tracing::info!(
            generation = lease.generation,
            "holding the batcher lease; batching"
        );
        metrics::counter!("cairn_gateway_lease_taken_total").increment(1);
        metrics::gauge!("cairn_gateway_batching").set(1.0);
        gw.batching.send_replace(true);
        // Dropping a round midway is safe: its open transaction rolls back,
        // and a transaction signed but not yet broadcast is in the outbox,
        // which the next holder sends.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = lease.lost() => tracing::warn!("lost the batcher lease; standing by"),
            _ = batch(&gw) => {}
        }
        metrics::gauge!("cairn_gateway_batching").set(0.0);
        gw.batching.send_replace(false);
    }
}

/// Asks for the batcher lease until it is granted.
async fn stand_by(gw: &Shared, holder: &str) -> cairn_indexer::lease::Lease {
    let mut announced = false;
    loop {
        match gw.outbox.try_batcher_lease(holder).await {
            Ok(Some(lease)) => return lease,
            Ok(None) if !announced => {
                tracing::info!("another gateway holds the batcher lease; accepting posts only");
                announced = true;
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "cannot ask for the batcher lease; retrying"),
        }
        tokio::time::sleep(STANDBY_POLL).await;
    }
}

/// Runs rounds for as long as the lease is held; returns when it is lost.
async fn batch(gw: &Arc<Shared>) {
    // Posts other gateways accept wake this one, as its own do.
    let _listening = match gw.outbox.post_feed().await {
        Ok(Some(mut feed)) => {
            let gw = gw.clone();
            Some(AbortOnDrop(tokio::spawn(async move {
                loop {
                    feed.next().await;
                    gw.wake.notify_one();
                }
            })))
        }
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(%err, "cannot listen for other gateways' posts; polling only");
            None
        }
    };
    // The next nonce is read afresh: the last holder may have used more.
    let mut nonce: Option<u64> = None;
    let mut failures = 0u32;
    let mut last_prune = std::time::Instant::now();
    // The first round sends every pending anchor again at once: the last
    // holder may have died between storing one and broadcasting it.
    let mut resend_all = true;
    loop {
        if last_prune.elapsed() >= gw.config.prune_interval {
            last_prune = std::time::Instant::now();
            match gw.outbox.prune(now_ms() / 1000).await {
                Ok(0) => {}
                Ok(pruned) => {
                    tracing::info!(pruned, "forgot posts past their deadline in final batches")
                }
                Err(err) => tracing::warn!(%err, "could not prune the outbox"),
            }
            if let Some(buckets) = &gw.buckets {
                if let Err(err) = buckets.prune().await {
                    tracing::warn!(%err, "could not prune the shared allowances");
                }
            }
        }
        let delay = match round(gw, &mut nonce, resend_all).await {
            Ok(()) => {
                failures = 0;
                resend_all = false;
                gw.config.poll_interval
            }
            Err(RoundError::Outbox(super::OutboxError::LeaseLost)) => {
                tracing::warn!("another gateway took the batcher lease");
                return;
            }
            Err(err) => {
                failures += 1;
                // A failed send may or may not have used its nonce: ask again.
                nonce = None;
                let delay = FAILURE_BACKOFF.delay(failures - 1);
                tracing::warn!(%err, ?delay, "gateway round failed; retrying");
                metrics::counter!("cairn_gateway_errors_total").increment(1);
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = gw.wake.notified(), if failures == 0 => {}
        }
    }
}

/// Ends a task when the batcher's term ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The seal function: the manifest's Merkle root and block digest. The
/// root is built from the ids the gateway computed when it checked each
/// post's signature: a post is hashed once per process.
pub(crate) fn seal_of(ids: &[B256], posts: &[SignedPost]) -> (B256, B256) {
    let root = manifest::root(ids.iter().copied()).expect("a sealed batch is never empty");
    let bytes = manifest::encode(posts).expect("batch size is checked at start");
    (root, cid::block_digest(&bytes))
}

async fn round(
    gw: &Arc<Shared>,
    nonce: &mut Option<u64>,
    resend_all: bool,
) -> Result<(), RoundError> {
    seal_due(gw).await?;
    let sealed = gw.outbox.batches(BatchState::Sealed).await?;
    metrics::gauge!("cairn_gateway_sealed_batches").set(sealed.len() as f64);
    if !sealed.is_empty() && nonce.is_none() {
        let stored = gw.outbox.next_nonce().await?.unwrap_or(0);
        *nonce = Some(stored.max(gw.relayer.mined_nonce().await?));
    }
    for batch in sealed {
        send(gw, &batch, nonce).await?;
    }
    watch(gw, resend_all).await
}

async fn seal_due(gw: &Arc<Shared>) -> Result<(), RoundError> {
    loop {
        let queue = gw.outbox.queue().await?;
        let now = now_ms();
        metrics::gauge!("cairn_gateway_queued_posts").set(queue.queued as f64);
        metrics::gauge!("cairn_gateway_oldest_queued_seconds").set(
            queue
                .oldest
                .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0),
        );
        let full = queue.queued >= gw.config.max_batch as u64;
        let old = queue
            .oldest
            .is_some_and(|t| now.saturating_sub(t) >= gw.config.max_age.as_millis() as u64);
        if !(full || old) {
            return Ok(());
        }
        let expire_before = now / 1000 + SEAL_MARGIN_SECS;
        match gw
            .outbox
            .seal(gw.config.max_batch, expire_before, now, &seal_of)
            .await?
        {
            Some(batch) => {
                tracing::info!(outbox_batch = batch.id, count = batch.count, root = %batch.root, "batch sealed");
                metrics::counter!("cairn_gateway_batches_sealed_total").increment(1);
            }
            None => return Ok(()),
        }
    }
}

/// Stores the manifest, signs with the next nonce, records, broadcasts.
async fn send(
    gw: &Arc<Shared>,
    batch: &BatchRecord,
    nonce: &mut Option<u64>,
) -> Result<(), RoundError> {
    let posts = gw.outbox.batch_posts(batch.id).await?;
    let bytes = manifest::encode(&posts).map_err(|_| RoundError::Corrupt(batch.id))?;
    if cid::block_digest(&bytes) != batch.manifest_digest {
        return Err(RoundError::Corrupt(batch.id));
    }
    gw.store.put(Bytes::from(bytes)).await?;
    let n = nonce.expect("set before sending");
    let signed = anchor(gw, batch, n, Fees::default()).await?;
    *nonce = Some(n + 1);
    tracing::info!(outbox_batch = batch.id, nonce = n, tx = %signed.hash, "anchor signed");
    Ok(())
}

async fn watch(gw: &Arc<Shared>, resend_all: bool) -> Result<(), RoundError> {
    let sent = gw.outbox.batches(BatchState::Sent).await?;
    metrics::gauge!("cairn_gateway_sent_batches").set(sent.len() as f64);
    if sent.is_empty() {
        return Ok(());
    }
    let head = gw.relayer.head().await?;
    for batch in sent {
        let Some((nonce, _)) = &batch.tx else {
            continue;
        };
        let txs = gw.outbox.batch_txs(batch.id, *nonce).await?;
        let Some((latest, signed_at)) = txs.last().cloned() else {
            continue;
        };
        match mined(gw, &txs).await? {
            Some((tx, receipt)) if receipt.status() => {
                let (Some(block), Some(hash)) = (receipt.block_number, receipt.block_hash) else {
                    continue;
                };
                if block + gw.config.confirmations <= head {
                    gw.outbox.mark_anchored(batch.id, block, hash).await?;
                    // The contract's batch id, which the indexer and readers use.
                    let batch_id = receipt
                        .inner
                        .logs()
                        .iter()
                        .filter_map(|l| {
                            l.log_decode::<cairn_client::chain::Cairn::BatchAnchored>()
                                .ok()
                        })
                        .map(|l| l.inner.data.batchId)
                        .next();
                    tracing::info!(outbox_batch = batch.id, batch = ?batch_id, block, %tx, "batch anchored");
                    metrics::counter!("cairn_gateway_batches_anchored_total").increment(1);
                    metrics::counter!("cairn_gateway_posts_anchored_total")
                        .increment(u64::from(batch.count));
                } else if batch.mined != Some((block, hash)) {
                    gw.outbox.mark_mined(batch.id, Some((block, hash))).await?;
                }
            }
            Some((tx, _)) => {
                tracing::warn!(outbox_batch = batch.id, %tx, "anchor reverted; sealing again");
                gw.outbox.reseal(batch.id).await?;
            }
            None => {
                if batch.mined.is_some() {
                    tracing::warn!(outbox_batch = batch.id, "anchor left the chain in a reorg");
                    gw.outbox.mark_mined(batch.id, None).await?;
                }
                let now = now_ms();
                if now.saturating_sub(signed_at) >= gw.config.fee_bump_after.as_millis() as u64 {
                    bump(gw, &batch, *nonce, &latest).await?;
                    continue;
                }
                let waited = now.saturating_sub(batch.sent_at.unwrap_or(0));
                if waited < gw.config.rebroadcast_after.as_millis() as u64 && !resend_all {
                    continue;
                }
                match gw.relayer.broadcast(&latest.raw).await? {
                    Broadcast::Accepted => {
                        tracing::info!(outbox_batch = batch.id, tx = %latest.hash, "anchor broadcast again");
                        gw.outbox.touch_sent(batch.id, now_ms()).await?;
                    }
                    Broadcast::NonceUsed => {
                        // Mined meanwhile, or its nonce went elsewhere.
                        if mined(gw, &txs).await?.is_none() {
                            tracing::warn!(
                                outbox_batch = batch.id,
                                "anchor nonce taken by another transaction; sealing again"
                            );
                            gw.outbox.reseal(batch.id).await?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The newest of `txs` that has a receipt: any of them may be the one mined.
async fn mined(
    gw: &Arc<Shared>,
    txs: &[(SignedTx, u64)],
) -> Result<Option<(B256, alloy::rpc::types::TransactionReceipt)>, RoundError> {
    for (tx, _) in txs.iter().rev() {
        if let Some(receipt) = gw.relayer.receipt(tx.hash).await? {
            return Ok(Some((tx.hash, receipt)));
        }
    }
    Ok(None)
}

/// Replaces a stuck anchor: same nonce, fees a quarter above the last.
async fn bump(
    gw: &Arc<Shared>,
    batch: &BatchRecord,
    nonce: u64,
    latest: &SignedTx,
) -> Result<(), RoundError> {
    let signed = anchor(gw, batch, nonce, latest.fees.bumped()).await?;
    tracing::warn!(
        outbox_batch = batch.id,
        nonce,
        old = %latest.hash,
        new = %signed.hash,
        max_fee = signed.fees.max_fee,
        "anchor stuck; replaced with higher fees"
    );
    metrics::counter!("cairn_gateway_fee_bumps_total").increment(1);
    Ok(())
}

/// Signs `anchorBatch` for `batch` with `nonce` and fees of at least
/// `floor`, records the transaction, then broadcasts it. Recorded first:
/// after a crash the same bytes go out again, and one nonce can be mined
/// only once. A failed broadcast is left to the watcher, which resends.
async fn anchor(
    gw: &Arc<Shared>,
    batch: &BatchRecord,
    nonce: u64,
    floor: Fees,
) -> Result<SignedTx, RoundError> {
    let signed = gw
        .relayer
        .sign_anchor(batch.root, batch.manifest_digest, batch.count, nonce, floor)
        .await?;
    gw.outbox
        .mark_sent(batch.id, nonce, &signed, now_ms())
        .await?;
    if let Err(err) = gw.relayer.broadcast(&signed.raw).await {
        tracing::warn!(%err, outbox_batch = batch.id, "anchor broadcast failed; will retry");
    }
    Ok(signed)
}
