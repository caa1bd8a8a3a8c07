//! The web client in a real browser (Debian's Chromium through
//! playwright-core), against a real node: Anvil, Kubo, the indexer, the
//! gateway and the built app (`make web`) served at `/`.
//!
//! Both directions of the wire format are crossed. Bob registers his key with
//! the CLI, and the browser derives the same key from his wallet. Dave writes
//! to him from the CLI (Rust seals, TypeScript opens). Alice registers from
//! the browser without gas and writes to Bob there (TypeScript seals), and the
//! CLI reads it as Bob (Rust opens). Bob allows Alice with the CLI, allows
//! Dave from his Requests in the browser, and blocks Carol, a stranger, whose
//! next message is never pushed to him. Dave makes a channel for Bob and
//! himself and posts to it from the CLI; Bob reads it in the browser and
//! posts back, and the CLI opens what the browser sealed. Lies for the
//! lying-node steps are made on the same chain first: a removed member's
//! batch, a non-holder's batch to a gated channel, a post anchored again
//! before and after its deadline, a message in a block a reorg removed,
//! and an old "allow" Bob signed. `web/e2e/browser.mjs` drives the pages;
//! it fails on any console error or serious accessibility violation, and
//! saves screenshots in `target/screenshots/` (`docs/screenshots/` with
//! `make screenshots`).

use std::time::Duration;

use alloy::{primitives::B256, signers::SignerSync};
use cairn::{
    server::{Limits, Node, NodeConfig},
    store::BlobStore,
};
use cairn_indexer::IndexerConfig;

use crate::{
    gateway_stack::{outbox_db, Chain},
    harness::{
        accounts, built_web_client, repo_root, signer, Anvil, ALICE_KEY, BOB_KEY, CAROL_KEY,
    },
};

/// Anvil account 5, a CLI sender; the registrar is account 6 (`REGISTRAR_KEY`).
const DAVE_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
use crate::harness::REGISTRAR_KEY;

#[tokio::test]
async fn wallet_users_read_and_write_in_a_real_browser() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let index_dir = tempfile::tempdir().unwrap();
    let indexer = IndexerConfig {
        confirmations: 1,
        poll_interval: Duration::from_millis(100),
        ..IndexerConfig::new(chain.url.clone(), chain.contract)
    };
    let database = format!("sqlite://{}", index_dir.path().join("indexer.db").display());
    let gateway = cairn::gateway::GatewayConfig {
        registrar: Some(signer(REGISTRAR_KEY)),
        // Every page of the test unlocks, and authorizes its own device
        // key: Bob alone opens a dozen pages, all from this machine.
        registrations_per_owner_per_day: 100,
        registrations_per_ip: cairn::gateway::quota::Rate {
            per_second: 10,
            burst: 100,
        },
        ..chain.gateway_config(outbox_url)
    };
    let store: std::sync::Arc<dyn BlobStore> = chain.store.clone();
    let node = Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        indexer: Some((indexer, database)),
        gateway: Some(gateway),
        limits: Limits::default(),
        stream: Default::default(),
        web: Some(built_web_client(chain.contract)),
        tls: None,
        auth: Some(accounts(&chain.url, chain.contract)),
    })
    .await
    .unwrap();
    let api = format!("http://{}", node.addr);

    // Bob and Dave register with the CLI; Dave writes to Bob from it.
    let data = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, data.path());
    for key in [BOB_KEY, DAVE_KEY] {
        let out = cli.run(key, &["register"]).await;
        assert!(out.success, "cairn register: {}", out.stderr);
    }
    let bob = signer(BOB_KEY).address().to_string();
    let alice = signer(ALICE_KEY).address().to_string();
    // Bob allows Alice with the CLI (an EIP-712 entry signed in Rust, which
    // his browser checks itself); Dave and Carol are strangers to him.
    let out = cli.run(BOB_KEY, &["allow", &alice]).await;
    assert!(out.success, "cairn allow: {}", out.stderr);
    // Dave makes a channel for Bob and himself, and posts to it from the CLI.
    let out = cli
        .run(
            DAVE_KEY,
            &[
                "channel",
                "create",
                "--name",
                "dao",
                "--member",
                &bob,
                "--member",
                &signer(DAVE_KEY).address().to_string(),
            ],
        )
        .await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let channel = out.json()["channel"].as_str().unwrap().to_string();
    let channel_text = "gm dao, sealed in Rust";
    let out = cli
        .run(
            DAVE_KEY,
            &["channel", "post", &channel, "--message", channel_text],
        )
        .await;
    assert!(out.success, "cairn channel post: {}", out.stderr);
    // And a channel for holders of a token Bob does not hold: his page must
    // say why he cannot post.
    let daves = crate::channels::wallet_provider(&chain.url, DAVE_KEY).await;
    let token = crate::channels::fixtures::TestToken::deploy(&daves)
        .await
        .unwrap();
    let out = cli
        .run(
            DAVE_KEY,
            &[
                "channel",
                "create",
                "--name",
                "holders",
                "--member",
                &bob,
                "--erc20",
                &token.address().to_string(),
                "--min",
                "100",
            ],
        )
        .await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let holders: B256 = out.json()["channel"].as_str().unwrap().parse().unwrap();
    // A channel of five: Bob, Dave and three more wallets. Each posts from
    // the CLI, directly and batched; Bob reads all ten in the browser.
    let others: Vec<String> = (0..3)
        .map(|_| {
            let key = alloy::signers::local::PrivateKeySigner::random();
            format!("0x{}", hex::encode(key.to_bytes()))
        })
        .collect();
    for key in &others {
        let address = signer(key).address();
        crate::harness::rpc(
            &chain.url,
            "anvil_setBalance",
            serde_json::json!([address, "0x56bc75e2d63100000"]),
        )
        .await;
        let out = cli.run(key, &["register"]).await;
        assert!(out.success, "cairn register: {}", out.stderr);
    }
    let five: Vec<&str> = [BOB_KEY, DAVE_KEY]
        .into_iter()
        .chain(others.iter().map(String::as_str))
        .collect();
    let mut create = vec![
        "channel".to_string(),
        "create".into(),
        "--name".into(),
        "five".into(),
    ];
    for key in &five {
        create.extend(["--member".into(), signer(key).address().to_string()]);
    }
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let out = cli.run(DAVE_KEY, &create).await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let five_id = out.json()["channel"].as_str().unwrap().to_string();
    for (i, key) in five.iter().enumerate() {
        for (how, extra) in [
            ("directly", vec![]),
            ("batched", vec!["--via-gateway", api.as_str()]),
        ] {
            let text = format!("member {i} of five, {how}");
            let mut args = vec!["channel", "post", &five_id, "--message", &text];
            args.extend(extra);
            let out = cli.run(key, &args).await;
            assert!(out.success, "cairn channel post: {}", out.stderr);
        }
    }
    let channel_lies = channel_lies(&chain, &cli, holders, &others[0]).await;
    // An "allow" of Carol that Bob signed long ago (issued at second 1):
    // a node serves it in place of the "block" he gives her in the page.
    let older_allow = {
        let (bob, carol) = (signer(BOB_KEY).address(), signer(CAROL_KEY).address());
        let domain = cairn_contracts::eip712::domain(31337, chain.contract);
        let state = cairn_indexer::store::ConsentState::Allow;
        let hash = cairn::consent::signing_hash(bob, carol, state, 1, &domain);
        let signature = signer(BOB_KEY).sign_hash_sync(&hash).unwrap();
        serde_json::json!({
            "owner": bob.to_string().to_lowercase(), "peer": carol.to_string().to_lowercase(),
            "state": "allow", "issuedAt": 1,
            "signature": format!("0x{}", hex::encode(signature.as_bytes())),
        })
    };
    let reorged = reorged_out_message(&chain).await;
    let from_cli = "hello Bob, sealed in Rust";
    let out = cli
        .run(DAVE_KEY, &["send", "--to", &bob, "--message", from_cli])
        .await;
    assert!(out.success, "cairn send: {}", out.stderr);

    // The browser part. `make screenshots` keeps its pictures in docs/.
    let screenshots = std::env::var_os("CAIRN_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/screenshots"));
    let env = [
        ("CAIRN_URL", api.clone()),
        ("ANVIL_URL", chain.url.clone()),
        ("ALICE", alice.clone()),
        ("BOB", bob.clone()),
        ("CAROL", signer(CAROL_KEY).address().to_string()),
        ("FROM_CLI", from_cli.to_string()),
        ("CHANNEL_TEXT", channel_text.to_string()),
        ("SCREENSHOTS", screenshots.display().to_string()),
        ("CHANNEL_LIES", channel_lies.to_string()),
        ("OLDER_ALLOW", older_allow.to_string()),
        ("REORGED", reorged.to_string()),
    ];
    let stdout = crate::harness::run_browser_script("browser.mjs", &env).await;
    let sent_in_browser = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sent: "))
        .expect("the browser reports what Alice sent")
        .to_string();

    // Dave reads Bob's browser-sealed channel post with the CLI, and every
    // member of five the ten CLI posts and Bob's from the browser.
    let reported = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("the browser reports {prefix}"))
            .to_string()
    };
    let read = |key: String, id: String| {
        let cli = &cli;
        async move {
            let read = cli.run(&key, &["channel", "read", &id]).await.json();
            read["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    let posted_in_browser = reported("channel: ");
    assert_eq!(
        read(DAVE_KEY.to_string(), channel.clone()).await,
        [channel_text.to_string(), posted_in_browser]
    );
    let in_five = reported("five: ");
    for key in &five {
        let texts = read(key.to_string(), five_id.clone()).await;
        assert_eq!(texts.len(), 11, "{texts:?}");
        assert_eq!(texts[10], in_five);
    }

    // Bob reads Alice's browser-sealed message with the CLI.
    let inbox = cli.run(BOB_KEY, &["inbox"]).await.json();
    let texts: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(
        texts.contains(&sent_in_browser.as_str()),
        "the CLI opens the browser's envelope: {inbox}"
    );
    assert!(texts.contains(&from_cli), "{inbox}");

    // Alice's CLI opens Bob's browser-sealed reply (in her inbox: writing to
    // him from the page allowed him, an entry her device key signed), and
    // the envelope names her message as answered.
    let digest_of = |m: &serde_json::Value| {
        let cid = cairn::store::cid::parse(m["cid"].as_str().unwrap()).unwrap();
        cairn::store::cid::digest_of(&cid).unwrap()
    };
    let answered = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == sent_in_browser.as_str())
        .map(digest_of)
        .unwrap();
    let replied = reported("replied: ");
    let alices = cli.run(ALICE_KEY, &["inbox"]).await.json();
    let reply = alices["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == replied.as_str())
        .unwrap_or_else(|| panic!("Alice's CLI lists Bob's reply in her inbox: {alices}"));
    assert_eq!(reply["replyTo"], answered.to_string(), "{reply}");
    node.shutdown().await.unwrap();
}

/// Lies a node tells about channels, built on the real chain for the page
/// to refuse (the lying-node suite, issue 19): a removed member's batch
/// sealed under the key she kept, a batch to the token-gated channel
/// `holders` from Bob, who holds none of its token, and a post anchored
/// again (a replay) and again after its deadline. Each is a channel, its
/// name, the listings the liar adds, and the texts the page must hide.
async fn channel_lies(
    chain: &Chain,
    cli: &crate::harness::CairnCli,
    holders: B256,
    leaver_key: &str,
) -> serde_json::Value {
    use crate::channels::{anchor_alone, listed_as_verified, sealed_batched_post};
    /// Anchors `signed` alone from `key`'s wallet; the listing a liar adds.
    async fn listed(
        chain: &Chain,
        key: &str,
        signed: &cairn_contracts::manifest::SignedPost,
        envelope: Vec<u8>,
    ) -> serde_json::Value {
        let (batch, (block, hash, log)) = anchor_alone(chain, key, signed, envelope).await;
        listed_as_verified(&batch, (block, &hash, log), signed)
    }
    let create = |name: &'static str, members: Vec<String>| async move {
        let mut args = vec!["channel", "create", "--name", name];
        for m in &members {
            args.extend(["--member", m.as_str()]);
        }
        let out = cli.run(DAVE_KEY, &args).await;
        assert!(out.success, "cairn channel create: {}", out.stderr);
        out.json()["channel"]
            .as_str()
            .unwrap()
            .parse::<B256>()
            .unwrap()
    };
    let [bob, dave, leaver] =
        [BOB_KEY, DAVE_KEY, leaver_key].map(|k| signer(k).address().to_string());
    let later = crate::gateway_stack::unix_now() + 3600;
    // Removed: the leaver seals under epoch 1, is removed, then anchors.
    let council = create("council", vec![bob.clone(), dave.clone(), leaver.clone()]).await;
    let (signed, envelope) = sealed_batched_post(
        chain,
        leaver_key,
        (council, 1),
        "sealed before I left",
        later,
    )
    .await;
    let out = cli
        .run(
            DAVE_KEY,
            &["channel", "remove", &council.to_string(), &leaver],
        )
        .await;
    assert!(out.success, "cairn channel remove: {}", out.stderr);
    let removed = listed(chain, leaver_key, &signed, envelope).await;

    // Gated: a batch takes no balance check, so the chain refuses none.
    let (signed, envelope) = sealed_batched_post(
        chain,
        BOB_KEY,
        (holders, 1),
        "batched by a non-holder",
        later,
    )
    .await;
    let gated = listed(chain, BOB_KEY, &signed, envelope).await;

    // Replayed and expired: one signed post, anchored three times.
    let echo = create("echo", vec![bob, dave]).await;
    let block = crate::harness::rpc(
        &chain.url,
        "eth_getBlockByNumber",
        serde_json::json!(["latest", false]),
    )
    .await;
    let chain_now = u64::from_str_radix(
        block["timestamp"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let (signed, envelope) =
        sealed_batched_post(chain, DAVE_KEY, (echo, 1), "said once", chain_now + 30).await;
    listed(chain, DAVE_KEY, &signed, envelope.clone()).await;
    let replayed = listed(chain, DAVE_KEY, &signed, envelope.clone()).await;
    crate::harness::rpc(&chain.url, "evm_increaseTime", serde_json::json!([60])).await;
    let expired = listed(chain, DAVE_KEY, &signed, envelope).await;

    serde_json::json!([
        {"channel": council.to_string(), "name": "council", "posts": [removed], "hidden": ["sealed before I left"]},
        {"channel": holders.to_string(), "name": "holders", "posts": [gated], "hidden": ["batched by a non-holder"]},
        {"channel": echo.to_string(), "name": "echo", "posts": [replayed, expired], "once": "said once"},
    ])
}

/// Dave's message to Bob in a block that a reorg then removes, as a liar
/// still lists it: the wallet's RPC may still answer that block by hash.
async fn reorged_out_message(chain: &Chain) -> serde_json::Value {
    use crate::harness::rpc;
    let snapshot = rpc(&chain.url, "evm_snapshot", serde_json::json!([])).await;
    let bob = signer(BOB_KEY).address();
    let sent = crate::channels::messenger_for(chain, DAVE_KEY)
        .await
        .send(
            bob,
            &cairn::envelope::Body::text("in a block reorged out"),
            &|_| {},
        )
        .await
        .unwrap();
    rpc(&chain.url, "evm_revert", serde_json::json!([snapshot])).await;
    for _ in 0..3 {
        rpc(&chain.url, "evm_mine", serde_json::json!([])).await;
    }
    let inclusion = &sent.anchor.inclusion;
    serde_json::json!({
        "id": format!("{}-{}", inclusion.block_hash, sent.anchor.log_index),
        "from": signer(DAVE_KEY).address().to_string().to_lowercase(),
        "to": bob.into_word().to_string(), "cid": sent.cid.to_string(),
        "digest": sent.digest.to_string(), "block": inclusion.block,
        "blockHash": inclusion.block_hash.to_string(), "tx": inclusion.tx.to_string(),
        "logIndex": sent.anchor.log_index, "sequence": 0, "item": null, "nonce": null,
        "status": "confirmed", "verification": "verified", "cursor": "0"
    })
}
