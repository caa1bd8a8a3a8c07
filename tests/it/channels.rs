//! Channels against a real Anvil, Kubo and node, through the CLI.
//!
//! Five members each post to a channel, and every member decrypts every
//! post. Removing one rotates the key: the removed member still reads the
//! old posts and none after. A non-member's post is refused, by the client
//! and, sent anyway, by the contract.

use std::time::Duration;

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
const DAVE_KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
const ERIN_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const MALLORY_KEY: &str = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356";

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
    let node = chain.reader_node(dir.path(), false).await;
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

    // Each member posts; each member reads all five.
    for (i, key) in members.iter().enumerate() {
        let text = format!("gm from member {i}");
        let out = cli
            .run(key, &["channel", "post", &channel, "--message", &text])
            .await;
        assert!(out.success, "cairn channel post: {}", out.stderr);
    }
    let api_client = ReadApi::new(&api);
    let id: B256 = channel.parse().unwrap();
    let wait_for = |n: usize| {
        let api_client = api_client.clone();
        async move {
            for _ in 0..600 {
                if api_client
                    .channel(id, None, 100)
                    .await
                    .unwrap()
                    .messages
                    .len()
                    >= n
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the indexer never listed {n} channel messages");
        }
    };
    wait_for(5).await;
    let everyone: Vec<Option<String>> = (0..5)
        .map(|i| Some(format!("gm from member {i}")))
        .collect();
    for key in &members {
        let out = cli.run(key, &["channel", "read", &channel]).await;
        assert!(out.success, "cairn channel read: {}", out.stderr);
        assert_eq!(texts(&out.json()), everyone, "{}", out.stdout);
    }
    let listed = cli.run(BOB_KEY, &["channel", "list"]).await.json();
    assert_eq!(listed["channels"][0]["channel"], channel.as_str());
    assert_eq!(listed["channels"][0]["name"], "dao");

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
    wait_for(6).await;
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
        out["messages"][5]["error"]
            .as_str()
            .unwrap()
            .contains("not a member"),
        "{out}"
    );
    node.shutdown().await.unwrap();
}
