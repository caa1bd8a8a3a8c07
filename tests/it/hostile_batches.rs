//! `anchorBatch` is permissionless: anyone can anchor manifests that exist
//! nowhere. A thousand such anchors, from several accounts, must not slow
//! the confirmation of direct posts, and must not starve a real batch whose
//! manifest arrives late. Kubo runs online here (with no peers), so a lookup
//! allowed to search the network would hang: the node must look locally.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{keccak256, Address},
    sol_types::SolCall,
};
use cairn::{
    chain::Cairn,
    server::{Limits, Node, NodeConfig},
    store::cid,
};
use cairn_contracts::manifest;
use cairn_indexer::{retry::Backoff, IndexerConfig};
use serde_json::{json, Value};

use crate::{
    gateway_stack::Chain,
    harness::{rpc, Anvil, Database, Kubo, SENDER},
    read_path::StreamClient,
};

/// Anvil's unlocked accounts 5 to 8: the attackers.
const ATTACKERS: [&str; 4] = [
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
];
/// Anvil's account 9 anchors the one real batch.
const HONEST_RELAYER: &str = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";
const BOGUS: usize = 1_000;
const BLOCKS: usize = 10;
const K: u64 = 2;

fn tx(from: &str, contract: Address, input: Vec<u8>, nonce: usize) -> Value {
    json!({"from": from, "to": contract, "data": format!("0x{}", hex::encode(input)),
        "gas": "0x40000", "nonce": format!("0x{nonce:x}")})
}

async fn indexed(api: &str) -> (u64, u64) {
    let health: Value = reqwest::get(format!("{api}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        health["head"].as_u64().unwrap_or(0),
        health["indexed"].as_u64().unwrap_or(0),
    )
}

async fn batch(api: &str, id: &str) -> Value {
    reqwest::get(format!("{api}/v1/batches/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn bogus_anchors_neither_stall_confirmations_nor_starve_a_late_batch() {
    let chain = Chain::start_with(2, Anvil::start().await, 0, Kubo::start_online().await).await;
    let db = Database::start(false).await;
    let backoff = Backoff {
        first: Duration::from_millis(500),
        cap: Duration::from_secs(4),
    };
    let node = Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store: chain.store.clone(),
        indexer: Some((
            IndexerConfig {
                confirmations: K,
                poll_interval: Duration::from_millis(100),
                missing_retry: backoff,
                ..IndexerConfig::new(chain.url.clone(), chain.contract)
            },
            db.url(),
        )),
        gateway: None,
        limits: Limits::default(),
        stream: Default::default(),
        web: None,
        tls: None,
        auth: None,
    })
    .await
    .unwrap();
    let api = format!("http://{}", node.addr);
    let bob = chain.users[1].address();
    let mut stream = StreamClient::connect(&api, bob, None).await;

    // The real batch: its envelope is stored, its manifest not yet.
    let late = chain.outgoing(0, 1, 1, "late but real").await;
    chain.store.put(late.envelope.clone().into()).await.unwrap();
    let manifest_bytes = manifest::encode(std::slice::from_ref(&late.signed)).unwrap();
    let root = manifest::root([late.signed.signing_hash(&chain.domain)]).unwrap();

    // Ten blocks of 100 bogus anchors each, every block with one direct post
    // to Bob; the real anchor goes into the middle block.
    rpc(&chain.url, "evm_setAutomine", json!([false])).await;
    let mut nonces = [0usize; ATTACKERS.len()];
    let mut honest_tx = String::new();
    for block in 0..BLOCKS {
        let mut sends = Vec::new();
        for i in 0..BOGUS / BLOCKS {
            let n = block * (BOGUS / BLOCKS) + i;
            let attacker = n % ATTACKERS.len();
            let call = Cairn::anchorBatchCall {
                root: keccak256(n.to_be_bytes()),
                manifestDigest: keccak256((n + 1_000_000).to_be_bytes()),
                // Some claim the largest manifest a block can hold.
                count: if n % 10 == 0 {
                    6_355
                } else {
                    1 + n as u32 % 50
                },
            };
            sends.push(tx(
                ATTACKERS[attacker],
                chain.contract,
                call.abi_encode(),
                nonces[attacker],
            ));
            nonces[attacker] += 1;
        }
        let post = Cairn::postCall {
            to: bob.into_word(),
            digest: keccak256(format!("direct {block}")),
        };
        sends.push(tx(SENDER, chain.contract, post.abi_encode(), block));
        if block == BLOCKS / 2 {
            let call = Cairn::anchorBatchCall {
                root,
                manifestDigest: cid::block_digest(&manifest_bytes),
                count: 1,
            };
            sends.push(tx(HONEST_RELAYER, chain.contract, call.abi_encode(), 0));
        }
        let hashes = futures::future::join_all(
            sends
                .into_iter()
                .map(|t| rpc(&chain.url, "eth_sendTransaction", json!([t]))),
        )
        .await;
        if block == BLOCKS / 2 {
            honest_tx = hashes.last().unwrap().as_str().unwrap().to_string();
        }
        rpc(&chain.url, "evm_mine", json!([])).await;
    }
    // Then a block a second, as a live chain.
    rpc(&chain.url, "evm_setIntervalMining", json!([1])).await;

    // Every direct post is confirmed within K blocks and a margin, while the
    // bogus anchors are checked beside ingestion.
    let all_anchored = Instant::now();
    let mut direct = Vec::new();
    while direct.len() < BLOCKS {
        let event = stream
            .next(Duration::from_secs(K + 8))
            .await
            .unwrap_or_else(|| panic!("only {} direct posts confirmed", direct.len()));
        direct.push(event.message.id.clone());
    }
    let confirmed_after = all_anchored.elapsed();
    let (head, at) = indexed(&api).await;
    // The head is polled once a second, ingestion every 100 ms: allow a block of either.
    assert!(head.saturating_sub(at) <= K, "indexed {at} of head {head}");

    // The real batch has been found missing a few times, so its backoff
    // has grown to the cap, when its manifest finally appears.
    let receipt = rpc(&chain.url, "eth_getTransactionReceipt", json!([honest_tx])).await;
    let log_index = u64::from_str_radix(
        receipt["logs"][0]["logIndex"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let late_id = format!("{}-{log_index}", receipt["blockHash"].as_str().unwrap());
    let wait_for_misses = Instant::now();
    loop {
        let b = batch(&api, &late_id).await;
        if b["resolution"] == "missing" && b["attempts"].as_u64().unwrap() >= 4 {
            break;
        }
        assert!(
            wait_for_misses.elapsed() < Duration::from_secs(60),
            "the late batch was not retried: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stream.next(Duration::from_millis(200)).await.is_none(),
        "nothing of the late batch is pushed while its manifest is missing"
    );
    chain.store.put(manifest_bytes.into()).await.unwrap();
    let uploaded = Instant::now();
    let event = stream
        .next(backoff.cap + Duration::from_secs(K + 5))
        .await
        .expect("the late batch is delivered within one backoff period");
    let delivered_after = uploaded.elapsed();
    assert_eq!(event.message.id, format!("{late_id}-0"));
    assert_eq!(batch(&api, &late_id).await["resolution"], "delivered");

    // Nothing bogus was delivered; the attackers' anchors stay missing.
    let inbox: Value = reqwest::get(format!("{api}/v1/inbox/{bob}?limit=500"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["messages"].as_array().unwrap().len(), BLOCKS + 1);
    eprintln!(
        "{BOGUS} bogus anchors: direct posts all confirmed {confirmed_after:?} after the last \
         anchor; late batch delivered {delivered_after:?} after its manifest appeared"
    );
    node.shutdown().await.unwrap();
}
