//! Backups that restore (`make restore-test`, part of `cargo test`): a node
//! on PostgreSQL and Kubo takes direct and batched messages and a consent
//! entry; `deploy/backup.sh` dumps the database and exports every pinned
//! block; then the database server and the Kubo node are thrown away, and
//! `deploy/restore.sh` fills a fresh PostgreSQL and a fresh Kubo. A node
//! started on them serves every message, its blocks included, the consent
//! list holds, and the CLI verifies and decrypts each message against the
//! chain.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use cairn::{
    server::{Node, NodeConfig},
    store::{kubo::KuboStore, BlobStore},
};
use cairn_indexer::IndexerConfig;

use crate::{
    gateway_stack::Chain,
    harness::{repo_root, Anvil, Kubo, Postgres},
};

/// Runs `deploy/<script> <dir>` against a database and a Kubo node.
fn script(name: &str, dir: &Path, database: &str, kubo: &str) -> String {
    let out = Command::new(repo_root().join("deploy").join(name))
        .arg(dir)
        .env("DATABASE_URL", database)
        .env("KUBO_URL", kubo)
        .output()
        .expect("the script runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "deploy/{name} failed: {stderr}");
    stderr
}

/// A node with the indexer and the gateway on `database` (one database,
/// as `make cluster` runs them) and its blocks in `store`.
async fn node(chain: &Chain, database: &str, store: Arc<dyn BlobStore>) -> Node {
    let indexer = IndexerConfig {
        confirmations: 1,
        poll_interval: Duration::from_millis(100),
        ..IndexerConfig::new(chain.url.clone(), chain.contract)
    };
    Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        indexer: Some((indexer, database.to_string())),
        gateway: Some(chain.gateway_config(database.to_string())),
        limits: Default::default(),
        stream: Default::default(),
        web: None,
        tls: None,
        auth: Some(crate::harness::accounts(&chain.url, chain.contract)),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_node_serves_every_message() {
    let mut chain = Chain::start(2, Anvil::start().await, 1).await;
    let postgres = Postgres::start().await;
    let database = postgres.database("cairn").await;
    let first = node(&chain, &database, chain.store.clone()).await;
    let api = format!("http://{}", first.addr);
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, &dir.path().join("cli"));
    let key = |i: usize| format!("0x{}", hex::encode(chain.users[i].wallet.to_bytes()));
    let (alice, bob) = (key(0), key(1));
    let (alice_address, bob_address) = (
        chain.users[0].address().to_string(),
        chain.users[1].address().to_string(),
    );
    // Alice has ETH for direct posts; Bob allows her (a signed consent entry).
    crate::harness::rpc(
        &chain.url,
        "anvil_setBalance",
        serde_json::json!([alice_address, "0x56BC75E2D63100000"]),
    )
    .await;
    // A consent entry is stored only for an owner whose key this node has
    // indexed: wait for Bob's, as a loaded machine may take a while.
    crate::harness::wait_for_http(
        "Bob's key on the node",
        Duration::from_secs(60),
        reqwest::Client::new().get(format!("{api}/v1/keys/{bob_address}")),
    )
    .await;
    let out = cli.run(&bob, &["allow", &alice_address]).await;
    let bob = bob.clone();
    assert!(out.success, "{}", out.stderr);
    let mut texts = Vec::new();
    for i in 0..3 {
        for (how, extra) in [
            ("direct", vec![]),
            ("batched", vec!["--via-gateway", api.as_str()]),
        ] {
            let text = format!("{how} message {i}, to be restored");
            let mut args = vec!["send", "--to", bob_address.as_str(), "--message", &text];
            args.extend(extra);
            let out = cli.run(&alice, &args).await;
            assert!(out.success, "{}", out.stderr);
            texts.push(text);
        }
    }
    // Until Bob's inbox (his consent applied) lists all six, confirmed.
    let bob = &bob;
    let inbox = |cli: crate::harness::CairnCli| async move {
        let out = cli.run(bob, &["inbox", "--limit", "50"]).await;
        assert!(out.success, "{}", out.stderr);
        out.json()
    };
    let started = std::time::Instant::now();
    loop {
        let listed = inbox(chain.cli(&api, &dir.path().join("bob"))).await;
        let verified = listed["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["verified"] == true).count());
        if verified == texts.len() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{listed}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The backup, then the disaster: the node, its database server and its
    // Kubo node are gone.
    let backup = tempfile::tempdir().unwrap();
    let said = script("backup.sh", backup.path(), &database, &chain.kubo.api_url);
    assert!(said.contains("pins and every block"), "{said}");
    first.shutdown().await.unwrap();
    drop(postgres);
    chain.kubo.kill();

    // A fresh PostgreSQL and Kubo, restored.
    let fresh_postgres = Postgres::start().await;
    let restored_db = fresh_postgres.database("cairn").await;
    let fresh_kubo = Kubo::start().await;
    script(
        "restore.sh",
        backup.path(),
        &restored_db,
        &fresh_kubo.api_url,
    );
    let store: Arc<dyn BlobStore> = Arc::new(KuboStore::new(&fresh_kubo.api_url));
    let second = node(&chain, &restored_db, store).await;
    let api = format!("http://{}", second.addr);

    // Bob's inbox from the restored node: every message, verified against
    // the chain and decrypted from the restored blocks, still in his inbox
    // (his consent survived), none in his requests.
    let mut restored = chain.cli(&api, &dir.path().join("bob-after"));
    restored.store = crate::harness::StoreUnderTest::Kubo(fresh_kubo.api_url.clone());
    let listed = inbox(restored).await;
    let messages = listed["messages"].as_array().unwrap();
    let mut read: Vec<String> = messages
        .iter()
        .filter(|m| m["verified"] == true)
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect();
    read.sort();
    texts.sort();
    assert_eq!(read, texts, "{listed}");
    // The node itself serves each block.
    for m in messages {
        let cid = m["cid"].as_str().unwrap();
        let block = reqwest::get(format!("{api}/ipfs/{cid}")).await.unwrap();
        assert!(block.status().is_success(), "{cid}: {}", block.status());
    }
    second.shutdown().await.unwrap();
}
