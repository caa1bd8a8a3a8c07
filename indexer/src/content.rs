//! The content check: is each anchored block really stored, and unaltered?
//!
//! For every message the checker fetches the block named by its digest from a
//! [`BlockSource`] and re-hashes it. `verified` means the bytes hash to the
//! anchored digest; `tampered` means they do not (they are never shown as
//! valid); `missing` means no store had it, and it is tried again on its own
//! [`Backoff`] schedule.

use std::{sync::Arc, time::Duration};

use alloy::primitives::B256;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::{
    read_load::ReadLoad,
    retry::{now_ms, Backoff},
    store::{ContentCheck, ContentStatus, ContentTask, Store},
};

/// Where the checker fetches blocks. `cairn` implements it over its
/// `BlobStore`; the checker does its own hashing, so a source cannot vouch
/// for bytes it serves.
#[async_trait::async_trait]
pub trait BlockSource: Send + Sync + std::fmt::Debug + 'static {
    /// The bytes stored for the raw block whose sha2-256 is `digest`, `None`
    /// when the store does not have it, or an error when it cannot say.
    async fn fetch(&self, digest: B256) -> Result<Option<Bytes>, String>;

    /// [`fetch`](Self::fetch) for many blocks, in order; a source that can
    /// read many blocks in one call overrides it.
    async fn fetch_many(&self, digests: &[B256]) -> Result<Vec<Option<Bytes>>, String> {
        let mut found = Vec::with_capacity(digests.len());
        for digest in digests {
            found.push(self.fetch(*digest).await?);
        }
        Ok(found)
    }
}

/// Classifies fetched bytes against the anchored digest.
pub fn classify(digest: B256, fetched: Option<&[u8]>) -> ContentStatus {
    match fetched {
        None => ContentStatus::Missing,
        Some(bytes) if Sha256::digest(bytes).as_slice() == digest.as_slice() => {
            ContentStatus::Verified
        }
        Some(_) => ContentStatus::Tampered,
    }
}

/// Blocks checked per round, fetched in one call where the store allows.
/// Small enough that a round takes a few milliseconds: a reader who arrives
/// while one runs waits for it, as the first page after a quiet spell does.
const ROUND: u32 = 128;
/// Blocks checked per round while readers keep the API busy: a round this
/// small costs a reader about a millisecond, and the check still advances.
const BUSY_ROUND: u32 = 32;
/// How long the API must have been idle before a full round.
const QUIET: Duration = Duration::from_millis(50);
/// How long a round waits for that quiet before it goes on with
/// [`BUSY_ROUND`] blocks.
const LONGEST_WAIT: Duration = Duration::from_secs(1);

/// Checks content until `shutdown` resolves, stepping aside while `reads`
/// are busy.
pub async fn run(
    store: Arc<dyn Store>,
    source: Arc<dyn BlockSource>,
    reads: Arc<ReadLoad>,
    interval: Duration,
    rate: u32,
    missing: Backoff,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let quiet = tokio::select! {
            _ = &mut shutdown => return,
            quiet = reads.wait_for_quiet(QUIET, LONGEST_WAIT) => quiet,
        };
        let round = if quiet {
            ROUND
        } else {
            metrics::counter!("cairn_content_check_yielded_total").increment(1);
            BUSY_ROUND
        };
        let started = std::time::Instant::now();
        let checked = match store.content_tasks(round, now_ms()).await {
            Ok(tasks) => check_all(&store, &source, tasks, missing).await,
            Err(err) => {
                tracing::error!(%err, "content check could not read its tasks");
                0
            }
        };
        // Work was found, so more may be waiting: go on after a pause that
        // holds the rate to `rate` blocks a second. Rounds that find nothing
        // wait `interval`.
        let pause = if checked > 0 {
            let budget = Duration::from_secs_f64(checked as f64 / f64::from(rate));
            budget.saturating_sub(started.elapsed())
        } else {
            interval
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn check_all(
    store: &Arc<dyn Store>,
    source: &Arc<dyn BlockSource>,
    tasks: Vec<ContentTask>,
    missing: Backoff,
) -> usize {
    let tasks: Vec<(i64, u32, B256)> = tasks
        .into_iter()
        .filter_map(|task| match task.digest.parse::<B256>() {
            Ok(digest) => Some((task.row, task.attempts, digest)),
            Err(_) => {
                tracing::error!(
                    row = task.row,
                    digest = task.digest,
                    "stored digest does not parse"
                );
                None
            }
        })
        .collect();
    let digests: Vec<B256> = tasks.iter().map(|(_, _, d)| *d).collect();
    // One call for the round: a store that reads many blocks at once (Kubo)
    // does it in one round trip.
    let found = match source.fetch_many(&digests).await {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(%err, "block store unavailable; will retry");
            return 0;
        }
    };
    let now = now_ms();
    let results: Vec<ContentCheck> = tasks
        .iter()
        .zip(found)
        .map(|((row, attempts, digest), bytes)| {
            let status = classify(*digest, bytes.as_deref());
            if status == ContentStatus::Tampered {
                tracing::warn!(%digest, row, "block does not match its anchored digest");
            }
            metrics::counter!("cairn_content_checks_total", "result" => status.as_str())
                .increment(1);
            ContentCheck {
                row: *row,
                status,
                retry_at: missing.next_at(now, *attempts),
            }
        })
        .collect();
    // One transaction for the whole round, not one per row.
    match store.set_content(&results).await {
        Ok(()) => results.len(),
        Err(err) => {
            tracing::error!(%err, "could not record content checks");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_rehashing() {
        let digest = B256::from(<[u8; 32]>::from(Sha256::digest(b"block")));
        assert_eq!(classify(digest, Some(b"block")), ContentStatus::Verified);
        assert_eq!(classify(digest, Some(b"b1ock")), ContentStatus::Tampered);
        assert_eq!(classify(digest, None), ContentStatus::Missing);
    }
}
