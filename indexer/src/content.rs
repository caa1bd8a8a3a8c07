//! The content check: is each anchored block really stored, and unaltered?
//!
//! For every message the checker fetches the block named by its digest from a
//! [`BlockSource`] and re-hashes it. `verified` means the bytes hash to the
//! anchored digest; `tampered` means they do not (they are never shown as
//! valid); `missing` means no store had it, and it is tried again later.

use std::{sync::Arc, time::Duration};

use alloy::primitives::B256;
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::store::{ContentStatus, ContentTask, Store};

/// Where the checker fetches blocks. `cairn` implements it over its
/// `BlobStore`; the checker does its own hashing, so a source cannot vouch
/// for bytes it serves.
#[async_trait::async_trait]
pub trait BlockSource: Send + Sync + std::fmt::Debug + 'static {
    /// The bytes stored for the raw block whose sha2-256 is `digest`, `None`
    /// when the store does not have it, or an error when it cannot say.
    async fn fetch(&self, digest: B256) -> Result<Option<Bytes>, String>;
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

/// Checks content until `shutdown` resolves.
pub async fn run(
    store: Arc<dyn Store>,
    source: Arc<dyn BlockSource>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut round = 0u64;
    loop {
        // Missing blocks may arrive later (a slow pin, a late upload): retry them every 10th round.
        let retry_missing = round % 10 == 0;
        round += 1;
        let checked = match store.content_tasks(256, retry_missing).await {
            Ok(tasks) => check_all(&store, &source, tasks).await,
            Err(err) => {
                tracing::error!(%err, "content check could not read its tasks");
                0
            }
        };
        if checked > 0 && !retry_missing {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

async fn check_all(
    store: &Arc<dyn Store>,
    source: &Arc<dyn BlockSource>,
    tasks: Vec<ContentTask>,
) -> usize {
    let results: Vec<(i64, ContentStatus)> = futures::stream::iter(tasks)
        .map(|task| async move {
            let Ok(digest) = task.digest.parse::<B256>() else {
                tracing::error!(
                    row = task.row,
                    digest = task.digest,
                    "stored digest does not parse"
                );
                return None;
            };
            let status = match source.fetch(digest).await {
                Ok(found) => classify(digest, found.as_deref()),
                Err(err) => {
                    tracing::warn!(%err, %digest, "block store unavailable; will retry");
                    return None;
                }
            };
            if status == ContentStatus::Tampered {
                tracing::warn!(%digest, row = task.row, "block does not match its anchored digest");
            }
            metrics::counter!("cairn_content_checks_total", "result" => status.as_str())
                .increment(1);
            Some((task.row, status))
        })
        .buffer_unordered(16)
        .filter_map(|r| async move { r })
        .collect()
        .await;
    // One transaction for the whole round, not one per row.
    match store.set_content(&results).await {
        Ok(()) => results
            .iter()
            .filter(|(_, s)| *s != ContentStatus::Missing)
            .count(),
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
