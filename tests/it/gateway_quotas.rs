//! The gateway makes requests cost their senders, not the node: uploads
//! need a registered signer and stay within a quota, posts count against
//! their sender, and a request naming unregistered addresses is refused
//! after one registry lookup (none when repeated).

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use cairn::{
    gateway::{
        client::{sign_post, GatewayClient},
        quota::Rate,
        GatewayConfig,
    },
    store::cid,
    uploads,
};
use serde_json::{json, Value};

use crate::{
    gateway_stack::{await_anchored, outbox_db, post_raw, unix_now, Chain},
    harness::{Anvil, REGISTRAR_KEY},
    rpc_proxy::RpcProxy,
};

/// Request headers as (name, value).
type Headers = Vec<(&'static str, String)>;

async fn upload(
    api: &str,
    block: &[u8],
    headers: &[(&str, String)],
    content_type: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{api}/v1/blobs"))
        .header("content-type", content_type)
        .body(block.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn uploads_and_posts_cost_their_senders_not_the_node() {
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let proxy = RpcProxy::start(&chain.url).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let config = GatewayConfig {
        rpc_url: proxy.url.clone(),
        // Room for two requests of 1,024 posts, not for a third.
        posts_per_sender: Rate {
            per_second: 1,
            burst: 2_050,
        },
        upload_kib_per_sender: Rate {
            per_second: 1,
            burst: 4,
        },
        ..chain.gateway_config(outbox_url)
    };
    let node = chain.node(Some(config), None).await;
    let api = format!("http://{}", node.addr);
    let user = &chain.users[0];
    let octet = "application/octet-stream";
    let deadline = unix_now() + 600;

    // A registered wallet's signed upload is stored.
    let block = vec![1u8; 3 * 1024];
    let signed = uploads::sign(&user.wallet, &chain.domain, &block, deadline)
        .await
        .unwrap();
    let (status, stored) = upload(&api, &block, &signed, octet).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["cid"], cid::cid_for_block(&block).to_string());
    // Anyone who saw the signature can send it again until its deadline.
    // The block is stored already, so each replay is answered 200 and costs
    // nothing: 20 replays of 3 KiB against a burst of 4 KiB.
    for _ in 0..20 {
        let (status, again) = upload(&api, &block, &signed, octet).await;
        assert_eq!(
            (status, again["alreadyStored"].as_bool()),
            (200, Some(true)),
            "{again}"
        );
    }

    // Everything else is refused, and nothing of it is stored.
    let other = vec![2u8; 3 * 1024];
    let stranger = PrivateKeySigner::random();
    let cases: Vec<(&str, Headers, &str, u16, &str)> = vec![
        ("unsigned", Vec::new(), octet, 401, "upload_unsigned"),
        (
            "a form post",
            signed.to_vec(),
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (
            "signed for other bytes",
            signed.to_vec(),
            octet,
            401,
            "bad_signature",
        ),
        (
            "a stranger",
            uploads::sign(&stranger, &chain.domain, &other, deadline)
                .await
                .unwrap()
                .to_vec(),
            octet,
            403,
            "sender_not_registered",
        ),
        (
            "expired",
            uploads::sign(&user.wallet, &chain.domain, &other, unix_now() - 1)
                .await
                .unwrap()
                .to_vec(),
            octet,
            400,
            "expired",
        ),
    ];
    for (what, headers, content_type, status, code) in cases {
        let (got, body) = upload(&api, &other, &headers, content_type).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
    }
    // Over the quota: 5 KiB is more than the burst of 4 ever allows, so
    // the refusal does not depend on how long the cases above took.
    let huge = vec![3u8; 5 * 1024];
    let signed_huge = uploads::sign(&user.wallet, &chain.domain, &huge, deadline)
        .await
        .unwrap();
    let (got, body) = upload(&api, &huge, &signed_huge, octet).await;
    assert_eq!(
        (got, body["code"].as_str()),
        (429, Some("upload_quota")),
        "{body}"
    );
    assert!(!chain.store.has(&cid::cid_for_block(&other)).await.unwrap());
    assert!(!chain.store.has(&cid::cid_for_block(&huge)).await.unwrap());
    // An envelope sent inline in a signed post is an upload too: the same
    // 5 KiB is refused, and not stored.
    let inline = vec![4u8; 5 * 1024];
    let to = chain.users[1].address().into_word();
    let signed = sign_post(
        &user.wallet,
        &chain.domain,
        to,
        cid::block_digest(&inline),
        5_000,
        deadline,
    )
    .await
    .unwrap();
    let request = cairn::gateway::submit::PostRequest::new(&signed, Some(&inline));
    let (got, body) = post_raw(&api, &serde_json::to_value(request).unwrap()).await;
    assert_eq!(
        (got, body["code"].as_str()),
        (429, Some("upload_quota")),
        "{body}"
    );
    assert!(!chain.store.has(&cid::cid_for_block(&inline)).await.unwrap());

    // 1,024 posts to random recipients: refused after one registry lookup
    // for the sender and one for the first recipient, then from the cache.
    let mut posts = Vec::new();
    for nonce in 0..1_024u64 {
        let to = PrivateKeySigner::random().address().into_word();
        let signed = sign_post(
            &user.wallet,
            &chain.domain,
            to,
            B256::repeat_byte(7),
            nonce,
            deadline,
        )
        .await
        .unwrap();
        posts.push(cairn::gateway::submit::PostRequest::new(&signed, None));
    }
    let body = json!({ "posts": posts });
    for (attempt, most) in [("first", 2), ("repeated", 0)] {
        let before = proxy.calls("eth_call");
        let (status, answer) = post_raw(&api, &body).await;
        let lookups = proxy.calls("eth_call") - before;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("recipient_not_registered")),
            "{answer}"
        );
        assert!(
            lookups <= most,
            "{attempt}: {lookups} registry lookups for one request"
        );
    }

    // Posts count against their sender, accepted or not: 2,048 so far, and
    // the same 1,024 again are over the burst of 2,050 however long the
    // allowance had to refill (1 a second).
    let (status, answer) = post_raw(&api, &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (429, Some("sender_quota")),
        "{answer}"
    );

    // Retention: anchored posts are kept until their deadline has passed
    // (until then a replay could be anchored again), then forgotten.
    let gateway = GatewayClient::new(&api);
    let mut ids = Vec::new();
    let mut sent = Vec::new();
    for nonce in 0..3u64 {
        let o = chain.outgoing(1, 0, nonce, "kept, then pruned").await;
        ids.extend(gateway.submit(vec![o.request()]).await.unwrap());
        sent.push(o.request());
    }
    await_anchored(&gateway, &ids).await;

    // Anyone can resubmit a sender's anchored posts (every manifest holds
    // them). The outbox holds them already: each replay is accepted as it
    // was, says so, and costs the sender nothing. 700 replays of these
    // three are 2,100 posts, over the sender's burst of 2,050; the sender's
    // own next post is still accepted.
    let replay = json!({ "posts": sent });
    for _ in 0..700 {
        let (status, answer) = post_raw(&api, &replay).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(
            answer["alreadyHeld"].as_array().map(Vec::len),
            Some(3),
            "{answer}"
        );
    }
    let next = chain.outgoing(1, 0, 3, "after 700 replays").await;
    ids.extend(gateway.submit(vec![next.request()]).await.unwrap());
    await_anchored(&gateway, &ids[3..]).await;
    let outbox = node.outbox.clone().unwrap();
    assert_eq!(
        outbox.prune(unix_now()).await.unwrap(),
        0,
        "deadlines ahead"
    );
    let after_deadlines = unix_now() + 2 * 3600;
    assert_eq!(outbox.prune(after_deadlines).await.unwrap(), 4);
    assert!(outbox.post(ids[0]).await.unwrap().is_none());
    node.shutdown().await.unwrap();
}

/// The relayer pays to anchor every post it accepts: a post to a channel
/// that does not exist, that refuses its sender, or that is token-gated
/// (direct posts only), is refused first. The answer is cached, so a
/// repeat costs no lookup.
#[tokio::test]
async fn posts_to_a_channel_need_a_sender_who_may_post_there() {
    let chain = Chain::start(2, Anvil::start().await, 0).await;
    let proxy = RpcProxy::start(&chain.url).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let config = GatewayConfig {
        rpc_url: proxy.url.clone(),
        ..chain.gateway_config(outbox_url)
    };
    let node = chain.node(Some(config), None).await;
    let api = format!("http://{}", node.addr);
    let (outsider, member) = (&chain.users[0], &chain.users[1]);
    let deployer = crate::harness::signer(crate::harness::DEPLOYER_KEY).address();
    let (channel, _) = chain
        .client
        .create_channel(
            "council",
            &[deployer],
            &[member.address()],
            cairn::chain::Gate::MembersOnly,
        )
        .await
        .unwrap();
    let post = |wallet: PrivateKeySigner, to: B256, nonce: u64| {
        let domain = chain.domain.clone();
        async move {
            let envelope = format!("sealed for {to} #{nonce}").into_bytes();
            let signed = sign_post(
                &wallet,
                &domain,
                to,
                cid::block_digest(&envelope),
                nonce,
                unix_now() + 600,
            )
            .await
            .unwrap();
            let request = cairn::gateway::submit::PostRequest::new(&signed, Some(&envelope));
            serde_json::to_value(request).unwrap()
        }
    };

    let nowhere = B256::repeat_byte(0x42);
    let refused = [
        (
            "an outsider",
            post(outsider.wallet.clone(), channel, 1).await,
        ),
        (
            "no such channel",
            post(member.wallet.clone(), nowhere, 1).await,
        ),
    ];
    for (what, body) in &refused {
        for attempt in ["first", "repeated"] {
            let before = proxy.calls("eth_call");
            let (status, answer) = post_raw(&api, body).await;
            let lookups = proxy.calls("eth_call") - before;
            assert_eq!(
                (status, answer["code"].as_str()),
                (403, Some("not_a_channel_poster")),
                "{what}: {answer}"
            );
            if attempt == "repeated" {
                assert_eq!(lookups, 0, "{what}: a repeat is answered from the cache");
            }
        }
    }
    // A token-gated channel takes direct posts only: the contract checks
    // the balance then, and readers refuse a batched post to one.
    let token = crate::channels::fixtures::TestToken::deploy(
        crate::channels::wallet_provider(&chain.url, crate::channels::DAVE_KEY).await,
    )
    .await
    .unwrap();
    token
        .mint(member.address(), alloy::primitives::U256::from(100))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let gate = cairn::chain::Gate::Erc20 {
        token: *token.address(),
        min: alloy::primitives::U256::from(100),
    };
    let (gated, _) = chain
        .client
        .create_channel("holders", &[deployer], &[member.address()], gate)
        .await
        .unwrap();
    let (status, answer) = post_raw(&api, &post(member.wallet.clone(), gated, 3).await).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("gated_channel_takes_direct_posts")),
        "{answer}"
    );

    let (status, answer) = post_raw(&api, &post(member.wallet.clone(), channel, 2).await).await;
    assert_eq!(status, 202, "a member posts: {answer}");
    let id: B256 = answer["ids"][0].as_str().unwrap().parse().unwrap();
    let outbox = node.outbox.clone().unwrap();
    assert!(
        outbox.post(id).await.unwrap().is_some(),
        "the outbox holds it"
    );
    node.shutdown().await.unwrap();
}

/// A wallet with no ETH registers its key through a gateway that pays; a
/// replay of its signature is refused; a gateway without a registrar pays
/// for nothing.
#[tokio::test]
async fn a_wallet_without_eth_registers_through_the_gateway() {
    use crate::harness::signer;

    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let config = GatewayConfig {
        registrar: Some(signer(REGISTRAR_KEY)),
        ..chain.gateway_config(outbox_url)
    };
    let node = chain.node(Some(config), None).await;
    let api = format!("http://{}", node.addr);
    let wallet = PrivateKeySigner::random();
    let key = format!("0x{}", hex::encode(wallet.to_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, dir.path());
    let direct = cli.run(&key, &["register"]).await;
    assert!(
        direct.stderr.contains("cairn register --via-gateway"),
        "{}",
        direct.stderr
    );
    let out = cli
        .run(&key, &["register", "--via-gateway", &api])
        .await
        .json();
    assert_eq!(out["version"], 1, "{out}");
    let registered = chain
        .client
        .key_of(wallet.address())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(registered.version, 1);

    // The same signature again: the contract refuses it before any gas.
    let domain = chain.domain.clone();
    let deadline = unix_now() + 600;
    let pubkey = registered.key;
    let nonce = alloy::primitives::U256::ZERO;
    let signature = cairn::chain::sign_key_registration(
        &wallet,
        &domain,
        &pubkey,
        nonce,
        alloy::primitives::U256::from(deadline),
    )
    .await
    .unwrap();
    let body = json!({"owner": wallet.address(), "pubkey": pubkey.to_b256(), "deadline": deadline,
        "signature": format!("0x{}", hex::encode(signature.as_bytes()))});
    let response = reqwest::Client::new()
        .post(format!("{api}/v1/registrations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    node.shutdown().await.unwrap();

    // Without --registrar-key the gateway pays for nothing.
    let (_outbox, outbox_url) = outbox_db(false).await;
    let node = chain
        .node(Some(chain.gateway_config(outbox_url)), None)
        .await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/registrations", node.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "registrations_disabled");
    node.shutdown().await.unwrap();
}

/// A signed registration of a fresh key for `wallet`, as the request body.
async fn registration(
    chain: &Chain,
    wallet: &PrivateKeySigner,
    signer: &PrivateKeySigner,
) -> Value {
    let key = cairn::crypto::SecretKey::generate(&mut rand::thread_rng()).public_key();
    let nonce = chain
        .client
        .registration_nonce(wallet.address())
        .await
        .unwrap();
    let deadline = unix_now() + 600;
    let signature = cairn::chain::sign_key_registration(
        signer,
        &chain.domain,
        &key,
        nonce,
        alloy::primitives::U256::from(deadline),
    )
    .await
    .unwrap();
    json!({"owner": wallet.address(), "pubkey": key.to_b256(), "deadline": deadline,
        "signature": format!("0x{}", hex::encode(signature.as_bytes()))})
}

async fn register_raw(api: &str, body: &Value) -> (u16, Value) {
    crate::gateway_stack::post_to(&format!("{api}/v1/registrations"), body).await
}

/// The registrar pays for a few registrations per owner a day, and only
/// for ones the contract takes: signatures it refuses spend nothing of the
/// owner's. Registrations wait for their blocks side by side, not one
/// behind another.
#[tokio::test]
async fn the_registrar_pays_a_few_registrations_per_owner_and_sends_side_by_side() {
    use crate::harness::signer;

    let chain = Chain::start(0, Anvil::start().await, 2).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let config = GatewayConfig {
        registrar: Some(signer(REGISTRAR_KEY)),
        registrations_per_owner_per_day: 2,
        ..chain.gateway_config(outbox_url)
    };
    let node = chain.node(Some(config), None).await;
    let api = format!("http://{}", node.addr);

    // Six wallets at once: their transactions share blocks.
    let wallets: Vec<PrivateKeySigner> = (0..6).map(|_| PrivateKeySigner::random()).collect();
    let mut bodies = Vec::new();
    for wallet in &wallets {
        bodies.push(registration(&chain, wallet, wallet).await);
    }
    let answers =
        futures::future::join_all(bodies.iter().map(|body| register_raw(&api, body))).await;
    let mut blocks = std::collections::BTreeSet::new();
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        blocks.insert(answer["block"].as_u64().unwrap());
    }
    assert!(
        blocks.len() < wallets.len(),
        "one registration at a time: each in a block of its own ({blocks:?})"
    );

    // Signatures the contract refuses (not the owner's) spend nothing of
    // the owner's two a day...
    let owner = PrivateKeySigner::random();
    let mallory = PrivateKeySigner::random();
    for _ in 0..3 {
        let forged = registration(&chain, &owner, &mallory).await;
        let (status, answer) = register_raw(&api, &forged).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("bad_signature")),
            "{answer}"
        );
    }
    // ...which pay for a first key and one rotation, and no more.
    for version in 1..=2 {
        let (status, answer) =
            register_raw(&api, &registration(&chain, &owner, &owner).await).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["version"], version, "{answer}");
    }
    let (status, answer) = register_raw(&api, &registration(&chain, &owner, &owner).await).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (429, Some("owner_quota")),
        "{answer}"
    );
    node.shutdown().await.unwrap();
}

/// Bodies of `POST /v1/posts` are read within a budget of bytes in flight:
/// a client holding a large body open makes others wait, then answers
/// `503 busy` (with `Retry-After`), and once it lets go they are taken.
#[tokio::test]
async fn post_bodies_in_flight_are_held_to_a_budget() {
    use tokio::io::AsyncWriteExt;
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let config = GatewayConfig {
        max_request_bytes: 1 << 20,
        max_request_bytes_in_flight: 1 << 20,
        ..chain.gateway_config(outbox_url)
    };
    let node = chain.node(Some(config), None).await;
    let api = format!("http://{}", node.addr);

    // A megabyte announced, a few bytes sent, and the rest held back.
    let mut slow = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let head = format!(
        "POST /v1/posts HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"posts\": [",
        node.addr,
        1 << 20
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    // Until the node has begun reading it, a post could still go first.
    let status = format!("http://{}", node.status_addr.unwrap());
    while crate::harness::metric(&status, "cairn_gateway_body_kib_in_flight").await < Some(1024.0) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let post = chain.outgoing(0, 1, 1, "waits its turn").await;
    let body = serde_json::to_value(post.request()).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{api}/v1/posts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "busy", "{answer}");

    drop(slow);
    let (status, answer) = post_raw(&api, &body).await;
    assert_eq!(status, 202, "taken once the large body is gone: {answer}");
    node.shutdown().await.unwrap();
}

/// Two gateways on one PostgreSQL outbox share every allowance: a sender,
/// a client IP and an uploader get what one gateway would give them, not
/// twice that. (On SQLite, one gateway's memory keeps them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_on_one_outbox_share_their_allowances() {
    let chain = Chain::start(3, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(true).await;
    let config = || GatewayConfig {
        posts_per_sender: Rate {
            per_second: 1,
            burst: 4,
        },
        posts_per_ip: Rate {
            per_second: 1,
            burst: 60,
        },
        upload_kib_per_sender: Rate {
            per_second: 1,
            burst: 4,
        },
        ..chain.gateway_config(outbox_url.clone())
    };
    let (a, b) = (
        chain.node(Some(config()), None).await,
        chain.node(Some(config()), None).await,
    );
    let (a, b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let mut nonce = 1;
    let mut posts = |from: usize, n: usize| {
        let first = nonce;
        nonce += n as u64;
        let chain = &chain;
        async move {
            let mut list = Vec::new();
            for i in 0..n as u64 {
                let post = chain.outgoing(from, 2, first + i, "shared allowance").await;
                list.push(serde_json::to_value(post.request()).unwrap());
            }
            json!({ "posts": list })
        }
    };

    // The sender: 3 through A, then 2 through B is one too many; 1 is not.
    let (status, body) = post_raw(&a, &posts(0, 3).await).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_raw(&b, &posts(0, 2).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("sender_quota")),
        "{body}"
    );
    let (status, body) = post_raw(&b, &posts(0, 1).await).await;
    assert_eq!(status, 202, "{body}");

    // The client IP (this test's, 127.0.0.1) pays before any other check:
    // 6 posts so far, 40 more through A (refused for their sender, but
    // paid), and B has fewer than 40 left, where alone it would have 54.
    let (status, body) = post_raw(&a, &posts(1, 40).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("sender_quota")),
        "{body}"
    );
    let (status, body) = post_raw(&b, &posts(1, 40).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("ip_quota")),
        "{body}"
    );

    // The uploader's KiB: 3 through A, 3 more through B is over the 4.
    let user = &chain.users[1];
    let deadline = unix_now() + 600;
    let block = vec![7u8; 3 * 1024];
    let signed = uploads::sign(&user.wallet, &chain.domain, &block, deadline)
        .await
        .unwrap();
    let octet = "application/octet-stream";
    let (status, body) = upload(&a, &block, &signed, octet).await;
    assert_eq!(status, 201, "{body}");
    let other = vec![8u8; 3 * 1024];
    let signed = uploads::sign(&user.wallet, &chain.domain, &other, deadline)
        .await
        .unwrap();
    let (status, body) = upload(&b, &other, &signed, octet).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("upload_quota")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("retry in"),
        "{body}"
    );
}

/// Two gateways on one PostgreSQL outbox share one registrar key: they
/// take turns preparing and broadcasting (a lock in the database), so
/// registrations sent to both at once all land, none under a nonce the
/// other used. Without the turns, two read the same pending nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_on_one_outbox_share_a_registrar_key() {
    use crate::harness::signer;

    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(true).await;
    let config = || GatewayConfig {
        registrar: Some(signer(REGISTRAR_KEY)),
        ..chain.gateway_config(outbox_url.clone())
    };
    let (a, b) = (
        chain.node(Some(config()), None).await,
        chain.node(Some(config()), None).await,
    );
    let apis = [format!("http://{}", a.addr), format!("http://{}", b.addr)];
    let wallets: Vec<PrivateKeySigner> = (0..10).map(|_| PrivateKeySigner::random()).collect();
    let mut bodies = Vec::new();
    for wallet in &wallets {
        bodies.push(registration(&chain, wallet, wallet).await);
    }
    let answers = futures::future::join_all(
        bodies
            .iter()
            .enumerate()
            .map(|(i, body)| register_raw(&apis[i % 2], body)),
    )
    .await;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
    }
    for wallet in &wallets {
        let registered = chain.client.key_of(wallet.address()).await.unwrap();
        assert_eq!(
            registered.map(|k| k.version),
            Some(1),
            "{} is registered",
            wallet.address()
        );
    }
}
