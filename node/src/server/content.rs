//! The indexer's view of Cairn's block store.

use std::sync::Arc;

use alloy::primitives::B256;
use bytes::Bytes;
use cairn_indexer::content::BlockSource;

use cairn_client::store::{cid, not_found_as_none, BlobStore};

/// Lets the indexer's content check fetch blocks from a [`BlobStore`].
/// It hands over the raw bytes; the indexer re-hashes them itself.
#[derive(Debug, Clone)]
pub struct StoreBlocks(pub Arc<dyn BlobStore>);

#[async_trait::async_trait]
impl BlockSource for StoreBlocks {
    async fn fetch(&self, digest: B256) -> Result<Option<Bytes>, String> {
        not_found_as_none(self.0.fetch_unverified(&cid::cid_for_digest(digest)).await)
            .map_err(|e| e.to_string())
    }

    async fn fetch_many(&self, digests: &[B256]) -> Result<Vec<Option<Bytes>>, String> {
        let cids: Vec<_> = digests.iter().map(|d| cid::cid_for_digest(*d)).collect();
        self.0
            .fetch_many_unverified(&cids)
            .await
            .map_err(|e| e.to_string())
    }
}
