//! Channels against a real Anvil, Kubo and node, through the CLI.
//!
//! Five members each post to a channel, directly and batched through the
//! gateway, and every member decrypts every post. Removing one rotates the
//! key: the removed member still reads the old posts and none after. A
//! non-member's post is refused by the client; sent anyway, directly it
//! reverts, and batched it is recorded invalid and never delivered.

use std::{sync::Arc, time::Duration};

use alloy::primitives::B256;
use cairn::{
    chain::{CairnClient, ChainError, Revert},
    read_api::ReadApi,
};
use serde_json::Value;

use crate::{
    gateway_stack::Chain,
    harness::{signer, Anvil, ALICE_KEY, BOB_KEY, CAROL_KEY},
};

/// Anvil's development accounts 4, 5 and 7.
pub(crate) const DAVE_KEY: &str =
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
const ERIN_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const MALLORY_KEY: &str = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356";

/// Polls every 100 ms, for a minute at most, until `check` gives a value.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {what}");
}

/// Waits until the indexer lists exactly `n` of the channel's messages.
async fn listed(api: &ReadApi, channel: B256, n: usize) {
    eventually(&format!("{n} messages listed"), || async move {
        let page = api.channel(channel, None, 100).await.unwrap();
        (page.messages.len() == n).then_some(())
    })
    .await
}

/// The indexer's record of `channel` once `ready` says it is.
async fn record(api: &str, channel: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{api}/v1/channels/{channel}");
    eventually(&format!("channel record ready at {url}"), || {
        let url = url.clone();
        let ready = &ready;
        async move {
            let (status, record) = crate::gateway_stack::get_json(&url).await;
            (status == 200 && ready(&record)).then_some(record)
        }
    })
    .await
}

/// A chain, a node indexing it, and the CLI pointed at the node, with the
/// wallets of `keys` registered.
struct Setup {
    chain: Chain,
    node: cairn::server::Node,
    api: String,
    cli: crate::harness::CairnCli,
    dir: tempfile::TempDir,
}

async fn setup(keys: &[&str]) -> Setup {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), false, None).await;
    let api = format!("http://{}", node.addr);
    let cli = chain.cli(&api, dir.path());
    for key in keys {
        let out = cli.run(key, &["register"]).await;
        assert!(out.success, "cairn register: {}", out.stderr);
    }
    Setup {
        chain,
        node,
        api,
        cli,
        dir,
    }
}

fn texts(out: &Value) -> Vec<Option<String>> {
    out["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn members_read_every_post_and_a_removed_member_reads_nothing_after() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (_outbox, outbox_url) = crate::gateway_stack::outbox_db(false).await;
    let node = chain.reader_node(dir.path(), false, Some(outbox_url)).await;
    let api = format!("http://{}", node.addr);
    let cli = chain.cli(&api, dir.path());
    let members = [ALICE_KEY, BOB_KEY, CAROL_KEY, DAVE_KEY, ERIN_KEY];
    for key in members.iter().chain([&MALLORY_KEY]) {
        let out = cli.run(key, &["register"]).await;
        assert!(out.success, "cairn register: {}", out.stderr);
    }
    let addresses: Vec<String> = members
        .iter()
        .map(|k| signer(k).address().to_string())
        .collect();

    // Alice creates the channel for all five and publishes its first key.
    let mut create = vec!["channel", "create", "--name", "dao"];
    for a in &addresses {
        create.extend(["--member", a.as_str()]);
    }
    let out = cli.run(ALICE_KEY, &create).await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let created = out.json();
    let channel = created["channel"].as_str().unwrap().to_string();
    assert_eq!(created["epoch"], 1);

    // Each member posts, directly and through the gateway; each member
    // reads all ten.
    for (i, key) in members.iter().enumerate() {
        let text = format!("gm from member {i}");
        let out = cli
            .run(key, &["channel", "post", &channel, "--message", &text])
            .await;
        assert!(out.success, "cairn channel post: {}", out.stderr);
        let text = format!("batched gm from member {i}");
        let out = cli
            .run(
                key,
                &[
                    "channel",
                    "post",
                    &channel,
                    "--message",
                    &text,
                    "--via-gateway",
                    &api,
                ],
            )
            .await;
        assert!(
            out.success,
            "cairn channel post --via-gateway: {}",
            out.stderr
        );
    }
    let api_client = ReadApi::new(&api);
    let id: B256 = channel.parse().unwrap();
    listed(&api_client, id, 10).await;
    let everyone: Vec<Option<String>> = (0..5)
        .flat_map(|i| {
            [
                format!("gm from member {i}"),
                format!("batched gm from member {i}"),
            ]
        })
        .map(Some)
        .collect();
    for key in &members {
        let out = cli.run(key, &["channel", "read", &channel]).await;
        assert!(out.success, "cairn channel read: {}", out.stderr);
        assert_eq!(
            texts(&out.json()),
            everyone,
            "in chain order: {}",
            out.stdout
        );
    }
    // Carol watches the channel live from the start: the same ten, decrypted.
    let start = cairn_indexer::store::StreamCursor(0).encode();
    let watched = tokio::time::timeout(
        Duration::from_secs(60),
        cli.command(
            CAROL_KEY,
            &[
                "channel", "watch", &channel, "--count", "10", "--after", &start,
            ],
        )
        .output(),
    )
    .await
    .expect("cairn channel watch gets ten messages in a minute")
    .unwrap();
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let frames: Vec<Value> = String::from_utf8_lossy(&watched.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let watched: Vec<Option<String>> = frames
        .iter()
        .map(|f| f["message"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(watched, everyone);
    let list = cli.run(BOB_KEY, &["channel", "list"]).await.json();
    assert_eq!(list["channels"][0]["channel"], channel.as_str());
    assert_eq!(list["channels"][0]["name"], "dao");

    // A non-member is refused by the client, and by the contract when the
    // client is bypassed.
    let out = cli
        .run(
            MALLORY_KEY,
            &["channel", "post", &channel, "--message", "let me in"],
        )
        .await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("may not post to channel"),
        "{}",
        out.stderr
    );
    let mallory = CairnClient::connect(&chain.url, chain.contract, Some(signer(MALLORY_KEY)))
        .await
        .unwrap();
    let refused = mallory.post(id, B256::repeat_byte(7)).await.unwrap_err();
    assert!(
        matches!(
            refused,
            ChainError::Reverted(Revert::NotAllowedToPost { .. })
        ),
        "{refused}"
    );
    // Batched, past the client: the gateway refuses it, so she anchors it
    // herself, and the indexer finds she was no member at the anchor.
    let batch = mallory_batched_post(&chain, &api, id).await;
    let reason = loop {
        let (status, record) =
            crate::gateway_stack::get_json(&format!("{api}/v1/batches/{batch}")).await;
        if status == 200 && record["resolution"] == "delivered" {
            break record["invalid"][0]["reason"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reason, "not_a_member");
    assert_eq!(
        api_client
            .channel(id, None, 100)
            .await
            .unwrap()
            .messages
            .len(),
        10
    );
    let out = cli.run(MALLORY_KEY, &["channel", "read", &channel]).await;
    assert!(
        texts(&out.json()).iter().all(Option::is_none),
        "{}",
        out.stdout
    );
    assert!(
        cli.run(MALLORY_KEY, &["channel", "list"]).await.json()["channels"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Alice removes Erin: epoch 2, a new key Erin has no wrap of.
    let out = cli
        .run(ALICE_KEY, &["channel", "remove", &channel, &addresses[4]])
        .await;
    assert!(out.success, "cairn channel remove: {}", out.stderr);
    assert_eq!(
        (out.json()["epoch"].as_u64(), out.json()["members"].as_u64()),
        (Some(2), Some(4))
    );
    let out = cli
        .run(
            BOB_KEY,
            &["channel", "post", &channel, "--message", "after Erin left"],
        )
        .await;
    assert!(out.success, "cairn channel post: {}", out.stderr);
    let out = cli
        .run(
            ERIN_KEY,
            &["channel", "post", &channel, "--message", "still here?"],
        )
        .await;
    assert!(!out.success, "a removed member cannot post");
    listed(&api_client, id, 11).await;
    let mut after = everyone.clone();
    after.push(Some("after Erin left".into()));
    let out = cli.run(CAROL_KEY, &["channel", "read", &channel]).await;
    assert_eq!(texts(&out.json()), after, "{}", out.stdout);
    let out = cli
        .run(ERIN_KEY, &["channel", "read", &channel])
        .await
        .json();
    let mut erin = everyone.clone();
    erin.push(None);
    assert_eq!(
        texts(&out),
        erin,
        "Erin reads the old posts and not the new: {out}"
    );
    assert!(
        out["messages"][10]["error"]
            .as_str()
            .unwrap()
            .contains("not a member"),
        "{out}"
    );

    // The indexer's view of the channel follows the chain.
    let (status, record) =
        crate::gateway_stack::get_json(&format!("{api}/v1/channels/{channel}")).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        (record["epoch"].as_u64(), record["name"].as_str()),
        (Some(2), Some("dao"))
    );
    assert_eq!(record["members"].as_array().unwrap().len(), 4, "{record}");
    assert_eq!(record["admins"][0], addresses[0].to_lowercase());
    assert!(
        record["bundle"].is_string(),
        "epoch 2's key is published: {record}"
    );
    let (_, mine) =
        crate::gateway_stack::get_json(&format!("{api}/v1/channels?member={}", addresses[1])).await;
    assert_eq!(mine[0]["id"], channel.as_str(), "{mine}");
    let (_, gone) =
        crate::gateway_stack::get_json(&format!("{api}/v1/channels?member={}", addresses[4])).await;
    assert_eq!(gone, serde_json::json!([]), "Erin is no longer a member");

    // A member added at epoch 3 reads from epoch 3 on, and nothing before.
    let mallory = signer(MALLORY_KEY).address().to_string();
    let out = cli
        .run(ALICE_KEY, &["channel", "add", &channel, &mallory])
        .await;
    assert!(out.success, "cairn channel add: {}", out.stderr);
    assert_eq!(out.json()["epoch"], 3);
    let out = cli
        .run(
            CAROL_KEY,
            &["channel", "post", &channel, "--message", "welcome, Mallory"],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    listed(&api_client, id, 12).await;
    let read = texts(
        &cli.run(MALLORY_KEY, &["channel", "read", &channel])
            .await
            .json(),
    );
    assert!(
        read[..11].iter().all(Option::is_none),
        "nothing from before she joined: {read:?}"
    );
    assert_eq!(read[11].as_deref(), Some("welcome, Mallory"));
    node.shutdown().await.unwrap();
}

/// Mallory's signed post to `channel`, batched: the gateway refuses it
/// (she may not post there), so she anchors a batch of it herself, as
/// anyone may. Returns the batch id.
async fn mallory_batched_post(chain: &Chain, api: &str, channel: B256) -> String {
    use cairn::gateway::{
        client::{fresh_nonce, sign_post, GatewayClient},
        submit::PostRequest,
    };
    let envelope = b"not a real envelope, never opened".to_vec();
    let digest = cairn::store::cid::block_digest(&envelope);
    let domain = cairn_contracts::eip712::domain(31337, chain.contract);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let signed = sign_post(
        &signer(MALLORY_KEY),
        &domain,
        channel,
        digest,
        fresh_nonce(),
        deadline,
    )
    .await
    .unwrap();
    let refused = GatewayClient::new(api)
        .submit(vec![PostRequest::new(&signed, Some(&envelope))])
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not_a_channel_poster"),
        "{refused}"
    );
    anchor_alone(chain, MALLORY_KEY, &signed, envelope).await.0
}

/// Stores `envelope` and a one-post manifest of `signed`, and anchors it
/// from `key`'s own wallet, as anyone may (`anchorBatch` is open); returns
/// the batch id and the anchor's (block, block hash, log index).
pub(crate) async fn anchor_alone(
    chain: &Chain,
    key: &str,
    signed: &cairn_contracts::manifest::SignedPost,
    envelope: Vec<u8>,
) -> (String, (u64, String, u64)) {
    use cairn_contracts::manifest;
    let domain = cairn_contracts::eip712::domain(31337, chain.contract);
    let manifest_bytes = manifest::encode(std::slice::from_ref(signed)).unwrap();
    for block in [envelope, manifest_bytes.clone()] {
        chain.store.put(block.into()).await.unwrap();
    }
    let root = manifest::root([signed.signing_hash(&domain)]).unwrap();
    let client = CairnClient::connect(&chain.url, chain.contract, Some(signer(key)))
        .await
        .unwrap();
    let (_, inclusion) = client
        .anchor_batch(root, cairn::store::cid::block_digest(&manifest_bytes), 1)
        .await
        .unwrap();
    let receipt = crate::harness::rpc(
        &chain.url,
        "eth_getTransactionReceipt",
        serde_json::json!([inclusion.tx]),
    )
    .await;
    let log = &receipt["logs"][0];
    let number = |field: &str| {
        u64::from_str_radix(log[field].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let hash = log["blockHash"].as_str().unwrap().to_string();
    let (block, index) = (number("blockNumber"), number("logIndex"));
    (format!("{hash}-{index}"), (block, hash, index))
}

/// Post 0 of batch `batch` (anchored at `at`: block, block hash, log
/// index), `signed`, as a lying node lists it: a confirmed, verified
/// channel message.
pub(crate) fn listed_as_verified(
    batch: &str,
    at: (u64, &str, u64),
    signed: &cairn_contracts::manifest::SignedPost,
) -> Value {
    let p = &signed.post;
    serde_json::json!({
        "id": format!("{batch}-0"), "from": p.from.to_string().to_lowercase(), "to": p.to.to_string(),
        "cid": cairn::store::cid::cid_for_digest(p.digest).to_string(), "digest": p.digest.to_string(),
        "block": at.0, "blockHash": at.1, "tx": format!("0x{}", "00".repeat(32)),
        "logIndex": at.2, "sequence": 0, "item": 0, "nonce": p.nonce,
        "status": "confirmed", "verification": "verified", "cursor": "0"
    })
}

/// A lying node in front of `api` that adds post 0 of batch `batch` (at
/// `at`: block, block hash, log index), `signed`, to every channel page as
/// a confirmed, verified message.
async fn lists_anyway(
    api: &str,
    batch: &str,
    at: (u64, &str, u64),
    signed: &cairn_contracts::manifest::SignedPost,
) -> String {
    let listed = listed_as_verified(batch, at, signed);
    crate::lying_indexer::lying_node(
        api.to_string(),
        Arc::new(move |path: &str, mut page: Value| {
            if path.ends_with("/messages") {
                page["messages"]
                    .as_array_mut()
                    .unwrap()
                    .push(listed.clone());
            }
            page
        }),
    )
    .await
}

/// The messenger of the wallet `key`, with its wallet-derived messaging
/// key, sending from its own wallet.
pub(crate) async fn messenger_for(chain: &Chain, key: &str) -> cairn::messenger::Messenger {
    let wallet = signer(key);
    let messaging_key = cairn::crypto::wallet::derive_with_signer(&wallet)
        .await
        .unwrap();
    let client = CairnClient::connect(&chain.url, chain.contract, Some(wallet.clone()))
        .await
        .unwrap();
    cairn::messenger::Messenger::new(client, chain.store.clone(), wallet.address(), messaging_key)
}

/// `key`'s post of `text` to `channel`, sealed under the key of `epoch`
/// that `key` holds, and signed for a batch that expires at `deadline`:
/// the signed post and its envelope, for [`anchor_alone`].
pub(crate) async fn sealed_batched_post(
    chain: &Chain,
    key: &str,
    (channel, epoch): (B256, u64),
    text: &str,
    deadline: u64,
) -> (cairn_contracts::manifest::SignedPost, Vec<u8>) {
    use cairn::gateway::client::{fresh_nonce, sign_post};
    let wallet = signer(key);
    let messenger = messenger_for(chain, key).await;
    // Sealed with the key itself, not `seal_for_channel`: that one asks
    // the chain whether `key` may post, and these posts are lies to tell.
    let header = cairn::envelope::Header {
        sender: wallet.address(),
        recipient: channel,
        timestamp: crate::gateway_stack::unix_now(),
        reply_to: None,
    };
    let epoch_key = messenger.epoch_key(channel, epoch).await.unwrap();
    let envelope = cairn::envelope::seal_channel(
        &header,
        epoch,
        &epoch_key,
        &cairn::envelope::Body::text(text),
    )
    .unwrap();
    let domain = cairn_contracts::eip712::domain(31337, chain.contract);
    let digest = cairn::store::cid::block_digest(&envelope);
    let signed = sign_post(&wallet, &domain, channel, digest, fresh_nonce(), deadline)
        .await
        .unwrap();
    (signed, envelope)
}

/// A lying node lists, as a channel's message, a batch its sender anchored
/// alone: a removed member's post sealed under the epoch key they kept. The
/// indexer refused it; `cairn channel read` through the lying node refuses
/// it too, from the chain's own membership logs, and shows no text. (A
/// batch to a token-gated channel: `a_token_gate_and_a_safe_like_admin_on_a_real_chain`.)
#[tokio::test]
async fn a_lying_node_cannot_pass_off_a_removed_members_batch() {
    let Setup {
        chain,
        node,
        api,
        cli,
        dir,
    } = setup(&[ALICE_KEY, BOB_KEY, ERIN_KEY]).await;
    let [alice, bob, erin] = [ALICE_KEY, BOB_KEY, ERIN_KEY].map(|k| signer(k).address());
    let out = cli
        .run(
            ALICE_KEY,
            &[
                "channel",
                "create",
                "--name",
                "council",
                "--member",
                &alice.to_string(),
                "--member",
                &bob.to_string(),
                "--member",
                &erin.to_string(),
            ],
        )
        .await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let channel: B256 = out.json()["channel"].as_str().unwrap().parse().unwrap();

    // Erin seals while a member (epoch 1), and keeps the envelope and its
    // signed post; she is removed, then anchors it herself.
    let deadline = crate::gateway_stack::unix_now() + 3600;
    let (signed, envelope) =
        sealed_batched_post(&chain, ERIN_KEY, (channel, 1), "after I left", deadline).await;
    let out = cli
        .run(
            ALICE_KEY,
            &["channel", "remove", &channel.to_string(), &erin.to_string()],
        )
        .await;
    assert!(out.success, "cairn channel remove: {}", out.stderr);
    let (batch, (block, block_hash, log_index)) =
        anchor_alone(&chain, ERIN_KEY, &signed, envelope).await;
    let invalid = eventually("the indexer refuses Erin's batch", || {
        let url = format!("{api}/v1/batches/{batch}");
        async move {
            let (_, record) = crate::gateway_stack::get_json(&url).await;
            (record["resolution"] == "delivered").then(|| record["invalid"][0]["reason"].clone())
        }
    })
    .await;
    assert_eq!(invalid, "not_a_member");

    // The lying node lists it as a verified, confirmed message.
    let liar = lists_anyway(&api, &batch, (block, &block_hash, log_index), &signed).await;
    let lied_to = chain.cli(&liar, dir.path());
    let read = lied_to
        .run(BOB_KEY, &["channel", "read", &channel.to_string()])
        .await
        .json();
    let shown = &read["messages"][0];
    assert_eq!(shown["verified"], false, "{read}");
    assert!(shown.get("text").is_none(), "{read}");
    assert!(
        shown["error"]
            .as_str()
            .unwrap()
            .contains("was not a member"),
        "{read}"
    );
    node.shutdown().await.unwrap();
}

/// A reorg that removes a membership change: the indexer's epoch, members
/// and deliveries follow the canonical chain, and so does every client,
/// which reads the epoch from the chain itself.
#[tokio::test]
async fn a_reorg_that_removes_a_membership_change_takes_the_epoch_back() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), false, None).await;
    let api = format!("http://{}", node.addr);
    let cli = chain.cli(&api, dir.path());
    for key in [ALICE_KEY, BOB_KEY, CAROL_KEY] {
        assert!(cli.run(key, &["register"]).await.success);
    }
    let (bob, carol) = (
        signer(BOB_KEY).address().to_string(),
        signer(CAROL_KEY).address().to_string(),
    );
    let out = cli
        .run(
            ALICE_KEY,
            &["channel", "create", "--name", "dao", "--member", &bob],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let channel = out.json()["channel"].as_str().unwrap().to_string();
    let epoch = |want: u64| {
        record(&api, &channel, move |r| {
            r["epoch"] == want && !r["bundle"].is_null()
        })
    };
    epoch(1).await;
    // Two blocks on top, so the snapshot's state is confirmed.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let snapshot = crate::harness::rpc(&chain.url, "evm_snapshot", serde_json::json!([])).await;
    let out = cli
        .run(ALICE_KEY, &["channel", "add", &channel, &carol])
        .await;
    assert!(out.success, "{}", out.stderr);
    let out = cli
        .run(
            CAROL_KEY,
            &["channel", "post", &channel, "--message", "I was here"],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let added = epoch(2).await;
    assert!(added["members"]
        .as_array()
        .unwrap()
        .contains(&carol.to_lowercase().into()));
    let reader = ReadApi::new(&api);
    let id: B256 = channel.parse().unwrap();
    listed(&reader, id, 1).await;

    // The change and Carol's post are reorged away; the chain goes on.
    crate::harness::rpc(&chain.url, "evm_revert", serde_json::json!([snapshot])).await;
    let back = epoch(1).await;
    assert_eq!(
        back["members"],
        serde_json::json!([bob.to_lowercase()]),
        "Carol's membership went with its block"
    );
    listed(&reader, id, 0).await;
    // On the canonical chain Carol is no member: she cannot post, and Bob's
    // post is for epoch 1, whose bundle has no key of hers.
    let out = cli
        .run(
            CAROL_KEY,
            &["channel", "post", &channel, "--message", "again?"],
        )
        .await;
    assert!(!out.success);
    let out = cli
        .run(
            BOB_KEY,
            &["channel", "post", &channel, "--message", "after the reorg"],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    listed(&reader, id, 1).await;
    let read = cli
        .run(CAROL_KEY, &["channel", "read", &channel])
        .await
        .json();
    assert_eq!(texts(&read), [None], "{read}");
    let read = cli
        .run(ALICE_KEY, &["channel", "read", &channel])
        .await
        .json();
    assert_eq!(
        texts(&read),
        [None],
        "Alice is an admin, not a member: {read}"
    );
    let read = cli
        .run(BOB_KEY, &["channel", "read", &channel])
        .await
        .json();
    assert_eq!(
        texts(&read),
        [Some("after the reorg".to_string())],
        "{read}"
    );
    node.shutdown().await.unwrap();
}

/// Test contracts deployed beside Cairn (`contracts/test/Fixtures.sol`).
pub(crate) mod fixtures {
    alloy::sol!(
        #[sol(rpc)]
        TestToken,
        "contracts/artifacts/TestToken.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        TestWallet,
        "contracts/artifacts/TestWallet.json"
    );
}

/// A provider that signs as `key`.
pub(crate) async fn wallet_provider(url: &str, key: &str) -> alloy::providers::DynProvider {
    use alloy::providers::{Provider, ProviderBuilder};
    ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(signer(key)))
        .connect(url)
        .await
        .unwrap()
        .erased()
}

/// A token gate: a member who receives the token can post, and after
/// handing some away (below the minimum) cannot. A Safe-like ERC-1271
/// wallet administers a channel: its owner signs a change anyone submits.
#[tokio::test]
async fn a_token_gate_and_a_safe_like_admin_on_a_real_chain() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), false, None).await;
    let api = format!("http://{}", node.addr);
    let cli = chain.cli(&api, dir.path());
    for key in [ALICE_KEY, BOB_KEY] {
        assert!(cli.run(key, &["register"]).await.success);
    }
    let (bob, carol, dave, erin) = (
        signer(BOB_KEY).address(),
        signer(CAROL_KEY).address(),
        signer(DAVE_KEY).address(),
        signer(ERIN_KEY).address(),
    );

    // The gate: members holding at least 100 GOV.
    // Dave deploys the fixtures: the CLI never sends as him, so his
    // provider's cached nonce stays right.
    let daves = wallet_provider(&chain.url, DAVE_KEY).await;
    let token = fixtures::TestToken::deploy(&daves).await.unwrap();
    let token_text = token.address().to_string();
    let bob_text = bob.to_string();
    let out = cli
        .run(
            ALICE_KEY,
            &[
                "channel",
                "create",
                "--name",
                "holders",
                "--member",
                &bob_text,
                "--erc20",
                &token_text,
                "--min",
                "100",
            ],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let channel = out.json()["channel"].as_str().unwrap().to_string();
    let post = |text: &'static str| {
        let (cli, channel) = (&cli, channel.clone());
        async move {
            cli.run(BOB_KEY, &["channel", "post", &channel, "--message", text])
                .await
        }
    };
    let refused = post("no tokens yet").await;
    assert!(
        !refused.success && refused.stderr.contains("may not post"),
        "{}",
        refused.stderr
    );
    token
        .mint(bob, alloy::primitives::U256::from(100))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let out = post("a holder now").await;
    assert!(out.success, "a member holding 100 posts: {}", out.stderr);
    let bobs =
        fixtures::TestToken::new(*token.address(), wallet_provider(&chain.url, BOB_KEY).await);
    bobs.transfer(carol, alloy::primitives::U256::from(1))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let refused = post("with 99").await;
    assert!(
        !refused.success && refused.stderr.contains("may not post"),
        "{}",
        refused.stderr
    );
    let direct = CairnClient::connect(&chain.url, chain.contract, Some(signer(BOB_KEY)))
        .await
        .unwrap();
    let id: B256 = channel.parse().unwrap();
    let reverted = direct.post(id, B256::repeat_byte(9)).await.unwrap_err();
    assert!(
        matches!(
            reverted,
            ChainError::Reverted(Revert::NotAllowedToPost { .. })
        ),
        "the contract checks the balance: {reverted}"
    );

    // With 99, Bob seals under the key he holds, signs a batched post and
    // anchors it himself. The indexer refuses it (a gated channel takes
    // direct posts only); listed anyway by a lying node, `channel read`
    // refuses it too, and shows no text.
    let (signed, envelope) = sealed_batched_post(
        &chain,
        BOB_KEY,
        (id, 1),
        "batched with 99",
        crate::gateway_stack::unix_now() + 3600,
    )
    .await;
    let (batch, (block, block_hash, log_index)) =
        anchor_alone(&chain, BOB_KEY, &signed, envelope).await;
    let liar = lists_anyway(&api, &batch, (block, &block_hash, log_index), &signed).await;
    let read = chain
        .cli(&liar, dir.path())
        .run(BOB_KEY, &["channel", "read", &channel])
        .await
        .json();
    let shown = read["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == format!("{batch}-0"))
        .unwrap_or_else(|| panic!("listed: {read}"));
    assert_eq!(shown["verified"], false, "{read}");
    assert!(shown.get("text").is_none(), "{read}");
    assert!(
        shown["error"].as_str().unwrap().contains("token-gated"),
        "{read}"
    );

    // A Safe-like admin: Dave owns the wallet; Carol pays for his change.
    let safe = fixtures::TestWallet::deploy(&daves, dave).await.unwrap();
    let safe_text = safe.address().to_string();
    let out = cli
        .run(
            ALICE_KEY,
            &[
                "channel", "create", "--name", "safe-run", "--admin", &safe_text, "--member",
                &bob_text,
            ],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.json()["epoch"].is_null(),
        "Alice is no admin, so publishes no key"
    );
    let channel: B256 = out.json()["channel"].as_str().unwrap().parse().unwrap();
    let carols = CairnClient::connect(&chain.url, chain.contract, Some(signer(CAROL_KEY)))
        .await
        .unwrap();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let hash = carols
        .change_members_hash(channel, &[erin], &[], *safe.address(), deadline)
        .await
        .unwrap();
    // Carol submits Erin's addition, signed by `key`.
    let submit = |key: &'static str| {
        use alloy::signers::SignerSync;
        let signature = signer(key).sign_hash_sync(&hash).unwrap();
        let (carols, safe) = (&carols, *safe.address());
        async move {
            carols
                .change_members_by_sig(
                    channel,
                    &[erin],
                    &[],
                    safe,
                    deadline,
                    signature.as_bytes().to_vec().into(),
                )
                .await
        }
    };
    let refused = submit(CAROL_KEY).await.unwrap_err();
    assert!(
        refused.to_string().contains("BadAdminSignature"),
        "{refused}"
    );
    let (epoch, _) = submit(DAVE_KEY).await.unwrap();
    assert_eq!(epoch, 2);
    assert_eq!(carols.members(channel).await.unwrap(), {
        let mut m = vec![bob, erin];
        m.sort();
        m
    });
    let changed = record(&api, &channel.to_string(), |r| r["epoch"] == 2).await;
    assert_eq!(
        changed["admins"],
        serde_json::json!([safe_text.to_lowercase()])
    );
    assert!(changed["members"]
        .as_array()
        .unwrap()
        .contains(&erin.to_string().to_lowercase().into()));
    node.shutdown().await.unwrap();
}

/// The key of epoch 1 is published once: rotating again starts epoch 2,
/// so every member still reads what was sealed under epoch 1 (a second
/// bundle for one epoch would have stranded it). Members left out of a
/// bundle, with no key or with a weak one, are named to the admin, and a
/// member who registers later reads from the next rotation on.
#[tokio::test]
async fn rotating_again_keeps_every_epochs_posts_and_names_who_was_left_out() {
    let Setup {
        chain,
        node,
        api,
        cli,
        dir: _dir,
    } = setup(&[ALICE_KEY, BOB_KEY]).await;
    // Dave registers a low-order point (u = 1): nothing can be wrapped for it.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    CairnClient::connect(&chain.url, chain.contract, Some(signer(DAVE_KEY)))
        .await
        .unwrap()
        .register_key(&cairn::crypto::PublicKey::from_bytes(weak))
        .await
        .unwrap();
    let [alice, bob, carol, dave] =
        [ALICE_KEY, BOB_KEY, CAROL_KEY, DAVE_KEY].map(|k| signer(k).address().to_string());
    let out = cli
        .run(
            ALICE_KEY,
            &[
                "channel", "create", "--name", "keys", "--member", &alice, "--member", &bob,
                "--member", &carol, "--member", &dave,
            ],
        )
        .await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let created = out.json();
    let channel = created["channel"].as_str().unwrap().to_string();
    assert_eq!(created["epoch"], 1);
    assert_eq!(created["members"], 2, "{created}");
    let lower = |a: &str| serde_json::json!([a.to_lowercase()]);
    assert_eq!(created["withoutKey"], lower(&carol), "{created}");
    assert_eq!(created["weakKey"], lower(&dave), "{created}");

    let post = |text: &'static str| {
        let (cli, channel) = (&cli, channel.clone());
        async move {
            let out = cli
                .run(BOB_KEY, &["channel", "post", &channel, "--message", text])
                .await;
            assert!(out.success, "cairn channel post: {}", out.stderr);
        }
    };
    post("sealed under epoch 1").await;
    let out = cli.run(ALICE_KEY, &["channel", "rotate", &channel]).await;
    assert!(out.success, "cairn channel rotate: {}", out.stderr);
    let rotated = out.json();
    assert_eq!(
        (rotated["epoch"].as_u64(), rotated["newEpoch"].as_bool()),
        (Some(2), Some(true))
    );
    post("sealed under epoch 2").await;

    // Carol registers; the next rotation includes her.
    let out = cli.run(CAROL_KEY, &["register"]).await;
    assert!(out.success, "cairn register: {}", out.stderr);
    let rotated = cli
        .run(ALICE_KEY, &["channel", "rotate", &channel])
        .await
        .json();
    assert_eq!(rotated["epoch"], 3, "{rotated}");
    assert_eq!(rotated["withoutKey"], serde_json::json!([]), "{rotated}");
    post("sealed under epoch 3").await;

    let id: B256 = channel.parse().unwrap();
    listed(&ReadApi::new(&api), id, 3).await;
    record(&api, &channel, |r| r["epoch"] == 3).await;
    let read = |key: &'static str| {
        let (cli, channel) = (&cli, channel.clone());
        async move { texts(&cli.run(key, &["channel", "read", &channel]).await.json()) }
    };
    assert_eq!(
        read(ALICE_KEY).await,
        [
            Some("sealed under epoch 1".to_string()),
            Some("sealed under epoch 2".to_string()),
            Some("sealed under epoch 3".to_string())
        ],
        "every epoch's posts stay readable"
    );
    assert_eq!(
        read(CAROL_KEY).await,
        [None, None, Some("sealed under epoch 3".to_string())],
        "Carol reads from the epoch that included her"
    );
    node.shutdown().await.unwrap();
}
