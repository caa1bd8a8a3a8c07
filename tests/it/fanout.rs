//! Pushes through the in-memory fan-out under bursts, on real Anvil and
//! both databases: every subscriber gets every event once and in order,
//! whether it keeps up, falls a whole queue behind (and catches up from the
//! store), or reconnects with its cursor in the middle of a burst. The
//! reorg retractions pushed through the same fan-out are in `reorg.rs`.

use std::time::Duration;

use alloy::primitives::{keccak256, Address};
use cairn::read_api::{EventKind, StreamEvent};
use cairn_indexer::api::StreamConfig;

use crate::{
    harness::{metric, mine, post_range},
    read_path::{Stack, StoreChoice, StreamClient},
};

/// `events` are the confirmations of posts `posts`, in that order.
fn assert_posts(events: &[StreamEvent], posts: std::ops::Range<usize>) {
    assert_eq!(events.len(), posts.len());
    for (event, i) in events.iter().zip(posts) {
        assert_eq!(event.kind, EventKind::Message, "{event:?}");
        assert_eq!(
            event.message.digest,
            keccak256(i.to_be_bytes()).to_string(),
            "post {i} in its place"
        );
    }
}

async fn bursts(postgres: bool) {
    // A queue of 16 events: a block of 100 or 200 posts overflows it, so
    // every subscriber is let go and catches up from the store, again and
    // again, fast reader or not.
    let stream = StreamConfig {
        heartbeat: Duration::from_secs(1),
        queue: 16,
        ..StreamConfig::default()
    };
    let stack = Stack::start_with(postgres, StoreChoice::Embedded, 2, stream).await;
    let (url, contract) = (stack.anvil.url.clone(), stack.contract);
    let who = Address::with_last_byte(0x10);
    let mut steady = StreamClient::connect(&stack.api, who, None).await;
    let mut resumer = StreamClient::connect(&stack.api, who, None).await;

    post_range(&url, contract, 0..600, 200, 1).await;
    mine(&url, 2).await;
    let first = resumer.take(250).await;
    let cursor = first.last().unwrap().cursor.clone();
    drop(resumer);

    // The second burst is confirmed block by block while the resumer
    // comes back with its cursor.
    let burst = tokio::spawn({
        let url = url.clone();
        async move {
            post_range(&url, contract, 600..1_200, 100, 1).await;
            mine(&url, 2).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut resumer = StreamClient::connect(&stack.api, who, Some(&cursor)).await;
    burst.await.unwrap();
    let rest = resumer.take(950).await;
    let all = steady.take(1_200).await;

    assert_posts(&first, 0..250);
    assert_posts(&rest, 250..1_200);
    assert_posts(&all, 0..1_200);
    for client in [&mut steady, &mut resumer] {
        assert!(
            client.next(Duration::from_millis(1500)).await.is_none(),
            "nothing twice"
        );
    }
    let dropped = metric(&stack.status(), "cairn_fanout_dropped_total")
        .await
        .unwrap_or(0.0);
    assert!(dropped > 0.0, "the bursts overflowed the queues: {dropped}");
}

#[tokio::test]
async fn bursts_reach_every_subscriber_once_in_order_sqlite() {
    bursts(false).await;
}

#[tokio::test]
async fn bursts_reach_every_subscriber_once_in_order_postgres() {
    bursts(true).await;
}
