//! Known-answer tests from `tests/vectors/*.json`, the contract between the
//! Rust implementation and any other (the web client reads the same files).
//!
//! Inputs are fixed bytes; the files pin the outputs. To regenerate after a
//! deliberate format change (which also needs a version bump), run
//! `CAIRN_WRITE_VECTORS=1 cargo test --test it vectors`.

use alloy::{
    primitives::{Address, B256},
    signers::{local::PrivateKeySigner, SignerSync},
};
use cairn::{
    crypto::{wallet, SecretKey},
    envelope::{self, Attachment, Body, BodyKind, Header, SealRandomness},
    store::cid,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn fixed(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn envelope_cases() -> Vec<Value> {
    let sender = Address::repeat_byte(0xa1);
    let recipient = Address::repeat_byte(0xb0);
    let cases = [
        (
            "direct-text",
            Header::direct(sender, recipient, 1_735_689_600),
            Body::text("gm, Bob"),
            2,
        ),
        (
            "reply-with-attachment",
            Header {
                reply_to: Some(B256::from(fixed("parent"))),
                ..Header::direct(sender, recipient, 1_735_689_601)
            },
            Body {
                kind: BodyKind::Message,
                text: "see attached ✓".into(),
                attachments: vec![Attachment {
                    name: "a.txt".into(),
                    data: b"abc".to_vec(),
                }],
            },
            2,
        ),
        (
            "note-to-self",
            Header::direct(sender, sender, 1_735_689_602),
            Body {
                kind: BodyKind::Reaction,
                text: "🔥".into(),
                attachments: vec![],
            },
            1,
        ),
    ];
    cases
        .into_iter()
        .map(|(name, header, body, readers)| {
            let secrets: Vec<SecretKey> = (0..readers).map(|i| SecretKey::from_bytes(fixed(&format!("{name}/reader/{i}")))).collect();
            let randomness = SealRandomness {
                content_key: fixed(&format!("{name}/content-key")).into(),
                nonce: fixed(&format!("{name}/nonce"))[..24].try_into().unwrap(),
                ephemerals: (0..readers).map(|i| SecretKey::from_bytes(fixed(&format!("{name}/ephemeral/{i}")))).collect(),
            };
            let publics: Vec<_> = secrets.iter().map(|s| s.public_key()).collect();
            let bytes = envelope::seal_with(&header, &body, &publics, &randomness).unwrap();
            json!({
                "name": name,
                "sender": header.sender, "recipient": header.recipient, "timestamp": header.timestamp,
                "replyTo": header.reply_to,
                "body": {
                    "kind": body.kind as u8, "text": body.text,
                    "attachments": body.attachments.iter().map(|a| json!({"name": a.name, "data": hex0x(&a.data)})).collect::<Vec<_>>(),
                },
                "readers": secrets.iter().map(|s| json!({"secret": hex0x(s.to_bytes()), "public": s.public_key().to_string()})).collect::<Vec<_>>(),
                "contentKey": hex0x(*randomness.content_key),
                "nonce": hex0x(randomness.nonce),
                "ephemeralSecrets": randomness.ephemerals.iter().map(|e| hex0x(e.to_bytes())).collect::<Vec<_>>(),
                "envelope": hex0x(&bytes),
                "digest": cid::block_digest(&bytes),
                "cid": cid::cid_for_block(&bytes).to_string(),
            })
        })
        .collect()
}

fn wallet_cases() -> Vec<Value> {
    ["wallet/0", "wallet/1"]
        .into_iter()
        .map(|label| {
            let signer = PrivateKeySigner::from_bytes(&B256::from(fixed(label))).unwrap();
            let message = wallet::derivation_message(signer.address());
            let signature = signer.sign_message_sync(message.as_bytes()).unwrap();
            let secret = wallet::derive_from_signature(signer.address(), &signature).unwrap();
            json!({
                "privateKey": hex0x(fixed(label)), "address": signer.address(), "message": message,
                "signature": hex0x(signature.as_bytes()),
                "x25519Secret": hex0x(secret.to_bytes()), "x25519Public": secret.public_key().to_string(),
            })
        })
        .collect()
}

fn check(file: &str, generated: Value) {
    let path = crate::harness::repo_root().join("tests/vectors").join(file);
    if std::env::var_os("CAIRN_WRITE_VECTORS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        stored, generated,
        "{file} no longer matches the implementation"
    );
}

#[test]
fn envelope_vectors_match_and_open() {
    let cases = envelope_cases();
    check("envelope-v1.json", json!({"version": 1, "cases": cases}));
    // Independently of the pinned bytes: every reader opens every case.
    for case in &cases {
        let bytes =
            hex::decode(case["envelope"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        for reader in case["readers"].as_array().unwrap() {
            let secret: [u8; 32] =
                hex::decode(reader["secret"].as_str().unwrap().trim_start_matches("0x"))
                    .unwrap()
                    .try_into()
                    .unwrap();
            let opened = envelope::open(&bytes, &SecretKey::from_bytes(secret)).unwrap();
            assert_eq!(opened.body.text, case["body"]["text"]);
        }
    }
}

#[test]
fn wallet_key_vectors_match() {
    check(
        "wallet-key-v1.json",
        json!({"version": 1, "cases": wallet_cases()}),
    );
}

/// Channel messages (kind 2) and an epoch key bundle (two parts of two),
/// from fixed keys, nonce and ephemeral randomness.
fn channel_cases() -> Value {
    use rand::SeedableRng;
    // A channel id has its top bit set, as the contract makes them.
    let mut channel = fixed("channel");
    channel[0] |= 0x80;
    let channel = B256::from(channel);
    let epoch = 3;
    let epoch_key = fixed("channel/epoch-key");
    let members: Vec<(Address, SecretKey)> = (0..4)
        .map(|i| {
            (
                Address::repeat_byte(0x10 + i),
                SecretKey::from_bytes(fixed(&format!("channel/member/{i}"))),
            )
        })
        .collect();
    let public: Vec<_> = members.iter().map(|(a, s)| (*a, s.public_key())).collect();
    let mut rng = rand::rngs::StdRng::from_seed(fixed("channel/ephemerals"));
    let bundle =
        cairn::channel::bundle::build_with(channel, epoch, &epoch_key, &public, 2, &mut rng)
            .unwrap();
    let header = Header {
        sender: members[0].0,
        recipient: channel,
        timestamp: 1_735_689_700,
        reply_to: None,
    };
    let nonce: [u8; 24] = fixed("channel/nonce")[..24].try_into().unwrap();
    let message =
        envelope::seal_channel_with(&header, epoch, &epoch_key, &Body::text("gm, DAO"), &nonce)
            .unwrap();
    json!({
        "version": 1,
        "channel": channel, "epoch": epoch, "epochKey": hex0x(epoch_key),
        "members": members.iter().map(|(a, s)| json!({"address": a, "secret": hex0x(s.to_bytes()), "public": s.public_key().to_string()})).collect::<Vec<_>>(),
        "bundle": {
            "root": hex0x(&bundle.root),
            "rootDigest": cid::block_digest(&bundle.root),
            "parts": bundle.parts.iter().map(hex0x).collect::<Vec<_>>(),
        },
        "message": {
            "sender": header.sender, "timestamp": header.timestamp, "nonce": hex0x(nonce),
            "text": "gm, DAO", "envelope": hex0x(&message), "digest": cid::block_digest(&message),
        },
    })
}

#[test]
fn channel_vectors_match_and_open() {
    let case = channel_cases();
    check("channel-v1.json", case.clone());
    // Independently of the pinned bytes: every member unwraps the epoch key
    // from the part the root names, and opens the message with it.
    let bytes = |v: &Value| hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap();
    let channel: B256 = case["channel"].as_str().unwrap().parse().unwrap();
    let root =
        cairn::channel::bundle::parse_root(&bytes(&case["bundle"]["root"]), channel, 3).unwrap();
    let parts: Vec<Vec<u8>> = case["bundle"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(bytes)
        .collect();
    for member in case["members"].as_array().unwrap() {
        let address: Address = member["address"].as_str().unwrap().parse().unwrap();
        let secret = SecretKey::from_bytes(bytes(&member["secret"]).try_into().unwrap());
        let wanted = root.part_for(address).unwrap();
        let part = parts
            .iter()
            .find(|p| cid::block_digest(p) == wanted)
            .unwrap();
        let key = cairn::channel::bundle::open_part(part, channel, 3, address, &secret).unwrap();
        assert_eq!(hex0x(*key), case["epochKey"]);
        let opened = envelope::open_channel(&bytes(&case["message"]["envelope"]), &key).unwrap();
        assert_eq!(opened.body.text, "gm, DAO");
    }
}
