//! The content check and third-party posts: every anchored block is
//! re-hashed (`verified`, `tampered`, `missing`), a post made with plain
//! `cast send` is indexed like any other, and `cairn inbox` never decrypts a
//! tampered block.

use std::time::Duration;

use alloy::primitives::B256;
use bytes::Bytes;
use cairn::{
    chain::CairnClient,
    crypto::wallet,
    envelope::{self, Body, Header},
    read_api::EventKind,
    store::cid,
};
use serde_json::Value;

use crate::{
    harness::{mine, repo_root, signer, ALICE_KEY, BOB_KEY, CAROL_KEY},
    read_path::{Stack, StoreChoice, StreamClient},
};

async fn await_verification(stack: &Stack, id: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, m) = stack.get(&format!("/v1/messages/{id}")).await;
        if m["verification"] == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never became {want}: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tampered_missing_and_third_party_posts_sqlite() {
    tampered_missing_and_third_party(false).await;
}

#[tokio::test]
async fn tampered_missing_and_third_party_posts_postgres() {
    tampered_missing_and_third_party(true).await;
}

async fn tampered_missing_and_third_party(postgres: bool) {
    let stack = Stack::start(postgres, StoreChoice::Embedded, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    let bob_key = wallet::derive_with_signer(&signer(BOB_KEY)).await.unwrap();
    let mut client = StreamClient::connect(&stack.api, bob, None).await;
    let alice_chain =
        CairnClient::connect(&stack.anvil.url, stack.contract, Some(signer(ALICE_KEY)))
            .await
            .unwrap();

    // 1. An honest message.
    let honest = alice
        .send(bob, &Body::text("honest"), &|_| {})
        .await
        .unwrap();

    // 2. Tampered: anchor a real envelope's digest, but store other bytes under it.
    let alice_addr = signer(ALICE_KEY).address();
    let real = envelope::seal(
        &Header::direct(alice_addr, bob, 1),
        &Body::text("original"),
        &[bob_key.public_key()],
    )
    .unwrap();
    let digest = cid::block_digest(&real);
    let hex = hex::encode(digest);
    let path = stack.dir.path().join("store/blocks").join(&hex[..2]);
    std::fs::create_dir_all(&path).unwrap();
    let mut forged = real.clone();
    forged[150] ^= 1;
    std::fs::write(path.join(&hex), &forged).unwrap();
    alice_chain.post(bob.into_word(), digest).await.unwrap();

    // 3. Missing: anchor a digest whose block was never stored.
    alice_chain
        .post(bob.into_word(), B256::repeat_byte(0x5a))
        .await
        .unwrap();

    // 4. A third party posts with plain `cast send`, not Cairn's CLI.
    let carol = signer(CAROL_KEY).address();
    let carols = envelope::seal(
        &Header::direct(carol, bob, 2),
        &Body::text("hello from cast"),
        &[bob_key.public_key()],
    )
    .unwrap();
    let carol_cid = stack.store.put(Bytes::from(carols)).await.unwrap();
    let carol_digest = cid::digest_of(&carol_cid).unwrap();
    let cast = std::process::Command::new(repo_root().join("tools/node_modules/.bin/cast"))
        .args([
            "send",
            "--rpc-url",
            &stack.anvil.url,
            "--private-key",
            CAROL_KEY,
        ])
        .arg(stack.contract.to_string())
        .args([
            "post(bytes32,bytes32)",
            &bob.into_word().to_string(),
            &carol_digest.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        cast.status.success(),
        "cast send failed: {}",
        String::from_utf8_lossy(&cast.stderr)
    );

    mine(&stack.anvil.url, 2).await;
    let events = client.take(4).await;
    assert!(events.iter().all(|e| e.kind == EventKind::Message));
    assert_eq!(
        events[3].message.from,
        carol.to_string().to_lowercase(),
        "cast's post is pushed like any other"
    );
    assert_eq!(events[0].message.digest, honest.digest.to_string());

    await_verification(&stack, &events[0].message.id, "verified").await;
    await_verification(&stack, &events[1].message.id, "tampered").await;
    await_verification(&stack, &events[2].message.id, "missing").await;
    await_verification(&stack, &events[3].message.id, "verified").await;

    // The CLI decrypts the honest and the cast message, and refuses the others.
    let cli = stack.cli();
    let inbox = cli.run(BOB_KEY, &["inbox"]).await.json();
    let shown: Vec<&Value> = inbox["messages"].as_array().unwrap().iter().collect();
    assert_eq!(shown.len(), 4);
    assert_eq!(shown[0]["text"], "honest");
    assert!(
        shown[1]["text"].is_null() && shown[1]["error"].as_str().unwrap().contains("TAMPERED"),
        "{}",
        shown[1]
    );
    assert!(
        shown[2]["text"].is_null() && shown[2]["error"].as_str().unwrap().contains("not found"),
        "{}",
        shown[2]
    );
    assert_eq!(shown[3]["text"], "hello from cast");
}
