//! Backfill under a small log cap, on real Anvil: ranges are cut to the
//! cap, a block denser than the cap is taken whole, every post is indexed
//! once, in chain order, and each range is fetched while the one before it
//! commits.

use std::time::Duration;

use alloy::primitives::{keccak256, Address};
use cairn::chain::CairnClient;
use cairn_indexer::IndexerConfig;
use serde_json::Value;

use crate::harness::{
    indexing_node, metric, mine, post_many, post_range, signer, Anvil, Database, DEPLOYER_KEY,
};

#[tokio::test]
async fn a_small_log_cap_cuts_ranges_and_loses_nothing() {
    let anvil = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    // 20 blocks of 10 posts, one of 60 (more than the cap of 25), then
    // 100 empty blocks, so all of them are far enough below the head to
    // be read by range.
    post_many(&anvil.url, contract, 200, 10, 1).await;
    post_range(&anvil.url, contract, 200..260, 60, 1).await;
    mine(&anvil.url, 100).await;

    let db = Database::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let indexer = IndexerConfig {
        max_logs_per_fetch: 25,
        poll_interval: Duration::from_millis(50),
        ..IndexerConfig::new(anvil.url.clone(), contract)
    };
    let node = indexing_node(indexer, &db, dir.path()).await;
    let url = format!(
        "http://{}/v1/inbox/{}?limit=500",
        node.addr,
        Address::with_last_byte(0x10)
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let messages = loop {
        let page: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        if messages.len() == 260 && messages.iter().all(|m| m["status"] == "confirmed") {
            break messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 260 indexed and confirmed",
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            m["digest"],
            keccak256(i.to_be_bytes()).to_string(),
            "post {i} once, in its place"
        );
    }
    // Ranges were fetched while the ones before them committed: this
    // backfill alone reads more than 20 (the counter is the process's, so
    // other tests' backfills may add to it, never take from it).
    let status = format!("http://{}", node.status_addr.unwrap());
    let prefetched = metric(&status, "cairn_indexer_prefetched_ranges_total").await;
    assert!(prefetched >= Some(10.0), "{prefetched:?}");
    node.shutdown().await.unwrap();
}
