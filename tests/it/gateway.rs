//! The relaying gateway end to end: signed posts through `POST /v1/posts`,
//! Merkle batches anchored on a real Anvil (a block a second), manifests in
//! a real Kubo, and the indexer delivering each batched post like a direct
//! one; against SQLite and PostgreSQL.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    signers::{local::PrivateKeySigner, Signer},
    sol_types::SolStruct,
};
use cairn::{
    envelope,
    gateway::client::{sign_post, verify_proof, ClientError, GatewayClient, ProofError},
    read_api::EventKind,
    store::{cid, MAX_BLOCK_SIZE},
};
use cairn_contracts::manifest::{self, SignedPost};
use cairn_indexer::store::RowStatus;
use futures::StreamExt;

use crate::{
    gateway_stack::{
        anchored_posts, await_anchored, outbox_db, post_raw, unix_now, Chain, Outgoing,
    },
    harness::{mine, rpc, Anvil, Database},
    read_path::StreamClient,
};

const SENDERS: usize = 10;
const PER_SENDER: usize = 100;

/// Confirmed inbox of `who`, read through the REST API.
/// Every event id in `who`'s changes feed after `after`, page by page of
/// two, and the cursor to poll from next.
async fn changes(api: &str, who: Address, after: Option<&str>) -> (Vec<String>, String) {
    let (mut ids, mut cursor) = (Vec::new(), after.unwrap_or_default().to_string());
    loop {
        let url = format!("{api}/v1/inbox/{who}/changes?limit=2&after={cursor}");
        let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        for event in page["events"].as_array().unwrap() {
            assert_eq!(event["type"], "message", "{event}");
            ids.push(event["message"]["id"].as_str().unwrap().to_string());
        }
        cursor = page["next"].as_str().unwrap().to_string();
        if page["more"] == false {
            return (ids, cursor);
        }
    }
}

async fn inbox(api: &str, who: Address) -> Vec<serde_json::Value> {
    let url = format!("{api}/v1/inbox/{who}?limit=500");
    let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    page["messages"].as_array().unwrap().clone()
}

/// Every message id of `who`'s inbox, newest first, by pages of 7 that
/// each start `before` the last one's `next`.
async fn newest_first(api: &str, who: Address) -> Vec<serde_json::Value> {
    let (mut ids, mut before) = (Vec::new(), None::<String>);
    loop {
        let url = match &before {
            None => format!("{api}/v1/inbox/{who}?order=newest&limit=7"),
            Some(cursor) => format!("{api}/v1/inbox/{who}?before={cursor}&limit=7"),
        };
        let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        ids.extend(
            page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].clone()),
        );
        if page["more"] == false {
            return ids;
        }
        before = Some(page["next"].as_str().unwrap().to_string());
    }
}

async fn thousand_posts(postgres: bool) {
    let chain = Chain::start(SENDERS, Anvil::start().await, 1).await;
    let full = chain.full_node(postgres).await;
    let api = full.api.clone();

    // Sender s writes its j-th post to one of the nine others.
    let mut outgoing: Vec<(usize, Outgoing)> = Vec::new();
    for s in 0..SENDERS {
        for j in 0..PER_SENDER {
            let r = (s + 1 + j % (SENDERS - 1)) % SENDERS;
            let text = format!("post {j} from {s} to {r}");
            outgoing.push((r, chain.outgoing(s, r, 1 + j as u64, &text).await));
        }
    }
    let mut expected: BTreeMap<usize, HashMap<String, String>> = BTreeMap::new();
    for (r, o) in &outgoing {
        expected
            .entry(*r)
            .or_default()
            .insert(o.signed.post.digest.to_string(), o.text.clone());
    }
    let mut streams = Vec::new();
    for r in 0..SENDERS {
        streams.push(StreamClient::connect(&api, chain.users[r].address(), None).await);
    }

    // Each sender submits its hundred posts as one request, all at once.
    let gateway = GatewayClient::new(&api);
    let requests = outgoing.chunks(PER_SENDER).map(|chunk| {
        let gateway = gateway.clone();
        let posts = chunk.iter().map(|(_, o)| o.request()).collect();
        async move { gateway.submit(posts).await.unwrap() }
    });
    let ids: Vec<B256> = futures::future::join_all(requests)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids.len(), SENDERS * PER_SENDER);
    let want: Vec<B256> = outgoing.iter().map(|(_, o)| o.id(&chain.domain)).collect();
    assert_eq!(ids, want, "ids are the EIP-712 signing hashes, in order");

    // Every post is anchored, and its proof holds against the chain alone.
    let proofs = await_anchored(&gateway, &ids).await;
    let verified: Vec<_> = futures::stream::iter(ids.iter().zip(&proofs))
        .map(|(id, proof)| {
            let client = chain.client.clone();
            async move { verify_proof(&client, *id, proof).await }
        })
        .buffered(16)
        .collect()
        .await;
    let mut roots = HashSet::new();
    for (id, v) in ids.iter().zip(verified) {
        let v = v.unwrap_or_else(|e| panic!("proof of {id}: {e}"));
        roots.insert(v.root);
    }
    assert!(
        roots.len() >= 4,
        "1,000 posts in batches of at most 256 need at least 4 roots, got {}",
        roots.len()
    );
    let counts = anchored_posts(&chain).await;
    assert_eq!(counts.len(), ids.len(), "every post anchored");
    assert!(counts.values().all(|&n| n == 1), "none anchored twice");

    // Each recipient's stream pushes each of its posts once, confirmed.
    for (r, stream) in streams.iter_mut().enumerate() {
        let want = &expected[&r];
        let events = stream.take(want.len()).await;
        let mut got = HashSet::new();
        for e in &events {
            assert_eq!(e.kind, EventKind::Message);
            assert_eq!(e.message.status, RowStatus::Confirmed);
            assert!(got.insert(e.message.digest.clone()), "pushed twice: {e:?}");
        }
        assert_eq!(
            got,
            want.keys().cloned().collect::<HashSet<_>>(),
            "stream of user {r}"
        );
        assert!(
            stream.next(Duration::from_millis(500)).await.is_none(),
            "no extra frame for user {r}"
        );
    }

    // Each inbox holds each post once, and each decrypts to its text.
    for (r, want) in &expected {
        let user = &chain.users[*r];
        let messages = inbox(&api, user.address()).await;
        assert_eq!(messages.len(), want.len(), "inbox of user {r}");
        // Newest first, as a chat loads it, is the same list backwards.
        let mut ids: Vec<serde_json::Value> = newest_first(&api, user.address()).await;
        ids.reverse();
        let oldest_first: Vec<_> = messages.iter().map(|m| m["id"].clone()).collect();
        assert_eq!(ids, oldest_first, "newest-first pages of user {r}");
        for m in messages {
            let digest = m["digest"].as_str().unwrap();
            let bytes = chain
                .store
                .get(&cid::parse(m["cid"].as_str().unwrap()).unwrap())
                .await
                .unwrap();
            let opened = envelope::open(&bytes, &user.key).unwrap();
            assert_eq!(opened.body.text, want[digest]);
            assert_eq!(
                m["id"].as_str().unwrap().matches('-').count(),
                2,
                "a batched post's id names its item: {m}"
            );
            assert!(m["nonce"].as_u64().is_some());
        }
    }
    full.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn thousand_posts_from_ten_senders_are_delivered_once_sqlite() {
    thousand_posts(false).await;
}

#[tokio::test]
async fn thousand_posts_from_ten_senders_are_delivered_once_postgres() {
    thousand_posts(true).await;
}

/// Expects a rejection with `status` and `code`, and that nothing of the
/// post was stored: no outbox record, no envelope block.
async fn assert_rejected(
    chain: &Chain,
    api: &str,
    body: &serde_json::Value,
    ids: &[B256],
    envelopes: &[&[u8]],
    status: u16,
    code: &str,
) -> String {
    let (got, answer) = post_raw(api, body).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(answer["code"], code, "{answer}");
    let message = answer["message"].as_str().unwrap().to_string();
    assert!(!message.is_empty());
    let gateway = GatewayClient::new(api);
    for id in ids {
        match gateway.proof(*id).await {
            Err(ClientError::Refused {
                status: 404, code, ..
            }) => assert_eq!(code, "post_not_found"),
            other => panic!("post {id} should not be stored: {other:?}"),
        }
    }
    for e in envelopes {
        assert!(
            !chain.store.has(&cid::cid_for_block(e)).await.unwrap(),
            "the envelope of a rejected post was stored"
        );
    }
    message
}

/// [`assert_rejected`] for a request holding the one post `o`.
async fn assert_post_rejected(
    chain: &Chain,
    api: &str,
    o: &Outgoing,
    status: u16,
    code: &str,
) -> String {
    let body = serde_json::to_value(o.request()).unwrap();
    assert_rejected(
        chain,
        api,
        &body,
        &[o.id(&chain.domain)],
        &[&o.envelope],
        status,
        code,
    )
    .await
}

#[tokio::test]
async fn bad_posts_are_rejected_with_a_reason_and_nothing_is_stored() {
    let chain = Chain::start(3, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let node = chain
        .node(Some(chain.gateway_config(outbox_url)), None)
        .await;
    let api = format!("http://{}", node.addr);
    let json = |o: &Outgoing| serde_json::to_value(o.request()).unwrap();
    let sign = |from: &PrivateKeySigner, digest: B256, nonce: u64, deadline: u64| {
        let domain = chain.domain.clone();
        let to = chain.users[1].address().into_word();
        let from = from.clone();
        async move {
            sign_post(&from, &domain, to, digest, nonce, deadline)
                .await
                .unwrap()
        }
    };

    // Bad signature: user 2 signs a post that claims to be from user 0.
    let mut forged = chain.outgoing(0, 1, 1, "forged").await;
    let claimed = chain.users[0].address();
    forged.signed = sign(
        &chain.users[2].wallet,
        forged.signed.post.digest,
        1,
        unix_now() + 3600,
    )
    .await;
    forged.signed.post.from = claimed;
    // Its signature recovers to user 2, who does not sign for user 0.
    let message = assert_post_rejected(&chain, &api, &forged, 403, "signer_not_authorized").await;
    assert!(message.contains(&claimed.to_string()), "{message}");

    // Expired deadline.
    let mut expired = chain.outgoing(0, 1, 2, "late").await;
    expired.signed = sign(
        &chain.users[0].wallet,
        expired.signed.post.digest,
        2,
        unix_now() - 10,
    )
    .await;
    assert_post_rejected(&chain, &api, &expired, 400, "expired").await;

    // Oversized envelope: one byte over a block.
    let big = vec![7u8; MAX_BLOCK_SIZE + 1];
    let oversized = Outgoing {
        signed: sign(
            &chain.users[0].wallet,
            cid::block_digest(&big),
            3,
            unix_now() + 3600,
        )
        .await,
        envelope: big,
        text: String::new(),
    };
    assert_post_rejected(&chain, &api, &oversized, 413, "envelope_too_large").await;

    // A deadline of 2^63 is refused at the edge, not wrapped into the past.
    let mut far = chain.outgoing(0, 1, 6, "far future").await;
    far.signed = sign(&chain.users[0].wallet, far.signed.post.digest, 6, 1 << 63).await;
    assert_post_rejected(&chain, &api, &far, 400, "out_of_range").await;

    // Sender without a registered key.
    let stranger = PrivateKeySigner::random();
    let mut unregistered = chain.outgoing(0, 1, 4, "who?").await;
    unregistered.signed = sign(
        &stranger,
        unregistered.signed.post.digest,
        4,
        unix_now() + 3600,
    )
    .await;
    assert_post_rejected(&chain, &api, &unregistered, 400, "sender_not_registered").await;

    // Replayed nonce: the first post with nonce 5 is accepted (and accepted
    // again, unchanged, if resent); another post with nonce 5 is refused.
    let first = chain.outgoing(0, 1, 5, "first").await;
    let gateway = GatewayClient::new(&api);
    let id = gateway.submit(vec![first.request()]).await.unwrap()[0];
    assert_eq!(id, first.id(&chain.domain));
    assert_eq!(
        gateway.submit(vec![first.request()]).await.unwrap(),
        vec![id]
    );
    let replay = chain.outgoing(0, 1, 5, "second").await;
    let message = assert_post_rejected(&chain, &api, &replay, 409, "nonce_used").await;
    assert!(message.contains("nonce 5"), "{message}");

    // A request is all or nothing: one bad post refuses the good ones too.
    let good = chain.outgoing(0, 1, 6, "good").await;
    let body = serde_json::json!({"posts": [json(&good), json(&forged)]});
    let message = assert_rejected(
        &chain,
        &api,
        &body,
        &[good.id(&chain.domain)],
        &[&good.envelope],
        403,
        "signer_not_authorized",
    )
    .await;
    assert!(message.starts_with("post 1:"), "{message}");

    // Malformed bodies get the same error shape.
    let (status, answer) = post_raw(&api, &serde_json::json!({"posts": []})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_post_count"))
    );
    let (status, answer) = post_raw(&api, &serde_json::json!({"from": "me"})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_body"))
    );

    // The OpenAPI document describes what this node serves, and only that.
    let doc: serde_json::Value = reqwest::get(format!("{api}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["/v1/posts", "/v1/proofs/{id}", "/ipfs/{cid}", "/v1/blobs"] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from {}",
            doc["paths"]
        );
    }
    assert!(
        doc["paths"].get("/v1/inbox/{address}").is_none(),
        "no indexer runs here"
    );

    // Operators see the gateway in /metrics, on the status listener only.
    let public = reqwest::get(format!("{api}/metrics")).await.unwrap();
    assert_eq!(public.status(), 404, "no metrics on the public port");
    let metrics = reqwest::get(format!("http://{}/metrics", node.status_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "cairn_gateway_posts_accepted_total",
        "cairn_gateway_requests_total",
        "cairn_gateway_queued_posts",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // The accepted post is the only one anchored.
    let proofs = await_anchored(&gateway, &[id]).await;
    verify_proof(&chain.client, id, &proofs[0]).await.unwrap();
    assert_eq!(anchored_posts(&chain).await.len(), 1);
    node.shutdown().await.unwrap();
}

/// `GET /v1/batches/{id}` once its resolution is `want`.
/// The (item, reason) of each invalid post a batch record lists.
pub(crate) fn invalid_reasons(batch: &serde_json::Value) -> Vec<(u64, &str)> {
    batch["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["item"].as_u64().unwrap(), p["reason"].as_str().unwrap()))
        .collect()
}

pub(crate) async fn await_batch(api: &str, id: &str, want: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = reqwest::get(format!("{api}/v1/batches/{id}"))
            .await
            .unwrap();
        if response.status().is_success() {
            let batch: serde_json::Value = response.json().await.unwrap();
            if batch["resolution"] == want {
                return batch;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "batch {id} never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Anchors `posts` as one batch from the deployer (anyone may), storing the
/// manifest only if `store_manifest`. Returns the batch id and the manifest.
pub(crate) async fn anchor_by_hand(
    chain: &Chain,
    posts: &[SignedPost],
    store_manifest: bool,
) -> (String, Vec<u8>) {
    let bytes = manifest::encode(posts).unwrap();
    if store_manifest {
        chain.store.put(bytes.clone().into()).await.unwrap();
    }
    let root = manifest::root(posts.iter().map(|p| p.signing_hash(&chain.domain))).unwrap();
    let (_, inclusion) = chain
        .client
        .anchor_batch(root, cid::block_digest(&bytes), posts.len() as u32)
        .await
        .unwrap();
    let receipt = chain
        .client
        .provider()
        .get_transaction_receipt(inclusion.tx)
        .await
        .unwrap()
        .unwrap();
    let log_index = receipt.logs()[0].log_index.unwrap();
    (format!("{}-{log_index}", inclusion.block_hash), bytes)
}

async fn forged_manifest(postgres: bool) {
    let chain = Chain::start(3, Anvil::start().await, 1).await;
    let db = Database::start(postgres).await;
    let node = chain.node(None, Some(db.url())).await;
    let api = format!("http://{}", node.addr);
    let bob = chain.users[1].address();
    let mut stream = StreamClient::connect(&api, bob, None).await;

    let valid_a = chain.outgoing(0, 1, 1, "valid from user 0").await;
    let valid_b = chain.outgoing(2, 1, 1, "valid from user 2").await;
    // Claims user 0, signed by user 2.
    let mut forged = chain.outgoing(0, 1, 2, "forged").await;
    let sig = chain.users[2]
        .wallet
        .sign_hash(&forged.signed.post.eip712_signing_hash(&chain.domain))
        .await
        .unwrap();
    forged.signed.signature = Some(sig);
    // Properly signed by a wallet that never registered a key.
    let stranger = PrivateKeySigner::random();
    let unregistered = sign_post(
        &stranger,
        &chain.domain,
        bob.into_word(),
        B256::repeat_byte(3),
        1,
        unix_now() + 3600,
    )
    .await
    .unwrap();
    // User 0's nonce 1 again, for another digest.
    let replay = chain.outgoing(0, 1, 1, "replayed nonce").await;
    for o in [&valid_a, &valid_b, &forged, &replay] {
        chain.store.put(o.envelope.clone().into()).await.unwrap();
    }
    let posts = vec![
        valid_a.signed.clone(),
        forged.signed.clone(),
        valid_b.signed.clone(),
        unregistered,
        replay.signed.clone(),
    ];
    let (batch_id, _) = anchor_by_hand(&chain, &posts, true).await;

    let batch = await_batch(&api, &batch_id, "delivered").await;
    assert_eq!(batch["count"], 5);
    assert_eq!(batch["delivered"], 2);
    assert_eq!(
        invalid_reasons(&batch),
        [
            (1, "signer_not_authorized"),
            (3, "sender_not_registered"),
            (4, "nonce_replayed")
        ]
    );
    let events = stream.take(2).await;
    let texts: Vec<String> = futures::future::join_all(events.iter().map(|e| async {
        let bytes = chain
            .store
            .get(&cid::parse(&e.message.cid).unwrap())
            .await
            .unwrap();
        envelope::open(&bytes, &chain.users[1].key)
            .unwrap()
            .body
            .text
    }))
    .await;
    assert_eq!(
        texts,
        ["valid from user 0", "valid from user 2"],
        "manifest order"
    );
    assert_eq!(events[0].message.id, format!("{batch_id}-0"));
    assert_eq!(events[1].message.id, format!("{batch_id}-2"));

    // A client that polls the changes feed has read everything so far.
    let (seen, cursor) = changes(&api, bob, None).await;
    assert_eq!(seen, [format!("{batch_id}-0"), format!("{batch_id}-2")]);

    // A batch whose manifest no store has is recorded missing, and delivered
    // once the manifest appears.
    let late = chain.outgoing(2, 1, 2, "late manifest").await;
    chain.store.put(late.envelope.clone().into()).await.unwrap();
    let (late_id, manifest_bytes) =
        anchor_by_hand(&chain, std::slice::from_ref(&late.signed), false).await;
    let missing = await_batch(&api, &late_id, "missing").await;
    assert!(
        missing["reason"].as_str().unwrap().contains("not found"),
        "{missing}"
    );
    assert!(
        stream.next(Duration::from_millis(1500)).await.is_none(),
        "nothing pushed while missing"
    );
    // A batch anchored after it, whose manifest is there, is delivered
    // first; an inbox poller's cursor moves past the late one's place.
    let after_it = chain.outgoing(0, 1, 3, "anchored after the late one").await;
    chain
        .store
        .put(after_it.envelope.clone().into())
        .await
        .unwrap();
    let (after_id, _) = anchor_by_hand(&chain, std::slice::from_ref(&after_it.signed), true).await;
    await_batch(&api, &after_id, "delivered").await;
    assert_eq!(stream.take(1).await[0].message.id, format!("{after_id}-0"));
    let inbox_cursor = inbox(&api, bob).await.last().unwrap()["cursor"].clone();

    chain.store.put(manifest_bytes.into()).await.unwrap();
    let resolved = await_batch(&api, &late_id, "delivered").await;
    assert!(resolved["attempts"].as_u64().unwrap() >= 2, "{resolved}");
    let event = stream.take(1).await.remove(0);
    assert_eq!(event.message.id, format!("{late_id}-0"));
    assert_eq!(inbox(&api, bob).await.len(), 4);
    // The inbox inserts it at its chain position, behind the poller's
    // cursor; the changes feed has it next, after the one it came after.
    let url = format!(
        "{api}/v1/inbox/{bob}?after={}",
        inbox_cursor.as_str().unwrap()
    );
    let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(page["messages"], serde_json::json!([]), "behind the cursor");
    let (seen, _) = changes(&api, bob, Some(&cursor)).await;
    assert_eq!(seen, [format!("{after_id}-0"), format!("{late_id}-0")]);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_forged_post_is_recorded_invalid_and_the_rest_delivered_sqlite() {
    forged_manifest(false).await;
}

#[tokio::test]
async fn a_forged_post_is_recorded_invalid_and_the_rest_delivered_postgres() {
    forged_manifest(true).await;
}

#[tokio::test]
async fn cli_sends_via_the_gateway_and_proves_inclusion_from_the_chain() {
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let full = chain.full_node(false).await;
    let api = full.api.clone();
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, dir.path());
    let alice_key = format!("0x{}", hex::encode(chain.users[0].wallet.to_bytes()));
    let bob_key = format!("0x{}", hex::encode(chain.users[1].wallet.to_bytes()));
    let bob = chain.users[1].address().to_string();

    let sent = cli
        .run(
            &alice_key,
            &[
                "send",
                "--to",
                &bob,
                "--message",
                "batched hello",
                "--via-gateway",
                &api,
            ],
        )
        .await
        .json();
    assert_eq!(sent["status"], "anchored", "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();

    let proof = cli
        .run(&alice_key, &["proof", &id, "--gateway", &api])
        .await
        .json();
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["tx"], sent["tx"]);
    assert_eq!(
        proof["from"].as_str().unwrap().to_lowercase(),
        chain.users[0].address().to_string().to_lowercase()
    );

    // Bob reads it from his inbox like any direct message.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let inbox = loop {
        let out = cli.run(&bob_key, &["inbox"]).await;
        if out.success && out.stdout.contains("batched hello") && out.stdout.contains("\"item\":0")
        {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not in bob's inbox: {} {}",
            out.stdout,
            out.stderr
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(inbox.success);

    // A proof that does not hold is refused: an unknown id, and a tampered proof.
    let unknown = cli
        .run(
            &alice_key,
            &[
                "proof",
                &format!("{}", B256::repeat_byte(9)),
                "--gateway",
                &api,
            ],
        )
        .await;
    assert!(!unknown.success);
    assert!(
        unknown.stderr.contains("post_not_found"),
        "{}",
        unknown.stderr
    );
    let id: B256 = id.parse().unwrap();
    let good = GatewayClient::new(&api).proof(id).await.unwrap();
    let mut other_root = good.clone();
    other_root.root = Some(B256::repeat_byte(1));
    assert!(matches!(
        verify_proof(&chain.client, id, &other_root).await,
        Err(ProofError::BadInclusion(_))
    ));
    let mut other_post = good.clone();
    other_post.post.nonce += 1;
    assert!(matches!(
        verify_proof(&chain.client, id, &other_post).await,
        Err(ProofError::WrongId { .. })
    ));
    let mut other_tx = good.clone();
    other_tx.tx = Some(B256::repeat_byte(2));
    assert!(matches!(
        verify_proof(&chain.client, id, &other_tx).await,
        Err(ProofError::NotOnChain { .. })
    ));
    full.node.shutdown().await.unwrap();
}

/// Batched posts follow their anchor through a reorg deeper than K: pushed
/// when confirmed, retracted when the anchor's block is replaced, and
/// delivered again (their nonces free again) when the batch is re-anchored.
#[tokio::test]
async fn a_reorg_retracts_batched_posts_like_direct_ones() {
    let chain = Chain::start(2, Anvil::start().await, 0).await;
    let db = Database::start(false).await;
    let node = chain.node(None, Some(db.url())).await;
    let api = format!("http://{}", node.addr);
    let bob = chain.users[1].address();
    let mut stream = StreamClient::connect(&api, bob, None).await;
    let posts = [
        chain.outgoing(0, 1, 1, "one").await,
        chain.outgoing(0, 1, 2, "two").await,
    ];
    for o in &posts {
        chain.store.put(o.envelope.clone().into()).await.unwrap();
    }
    let signed: Vec<SignedPost> = posts.iter().map(|o| o.signed.clone()).collect();

    let snapshot = rpc(&chain.url, "evm_snapshot", serde_json::json!([])).await;
    let (first, _) = anchor_by_hand(&chain, &signed, true).await;
    mine(&chain.url, 1).await;
    let pushed = stream.take(2).await;
    assert!(pushed.iter().all(|e| e.kind == EventKind::Message));
    assert_eq!(pushed[0].message.id, format!("{first}-0"));

    // Replace the anchor's block and the one on top with three others.
    rpc(&chain.url, "evm_revert", serde_json::json!([snapshot])).await;
    mine(&chain.url, 3).await;
    let retracted = stream.take(2).await;
    assert!(
        retracted.iter().all(|e| e.kind == EventKind::Retracted),
        "{retracted:?}"
    );
    assert_eq!(retracted[0].message.id, format!("{first}-0"));
    assert!(
        inbox(&api, bob).await.is_empty(),
        "retracted posts leave the inbox"
    );
    let batch = await_batch(&api, &first, "delivered").await;
    assert_eq!(batch["status"], "retracted");

    // The same signed posts, anchored again on the new chain, are delivered again.
    let (second, _) = anchor_by_hand(&chain, &signed, true).await;
    assert_ne!(first, second);
    mine(&chain.url, 1).await;
    let again = stream.take(2).await;
    assert!(again.iter().all(|e| e.kind == EventKind::Message));
    assert_eq!(again[1].message.id, format!("{second}-1"));
    assert_eq!(inbox(&api, bob).await.len(), 2);
    node.shutdown().await.unwrap();
}
