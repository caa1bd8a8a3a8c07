//! CIDs of Cairn blocks, and the digest ↔ CID mapping the chain relies on.

use alloy::primitives::B256;
use sha2::{Digest, Sha256};

/// A CID that is not a Cairn block's, or bytes that do not match one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    /// The CID is not a CIDv1 raw sha2-256 block CID, or does not parse.
    #[error("unsupported CID {0}: Cairn blocks are CIDv1, raw codec, sha2-256")]
    Unsupported(String),
    /// The bytes do not hash to the CID.
    #[error("block {expected} is tampered: its bytes hash to {actual}")]
    Tampered {
        /// The CID that was asked for.
        expected: Box<Cid>,
        /// The CID of the bytes that came back.
        actual: Box<Cid>,
    },
}

/// A content identifier (re-exported from the `cid` crate).
pub type Cid = ::cid::Cid;

/// The multicodec of IPFS raw blocks.
pub const RAW_CODEC: u64 = 0x55;
/// The multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;

/// The sha2-256 digest of a block: the value anchored on chain.
pub fn block_digest(block: &[u8]) -> B256 {
    B256::from(<[u8; 32]>::from(Sha256::digest(block)))
}

/// The CID of the raw block whose sha2-256 digest is `digest`.
pub fn cid_for_digest(digest: B256) -> Cid {
    let hash =
        multihash::Multihash::<64>::wrap(SHA2_256, digest.as_slice()).expect("32 bytes fit in 64");
    Cid::new_v1(RAW_CODEC, hash)
}

/// The CID of `block`.
pub fn cid_for_block(block: &[u8]) -> Cid {
    cid_for_digest(block_digest(block))
}

/// The sha2-256 digest inside `cid`, if it is a Cairn block CID.
pub fn digest_of(cid: &Cid) -> Result<B256, CidError> {
    let hash = cid.hash();
    if cid.version() != ::cid::Version::V1
        || cid.codec() != RAW_CODEC
        || hash.code() != SHA2_256
        || hash.size() != 32
    {
        return Err(CidError::Unsupported(cid.to_string()));
    }
    Ok(B256::from_slice(hash.digest()))
}

/// Parses a CID string, accepting only Cairn block CIDs.
pub fn parse(s: &str) -> Result<Cid, CidError> {
    let cid = Cid::try_from(s.trim()).map_err(|_| CidError::Unsupported(s.to_string()))?;
    digest_of(&cid)?;
    Ok(cid)
}

/// Checks that `bytes` hash to `cid`.
pub fn verify(cid: &Cid, bytes: &[u8]) -> Result<(), CidError> {
    let expected = digest_of(cid)?;
    let actual = block_digest(bytes);
    if actual != expected {
        return Err(CidError::Tampered {
            expected: Box::new(*cid),
            actual: Box::new(cid_for_digest(actual)),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_cid_of_empty_and_hello() {
        // Independently known CIDs (as `ipfs block put --cid-codec raw` prints them).
        assert_eq!(
            cid_for_block(b"").to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            cid_for_block(b"hello world").to_string(),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
    }

    #[test]
    fn digest_and_cid_round_trip() {
        let digest = block_digest(b"cairn");
        assert_eq!(digest_of(&cid_for_digest(digest)).unwrap(), digest);
        assert_eq!(
            parse(&cid_for_digest(digest).to_string()).unwrap(),
            cid_for_digest(digest)
        );
    }

    #[test]
    fn rejects_other_cids_and_garbage() {
        // A CIDv0 (dag-pb) CID is not a Cairn block CID.
        assert!(matches!(
            parse("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"),
            Err(CidError::Unsupported(_))
        ));
        assert!(matches!(parse("not a cid"), Err(CidError::Unsupported(_))));
    }

    #[test]
    fn verify_catches_changed_bytes() {
        let cid = cid_for_block(b"original");
        assert!(verify(&cid, b"original").is_ok());
        assert!(matches!(
            verify(&cid, b"0riginal"),
            Err(CidError::Tampered { .. })
        ));
    }
}
