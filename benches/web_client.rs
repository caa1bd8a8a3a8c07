//! The web client's figures (`make bench-web`; they go in
//! docs/BENCHMARKS.md): bundle size, first render of an inbox of 1,000
//! messages, the same for a remembered device, the time from Send to the
//! message shown in the other user's open page (batched from the page,
//! direct from the CLI), envelopes opened per second and search over 10,000
//! messages, all in headless Chromium (`web/e2e/bench.mjs`).
//!
//! This sets up what the first render needs: Anvil (1 s blocks), Kubo and one
//! node (indexer, gateway, web client), and 1,000 batched messages to Bob
//! (Anvil account 2, whose wallet-derived key is registered) from four
//! senders, all confirmed before the browser opens.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use cairn::{
    chain::{sign_key_registration, CairnClient},
    crypto::wallet,
    envelope::{self, Body, Header},
    gateway::{
        client::{sign_post, GatewayClient},
        submit::PostRequest,
        GatewayConfig,
    },
    server::{Limits, Node, NodeConfig},
    store::{cid, BlobStore, KuboStore},
};
use cairn_indexer::IndexerConfig;
use harness::{
    repo_root, signer, Anvil, Kubo, ALICE_KEY, BOB_KEY, CAROL_KEY, DEPLOYER_KEY, REGISTRAR_KEY,
};

const INBOX: usize = 1_000;
const SENDERS: usize = 4;

#[tokio::main]
async fn main() {
    assert!(
        repo_root().join("web/dist-bench").is_dir(),
        "build the bench page first: make bench-web"
    );
    let anvil = Anvil::start().await;
    let kubo = Kubo::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let deployer = CairnClient::connect(&anvil.url, contract, Some(signer(DEPLOYER_KEY)))
        .await
        .unwrap();
    let domain = deployer.domain().await.unwrap();

    // Bob's wallet-derived key, the one the browser derives, and four senders.
    let bob = signer(BOB_KEY);
    let mut wallets = vec![bob.clone()];
    wallets.extend((0..SENDERS).map(|_| alloy::signers::local::PrivateKeySigner::random()));
    let mut keys = Vec::new();
    for w in &wallets {
        let key = wallet::derive_with_signer(w).await.unwrap();
        let nonce = deployer.registration_nonce(w.address()).await.unwrap();
        let deadline = U256::from(4_000_000_000u64);
        let sig = sign_key_registration(w, &domain, &key.public_key(), nonce, deadline)
            .await
            .unwrap();
        deployer
            .register_key_by_sig(w.address(), &key.public_key(), deadline, &sig)
            .await
            .unwrap();
        keys.push(key);
    }
    harness::rpc(&anvil.url, "evm_setIntervalMining", serde_json::json!([1])).await;

    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn BlobStore> = std::sync::Arc::new(KuboStore::new(&kubo.api_url));
    let node = Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        indexer: Some((
            IndexerConfig {
                confirmations: 1,
                poll_interval: Duration::from_millis(100),
                ..IndexerConfig::new(anvil.url.clone(), contract)
            },
            format!("sqlite://{}", dir.path().join("indexer.db").display()),
        )),
        gateway: Some(GatewayConfig {
            max_age: Duration::from_millis(500),
            confirmations: 1,
            // Pays for the browser's device keys, as a public gateway would.
            registrar: Some(signer(REGISTRAR_KEY)),
            ..GatewayConfig::new(
                anvil.url.clone(),
                contract,
                signer(CAROL_KEY),
                format!("sqlite://{}", dir.path().join("gateway.db").display()),
            )
        }),
        limits: Limits::default(),
        stream: Default::default(),
        web: Some(harness::built_web_client(contract)),
        tls: None,
        auth: Some(harness::accounts(&anvil.url, contract)),
    })
    .await
    .unwrap();
    let api = format!("http://{}", node.addr);

    // 1,000 messages to Bob, sealed for him and their sender.
    let gateway = GatewayClient::new(&api);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    for s in 1..=SENDERS {
        let mut posts = Vec::new();
        for n in 0..INBOX / SENDERS {
            let header = Header::direct(wallets[s].address(), bob.address(), deadline - 3600);
            let text = format!("message {n} from sender {s}: the quorum for the treasury vote");
            let readers = [keys[0].public_key(), keys[s].public_key()];
            let envelope = envelope::seal(&header, &Body::text(text), &readers).unwrap();
            let digest = cid::block_digest(&envelope);
            let to = bob.address().into_word();
            let signed = sign_post(&wallets[s], &domain, to, digest, n as u64 + 1, deadline)
                .await
                .unwrap();
            posts.push(PostRequest::new(&signed, Some(&envelope)));
        }
        for chunk in posts.chunks(125) {
            gateway.submit(chunk.to_vec()).await.unwrap();
        }
    }
    let started = Instant::now();
    let url = format!("{api}/v1/inbox/{}?limit=500", bob.address());
    loop {
        let mut confirmed = 0;
        let mut after: Option<String> = None;
        loop {
            let page_url = match &after {
                Some(c) => format!("{url}&after={c}"),
                None => url.clone(),
            };
            let page: serde_json::Value =
                reqwest::get(page_url).await.unwrap().json().await.unwrap();
            let messages = page["messages"].as_array().unwrap();
            confirmed += messages
                .iter()
                .filter(|m| m["status"] == "confirmed")
                .count();
            if messages.is_empty() || page["more"] != true {
                break;
            }
            after = page["next"].as_str().map(str::to_string);
        }
        if confirmed == INBOX {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {confirmed} confirmed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let run = tokio::process::Command::new("node")
        .arg("e2e/bench.mjs")
        .current_dir(repo_root().join("web"))
        .env("CAIRN_URL", &api)
        .env("ANVIL_URL", &anvil.url)
        .env("BOB", bob.address().to_string())
        .env("ALICE", signer(ALICE_KEY).address().to_string())
        .env("ALICE_KEY", ALICE_KEY)
        .env("CONTRACT", contract.to_string())
        .env("KUBO_URL", &kubo.api_url)
        .env("CAIRN_BIN", env!("CARGO_BIN_EXE_cairn"))
        .env("INBOX", INBOX.to_string())
        .status()
        .await
        .expect("node runs");
    assert!(run.success(), "the browser benchmark failed");
    node.shutdown().await.unwrap();
}
