//! Reorgs on a real Anvil (`evm_snapshot` / `evm_revert`, then new blocks).

use std::time::Duration;

use cairn::{envelope::Body, read_api::EventKind};
use serde_json::json;

use crate::{
    harness::{mine, rpc, signer, ALICE_KEY, BOB_KEY},
    read_path::{Stack, StoreChoice, StreamClient},
};

/// A reorg shallower than K only changes what is pending: the orphaned
/// message is never pushed, and nothing is pushed and then taken back.
async fn shallow(postgres: bool) {
    let stack = Stack::start(postgres, StoreChoice::Embedded, 3).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    let mut client = StreamClient::connect(&stack.api, bob, None).await;

    let snapshot = rpc(&stack.anvil.url, "evm_snapshot", json!([])).await;
    let orphan = alice
        .send(bob, &Body::text("orphaned"), &|_| {})
        .await
        .unwrap();
    let pending = stack.await_inbox(bob, 1, "pending").await;
    assert_eq!(pending[0]["digest"], orphan.digest.to_string());

    rpc(&stack.anvil.url, "evm_revert", json!([snapshot])).await;
    let kept = alice
        .send(bob, &Body::text("canonical"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 3).await;

    let event = client
        .next(Duration::from_secs(30))
        .await
        .expect("the canonical message is pushed");
    assert_eq!(event.kind, EventKind::Message);
    assert_eq!(event.message.digest, kept.digest.to_string());
    assert!(
        client.next(Duration::from_millis(1500)).await.is_none(),
        "no retraction, no orphan"
    );
    let inbox = stack.await_inbox(bob, 1, "confirmed").await;
    assert_eq!(inbox[0]["digest"], kept.digest.to_string());
}

/// A reorg deeper than K retracts what was confirmed, pushes what replaced
/// it, and leaves the API agreeing with the chain.
async fn deep(postgres: bool) {
    let stack = Stack::start(postgres, StoreChoice::Embedded, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    let mut client = StreamClient::connect(&stack.api, bob, None).await;

    let snapshot = rpc(&stack.anvil.url, "evm_snapshot", json!([])).await;
    let lost = alice
        .send(bob, &Body::text("will be reorged away"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 2).await;
    let confirmed = client
        .next(Duration::from_secs(30))
        .await
        .expect("confirmed before the reorg");
    assert_eq!(
        (confirmed.kind, confirmed.message.digest.clone()),
        (EventKind::Message, lost.digest.to_string())
    );

    // Replace the last four blocks with five others.
    rpc(&stack.anvil.url, "evm_revert", json!([snapshot])).await;
    let kept = alice
        .send(bob, &Body::text("replacement"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 4).await;

    let retracted = client
        .next(Duration::from_secs(30))
        .await
        .expect("a retraction");
    assert_eq!(retracted.kind, EventKind::Retracted);
    assert_eq!(retracted.message.id, confirmed.message.id);
    let replacement = client
        .next(Duration::from_secs(30))
        .await
        .expect("the replacement");
    assert_eq!(
        (replacement.kind, replacement.message.digest.clone()),
        (EventKind::Message, kept.digest.to_string())
    );
    assert!(client.next(Duration::from_millis(1500)).await.is_none());

    // The API agrees with the chain: exactly the canonical Posted events.
    let inbox = stack.await_inbox(bob, 1, "confirmed").await;
    let logs = rpc(
        &stack.anvil.url,
        "eth_getLogs",
        json!([{"address": stack.contract, "fromBlock": "0x0"}]),
    )
    .await;
    let posted: Vec<_> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["topics"][0] == json!(cairn_contracts_posted_topic()))
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(inbox[0]["blockHash"], posted[0]["blockHash"]);
    assert_eq!(inbox[0]["tx"], posted[0]["transactionHash"]);
    let (status, gone) = stack
        .get(&format!("/v1/messages/{}", confirmed.message.id))
        .await;
    assert_eq!((status, gone["status"].as_str()), (200, Some("retracted")));
}

fn cairn_contracts_posted_topic() -> String {
    use alloy::sol_types::SolEvent;
    cairn::chain::Cairn::Posted::SIGNATURE_HASH.to_string()
}

#[tokio::test]
async fn shallow_reorg_changes_only_pending_sqlite() {
    shallow(false).await;
}

#[tokio::test]
async fn shallow_reorg_changes_only_pending_postgres() {
    shallow(true).await;
}

#[tokio::test]
async fn deep_reorg_retracts_and_api_agrees_with_chain_sqlite() {
    deep(false).await;
}

#[tokio::test]
async fn deep_reorg_retracts_and_api_agrees_with_chain_postgres() {
    deep(true).await;
}
