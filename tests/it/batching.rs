//! The batching foundations against a real chain: Rust's EIP-712 hashes are
//! the contract's, relayed key registration works and cannot be replayed,
//! and Merkle proofs verify against the root a batch anchors.

use alloy::{
    primitives::{B256, U256},
    signers::Signer,
    sol_types::SolStruct,
};
use cairn::{
    chain::{sign_key_registration, CairnClient, ChainError, Revert},
    crypto::PublicKey,
};
use cairn_contracts::{eip712::Post, merkle};

use crate::harness::{signer, Anvil, ALICE_KEY, BOB_KEY, DEPLOYER_KEY};

async fn chain(anvil: &Anvil, key: &str) -> CairnClient {
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    CairnClient::connect(&anvil.url, contract, Some(signer(key)))
        .await
        .unwrap()
}

fn post(from: alloy::primitives::Address, i: u64) -> Post {
    Post {
        from,
        to: B256::repeat_byte(0xb0),
        digest: B256::with_last_byte(i as u8),
        nonce: i,
        deadline: 2_000_000_000,
    }
}

#[tokio::test]
async fn post_hashes_and_signatures_agree_with_the_contract() {
    let anvil = Anvil::start().await;
    let chain = chain(&anvil, ALICE_KEY).await;
    let domain = chain.domain().await.unwrap();
    let bob = signer(BOB_KEY);
    let contract = cairn::chain::Cairn::new(chain.address(), chain.provider().clone());
    for i in 0..3 {
        let p = post(bob.address(), i);
        let ours = p.eip712_signing_hash(&domain);
        let theirs = contract
            .hashPost(p.from, p.to, p.digest, p.nonce, p.deadline)
            .call()
            .await
            .unwrap();
        assert_eq!(ours, theirs, "EIP-712 hash of post {i}");
        let sig = bob.sign_hash(&ours).await.unwrap();
        let recovered = contract
            .recoverPost(
                p.from,
                p.to,
                p.digest,
                p.nonce,
                p.deadline,
                sig.as_bytes().into(),
            )
            .call()
            .await
            .unwrap();
        assert_eq!(recovered, bob.address());
    }
}

#[tokio::test]
async fn relayer_registers_a_signed_key_once_and_before_its_deadline() {
    let anvil = Anvil::start().await;
    let relayer = chain(&anvil, ALICE_KEY).await;
    let domain = relayer.domain().await.unwrap();
    let bob = signer(BOB_KEY);
    let key = PublicKey::from_bytes([7; 32]);
    let nonce = relayer.registration_nonce(bob.address()).await.unwrap();
    let deadline = U256::from(4_000_000_000u64);
    let sig = sign_key_registration(&bob, &domain, &key, nonce, deadline)
        .await
        .unwrap();

    let (registered, _) = relayer
        .register_key_by_sig(bob.address(), &key, deadline, &sig)
        .await
        .unwrap();
    assert_eq!(registered.key, key);
    assert_eq!(
        relayer.key_of(bob.address()).await.unwrap().map(|k| k.key),
        Some(key),
        "Bob's key, paid by Alice"
    );

    let replay = relayer
        .register_key_by_sig(bob.address(), &key, deadline, &sig)
        .await
        .unwrap_err();
    assert!(
        matches!(replay, ChainError::Reverted(Revert::BadSignature)),
        "{replay}"
    );

    let past = U256::from(1u64);
    let nonce = relayer.registration_nonce(bob.address()).await.unwrap();
    let stale = sign_key_registration(&bob, &domain, &PublicKey::from_bytes([8; 32]), nonce, past)
        .await
        .unwrap();
    let expired = relayer
        .register_key_by_sig(bob.address(), &PublicKey::from_bytes([8; 32]), past, &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(expired, ChainError::Reverted(Revert::Expired(1))),
        "{expired}"
    );
}

#[tokio::test]
async fn anchored_root_proves_every_post() {
    let anvil = Anvil::start().await;
    let chain = chain(&anvil, ALICE_KEY).await;
    let domain = chain.domain().await.unwrap();
    let bob = signer(BOB_KEY).address();
    let leaves: Vec<B256> = (0..5)
        .map(|i| merkle::leaf_hash(post(bob, i).eip712_signing_hash(&domain)))
        .collect();
    let tree = merkle::MerkleTree::new(leaves.clone()).unwrap();
    let (event, _) = chain
        .anchor_batch(tree.root(), B256::repeat_byte(0x3a), 5)
        .await
        .unwrap();
    assert_eq!(
        (event.root, event.count, event.batchId),
        (tree.root(), 5, 0)
    );
    for (i, leaf) in leaves.iter().enumerate() {
        assert!(merkle::verify(
            *leaf,
            i,
            5,
            &tree.proof(i).unwrap(),
            event.root
        ));
    }
    let empty = chain
        .anchor_batch(B256::ZERO, B256::repeat_byte(1), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(empty, ChainError::Reverted(Revert::EmptyBatch)),
        "{empty}"
    );
}
