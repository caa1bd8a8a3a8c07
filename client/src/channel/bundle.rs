//! The key bundle of one channel epoch: the epoch's random key, wrapped for
//! each member's registered x25519 key, in content-addressed blocks.
//!
//! A root block lists the parts, each with the first member it holds; a
//! part holds up to [`WRAPS_PER_PART`] wraps sorted by member address, so a
//! member fetches the root and exactly one part. The root's digest is what
//! an admin anchors with the epoch (`publishEpochKey`). Layout and
//! derivations: `docs/ENVELOPE.md`, "Channels".

use alloy::primitives::{Address, B256};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    ChaCha20Poly1305,
};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{wrap_key, PublicKey, SecretKey};

/// Magic of a bundle's root block.
pub const ROOT_MAGIC: [u8; 4] = *b"CRNB";
/// Magic of a bundle part.
pub const PART_MAGIC: [u8; 4] = *b"CRNW";
const VERSION: u8 = 1;
const HEAD_LEN: usize = 4 + 1 + 32 + 8 + 4;
const WRAP_LEN: usize = 20 + 32 + 48;
const ENTRY_LEN: usize = 20 + 32;
const WRAP_INFO: &[u8] = b"cairn/v1/channel-wrap";
/// Wraps in one part, so that a part fits one 1 MiB block.
pub const WRAPS_PER_PART: usize = (crate::block::MAX_BLOCK_SIZE - HEAD_LEN) / WRAP_LEN;

/// Why a bundle cannot be built or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The bytes break the layout.
    #[error("malformed key bundle: {0}")]
    Malformed(&'static str),
    /// The block belongs to another channel or epoch than the one asked for.
    #[error("the key bundle is for another channel or epoch")]
    WrongBundle,
    /// The reader has no wrap in this epoch's bundle.
    #[error("{0} is not a member in this epoch's key bundle")]
    NotAMember(Address),
    /// The wrap did not open with the reader's key.
    #[error("the epoch key did not unwrap: another messaging key, or an altered bundle")]
    UnwrapFailed,
    /// More parts than a root can list.
    #[error("too many members for one bundle")]
    TooLarge,
}

/// A built bundle: its root and its parts, each one raw block.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The root block; its sha2-256 is anchored with the epoch.
    pub root: Vec<u8>,
    /// The parts, in member order.
    pub parts: Vec<Vec<u8>>,
    /// Members left out because their registered key is weak (a low-order
    /// point): nothing can be wrapped for it, and one such member must not
    /// stop the others from getting the key.
    pub weak: Vec<Address>,
}

/// A parsed root block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The channel.
    pub channel: B256,
    /// The epoch.
    pub epoch: u64,
    /// How many members the bundle holds.
    pub members: u32,
    /// Each part's first member and digest, in order.
    pub parts: Vec<(Address, B256)>,
}

impl Root {
    /// The digest of the part that would hold `member`.
    pub fn part_for(&self, member: Address) -> Option<B256> {
        self.parts
            .iter()
            .take_while(|(first, _)| *first <= member)
            .last()
            .map(|(_, digest)| *digest)
    }
}

/// Builds the bundle of `epoch_key` for `members` (address and registered key).
pub fn build(
    channel: B256,
    epoch: u64,
    epoch_key: &[u8; 32],
    members: &[(Address, PublicKey)],
) -> Result<Bundle, BundleError> {
    build_with(
        channel,
        epoch,
        epoch_key,
        members,
        WRAPS_PER_PART,
        &mut rand::rngs::OsRng,
    )
}

/// [`build`] with a part size and randomness of the caller's (tests use small parts).
pub fn build_with<R: RngCore + CryptoRng>(
    channel: B256,
    epoch: u64,
    epoch_key: &[u8; 32],
    members: &[(Address, PublicKey)],
    per_part: usize,
    rng: &mut R,
) -> Result<Bundle, BundleError> {
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|(address, _)| *address);
    sorted.dedup_by_key(|(address, _)| *address);
    let (weak, sorted): (Vec<_>, Vec<_>) = sorted.into_iter().partition(|(_, key)| key.is_weak());
    let weak = weak.into_iter().map(|(address, _)| address).collect();
    let chunks: Vec<_> = sorted.chunks(per_part.max(1)).collect();
    if chunks.len() > usize::from(u16::MAX) {
        return Err(BundleError::TooLarge);
    }
    let mut parts = Vec::with_capacity(chunks.len());
    let mut entries = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let mut part = head(PART_MAGIC, channel, epoch, chunk.len() as u32);
        for (member, key) in chunk {
            let ephemeral = SecretKey::generate(rng);
            let wrap = wrap_key(WRAP_INFO, &ephemeral, &ephemeral.public_key(), key)
                .expect("weak keys were set aside above");
            let wrapped = ChaCha20Poly1305::new(wrap.as_ref().into())
                .encrypt(
                    &Default::default(),
                    Payload {
                        msg: epoch_key,
                        aad: &aad(channel, epoch, *member),
                    },
                )
                .expect("ChaCha20-Poly1305 encrypts any 32-byte message");
            part.extend_from_slice(member.as_slice());
            part.extend_from_slice(ephemeral.public_key().as_bytes());
            part.extend_from_slice(&wrapped);
        }
        entries.push((chunk[0].0, B256::from_slice(&Sha256::digest(&part))));
        parts.push(part);
    }
    let mut root = head(ROOT_MAGIC, channel, epoch, sorted.len() as u32);
    root.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (first, digest) in entries {
        root.extend_from_slice(first.as_slice());
        root.extend_from_slice(digest.as_slice());
    }
    Ok(Bundle { root, parts, weak })
}

/// Parses a root block, which must be `channel`'s at `epoch`.
pub fn parse_root(bytes: &[u8], channel: B256, epoch: u64) -> Result<Root, BundleError> {
    let members = check_head(bytes, ROOT_MAGIC, channel, epoch)?;
    let rest = &bytes[HEAD_LEN..];
    if rest.len() < 2 {
        return Err(BundleError::Malformed("no part count"));
    }
    let count = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let list = &rest[2..];
    if list.len() != count * ENTRY_LEN {
        return Err(BundleError::Malformed(
            "the part list's length disagrees with its count",
        ));
    }
    let parts = list
        .chunks_exact(ENTRY_LEN)
        .map(|e| (Address::from_slice(&e[..20]), B256::from_slice(&e[20..])))
        .collect();
    Ok(Root {
        channel,
        epoch,
        members,
        parts,
    })
}

/// Unwraps the epoch key for `member` from a part of `channel`'s bundle at `epoch`.
pub fn open_part(
    bytes: &[u8],
    channel: B256,
    epoch: u64,
    member: Address,
    secret: &SecretKey,
) -> Result<Zeroizing<[u8; 32]>, BundleError> {
    let count = check_head(bytes, PART_MAGIC, channel, epoch)? as usize;
    let wraps = &bytes[HEAD_LEN..];
    if wraps.len() != count * WRAP_LEN {
        return Err(BundleError::Malformed(
            "the part's length disagrees with its count",
        ));
    }
    let wraps: Vec<&[u8]> = wraps.chunks_exact(WRAP_LEN).collect();
    let at = wraps
        .binary_search_by(|w| Address::from_slice(&w[..20]).cmp(&member))
        .map_err(|_| BundleError::NotAMember(member))?;
    let wrap = wraps[at];
    let ephemeral = PublicKey::from_bytes(wrap[20..52].try_into().expect("32 bytes"));
    let key = wrap_key(WRAP_INFO, secret, &ephemeral, &secret.public_key())
        .ok_or(BundleError::UnwrapFailed)?;
    let opened = ChaCha20Poly1305::new(key.as_ref().into())
        .decrypt(
            &Default::default(),
            Payload {
                msg: &wrap[52..],
                aad: &aad(channel, epoch, member),
            },
        )
        .map_err(|_| BundleError::UnwrapFailed)?;
    Ok(Zeroizing::new(
        opened
            .as_slice()
            .try_into()
            .map_err(|_| BundleError::UnwrapFailed)?,
    ))
}

fn head(magic: [u8; 4], channel: B256, epoch: u64, count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD_LEN);
    out.extend_from_slice(&magic);
    out.push(VERSION);
    out.extend_from_slice(channel.as_slice());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out
}

/// Checks magic, version, channel and epoch; returns the count.
fn check_head(bytes: &[u8], magic: [u8; 4], channel: B256, epoch: u64) -> Result<u32, BundleError> {
    if bytes.len() < HEAD_LEN {
        return Err(BundleError::Malformed("shorter than its head"));
    }
    if bytes[..4] != magic {
        return Err(BundleError::Malformed("bad magic"));
    }
    if bytes[4] != VERSION {
        return Err(BundleError::Malformed("unknown version"));
    }
    if bytes[5..37] != channel[..] || bytes[37..45] != epoch.to_be_bytes() {
        return Err(BundleError::WrongBundle);
    }
    Ok(u32::from_be_bytes(
        bytes[45..49].try_into().expect("4 bytes"),
    ))
}

/// A wrap's AAD: the channel, the epoch and the member it is for.
fn aad(channel: B256, epoch: u64, member: Address) -> [u8; 60] {
    let mut out = [0u8; 60];
    out[..32].copy_from_slice(channel.as_slice());
    out[32..40].copy_from_slice(&epoch.to_be_bytes());
    out[40..].copy_from_slice(member.as_slice());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: u8) -> Vec<(Address, SecretKey)> {
        (1..=n)
            .map(|i| (Address::with_last_byte(i), SecretKey::from_bytes([i; 32])))
            .collect()
    }

    #[test]
    fn every_member_and_only_members_unwrap_the_epoch_key_from_one_part() {
        let channel = B256::with_last_byte(0xc0);
        let key = [9u8; 32];
        let people = members(10);
        let public: Vec<_> = people.iter().map(|(a, s)| (*a, s.public_key())).collect();
        let bundle = build_with(channel, 4, &key, &public, 3, &mut rand::rngs::OsRng).unwrap();
        assert_eq!(bundle.parts.len(), 4);
        let root = parse_root(&bundle.root, channel, 4).unwrap();
        assert_eq!(root.members, 10);
        for (address, secret) in &people {
            let digest = root.part_for(*address).unwrap();
            let part = bundle
                .parts
                .iter()
                .find(|p| B256::from_slice(&Sha256::digest(p)) == digest)
                .unwrap();
            assert_eq!(*open_part(part, channel, 4, *address, secret).unwrap(), key);
            assert_eq!(
                open_part(part, channel, 5, *address, secret),
                Err(BundleError::WrongBundle)
            );
        }
        let stranger = Address::with_last_byte(0x99);
        let last = bundle.parts.last().unwrap();
        assert_eq!(
            open_part(
                last,
                channel,
                4,
                stranger,
                &SecretKey::from_bytes([0x99; 32])
            ),
            Err(BundleError::NotAMember(stranger))
        );
        // A member's slot opened with another key fails.
        let (first, _) = &people[0];
        assert_eq!(
            open_part(&bundle.parts[0], channel, 4, *first, &people[1].1),
            Err(BundleError::UnwrapFailed)
        );
        assert_eq!(
            parse_root(&bundle.root, B256::ZERO, 4),
            Err(BundleError::WrongBundle)
        );
    }

    #[test]
    fn a_weak_key_is_left_out_and_reported_and_the_others_get_the_key() {
        let channel = B256::with_last_byte(0xc1);
        let key = [7u8; 32];
        let people = members(3);
        let mut public: Vec<_> = people.iter().map(|(a, s)| (*a, s.public_key())).collect();
        let weak = Address::with_last_byte(0x77);
        // The zero point: every agreement with it is zero.
        public.push((weak, PublicKey::from_bytes([0; 32])));
        let bundle = build(channel, 1, &key, &public).unwrap();
        assert_eq!(bundle.weak, [weak]);
        let root = parse_root(&bundle.root, channel, 1).unwrap();
        assert_eq!(root.members, 3);
        assert_eq!(bundle.parts.len(), 1);
        assert_eq!(
            open_part(
                &bundle.parts[0],
                channel,
                1,
                weak,
                &SecretKey::from_bytes([0x77; 32])
            ),
            Err(BundleError::NotAMember(weak))
        );
        for (address, secret) in &people {
            assert_eq!(
                *open_part(&bundle.parts[0], channel, 1, *address, secret).unwrap(),
                key
            );
        }
    }

    #[test]
    fn a_full_part_fits_one_block() {
        let wraps = WRAPS_PER_PART;
        assert!(HEAD_LEN + wraps * WRAP_LEN <= crate::block::MAX_BLOCK_SIZE);
        assert!(HEAD_LEN + (wraps + 1) * WRAP_LEN > crate::block::MAX_BLOCK_SIZE);
    }
}
