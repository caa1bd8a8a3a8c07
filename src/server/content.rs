//! The indexer's view of Cairn's block store.

use std::sync::Arc;

use alloy::primitives::B256;
use bytes::Bytes;
use cairn_indexer::content::BlockSource;

use crate::store::{cid, BlobStore, StoreError};

/// Lets the indexer's content check fetch blocks from a [`BlobStore`].
/// It hands over the raw bytes; the indexer re-hashes them itself.
#[derive(Debug, Clone)]
pub struct StoreBlocks(pub Arc<dyn BlobStore>);

#[async_trait::async_trait]
impl BlockSource for StoreBlocks {
    async fn fetch(&self, digest: B256) -> Result<Option<Bytes>, String> {
        match self.0.fetch_unverified(&cid::cid_for_digest(digest)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}
