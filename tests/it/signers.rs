//! Device signers (docs/SIGNERS.md): a key a wallet authorizes once, with
//! one signature that also publishes its messaging key, signs that
//! wallet's batched posts; the gateway, the indexer and the client's own
//! check against the chain each refuse a key that was never authorized, was
//! revoked before the anchor, or had expired by it. A lying node that lists
//! such posts anyway is caught by the client.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256},
    signers::{local::PrivateKeySigner, SignerSync},
    sol_types::SolStruct,
};
use cairn::{
    chain::{sign_signer_authorization, sign_signer_revocation},
    crypto::wallet,
    gateway::{
        client::{ClientError, GatewayClient},
        registrations::{RevocationRequest, SignerRequest},
        GatewayConfig,
    },
    verify::Verifier,
};
use cairn_contracts::manifest::SignedPost;

use crate::{
    gateway::{anchor_by_hand, await_batch, invalid_reasons},
    gateway_stack::{await_anchored, outbox_db, outgoing, unix_now, Chain, Outgoing, User},
    harness::{signer, Anvil, Database, REGISTRAR_KEY},
};

/// A node with a gateway that pays for signer changes, and an indexer.
async fn gateway_and_indexer(chain: &Chain) -> (cairn::server::Node, String, (Database, Database)) {
    let (outbox, outbox_url) = outbox_db(false).await;
    let db = Database::start(false).await;
    let config = GatewayConfig {
        registrar: Some(signer(REGISTRAR_KEY)),
        ..chain.gateway_config(outbox_url)
    };
    let node = chain.node(Some(config), Some(db.url())).await;
    let api = format!("http://{}", node.addr);
    (node, api, (outbox, db))
}

/// Signs `o`'s post again with `key` (for the same `from`).
fn resigned(o: &Outgoing, key: &PrivateKeySigner, chain: &Chain) -> SignedPost {
    let hash = o.signed.post.eip712_signing_hash(&chain.domain);
    SignedPost {
        post: o.signed.post.clone(),
        signature: Some(key.sign_hash_sync(&hash).unwrap()),
    }
}

/// Authorizes `device` for `owner` until `expiry` through the gateway,
/// publishing `messaging_key` with it.
async fn authorize(
    chain: &Chain,
    gateway: &GatewayClient,
    owner: &PrivateKeySigner,
    device: Address,
    expiry: u64,
    messaging_key: B256,
) -> u64 {
    let nonce = chain.client.signer_nonce(owner.address()).await.unwrap();
    let a = sign_signer_authorization(
        owner,
        &chain.domain,
        device,
        expiry,
        messaging_key,
        nonce,
        unix_now() + 600,
    )
    .await
    .unwrap();
    gateway
        .authorize_signer(&SignerRequest::from(&a))
        .await
        .unwrap()
        .block
}

/// The batch id (`<block hash>-<log index>`) anchored by transaction `tx`.
async fn batch_id_of(chain: &Chain, tx: B256) -> String {
    use alloy::providers::Provider;
    let receipt = chain
        .client
        .provider()
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .unwrap();
    let log = &receipt.logs()[0];
    format!("{}-{}", log.block_hash.unwrap(), log.log_index.unwrap())
}

async fn latest_block_time(chain: &Chain) -> u64 {
    use alloy::providers::Provider;
    chain
        .client
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp
}

fn refused_code(e: ClientError) -> String {
    match e {
        ClientError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_device_key_signs_for_its_wallet_until_revoked_and_everyone_agrees() {
    let chain = Chain::start(1, Anvil::start().await, 1).await;
    let (node, api, _databases) = gateway_and_indexer(&chain).await;
    let gateway = GatewayClient::new(&api);

    // Carol has a fresh wallet and no ETH. One signature authorizes her
    // device key and publishes her messaging key.
    let carol = PrivateKeySigner::random();
    let carol_key = wallet::derive_with_signer(&carol).await.unwrap();
    let device = PrivateKeySigner::random();
    authorize(
        &chain,
        &gateway,
        &carol,
        device.address(),
        unix_now() + 86_400,
        carol_key.public_key().to_b256(),
    )
    .await;
    let registered = chain.client.key_of(carol.address()).await.unwrap().unwrap();
    assert_eq!(
        registered.key,
        carol_key.public_key(),
        "the key is published with the signer"
    );
    assert!(
        chain
            .client
            .signer_expiry(carol.address(), device.address())
            .await
            .unwrap()
            > unix_now()
    );
    let users = vec![
        User {
            wallet: carol.clone(),
            key: carol_key,
        },
        User {
            wallet: chain.users[0].wallet.clone(),
            key: chain.users[0].key.clone(),
        },
    ];

    // The device signs a post from Carol: accepted, anchored, delivered,
    // and verified by the client's own check.
    let first = outgoing(&users, &chain.domain, 0, 1, 1, "from Carol's phone").await;
    let by_device = resigned(&first, &device, &chain);
    let ids = gateway
        .submit(vec![cairn::gateway::submit::PostRequest::new(
            &by_device,
            Some(&first.envelope),
        )])
        .await
        .unwrap();
    let proof = await_anchored(&gateway, &ids).await.remove(0);
    let batch_id = batch_id_of(&chain, proof.tx.unwrap()).await;
    let batch = await_batch(&api, &batch_id, "delivered").await;
    assert_eq!(batch["delivered"], 1, "{batch}");
    let verifier = Verifier::new(chain.client.clone(), chain.store.clone(), None)
        .await
        .unwrap();
    let delivered_id = format!("{batch_id}-{}", proof.index.unwrap());
    let claim = verifier.resolve(&delivered_id).await.unwrap();
    assert_eq!(claim.from, carol.address());

    // A key Carol never authorized, and her device signing for someone else.
    let stranger = PrivateKeySigner::random();
    let second = outgoing(&users, &chain.domain, 0, 1, 2, "from a stranger").await;
    let by_stranger = resigned(&second, &stranger, &chain);
    let refused = gateway
        .submit(vec![cairn::gateway::submit::PostRequest::new(
            &by_stranger,
            Some(&second.envelope),
        )])
        .await
        .unwrap_err();
    assert_eq!(refused_code(refused), "signer_not_authorized");
    let for_other = outgoing(&users, &chain.domain, 1, 0, 2, "for someone else").await;
    let refused = gateway
        .submit(vec![cairn::gateway::submit::PostRequest::new(
            &resigned(&for_other, &device, &chain),
            Some(&for_other.envelope),
        )])
        .await
        .unwrap_err();
    assert_eq!(refused_code(refused), "signer_not_authorized");

    // The device revokes itself: no wallet signature. From then on the
    // gateway refuses it.
    let nonce = chain.client.signer_nonce(carol.address()).await.unwrap();
    let r = sign_signer_revocation(
        &device,
        &chain.domain,
        carol.address(),
        device.address(),
        nonce,
        unix_now() + 600,
    )
    .await
    .unwrap();
    gateway
        .revoke_signer(&RevocationRequest::from(&r))
        .await
        .unwrap();
    assert_eq!(
        chain
            .client
            .signer_expiry(carol.address(), device.address())
            .await
            .unwrap(),
        0
    );
    let third = outgoing(&users, &chain.domain, 0, 1, 3, "after the revocation").await;
    let by_revoked = resigned(&third, &device, &chain);
    let refused = gateway
        .submit(vec![cairn::gateway::submit::PostRequest::new(
            &by_revoked,
            Some(&third.envelope),
        )])
        .await
        .unwrap_err();
    assert_eq!(refused_code(refused), "signer_not_authorized");

    // A key that expires: authorized until a few seconds from now.
    let brief = PrivateKeySigner::random();
    let expiry = unix_now() + 3;
    authorize(
        &chain,
        &gateway,
        &carol,
        brief.address(),
        expiry,
        B256::ZERO,
    )
    .await;
    while latest_block_time(&chain).await <= expiry {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let fourth = outgoing(&users, &chain.domain, 0, 1, 4, "after the expiry").await;

    // A lying relayer anchors them anyway, beside a post Carol's wallet
    // signed itself. The indexer refuses each for its reason.
    let by_wallet = outgoing(&users, &chain.domain, 0, 1, 5, "signed by the wallet").await;
    for o in [&second, &third, &fourth, &by_wallet] {
        chain.store.put(o.envelope.clone().into()).await.unwrap();
    }
    let posts = vec![
        by_stranger,
        by_revoked,
        resigned(&fourth, &brief, &chain),
        by_wallet.signed.clone(),
    ];
    let (lying_batch, _) = anchor_by_hand(&chain, &posts, true).await;
    let batch = await_batch(&api, &lying_batch, "delivered").await;
    assert_eq!(
        invalid_reasons(&batch),
        [
            (0, "signer_not_authorized"),
            (1, "signer_revoked"),
            (2, "signer_expired")
        ],
        "{batch}"
    );
    assert_eq!(batch["delivered"], 1, "{batch}");

    // A node that lists them as Carol's messages is refuted by the client,
    // which replays the chain's signer logs itself. The post her device
    // signed before the revocation still holds: a revocation counts from
    // its block on.
    let fresh = Verifier::new(chain.client.clone(), chain.store.clone(), None)
        .await
        .unwrap();
    for (item, why) in [(0, "never authorized"), (1, "revoked"), (2, "expired")] {
        let err = fresh
            .resolve(&format!("{lying_batch}-{item}"))
            .await
            .unwrap_err();
        assert!(err.is_refuted(), "post {item}: {err}");
        assert!(err.to_string().contains(why), "post {item}: {err}");
    }
    assert_eq!(
        fresh
            .resolve(&format!("{lying_batch}-3"))
            .await
            .unwrap()
            .from,
        carol.address()
    );
    assert_eq!(
        fresh.resolve(&delivered_id).await.unwrap().from,
        carol.address()
    );
    node.shutdown().await.unwrap();
}

/// The CLI makes a device key, keeps it in its encrypted keystore, signs
/// with it, and revokes it, all through a gateway that pays the gas.
#[tokio::test]
async fn the_cli_keeps_a_device_signer_and_revokes_it() {
    let chain = Chain::start(1, Anvil::start().await, 1).await;
    let (node, api, _databases) = gateway_and_indexer(&chain).await;
    let wallet = PrivateKeySigner::random();
    let key = format!("0x{}", hex::encode(wallet.to_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, dir.path());
    let out = cli.run(&key, &["register", "--via-gateway", &api]).await;
    assert!(out.success, "{}", out.stderr);

    let out = cli
        .run(&key, &["signer", "new", "--via-gateway", &api])
        .await;
    assert!(out.success, "{}", out.stderr);
    let device: Address = out.json()["signer"].as_str().unwrap().parse().unwrap();
    let keystore = dir
        .path()
        .join("keys")
        .join(format!("{:#x}.signer.json", wallet.address()));
    let text = std::fs::read_to_string(&keystore).unwrap();
    assert!(
        text.contains("\"crypto\""),
        "the keystore is encrypted: {text}"
    );
    let show = cli.run(&key, &["signer", "show"]).await.json();
    assert_eq!(show["active"], true, "{show}");

    // `send --via-gateway` signs with the device key, for the wallet.
    let bob = chain.users[0].address().to_string();
    let sent = cli
        .run(
            &key,
            &[
                "send",
                "--to",
                &bob,
                "--message",
                "from the CLI's device key",
                "--via-gateway",
                &api,
            ],
        )
        .await;
    assert!(sent.success, "{}", sent.stderr);
    let sent = sent.json();
    let posts = crate::gateway_stack::anchored_batch_posts(&chain).await;
    let post = posts
        .iter()
        .find(|p| p.post.from == wallet.address())
        .expect("the post is anchored");
    let (_, signed_by) = post.signer(&chain.domain).unwrap();
    assert_eq!(signed_by, device, "{sent}");

    let out = cli
        .run(&key, &["signer", "revoke", "--via-gateway", &api])
        .await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        chain
            .client
            .signer_expiry(wallet.address(), device)
            .await
            .unwrap(),
        0
    );
    assert!(
        !keystore.exists(),
        "the revoked key's keystore is set aside"
    );
    let show = cli.run(&key, &["signer", "show"]).await.json();
    assert_eq!(show["signer"], serde_json::Value::Null, "{show}");
    node.shutdown().await.unwrap();
}

/// A device key signs in, and signs consent entries, for its wallet: the
/// node checks the contract's `signerExpiry` at the current block. A key
/// never authorized, or revoked, is refused.
#[tokio::test]
async fn a_device_key_signs_in_and_signs_consent_until_revoked() {
    use alloy::signers::Signer;
    use cairn::consent::{signing_hash, ConsentRequest};
    use cairn_indexer::store::ConsentState;

    let chain = Chain::start(2, Anvil::start().await, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), true, None).await;
    let host = node.addr.to_string();
    let api = format!("http://{host}");
    let http = reqwest::Client::new();
    let (owner, peer) = (&chain.users[0].wallet, chain.users[1].address());
    let device = PrivateKeySigner::random();
    let nonce = chain.client.signer_nonce(owner.address()).await.unwrap();
    let a = sign_signer_authorization(
        owner,
        &chain.domain,
        device.address(),
        unix_now() + 3600,
        B256::ZERO,
        nonce,
        unix_now() + 600,
    )
    .await
    .unwrap();
    chain
        .client
        .authorize_signer_by_sig(&a, false)
        .await
        .unwrap();

    let site = crate::sign_in::Site {
        api: api.clone(),
        host,
        http: http.clone(),
    };
    let sign_in = |key: PrivateKeySigner| {
        let site = &site;
        async move {
            let message = site.fresh(owner.address(), "2099-01-01T00:00:00Z").await;
            let signature = key.sign_message(message.as_bytes()).await.unwrap();
            let (status, body, cookie) = site
                .sign_in(&message, signature.as_bytes().as_slice())
                .await;
            (status, body, cookie)
        }
    };
    // Consent is sent under the session the device key opened: the node
    // then needs no indexed key registration, which may lag under load.
    let consent = |key: PrivateKeySigner, issued_at: u64, session: String| {
        let (http, api, domain) = (http.clone(), api.clone(), chain.domain.clone());
        let owner = owner.address();
        async move {
            let hash = signing_hash(owner, peer, ConsentState::Block, issued_at, &domain);
            let signature = key.sign_hash(&hash).await.unwrap();
            let request = ConsentRequest {
                owner,
                peer,
                state: ConsentState::Block,
                issued_at,
                signature: format!("0x{}", hex::encode(signature.as_bytes())),
            };
            let response = http
                .post(format!("{api}/v1/consent"))
                .header("cookie", session)
                .json(&request)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };

    let (status, body, cookie) = sign_in(device.clone()).await;
    assert_eq!(
        (status, body["signer"].as_str()),
        (200, Some("device")),
        "{body}"
    );
    let session = cookie.unwrap().split(';').next().unwrap().to_string();
    let (status, body) = consent(device.clone(), unix_now(), session.clone()).await;
    assert_eq!(
        (status, body["signer"].as_str()),
        (200, Some("device")),
        "{body}"
    );
    let stranger = PrivateKeySigner::random();
    let (status, body, _) = sign_in(stranger.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    let (status, body) = consent(stranger, unix_now() + 1, session.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );

    let nonce = chain.client.signer_nonce(owner.address()).await.unwrap();
    let r = sign_signer_revocation(
        &device,
        &chain.domain,
        owner.address(),
        device.address(),
        nonce,
        unix_now() + 600,
    )
    .await
    .unwrap();
    chain.client.revoke_signer_by_sig(&r, false).await.unwrap();
    let (status, body, _) = sign_in(device.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    let (status, body) = consent(device, unix_now() + 2, session).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    node.shutdown().await.unwrap();
}

/// Through the gateway, a device key administers its wallet's channels
/// (`POST /v1/channels/admin`) and uploads its key bundles, with no ETH; a
/// stranger's key does neither, and a change naming too many members is
/// refused before any chain call.
#[tokio::test]
async fn a_device_key_administers_channels_and_uploads_through_the_gateway() {
    use alloy::signers::Signer;

    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let (node, api, _databases) = gateway_and_indexer(&chain).await;
    let gateway = GatewayClient::new(&api);
    let (owner, member) = (&chain.users[0].wallet, chain.users[1].address());
    let device = PrivateKeySigner::random();
    authorize(
        &chain,
        &gateway,
        owner,
        device.address(),
        unix_now() + 3600,
        B256::ZERO,
    )
    .await;

    let create = |key: PrivateKeySigner, members: Vec<Address>| {
        let (api, contract) = (api.clone(), chain.contract);
        let client = chain.client.clone();
        let creator = owner.address();
        async move {
            let cairn = cairn_contracts::Cairn::new(contract, client.provider());
            let nonce = cairn.adminNonces(creator).call().await.unwrap();
            let deadline = alloy::primitives::U256::from(unix_now() + 600);
            let hash = cairn
                .hashCreateChannel(
                    creator,
                    "by device".into(),
                    members.clone(),
                    nonce,
                    deadline,
                )
                .call()
                .await
                .unwrap();
            let signature = key.sign_hash(&hash).await.unwrap();
            crate::gateway_stack::post_to(
                &format!("{api}/v1/channels/admin"),
                &serde_json::json!({"action": "create", "admin": creator, "name": "by device",
                    "members": members, "deadline": unix_now() + 600,
                    "signature": format!("0x{}", hex::encode(signature.as_bytes()))}),
            )
            .await
        }
    };
    let (status, body) = create(device.clone(), vec![member]).await;
    assert_eq!(status, 200, "{body}");
    let channel: B256 = body["channel"].as_str().unwrap().parse().unwrap();
    let state = chain.client.channel(channel).await.unwrap().unwrap();
    assert_eq!(state.members, 2, "the creator and the member");
    let (status, body) = create(PrivateKeySigner::random(), vec![member]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_signature")),
        "{body}"
    );
    let crowd: Vec<Address> = (0..257)
        .map(|_| PrivateKeySigner::random().address())
        .collect();
    let (status, body) = create(device.clone(), crowd).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("too_many_members")),
        "{body}"
    );

    // A key bundle block, uploaded under the device key's signature.
    let block = vec![7u8; 1024];
    let upload = |key: PrivateKeySigner| {
        let (api, domain, block) = (api.clone(), chain.domain.clone(), block.clone());
        let from = owner.address();
        async move {
            let headers = cairn::uploads::sign_for(&key, from, &domain, &block, unix_now() + 600)
                .await
                .unwrap();
            let mut request = reqwest::Client::new()
                .post(format!("{api}/v1/blobs"))
                .header("content-type", "application/octet-stream")
                .body(block);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = upload(PrivateKeySigner::random()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    let (status, body) = upload(device.clone()).await;
    assert_eq!(status, 201, "{body}");

    // Bad input to the signer routes: a clear 4xx, and the chain unchanged.
    let post = |path: &str, body: serde_json::Value| {
        let url = format!("{api}{path}");
        async move { crate::gateway_stack::post_to(&url, &body).await }
    };
    let owner_addr = owner.address();
    for (path, body, status, code) in [
        (
            "/v1/signers",
            serde_json::json!({"owner": owner_addr}),
            400,
            "invalid_body",
        ),
        (
            "/v1/signers/revoke",
            serde_json::json!("not an object"),
            400,
            "invalid_body",
        ),
        (
            "/v1/signers",
            serde_json::json!({"owner": owner_addr, "signer": device.address(), "expiry": unix_now() + 60,
                "deadline": unix_now() + 600, "signature": "0x0102"}),
            400,
            "bad_signature",
        ),
        (
            "/v1/signers/revoke",
            serde_json::json!({"owner": owner_addr, "signer": device.address(),
                "deadline": unix_now() + 600, "signature": format!("0x{}", "11".repeat(65))}),
            400,
            "bad_signature",
        ),
        (
            "/v1/channels/admin",
            serde_json::json!({"action": "dissolve", "admin": owner_addr}),
            400,
            "invalid_body",
        ),
    ] {
        let (got, answer) = post(path, body).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{path}: {answer}"
        );
    }
    assert!(
        chain
            .client
            .signer_expiry(owner_addr, device.address())
            .await
            .unwrap()
            > unix_now(),
        "the device is still authorized"
    );
    node.shutdown().await.unwrap();
}
