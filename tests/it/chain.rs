//! The chain client against a real Anvil: reverts decode into typed errors,
//! RPC failures are typed and classified, and rotation bumps versions.

use alloy::primitives::{Address, B256};
use cairn::{
    chain::{CairnClient, ChainError, Revert},
    crypto::PublicKey,
};

use crate::harness::{free_port, signer, Anvil, ALICE_KEY, DEPLOYER_KEY};

async fn deployed(anvil: &Anvil) -> CairnClient {
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    CairnClient::connect(&anvil.url, contract, Some(signer(ALICE_KEY)))
        .await
        .unwrap()
}

#[tokio::test]
async fn reverts_are_decoded_into_contract_errors() {
    let anvil = Anvil::start().await;
    let chain = deployed(&anvil).await;

    let zero = chain
        .register_key(&PublicKey::from_bytes([0; 32]))
        .await
        .unwrap_err();
    assert!(
        matches!(zero, ChainError::Reverted(Revert::ZeroKey)),
        "{zero}"
    );
    assert!(!zero.is_transient());

    let key = PublicKey::from_bytes([7; 32]);
    let (first, _) = chain.register_key(&key).await.unwrap();
    assert_eq!(first.version, 1);
    let same = chain.register_key(&key).await.unwrap_err();
    assert!(
        matches!(same, ChainError::Reverted(Revert::KeyUnchanged)),
        "{same}"
    );
    let (second, _) = chain
        .register_key(&PublicKey::from_bytes([8; 32]))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    let alice = signer(ALICE_KEY).address();
    assert_eq!(chain.key_of(alice).await.unwrap(), Some(second));
    assert_eq!(chain.key_of(Address::repeat_byte(1)).await.unwrap(), None);

    let no_digest = chain
        .post(B256::repeat_byte(1), B256::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(no_digest, ChainError::Reverted(Revert::ZeroDigest)),
        "{no_digest}"
    );
    let no_recipient = chain
        .post(B256::ZERO, B256::repeat_byte(1))
        .await
        .unwrap_err();
    assert!(
        matches!(no_recipient, ChainError::Reverted(Revert::ZeroRecipient)),
        "{no_recipient}"
    );
}

#[tokio::test]
async fn posts_carry_sequence_and_can_be_found_by_digest() {
    let anvil = Anvil::start().await;
    let chain = deployed(&anvil).await;
    let digest = B256::repeat_byte(0x42);
    // A wallet, left-padded: any other bytes32 names a channel.
    let bob = Address::repeat_byte(2).into_word();
    let first = chain.post(bob, digest).await.unwrap();
    let second = chain.post(bob, B256::repeat_byte(0x43)).await.unwrap();
    assert_eq!((first.event.sequence, second.event.sequence), (0, 1));
    assert!(
        second.inclusion.block > first.inclusion.block,
        "automine: one block per tx, nonces in order"
    );
    let found = chain.posts_with_digest(digest).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].inclusion.tx, first.inclusion.tx);
    assert_eq!(found[0].event.from, signer(ALICE_KEY).address());
}

#[tokio::test]
async fn missing_contract_unreachable_node_and_missing_wallet_are_typed() {
    let anvil = Anvil::start().await;
    let nowhere = Address::repeat_byte(0x99);
    let err = CairnClient::connect(&anvil.url, nowhere, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::NotDeployed(a) if a == nowhere),
        "{err}"
    );

    let dead = format!("http://127.0.0.1:{}", free_port());
    let err = CairnClient::connect(&dead, nowhere, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::Rpc(_)) && err.is_transient(),
        "{err}"
    );

    let chain = deployed(&anvil).await;
    let read_only = CairnClient::connect(&anvil.url, chain.address(), None)
        .await
        .unwrap();
    let err = read_only
        .post(B256::repeat_byte(1), B256::repeat_byte(1))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::MissingSigner), "{err}");
}

/// A broadcast whose answer is lost (the node got it, the client saw a
/// 502) is sent again with the same bytes: one anchor, not two.
#[tokio::test]
async fn a_lost_broadcast_answer_anchors_once() {
    let anvil = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let proxy = crate::rpc_proxy::RpcProxy::start(&anvil.url).await;
    let client = CairnClient::connect(&proxy.url, contract, Some(signer(ALICE_KEY)))
        .await
        .unwrap();
    proxy.lose_answers("eth_sendRawTransaction", 2);
    let digest = B256::repeat_byte(5);
    client
        .post(Address::repeat_byte(7).into_word(), digest)
        .await
        .expect("the post survives lost answers");
    assert!(proxy.calls("eth_sendRawTransaction") >= 3);
    let reader = CairnClient::connect(&anvil.url, contract, None)
        .await
        .unwrap();
    assert_eq!(reader.posts_with_digest(digest).await.unwrap().len(), 1);
}
