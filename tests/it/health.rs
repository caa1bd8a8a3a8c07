//! `/healthz` tells the truth: a stuck ingester shows as stalled, an RPC
//! that is down at start leaves a node that serves what it has indexed,
//! and a database is never mixed with another chain or a non-Cairn contract.

use std::{sync::Arc, time::Duration};

use alloy::primitives::Address;
use cairn::{
    chain::CairnClient,
    envelope::Body,
    server::{Limits, Node, NodeConfig},
    store::BlobStore,
};
use cairn_indexer::IndexerConfig;
use serde_json::Value;

use crate::{
    harness::{free_port, mine, signer, Anvil, Database, ALICE_KEY, BOB_KEY, DEPLOYER_KEY},
    read_path::{Stack, StoreChoice},
    rpc_proxy::RpcProxy,
};

async fn node(rpc_url: &str, contract: Address, db: &str, store: Arc<dyn BlobStore>) -> Node {
    let indexer = IndexerConfig {
        confirmations: 2,
        poll_interval: Duration::from_millis(100),
        stall_after: Duration::from_secs(2),
        ..IndexerConfig::new(rpc_url, contract)
    };
    Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        indexer: Some((indexer, db.to_string())),
        gateway: None,
        limits: Limits::default(),
        stream: Default::default(),
        web: None,
        tls: None,
        auth: None,
    })
    .await
    .expect("a node starts whatever its RPC does")
}

async fn health(node: &Node) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}/healthz", node.addr))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Waits until `/healthz` says `want`, and returns its answer.
async fn await_health(node: &Node, want: &str) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = health(node).await;
        if body["status"] == want {
            return (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never became {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn inbox_len(node: &Node, who: Address) -> usize {
    let page: Value = reqwest::get(format!("http://{}/v1/inbox/{who}", node.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["messages"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn health_tells_the_truth() {
    let mut stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let bob = signer(BOB_KEY).address();
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    alice.send(bob, &Body::text("gm"), &|_| {}).await.unwrap();
    mine(&stack.anvil.url, 2).await;
    stack.await_inbox(bob, 1, "confirmed").await;
    stack.node.take().unwrap().shutdown().await.unwrap();
    let db = stack.db.url();

    // Through a provider that serves the head but no blocks or logs, the
    // head moves on and ingestion cannot follow: stalled, and a 503.
    let proxy = RpcProxy::start(&stack.anvil.url).await;
    let n = node(&proxy.url, stack.contract, &db, stack.store.clone()).await;
    let (status, ok) = await_health(&n, "ok").await;
    assert_eq!(status, 200, "{ok}");
    proxy.refuse(&["eth_getBlockByNumber", "eth_getBlockByHash", "eth_getLogs"]);
    mine(&stack.anvil.url, 6).await;
    let (status, stalled) = await_health(&n, "stalled").await;
    assert_eq!(status, 503);
    assert!(stalled["lag"].as_u64().unwrap() >= 5, "{stalled}");
    assert!(
        stalled["reason"].as_str().unwrap().contains("behind"),
        "{stalled}"
    );
    proxy.refuse(&[]);
    await_health(&n, "ok").await;
    n.shutdown().await.unwrap();

    // The RPC is down at start: the node starts, says so, and serves what
    // it has indexed.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let n = node(&dead, stack.contract, &db, stack.store.clone()).await;
    let (status, degraded) = await_health(&n, "degraded").await;
    assert_eq!(status, 200);
    assert!(
        degraded["reason"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{degraded}"
    );
    assert_eq!(inbox_len(&n, bob).await, 1);
    n.shutdown().await.unwrap();

    // Another chain (a fresh Anvil, the contract at the same address) is
    // refused, not mixed in.
    let other = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&other.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    assert_eq!(contract, stack.contract, "same deployer, same nonce");
    let n = node(&other.url, contract, &db, stack.store.clone()).await;
    let (status, failed) = await_health(&n, "failed").await;
    assert_eq!(status, 503);
    assert!(
        failed["reason"].as_str().unwrap().contains("genesis"),
        "{failed}"
    );
    assert_eq!(inbox_len(&n, bob).await, 1, "the old rows are still served");
    n.shutdown().await.unwrap();

    // An address that is not a Cairn contract is named as such.
    let fresh = Database::start(false).await;
    let n = node(&stack.anvil.url, bob, &fresh.url(), stack.store.clone()).await;
    let (_, failed) = await_health(&n, "failed").await;
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("not a Cairn contract"),
        "{failed}"
    );
    n.shutdown().await.unwrap();
}

/// `/readyz` (on both listeners) until it answers `want`; its body, and
/// how long that took.
async fn await_ready(base: &str, want: u16) -> (Value, Duration) {
    let started = tokio::time::Instant::now();
    loop {
        let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if status == want {
            return (body, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/readyz never answered {want}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The readiness checks of a full node: its database (PostgreSQL), its
/// Kubo, its RPC, and the gateway's outbox, relayer balance and anchors.
/// Each going away makes `/readyz` 503 with the reason, on the public port
/// and the status listener, while `/livez` stays 200; each coming back
/// makes it 200 again. Times are printed (the issue asks for 2 s; a test
/// does not assert speed).
#[tokio::test]
async fn readiness_follows_each_dependency_away_and_back() {
    use crate::{
        gateway_stack::{outbox_db, Chain},
        harness::{metric, rpc, Postgres},
    };
    let mut chain = Chain::start(0, Anvil::start().await, 1).await;
    let mut pg = Postgres::start().await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let gateway = chain.gateway_config(outbox_url);
    let relayer = gateway.relayer.address();
    let node = chain.node(Some(gateway), Some(pg.url.clone())).await;
    let (public, status) = (
        format!("http://{}", node.addr),
        format!("http://{}", node.status_addr.unwrap()),
    );
    let (outside, _) = await_ready(&public, 200).await;
    // The public port says only whether: the checks name private addresses.
    assert_eq!(outside, serde_json::json!({"status": "ready"}));
    let (body, _) = await_ready(&status, 200).await;
    let checks = body["checks"].as_object().unwrap();
    for name in ["database", "rpc", "outbox", "relayer_balance", "anchors"] {
        assert_eq!(checks[name]["up"], true, "{name}: {body}");
    }
    let kubo = format!("blockstore:{}", chain.kubo.api_url);
    assert_eq!(checks[&kubo]["up"], true, "{body}");
    let live = |base: String| async move {
        reqwest::get(format!("{base}/livez"))
            .await
            .unwrap()
            .status()
            .as_u16()
    };

    pg.stop().await;
    let (body, took) = await_ready(&status, 503).await;
    println!("readiness: 503 {took:?} after PostgreSQL stopped");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["up"], false, "{body}");
    assert!(body["checks"]["database"]["error"].is_string(), "{body}");
    assert_eq!(body["checks"][&kubo]["up"], true, "{body}");
    assert_eq!(live(public.clone()).await, 200);
    pg.start_again().await;
    let (_, took) = await_ready(&public, 200).await;
    println!("readiness: 200 {took:?} after PostgreSQL came back");

    chain.kubo.kill();
    let (body, took) = await_ready(&status, 503).await;
    println!("readiness: 503 {took:?} after the only Kubo node died");
    assert_eq!(body["checks"][&kubo]["up"], false, "{body}");
    assert_eq!(body["checks"]["database"]["up"], true, "{body}");
    assert_eq!(live(status.clone()).await, 200);
    // Gauges are per process, and this test binary runs many nodes: only
    // a label of this test's own (its Kubo's port) is this test's to read.
    let gauge = format!("cairn_dependency_up{{dependency=\"{kubo}\"}}");
    assert_eq!(metric(&status, &gauge).await, Some(0.0));
    chain.kubo.restart().await;
    await_ready(&status, 200).await;

    assert_eq!(metric(&status, &gauge).await, Some(1.0));
    // A relayer out of ETH cannot pay for the next anchor.
    assert!(metric(&status, "cairn_relayer_balance_wei").await.is_some());
    assert!(metric(&status, "cairn_oldest_unanchored_post_seconds")
        .await
        .is_some());
    rpc(
        &chain.url,
        "anvil_setBalance",
        serde_json::json!([relayer, "0x0"]),
    )
    .await;
    let (outside, _) = await_ready(&public, 503).await;
    assert_eq!(outside, serde_json::json!({"status": "not_ready"}));
    let (body, _) = await_ready(&status, 503).await;
    let why = body["checks"]["relayer_balance"]["error"].as_str().unwrap();
    assert!(why.starts_with("0 wei, below"), "{why}");
    rpc(
        &chain.url,
        "anvil_setBalance",
        serde_json::json!([relayer, "0x56bc75e2d63100000"]),
    )
    .await;
    await_ready(&public, 200).await;

    // The RPC going away is the chain going away.
    chain.anvil.as_mut().unwrap().kill();
    let (body, _) = await_ready(&status, 503).await;
    assert_eq!(body["checks"]["rpc"]["up"], false, "{body}");
    assert_eq!(live(public.clone()).await, 200);
    node.shutdown().await.unwrap();
}
