//! The write path end to end: real Anvil, real Kubo (or the embedded store),
//! the real CLI. Alice sends Bob 20 messages; every one is found on chain,
//! fetched by the CID rebuilt from its anchored digest, verified and opened.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use alloy::{
    providers::{Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use cairn::{
    chain::{Cairn, CairnClient},
    crypto::{keystore, wallet, SecretKey},
    envelope::{self, EnvelopeError},
    store::{cid, BlobStore, EmbeddedStore, KuboStore},
};
use serde_json::Value;

use crate::harness::{
    signer, Anvil, CairnCli, Kubo, StoreUnderTest, ALICE_KEY, BOB_KEY, CAROL_KEY, DEPLOYER_KEY,
};

const MESSAGES: usize = 20;

/// A finished scenario: the chain stays up while the caller holds it.
struct Scenario {
    _anvil: Anvil,
    cli: CairnCli,
    sent: Vec<Value>,
}

#[tokio::test]
async fn alice_sends_bob_twenty_messages_via_kubo() {
    let kubo = Kubo::start().await;
    let store = Arc::new(KuboStore::new(&kubo.api_url));
    let before = kubo.local_block_count().await;
    let dir = tempfile::tempdir().unwrap();
    run_scenario(
        dir.path().to_path_buf(),
        StoreUnderTest::Kubo(kubo.api_url.clone()),
        store,
    )
    .await;
    // Exactly the 20 envelopes and Bob's reply were added; the refused
    // send stored nothing.
    assert_eq!(kubo.local_block_count().await, before + MESSAGES + 1);
}

#[tokio::test]
async fn alice_sends_bob_twenty_messages_via_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Arc::new(EmbeddedStore::open(&store_dir).unwrap());
    let scenario = run_scenario(dir.path().to_path_buf(), StoreUnderTest::Embedded, store).await;
    let blocks = block_files(&store_dir.join("blocks"));
    assert_eq!(
        blocks.len(),
        MESSAGES + 1,
        "exactly one block per message and Bob's reply, none for the refused send"
    );

    // Overwrite one stored envelope: reading it must report tampering, not decrypt.
    let cid = scenario.sent[3]["cid"].as_str().unwrap();
    let digest = hex::encode(cid::digest_of(&cid::parse(cid).unwrap()).unwrap());
    let file = blocks.iter().find(|p| p.ends_with(&digest)).unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
    let read = scenario.cli.run(BOB_KEY, &["read", "--cid", cid]).await;
    assert!(
        !read.success && read.stderr.contains("tampered"),
        "{}",
        read.stderr
    );
}

async fn run_scenario(
    data_dir: PathBuf,
    store_kind: StoreUnderTest,
    store: Arc<dyn BlobStore>,
) -> Scenario {
    let anvil = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let cli = CairnCli {
        data_dir: data_dir.clone(),
        api_url: String::new(),
        rpc_url: anvil.url.clone(),
        contract,
        store: store_kind,
    };
    let (alice, bob, carol) = (
        signer(ALICE_KEY).address(),
        signer(BOB_KEY).address(),
        signer(CAROL_KEY).address(),
    );

    // Alice uses her wallet-derived key, Bob a random keystore key: both sources.
    let created = cli.run(BOB_KEY, &["key", "new"]).await.json();
    assert_eq!(cli.run(ALICE_KEY, &["register"]).await.json()["version"], 1);
    let bob_registered = cli.run(BOB_KEY, &["register"]).await.json();
    assert_eq!(bob_registered["public"], created["public"]);

    // Carol never registered: the send is refused before anything is stored or anchored.
    let refused = cli
        .run(
            ALICE_KEY,
            &["send", "--to", &carol.to_string(), "--message", "hi"],
        )
        .await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("no registered messaging key"),
        "{}",
        refused.stderr
    );

    let mut sent = Vec::new();
    for i in 0..MESSAGES {
        let out = cli
            .run(
                ALICE_KEY,
                &[
                    "send",
                    "--to",
                    &bob.to_string(),
                    "--message",
                    &format!("message {i} for Bob"),
                ],
            )
            .await;
        sent.push(out.json());
    }

    // Read every Posted event from the chain with alloy, independently of the CLI.
    let provider = ProviderBuilder::new().connect(&anvil.url).await.unwrap();
    let filter = Filter::new()
        .address(contract)
        .event_signature(Cairn::Posted::SIGNATURE_HASH)
        .from_block(0);
    let logs = provider.get_logs(&filter).await.unwrap();
    assert_eq!(
        logs.len(),
        MESSAGES,
        "no post was anchored for the refused send"
    );

    let bob_key = keystore::load(&keystore::default_path(&data_dir, bob), || {
        Ok(crate::harness::TEST_PASSPHRASE.into())
    })
    .unwrap();
    let alice_key = wallet::derive_with_signer(&signer(ALICE_KEY))
        .await
        .unwrap();
    let stranger = SecretKey::generate(&mut rand::thread_rng());
    for (i, log) in logs.iter().enumerate() {
        let event = log.log_decode::<Cairn::Posted>().unwrap().inner.data;
        assert_eq!(event.from, alice);
        assert_eq!(event.to, bob.into_word());
        assert_eq!(event.sequence, i as u64);
        let cid = cid::cid_for_digest(event.digest);
        assert_eq!(
            sent[i]["cid"],
            cid.to_string(),
            "the CLI printed the CID the chain anchors"
        );
        assert_eq!(sent[i]["tx"], log.transaction_hash.unwrap().to_string());
        assert_eq!(sent[i]["block"], log.block_number.unwrap());

        let bytes = store.get(&cid).await.unwrap();
        let opened = envelope::open(&bytes, &bob_key).unwrap();
        assert_eq!(opened.body.text, format!("message {i} for Bob"));
        assert_eq!(opened.header.sender, alice);
        assert_eq!(
            envelope::open(&bytes, &alice_key).unwrap().body,
            opened.body,
            "sent mail stays readable"
        );
        assert_eq!(
            envelope::open(&bytes, &stranger),
            Err(EnvelopeError::NotARecipient)
        );
    }

    // The CLI's own read path: fetch, verify against the chain, decrypt.
    let last = sent.last().unwrap()["cid"].as_str().unwrap().to_string();
    let read = cli.run(BOB_KEY, &["read", "--cid", &last]).await.json();
    assert_eq!(read["text"], format!("message {} for Bob", MESSAGES - 1));
    assert_eq!(
        read["from"]
            .as_str()
            .unwrap()
            .parse::<alloy::primitives::Address>()
            .unwrap(),
        alice
    );
    let stranger_read = cli.run(CAROL_KEY, &["read", "--cid", &last]).await;
    assert!(
        !stranger_read.success
            && stranger_read.stderr.contains("none of your keys")
            && stranger_read.stderr.contains("it was sealed for"),
        "{}",
        stranger_read.stderr
    );

    // Bob answers the last one: his envelope names it, and Alice reads that.
    let answered = sent.last().unwrap()["digest"].as_str().unwrap().to_string();
    let reply = cli
        .run(
            BOB_KEY,
            &[
                "send",
                "--to",
                &alice.to_string(),
                "--message",
                "agreed",
                "--reply-to",
                &answered,
            ],
        )
        .await
        .json();
    let cid = reply["cid"].as_str().unwrap();
    let read = cli.run(ALICE_KEY, &["read", "--cid", cid]).await.json();
    assert_eq!(
        (&read["text"], &read["replyTo"]),
        (&"agreed".into(), &answered.clone().into())
    );
    let plain = cli
        .run(
            BOB_KEY,
            &["read", "--cid", sent[0]["cid"].as_str().unwrap()],
        )
        .await
        .json();
    assert_eq!(plain["replyTo"], Value::Null, "{plain}");
    Scenario {
        _anvil: anvil,
        cli,
        sent,
    }
}

fn block_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .flat_map(|p| if p.is_dir() { block_files(&p) } else { vec![p] })
        .collect()
}
