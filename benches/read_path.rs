//! Read-path benchmark: backfill throughput and push latency, on real Anvil,
//! SQLite and PostgreSQL. Run with `make bench` (or `cargo bench --bench
//! read_path` after `make tools`); figures go in docs/BENCHMARKS.md.
//!
//! - Backfill: CAIRN_BENCH_EVENTS (default 50,000) posts, 500 per block, are
//!   anchored first; then a fresh node indexes them from block 0. Reported:
//!   events per second until the checkpoint reaches the head, with the whole
//!   node running (API, content checker).
//! - Latency: CAIRN_BENCH_SAMPLES (default 200) posts, one at a time; for
//!   each, the time from the return of the `evm_mine` that mines its
//!   confirming block (K = 2) to the arrival of its WebSocket frame. Measured
//!   with head polling (250 ms) and with a WebSocket head subscription.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/harness.rs"]
mod harness;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{keccak256, Address},
    sol_types::SolCall,
};
use cairn::{
    chain::{Cairn, CairnClient},
    read_api::StreamEvent,
    server::{Limits, Node, NodeConfig},
    store::EmbeddedStore,
};
use cairn_indexer::{api::StreamConfig, IndexerConfig};
use futures::StreamExt;
use harness::{mine, post_many, rpc, rpc_u64, signer, Anvil, Database, DEPLOYER_KEY, SENDER};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn head(url: &str) -> u64 {
    rpc_u64(url, "eth_blockNumber", json!([])).await
}

async fn node(
    rpc_url: String,
    ws_url: Option<String>,
    contract: Address,
    start_block: u64,
    db: &Database,
    dir: &std::path::Path,
) -> Node {
    let indexer = IndexerConfig {
        start_block,
        ws_url,
        ..IndexerConfig::new(rpc_url, contract)
    };
    Node::start(NodeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: Arc::new(EmbeddedStore::open(dir.join("store")).unwrap()),
        indexer: Some((indexer, db.url())),
        gateway: None,
        limits: Limits::default(),
        stream: StreamConfig::default(),
        web: None,
        auth: None,
    })
    .await
    .unwrap()
}

async fn backfill(anvil: &Anvil, contract: Address, events: usize, postgres: bool) {
    let target = head(&anvil.url).await;
    let db = Database::start(postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let node = node(anvil.url.clone(), None, contract, 0, &db, dir.path()).await;
    let mut progress = node.progress.clone().unwrap();
    while progress.borrow().indexed.is_none_or(|i| i < target) {
        progress.changed().await.unwrap();
    }
    let elapsed = start.elapsed();
    let name = if postgres { "PostgreSQL" } else { "SQLite" };
    println!(
        "backfill {name}: {events} events in {target} blocks, {:.2} s, {:.0} events/s",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    node.shutdown().await.unwrap();
}

async fn latency(anvil: &Anvil, contract: Address, samples: usize, subscribe: bool) {
    let db = Database::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let ws_url = subscribe.then(|| anvil.url.replacen("http", "ws", 1));
    let node = node(
        anvil.url.clone(),
        ws_url,
        contract,
        head(&anvil.url).await,
        &db,
        dir.path(),
    )
    .await;
    let recipient = Address::with_last_byte(0xee);
    let url = format!("ws://{}/v1/stream?address={recipient}", node.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            if let WsMessage::Text(text) = frame {
                if let Ok(event) = serde_json::from_str::<StreamEvent>(&text) {
                    let _ = tx.send((event.message.sequence, Instant::now()));
                }
            }
        }
    });
    let nonce = rpc_u64(
        &anvil.url,
        "eth_getTransactionCount",
        json!([SENDER, "latest"]),
    )
    .await;
    rpc(&anvil.url, "evm_setAutomine", json!([false])).await;
    let mut delays = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        // Start each sample at a different phase of the indexer's poll cycle.
        tokio::time::sleep(Duration::from_millis(300 + (i * 37) % 250)).await;
        let input = Cairn::postCall {
            to: recipient.into_word(),
            digest: keccak256(i.to_be_bytes()),
        }
        .abi_encode();
        let tx = json!({"from": SENDER, "to": contract, "data": format!("0x{}", hex::encode(input)), "gas": "0x30000", "nonce": format!("0x{:x}", nonce + i)});
        rpc(&anvil.url, "eth_sendTransaction", json!([tx])).await;
        rpc(&anvil.url, "evm_mine", json!([])).await;
        mine(&anvil.url, 1).await;
        rpc(&anvil.url, "evm_mine", json!([])).await; // the confirming block (K = 2)
        let confirmed = Instant::now();
        let (_, arrived) = tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
            .await
            .unwrap()
            .unwrap();
        delays.push(arrived.saturating_duration_since(confirmed));
    }
    rpc(&anvil.url, "evm_setAutomine", json!([true])).await;
    delays.sort();
    let pct = |p: f64| delays[((delays.len() as f64 * p).ceil() as usize).min(delays.len()) - 1];
    let mode = if subscribe {
        "ws subscription"
    } else {
        "http polling 250 ms"
    };
    println!(
        "latency confirming block -> frame ({mode}, {samples} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        delays.last().unwrap().as_secs_f64() * 1e3
    );
    node.shutdown().await.unwrap();
}

#[tokio::main]
async fn main() {
    let events = env_usize("CAIRN_BENCH_EVENTS", 50_000);
    let samples = env_usize("CAIRN_BENCH_SAMPLES", 200);
    let anvil = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let start = Instant::now();
    post_many(&anvil.url, contract, events, 500, 100).await;
    mine(&anvil.url, 2).await;
    println!(
        "anchored {events} posts in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    backfill(&anvil, contract, events, false).await;
    backfill(&anvil, contract, events, true).await;
    latency(&anvil, contract, samples, false).await;
    latency(&anvil, contract, samples, true).await;
}
