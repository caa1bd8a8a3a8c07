//! Signed posts and the batch manifest that lists them (docs/BATCHING.md).
//!
//! The manifest is the block a batch's `manifestDigest` names. It is binary,
//! not JSON, so that the largest batch still fits one 1 MiB block: a fixed
//! 12-byte header, then one 165-byte record per post, in leaf order.
//!
//! ```text
//! magic   "CAIRNMF1"                        8 bytes
//! count   u32, big-endian                   4 bytes
//! count × from(20) to(32) digest(32) nonce(u64 BE) deadline(u64 BE)
//!         signature r(32) s(32) v(1, 27 or 28)          165 bytes each
//! ```
//!
//! Decoding is strict: a wrong magic, a count that disagrees with the length,
//! or trailing bytes are errors. A record whose signature bytes do not parse
//! still decodes (as [`SignedPost::signature`] = `None`), so one bad post
//! never hides the others in its batch.

use alloy::primitives::{Address, Signature, B256};

use crate::{
    eip712::{Post, Separator},
    merkle,
};

/// The manifest's first bytes; the digit is the format version.
pub const MAGIC: &[u8; 8] = b"CAIRNMF1";
/// Header length: magic and count.
pub const HEADER_LEN: usize = 12;
/// Bytes per post record.
pub const RECORD_LEN: usize = 20 + 32 + 32 + 8 + 8 + 65;
/// The most posts one manifest can list and still fit a 1 MiB block.
pub const MAX_POSTS: usize = ((1 << 20) - HEADER_LEN) / RECORD_LEN;
// The largest batch fits one block, and a batch of 4,096 is well inside it.
const _: () = assert!(HEADER_LEN + MAX_POSTS * RECORD_LEN <= 1 << 20);
const _: () = assert!(MAX_POSTS >= 4096);

/// A post and its sender's EIP-712 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPost {
    /// What was signed.
    pub post: Post,
    /// The signature; `None` when the manifest's bytes for it do not parse.
    pub signature: Option<Signature>,
}

/// Why a post is not valid on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The signature is malformed or recovers to another address than `from`.
    #[error("the signature is not from the post's sender")]
    BadSignature,
}

impl SignedPost {
    /// The EIP-712 signing hash, which is also the post's id. `domain` is
    /// an `&Eip712Domain`, or its [`Separator`] when many posts are hashed.
    pub fn signing_hash(&self, domain: impl Into<Separator>) -> B256 {
        self.post.signing_hash(domain)
    }

    /// Checks that `from` signed this post; returns the signing hash.
    ///
    /// As the contract's `recoverPost` (OpenZeppelin `ECDSA`), a signature
    /// with a high `s` is refused, so Rust and Solidity always agree.
    pub fn verify(&self, domain: impl Into<Separator>) -> Result<B256, PostError> {
        match self.signer(domain)? {
            (hash, signer) if signer == self.post.from => Ok(hash),
            _ => Err(PostError::BadSignature),
        }
    }

    /// The signing hash and who signed: `from` itself, or a device key
    /// that must then be authorized for `from` at the anchor
    /// ([`crate::signers::authorized_at`]). A malformed or high-`s`
    /// signature is refused, as in [`verify`](Self::verify).
    pub fn signer(&self, domain: impl Into<Separator>) -> Result<(B256, Address), PostError> {
        let hash = self.signing_hash(domain);
        let signer = self
            .signature
            .filter(|s| s.normalize_s().is_none())
            .and_then(|s| recover(hash, &s))
            .ok_or(PostError::BadSignature)?;
        Ok((hash, signer))
    }
}

/// The address that signed `hash`, by libsecp256k1: recovery is the costly
/// step of checking a batch, and it runs about three times faster than the
/// pure-Rust k256 that alloy uses.
fn recover(hash: B256, signature: &Signature) -> Option<Address> {
    use secp256k1::{
        ecdsa::{RecoverableSignature, RecoveryId},
        Message, SECP256K1,
    };
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let id = RecoveryId::try_from(i32::from(signature.v())).ok()?;
    let recoverable = RecoverableSignature::from_compact(&compact, id).ok()?;
    let key = SECP256K1
        .recover_ecdsa(Message::from_digest(hash.0), &recoverable)
        .ok()?;
    Some(Address::from_raw_public_key(
        &key.serialize_uncompressed()[1..],
    ))
}

/// Why manifest bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a Cairn manifest (bad magic)")]
    BadMagic,
    /// The length does not match the count in the header.
    #[error("manifest declares {count} posts but holds {len} bytes")]
    BadLength {
        /// The declared count.
        count: u32,
        /// The byte length.
        len: usize,
    },
    /// Zero posts, or more than [`MAX_POSTS`].
    #[error("manifest holds {0} posts; a batch holds 1 to {MAX_POSTS}")]
    BadCount(usize),
}

/// Encodes `posts` in leaf order. Fails on an empty or oversized list.
pub fn encode(posts: &[SignedPost]) -> Result<Vec<u8>, ManifestError> {
    if posts.is_empty() || posts.len() > MAX_POSTS {
        return Err(ManifestError::BadCount(posts.len()));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + RECORD_LEN * posts.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(posts.len() as u32).to_be_bytes());
    for p in posts {
        out.extend_from_slice(p.post.from.as_slice());
        out.extend_from_slice(p.post.to.as_slice());
        out.extend_from_slice(p.post.digest.as_slice());
        out.extend_from_slice(&p.post.nonce.to_be_bytes());
        out.extend_from_slice(&p.post.deadline.to_be_bytes());
        // A missing signature is written as zeros, which never verify.
        out.extend_from_slice(&p.signature.map_or([0u8; 65], |s| s.as_bytes()));
    }
    Ok(out)
}

/// Decodes a manifest block.
pub fn decode(bytes: &[u8]) -> Result<Vec<SignedPost>, ManifestError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(ManifestError::BadMagic);
    }
    let count = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let body = &bytes[HEADER_LEN..];
    if body.len() != count as usize * RECORD_LEN {
        return Err(ManifestError::BadLength {
            count,
            len: bytes.len(),
        });
    }
    if count == 0 || count as usize > MAX_POSTS {
        return Err(ManifestError::BadCount(count as usize));
    }
    Ok(body.chunks_exact(RECORD_LEN).map(decode_record).collect())
}

fn decode_record(r: &[u8]) -> SignedPost {
    let u64_at = |at: usize| u64::from_be_bytes(r[at..at + 8].try_into().expect("8 bytes"));
    SignedPost {
        post: Post {
            from: Address::from_slice(&r[0..20]),
            to: B256::from_slice(&r[20..52]),
            digest: B256::from_slice(&r[52..84]),
            nonce: u64_at(84),
            deadline: u64_at(92),
        },
        // Only v = 27 or 28, as the format says: from_raw would also take 0
        // and 1, and two different blocks would then decode to one manifest.
        signature: matches!(r[164], 27 | 28)
            .then(|| Signature::from_raw(&r[100..165]).ok())
            .flatten(),
    }
}

/// The Merkle root over posts with these signing hashes, in order.
pub fn root(signing_hashes: impl IntoIterator<Item = B256>) -> Option<B256> {
    let leaves = signing_hashes.into_iter().map(merkle::leaf_hash).collect();
    merkle::MerkleTree::new(leaves).map(|t| t.root())
}

#[cfg(test)]
mod tests {
    use alloy::{
        signers::{local::PrivateKeySigner, SignerSync},
        sol_types::{Eip712Domain, SolStruct},
    };

    use super::*;
    use crate::eip712::domain;

    fn signed(signer: &PrivateKeySigner, nonce: u64, domain: &Eip712Domain) -> SignedPost {
        let post = Post {
            from: signer.address(),
            to: B256::repeat_byte(7),
            digest: B256::repeat_byte(nonce as u8),
            nonce,
            deadline: 2_000_000_000,
        };
        let signature = signer
            .sign_hash_sync(&post.eip712_signing_hash(domain))
            .unwrap();
        SignedPost {
            post,
            signature: Some(signature),
        }
    }

    #[test]
    fn round_trips_and_verifies() {
        let d = domain(31337, Address::repeat_byte(1));
        let signer = PrivateKeySigner::random();
        let posts: Vec<_> = (1..=3).map(|n| signed(&signer, n, &d)).collect();
        let bytes = encode(&posts).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 3 * RECORD_LEN);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded, posts);
        for p in &decoded {
            assert_eq!(p.verify(&d), Ok(p.signing_hash(&d)));
        }
        // A signature is bound to its domain: another contract rejects it.
        let other = domain(31337, Address::repeat_byte(2));
        assert_eq!(decoded[0].verify(&other), Err(PostError::BadSignature));
    }

    #[test]
    fn recovery_agrees_with_alloy_and_refuses_high_s() {
        let d = domain(31337, Address::repeat_byte(1));
        for n in 0..32 {
            let signer = PrivateKeySigner::random();
            let p = signed(&signer, n, &d);
            let hash = p.signing_hash(&d);
            let sig = p.signature.unwrap();
            assert_eq!(
                recover(hash, &sig),
                sig.recover_address_from_prehash(&hash).ok()
            );
            assert_eq!(recover(hash, &sig), Some(signer.address()));
        }
        // The same signature with s flipped to n - s still recovers the
        // signer mathematically, but the contract refuses it, and so do we.
        let signer = PrivateKeySigner::random();
        let mut p = signed(&signer, 1, &d);
        let sig = p.signature.unwrap();
        let n = alloy::primitives::U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        p.signature = Some(Signature::new(sig.r(), n - sig.s(), !sig.v()));
        assert_eq!(
            recover(p.signing_hash(&d), &p.signature.unwrap()),
            Some(signer.address())
        );
        assert_eq!(p.verify(&d), Err(PostError::BadSignature));
    }

    #[test]
    fn a_forged_sender_fails_alone() {
        let d = domain(1, Address::repeat_byte(1));
        let (alice, mallory) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let mut forged = signed(&mallory, 9, &d);
        forged.post.from = alice.address();
        forged.signature = Some(
            mallory
                .sign_hash_sync(&forged.post.eip712_signing_hash(&d))
                .unwrap(),
        );
        let posts = vec![signed(&alice, 1, &d), forged];
        let decoded = decode(&encode(&posts).unwrap()).unwrap();
        assert!(decoded[0].verify(&d).is_ok());
        assert_eq!(decoded[1].verify(&d), Err(PostError::BadSignature));
    }

    #[test]
    fn a_v_other_than_27_or_28_is_no_signature() {
        let d = domain(1, Address::repeat_byte(1));
        let good = signed(&PrivateKeySigner::random(), 1, &d);
        let mut bytes = encode(std::slice::from_ref(&good)).unwrap();
        let v = bytes.len() - 1;
        assert!(matches!(bytes[v], 27 | 28));
        bytes[v] -= 27; // the same signature, spelled 0 or 1
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded[0].signature, None, "found by tests/it/fuzz.rs");
        assert_eq!(decoded[0].verify(&d), Err(PostError::BadSignature));
    }

    #[test]
    fn rejects_malformed_manifests() {
        assert_eq!(decode(b"nope"), Err(ManifestError::BadMagic));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(decode(&bytes), Err(ManifestError::BadCount(0)));
        bytes[11] = 1;
        assert!(matches!(
            decode(&bytes),
            Err(ManifestError::BadLength { count: 1, .. })
        ));
        assert_eq!(encode(&[]), Err(ManifestError::BadCount(0)));
    }

    #[test]
    fn zeroed_signature_decodes_but_never_verifies() {
        let d = domain(1, Address::repeat_byte(1));
        let mut p = signed(&PrivateKeySigner::random(), 1, &d);
        p.signature = None;
        let decoded = decode(&encode(std::slice::from_ref(&p)).unwrap()).unwrap();
        assert_eq!(decoded[0].verify(&d), Err(PostError::BadSignature));
    }
}
