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

/// A node that starts behind the head writes the rows already K deep as
/// confirmed at once (on PostgreSQL in one statement with their events, not
/// pending and then updated). Those inside the reorg window can still be
/// reorged away: a reorg deeper than K retracts them as it retracts rows
/// confirmed the long way, and the API agrees with the chain.
async fn backfill_into_window(postgres: bool) {
    let mut stack = Stack::start(postgres, StoreChoice::Embedded, 2).await;
    stack.node.take().unwrap().shutdown().await.unwrap();
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    // More than the 64-block reorg window: the restarted node backfills a
    // range first, then walks the window block by block.
    mine(&stack.anvil.url, 70).await;
    let kept = alice
        .send(bob, &Body::text("before the fork"), &|_| {})
        .await
        .unwrap();
    let snapshot = rpc(&stack.anvil.url, "evm_snapshot", json!([])).await;
    let lost = alice
        .send(bob, &Body::text("will be reorged away"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 4).await;

    // Both are more than K deep when the node first sees them.
    stack.start_node(2).await;
    let inbox = stack.await_inbox(bob, 2, "confirmed").await;
    let digests: Vec<_> = inbox.iter().map(|m| m["digest"].clone()).collect();
    assert!(digests.contains(&json!(kept.digest.to_string())));
    assert!(digests.contains(&json!(lost.digest.to_string())));
    let lost_id = inbox
        .iter()
        .find(|m| m["digest"] == json!(lost.digest.to_string()))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Each was pushed once, as confirmed: the stream from its start.
    let start = cairn_proto::cursor::StreamCursor(0).encode();
    let mut history = StreamClient::connect(&stack.api, bob, Some(&start)).await;
    let mut pushed = Vec::new();
    while let Some(event) = history.next(Duration::from_millis(1500)).await {
        pushed.push((event.kind, event.message.digest));
    }
    assert_eq!(
        pushed,
        [
            (EventKind::Message, kept.digest.to_string()),
            (EventKind::Message, lost.digest.to_string())
        ]
    );

    let mut client = StreamClient::connect(&stack.api, bob, None).await;
    rpc(&stack.anvil.url, "evm_revert", json!([snapshot])).await;
    let replacement = alice
        .send(bob, &Body::text("replacement"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 6).await;

    let retracted = client
        .next(Duration::from_secs(30))
        .await
        .expect("a retraction");
    assert_eq!(
        (retracted.kind, retracted.message.id.clone()),
        (EventKind::Retracted, lost_id.clone())
    );
    let pushed = client
        .next(Duration::from_secs(30))
        .await
        .expect("the replacement");
    assert_eq!(
        (pushed.kind, pushed.message.digest.clone()),
        (EventKind::Message, replacement.digest.to_string())
    );
    assert!(client.next(Duration::from_millis(1500)).await.is_none());

    let inbox = stack.await_inbox(bob, 2, "confirmed").await;
    let digests: Vec<_> = inbox.iter().map(|m| m["digest"].clone()).collect();
    assert!(digests.contains(&json!(kept.digest.to_string())));
    assert!(digests.contains(&json!(replacement.digest.to_string())));
    let (status, gone) = stack.get(&format!("/v1/messages/{lost_id}")).await;
    assert_eq!((status, gone["status"].as_str()), (200, Some("retracted")));
}

#[tokio::test]
async fn a_backfill_ending_inside_the_reorg_window_still_retracts_sqlite() {
    backfill_into_window(false).await;
}

#[tokio::test]
async fn a_backfill_ending_inside_the_reorg_window_still_retracts_postgres() {
    backfill_into_window(true).await;
}
