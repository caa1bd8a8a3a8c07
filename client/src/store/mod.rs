//! Content-addressed block storage.
//!
//! Every object Cairn stores is one IPFS *raw block*: CIDv1, raw codec
//! (0x55), sha2-256 multihash, at most [`MAX_BLOCK_SIZE`] bytes. The chain
//! anchors the block's sha2-256 digest, and [`cid::cid_for_digest`] rebuilds
//! the CID from it, so an anchor alone names its block on any backend.
//!
//! [`BlobStore::get`] re-hashes every block it returns. A backend that hands
//! back other bytes than the CID names yields [`StoreError::Tampered`], never
//! the bytes.

mod car;
pub use cairn_proto::cid;
pub mod embedded;
pub mod kubo;

use std::fmt::Debug;

use bytes::Bytes;

pub use self::cid::Cid;
pub use embedded::EmbeddedStore;
pub use kubo::KuboStore;

pub use crate::block::MAX_BLOCK_SIZE;

/// Errors from block storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The block exceeds [`MAX_BLOCK_SIZE`].
    #[error("block is {size} bytes; the limit is {max}")]
    TooLarge {
        /// The block size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No block with this CID is stored.
    #[error("block {0} not found")]
    NotFound(Box<Cid>),
    /// The backend returned bytes that do not hash to the requested CID.
    #[error("block {expected} is tampered: its bytes hash to {actual}")]
    Tampered {
        /// The CID that was asked for.
        expected: Box<Cid>,
        /// The CID of the bytes that came back.
        actual: Box<Cid>,
    },
    /// The CID is not a CIDv1 raw sha2-256 block CID, or does not parse.
    #[error("unsupported CID {0}: Cairn blocks are CIDv1, raw codec, sha2-256")]
    UnsupportedCid(String),
    /// A filesystem error in the embedded store.
    #[error("embedded store at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Kubo could not be reached, timed out, or its answer broke off.
    #[error("kubo at {url} is unreachable: {}", error_chain(.source))]
    Unreachable {
        /// The RPC endpoint.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// Kubo answered with an error or an unexpected response.
    #[error("kubo {operation} failed: {message}")]
    Kubo {
        /// The RPC call, e.g. `block/put`.
        operation: &'static str,
        /// What Kubo said.
        message: String,
    },
}

impl From<cid::CidError> for StoreError {
    fn from(e: cid::CidError) -> Self {
        match e {
            cid::CidError::Unsupported(text) => Self::UnsupportedCid(text),
            cid::CidError::Tampered { expected, actual } => Self::Tampered { expected, actual },
        }
    }
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// Whether the node that was asked failed, so that another node of the
    /// same store may well succeed: it could not be reached, or answered
    /// with an error (a cluster proxy whose Kubo is down answers 502).
    pub fn is_node_failure(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Kubo { .. })
    }
}

/// `err` and each of its causes, joined by `: `. reqwest's own message
/// names only the step ("error decoding response body"), not what broke.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// A store of raw blocks addressed by CID.
///
/// Backends implement [`put`](Self::put) and
/// [`fetch_unverified`](Self::fetch_unverified); callers use
/// [`get`](Self::get), which verifies, so no backend can skip the check.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Stores `block` and returns its CID. Storing the same bytes twice is a
    /// no-op that returns the same CID.
    async fn put(&self, block: Bytes) -> Result<Cid, StoreError>;

    /// Stores every block, in one round trip where the backend allows, and
    /// returns their CIDs in order. Nothing is written when a block is too large.
    async fn put_many(&self, blocks: Vec<Bytes>) -> Result<Vec<Cid>, StoreError> {
        blocks.iter().try_for_each(|b| check_size(b))?;
        let mut cids = Vec::with_capacity(blocks.len());
        for block in blocks {
            cids.push(self.put(block).await?);
        }
        Ok(cids)
    }

    /// The bytes the backend holds for `cid`, not yet checked against it.
    async fn fetch_unverified(&self, cid: &Cid) -> Result<Bytes, StoreError>;

    /// The bytes held for each of `cids` (`None` where the backend has no
    /// such block), not yet checked, in one round trip where the backend
    /// allows.
    async fn fetch_many_unverified(&self, cids: &[Cid]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let mut found = Vec::with_capacity(cids.len());
        for cid in cids {
            found.push(not_found_as_none(self.fetch_unverified(cid).await)?);
        }
        Ok(found)
    }

    /// Whether the backend holds `cid`, without fetching it from elsewhere.
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError>;

    /// The block for `cid`, re-hashed and rejected unless it matches.
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        let bytes = self.fetch_unverified(cid).await?;
        cid::verify(cid, &bytes)?;
        Ok(bytes)
    }

    /// Readiness checks of each endpoint behind this store (none for a
    /// store inside the process): a node stays ready while one answers.
    fn probes(&self) -> Vec<crate::probe::Probe> {
        Vec::new()
    }
}

/// `NotFound` as `None`: for callers to whom a missing block is an answer.
pub fn not_found_as_none<T>(result: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Refuses blocks over [`MAX_BLOCK_SIZE`]; every backend calls it before writing.
pub fn check_size(block: &[u8]) -> Result<(), StoreError> {
    if block.len() > MAX_BLOCK_SIZE {
        return Err(StoreError::TooLarge {
            size: block.len(),
            max: MAX_BLOCK_SIZE,
        });
    }
    Ok(())
}
