//! What a forged manifest costs the node: the largest manifest a block
//! holds (6,355 posts), each signed by someone other than its claimed
//! sender, audited as the indexer audits a batch (decode, recover every
//! signature on every core, rebuild the root). Run with
//! `cargo bench --bench forged_manifest`; figures go in docs/BENCHMARKS.md.

use std::time::Instant;

use alloy::{
    primitives::{Address, B256},
    signers::{local::PrivateKeySigner, SignerSync},
    sol_types::SolStruct,
};
use cairn_contracts::{
    eip712::{domain, Post},
    manifest::{self, SignedPost},
};

fn main() {
    let d = domain(31337, Address::repeat_byte(1));
    let mallory = PrivateKeySigner::random();
    let claimed = PrivateKeySigner::random().address();
    let posts: Vec<SignedPost> = (0..manifest::MAX_POSTS as u64)
        .map(|nonce| {
            let post = Post {
                from: claimed,
                to: B256::repeat_byte(9),
                digest: B256::repeat_byte((nonce % 251) as u8),
                nonce,
                deadline: u64::MAX >> 1,
            };
            let signature = Some(
                mallory
                    .sign_hash_sync(&post.eip712_signing_hash(&d))
                    .unwrap(),
            );
            SignedPost { post, signature }
        })
        .collect();
    let bytes = manifest::encode(&posts).unwrap();
    let root = manifest::root(posts.iter().map(|p| p.signing_hash(&d))).unwrap();
    let runs = 5;
    let mut best = f64::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let audit = cairn_indexer::batches::audit_manifest(root, posts.len() as u32, 0, &bytes, &d)
            .expect("the root matches");
        best = best.min(started.elapsed().as_secs_f64());
        assert_eq!(audit.invalid, posts.len());
    }
    println!(
        "forged manifest: {} posts, {} bytes; audit best of {runs}: {:.1} ms ({:.1} µs/post, {} cores); \
         rows written: at most {} invalid posts + 1 batch row",
        posts.len(),
        bytes.len(),
        best * 1e3,
        best * 1e6 / posts.len() as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        cairn_indexer::store::INVALID_POSTS_KEPT
    );
}
