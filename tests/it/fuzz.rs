//! Property-based fuzzing of the decoders that read untrusted bytes: the
//! envelope, the batch manifest, CIDs and cursors. cargo-fuzz needs a
//! nightly toolchain, which a fresh machine here cannot download, so this
//! runs on stable with proptest: every seed in `tests/corpus/` is decoded
//! as it is and after random mutations, and arbitrary inputs besides. No
//! input may panic, and whatever decodes must encode back to what was read.
//! `PROPTEST_CASES` sets the number of cases (256 by default).

use std::path::Path;

use alloy::primitives::{Address, Signature, B256, U256};
use cairn::{envelope, store::cid};
use cairn_contracts::{
    eip712::Post,
    manifest::{self, SignedPost},
};
use cairn_indexer::store::{ListCursor, StreamCursor};
use proptest::prelude::*;

/// The seeds of one decoder.
fn corpus(decoder: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(decoder);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.into_iter().map(|(_, bytes)| bytes).collect()
}

fn text_corpus(decoder: &str) -> Vec<Vec<u8>> {
    corpus(decoder)
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap().trim().as_bytes().to_vec())
        .collect()
}

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b | 1)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for edit in edits {
        let at = |i: usize, len: usize| i % (len + 1);
        match *edit {
            Mutation::Flip(i, mask) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] ^= mask;
            }
            Mutation::Insert(i, b) => {
                let i = at(i, bytes.len());
                bytes.insert(i, b);
            }
            Mutation::Delete(i) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes.remove(i);
            }
            Mutation::Truncate(n) => {
                let n = at(n, bytes.len());
                bytes.truncate(n);
            }
            _ => {}
        }
    }
    bytes
}

/// Seeds of `decoder`, mutated, or arbitrary bytes.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        3 => (0..n, prop::collection::vec(mutation(), 0..6))
            .prop_map(move |(i, edits)| mutate(seeds[i].clone(), &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

fn post() -> impl Strategy<Value = SignedPost> {
    (
        any::<[u8; 20]>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<bool>(),
    )
        .prop_map(
            |(from, to, digest, nonce, deadline, r, s, odd)| SignedPost {
                post: Post {
                    from: Address::from(from),
                    to: B256::from(to),
                    digest: B256::from(digest),
                    nonce,
                    deadline,
                },
                signature: Some(Signature::new(
                    U256::from_be_bytes(r),
                    U256::from_be_bytes(s),
                    odd,
                )),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn envelope_parsing_never_panics(bytes in inputs(corpus("envelope"))) {
        let _ = envelope::peek_header(&bytes);
        let stranger = cairn::crypto::SecretKey::generate(&mut rand::thread_rng());
        prop_assert!(envelope::open(&bytes, &stranger).is_err());
    }

    #[test]
    fn manifests_decode_strictly(bytes in inputs(corpus("manifest"))) {
        if let Ok(posts) = manifest::decode(&bytes) {
            // Strict: a manifest that decodes is exactly its own encoding,
            // except that an unparseable signature reads as none.
            if posts.iter().all(|p| p.signature.is_some()) {
                prop_assert_eq!(manifest::encode(&posts).unwrap(), bytes);
            } else {
                prop_assert_eq!(manifest::encode(&posts).unwrap().len(), bytes.len());
            }
        }
    }

    #[test]
    fn manifests_round_trip(posts in prop::collection::vec(post(), 1..40)) {
        let bytes = manifest::encode(&posts).unwrap();
        prop_assert_eq!(manifest::decode(&bytes).unwrap(), posts);
    }

    #[test]
    fn cids_parse_to_what_they_name(bytes in inputs(text_corpus("cid"))) {
        let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(()) };
        if let Ok(parsed) = cid::parse(text) {
            if let Ok(digest) = cid::digest_of(&parsed) {
                prop_assert_eq!(cid::cid_for_digest(digest), parsed);
            }
        }
    }

    #[test]
    fn cursors_round_trip_and_stay_in_range(bytes in inputs(text_corpus("cursor"))) {
        let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(()) };
        if let Ok(c) = ListCursor::decode(text) {
            prop_assert_eq!(ListCursor::decode(&c.encode()), Ok(c));
            prop_assert!(i64::try_from(c.block).is_ok() && i64::try_from(c.log_index).is_ok());
            prop_assert!(c.item.is_none_or(|i| i64::try_from(i).is_ok()));
        }
        if let Ok(c) = StreamCursor::decode(text) {
            prop_assert_eq!(StreamCursor::decode(&c.encode()), Ok(c));
            prop_assert!(i64::try_from(c.0).is_ok());
        }
    }

    #[test]
    fn cursors_encode_and_decode_any_position(block in any::<u64>(), log in any::<u64>(), item in any::<Option<u64>>()) {
        let c = ListCursor { block, log_index: log, item };
        let fits = [Some(block), Some(log), item].iter().flatten().all(|n| i64::try_from(*n).is_ok());
        prop_assert_eq!(ListCursor::decode(&c.encode()).is_ok(), fits);
    }
}
