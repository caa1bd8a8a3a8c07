//! What the store, ingestion and the API share about blocks: a chain
//! block's identity, and the IPFS CID of a stored raw block. Kept below all
//! three, so the store knows nothing of ingestion.

use alloy::primitives::B256;

/// A block's identity and its link to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// The parent block's hash.
    pub parent_hash: B256,
}

/// The CID of the raw block with sha2-256 `digest` (CIDv1, raw codec).
pub fn cid_for_digest(digest: B256) -> String {
    let hash =
        multihash::Multihash::<64>::wrap(0x12, digest.as_slice()).expect("32 bytes fit in 64");
    cid::Cid::new_v1(0x55, hash).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_matches_the_known_raw_block_cid() {
        // sha256("hello world"), whose raw-block CID Kubo prints as below.
        let digest: B256 = "0xb94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
            .parse()
            .unwrap();
        assert_eq!(
            cid_for_digest(digest),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
    }
}
