//! What a new user hits says what is wrong, once: a wallet with no ETH, and
//! a `--contract` that is some other contract.

use alloy::signers::local::PrivateKeySigner;
use serde_json::json;

use crate::{
    harness::{rpc, CairnCli, DEPLOYER_KEY},
    read_path::{Stack, StoreChoice},
};

#[tokio::test]
async fn a_wallet_without_eth_and_a_foreign_contract_are_named() {
    let stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let broke = PrivateKeySigner::random();
    let key = format!("0x{}", hex::encode(broke.to_bytes()));
    let out = stack.cli().run(&key, &["register"]).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("no ETH to pay for gas"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--via-gateway"), "{}", out.stderr);
    assert_eq!(out.stderr.matches("error:").count(), 1, "{}", out.stderr);

    // A contract that reverts every call (runtime 0x60006000fd).
    let deployer = signer_address(DEPLOYER_KEY);
    let tx =
        json!({"from": deployer, "data": "0x6005600c60003960056000f360006000fd", "gas": "0x30000"});
    let hash = rpc(&stack.anvil.url, "eth_sendTransaction", json!([tx])).await;
    let mut receipt = serde_json::Value::Null;
    for _ in 0..100 {
        receipt = rpc(&stack.anvil.url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let other = receipt["contractAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no contract created: {receipt}"))
        .to_string();
    let cli = CairnCli {
        contract: other.parse().unwrap(),
        ..stack.cli()
    };
    let out = cli.run(&key, &["inbox"]).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("is not a Cairn contract"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("buffer overrun"), "{}", out.stderr);
}

fn signer_address(key: &str) -> String {
    key.parse::<PrivateKeySigner>()
        .unwrap()
        .address()
        .to_string()
}

/// After `cairn key new` and a rotation, messages sealed for the old
/// (wallet-derived) key still open.
#[tokio::test]
async fn old_messages_stay_readable_after_key_new() {
    use cairn::envelope::Body;

    use crate::harness::{mine, signer, ALICE_KEY, BOB_KEY};

    let stack = Stack::start(false, StoreChoice::Embedded, 1).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    alice
        .send(bob, &Body::text("before rotation"), &|_| {})
        .await
        .unwrap();
    let cli = stack.cli();
    assert!(cli.run(BOB_KEY, &["key", "new"]).await.success);
    let rotated = cli.run(BOB_KEY, &["register"]).await;
    assert!(rotated.success, "{}", rotated.stderr);
    alice
        .send(bob, &Body::text("after rotation"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 2).await;
    stack.await_inbox(bob, 2, "confirmed").await;
    let inbox = cli.run(BOB_KEY, &["inbox"]).await.json();
    let texts: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["before rotation", "after rotation"], "{inbox}");
}
