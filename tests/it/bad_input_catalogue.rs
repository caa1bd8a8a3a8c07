//! The bad-input catalogue: every class of bad input a public node meets,
//! sent to a real node running the gateway and the indexer. Each must get
//! a 4xx with its stable code and a message, never a 5xx, and must change
//! nothing: no post in the outbox, no block in the store, no message in
//! any inbox.

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use base64::Engine;
use cairn::{
    gateway::{client::sign_post, submit::PostRequest},
    store::{cid, MAX_BLOCK_SIZE},
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway_stack::{unix_now, Chain, Outgoing};
use crate::harness::Anvil;

/// One class of bad input.
struct Case {
    class: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// The stable code; empty for GraphQL refusals, whose body is GraphQL's.
    code: &'static str,
}

fn get(class: &'static str, path: impl Into<String>, status: u16, code: &'static str) -> Case {
    Case {
        class,
        method: Method::GET,
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
        status,
        code,
    }
}

fn post_json(
    class: &'static str,
    path: &str,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        class,
        method: Method::POST,
        path: path.into(),
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
        status,
        code,
    }
}

fn post_raw(
    class: &'static str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        class,
        method: Method::POST,
        path: path.into(),
        headers: vec![("content-type", content_type.into())],
        body,
        status,
        code,
    }
}

/// The request of post `o`, changed by `edit`.
fn edited(o: &Outgoing, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = serde_json::to_value(o.request()).unwrap();
    edit(&mut v);
    v
}

/// What the node holds: outbox queue, Kubo's blocks, Bob's inbox.
async fn state(
    chain: &Chain,
    node: &cairn::server::Node,
    api: &str,
    bob: Address,
) -> (usize, usize, usize) {
    let queued = node.outbox.as_ref().unwrap().queue().await.unwrap().queued;
    let blocks = chain.kubo.local_block_count().await;
    let (status, inbox) =
        crate::gateway_stack::get_json(&format!("{api}/v1/inbox/{bob}?limit=500")).await;
    let messages = inbox["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("reading the inbox answered {status} {inbox}"));
    (queued as usize, blocks, messages.len())
}

#[tokio::test]
async fn every_class_of_bad_input_gets_a_4xx_and_changes_nothing() {
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let full = chain.full_node(false).await;
    let api = full.api.clone();
    let (alice, bob) = (chain.users[0].address(), chain.users[1].address());
    let bob_text = bob.to_string();
    let flipped = {
        let i = bob_text[2..]
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap()
            + 2;
        let mut c: Vec<char> = bob_text.chars().collect();
        c[i] = if c[i].is_ascii_uppercase() {
            c[i].to_ascii_lowercase()
        } else {
            c[i].to_ascii_uppercase()
        };
        c.into_iter().collect::<String>()
    };
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let zero_hash = format!("0x{}", "00".repeat(32));
    let dag_cbor = cid::Cid::new_v1(0x71, cid::cid_for_block(b"x").hash().to_owned()).to_string();

    // One accepted post first, so that a replay of its nonce has something to hit.
    let first = chain
        .outgoing(0, 1, 1, "accepted before the catalogue")
        .await;
    let gateway = cairn::gateway::client::GatewayClient::new(&api);
    gateway.submit(vec![first.request()]).await.unwrap();
    crate::gateway_stack::await_anchored(&gateway, &[first.id(&chain.domain)]).await;
    // As long as anchoring may take: on a loaded machine delivery is slow
    // too, and the catalogue below is what this test is about.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while state(&chain, &full.node, &api, bob).await.2 < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first post never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let o = chain.outgoing(0, 1, 2, "a post to spoil").await;
    let envelope = o.envelope.clone();
    let sign = |wallet: &PrivateKeySigner, domain, to: Address, nonce, deadline| {
        let (wallet, o_digest, envelope) = (wallet.clone(), o.signed.post.digest, envelope.clone());
        async move {
            PostRequest::new(
                &sign_post(&wallet, &domain, to.into_word(), o_digest, nonce, deadline)
                    .await
                    .unwrap(),
                Some(&envelope),
            )
        }
    };
    let user0 = chain.users[0].wallet.clone();
    let later = unix_now() + 3600;
    let other_chain = cairn_contracts::eip712::domain(1, chain.contract);
    let other_contract = cairn_contracts::eip712::domain(31337, Address::repeat_byte(0x42));
    let stranger = PrivateKeySigner::random();
    let mut forged = o.request();
    forged.from = chain.users[1].address();
    let big = vec![7u8; MAX_BLOCK_SIZE + 1];
    let json = |r: PostRequest| serde_json::to_value(r).unwrap();

    let cases = vec![
        // The read API.
        get(
            "address that is not hex",
            "/v1/inbox/0x12",
            400,
            "invalid_address",
        ),
        get(
            "address failing its EIP-55 checksum",
            format!("/v1/inbox/{flipped}"),
            400,
            "invalid_checksum",
        ),
        get(
            "limit zero",
            format!("/v1/inbox/{bob}?limit=0"),
            400,
            "invalid_limit",
        ),
        get(
            "limit negative",
            format!("/v1/inbox/{bob}?limit=-1"),
            400,
            "invalid_query",
        ),
        get(
            "limit huge",
            format!("/v1/inbox/{bob}?limit=99999999999"),
            400,
            "invalid_query",
        ),
        get(
            "cursor that is not one",
            format!("/v1/inbox/{bob}?after=garbage"),
            400,
            "invalid_cursor",
        ),
        get(
            "cursor beyond 2^63",
            format!("/v1/inbox/{bob}?after={}", b64("l1:18446744073709551615:0")),
            400,
            "invalid_cursor",
        ),
        get(
            "cursor of another kind (a stream's)",
            format!("/v1/sent/{alice}?after={}", b64("s1:5")),
            400,
            "invalid_cursor",
        ),
        get(
            "message id that is not one",
            "/v1/messages/42",
            400,
            "invalid_id",
        ),
        get(
            "message id beyond 2^63",
            format!("/v1/messages/{zero_hash}-18446744073709551615"),
            400,
            "invalid_id",
        ),
        get(
            "message that does not exist",
            format!("/v1/messages/{zero_hash}-0"),
            404,
            "message_not_found",
        ),
        get(
            "batch id that is not one",
            "/v1/batches/nope",
            400,
            "invalid_id",
        ),
        get(
            "proof id that is not one",
            "/v1/proofs/nope",
            400,
            "invalid_id",
        ),
        get("route that does not exist", "/v1/nowhere", 404, "not_found"),
        get(
            "path that is not UTF-8",
            "/v1/inbox/%FF%FE",
            400,
            "invalid_request",
        ),
        Case {
            method: Method::DELETE,
            ..get(
                "method the route does not take",
                format!("/v1/inbox/{bob}"),
                405,
                "method_not_allowed",
            )
        },
        // Blocks.
        get("CID that is not one", "/ipfs/not-a-cid", 400, "invalid_cid"),
        get(
            "CID of another codec (dag-cbor)",
            format!("/ipfs/{dag_cbor}"),
            400,
            "invalid_cid",
        ),
        get(
            "path traversal in /ipfs/",
            "/ipfs/..%2F..%2Fetc%2Fpasswd",
            400,
            "invalid_cid",
        ),
        get(
            "block that is not stored",
            format!("/ipfs/{}", cid::cid_for_block(b"absent")),
            404,
            "block_not_found",
        ),
        post_raw(
            "unsigned upload",
            "/v1/blobs",
            "application/octet-stream",
            b"bytes".to_vec(),
            401,
            "upload_unsigned",
        ),
        post_raw(
            "upload as a form",
            "/v1/blobs",
            "application/x-www-form-urlencoded",
            b"a=b".to_vec(),
            415,
            "unsupported_media_type",
        ),
        post_raw(
            "upload over the body limit",
            "/v1/blobs",
            "application/octet-stream",
            vec![1; 4 * MAX_BLOCK_SIZE],
            413,
            "body_too_large",
        ),
        Case {
            headers: vec![
                ("content-type", "application/octet-stream".into()),
                ("origin", "https://evil.example".into()),
            ],
            ..post_raw(
                "upload from another site's page",
                "/v1/blobs",
                "application/octet-stream",
                b"x".to_vec(),
                403,
                "origin_not_allowed",
            )
        },
        // Signed posts.
        post_raw(
            "malformed JSON",
            "/v1/posts",
            "application/json",
            b"{\"from\":".to_vec(),
            400,
            "invalid_body",
        ),
        post_json(
            "wrong types",
            "/v1/posts",
            edited(&o, |v| v["nonce"] = json!("seven")),
            400,
            "invalid_body",
        ),
        post_json(
            "unknown field",
            "/v1/posts",
            edited(&o, |v| v["admin"] = json!(true)),
            400,
            "invalid_body",
        ),
        post_json(
            "address that is not one",
            "/v1/posts",
            edited(&o, |v| v["from"] = json!("0x12")),
            400,
            "invalid_body",
        ),
        post_json(
            "no posts",
            "/v1/posts",
            json!({"posts": []}),
            400,
            "invalid_post_count",
        ),
        post_json(
            "too many posts",
            "/v1/posts",
            json!({"posts": vec![json(o.request()); 1025]}),
            400,
            "invalid_post_count",
        ),
        post_json(
            "deadline of 2^63",
            "/v1/posts",
            json(sign(&user0, chain.domain.clone(), bob, 3, 1 << 63).await),
            400,
            "out_of_range",
        ),
        post_json(
            "zero digest",
            "/v1/posts",
            edited(&o, |v| {
                v["digest"] = json!(zero_hash);
                v.as_object_mut().unwrap().remove("envelope");
            }),
            400,
            "invalid_post",
        ),
        post_json(
            "envelope that is not base64",
            "/v1/posts",
            edited(&o, |v| v["envelope"] = json!("!!!")),
            400,
            "invalid_envelope",
        ),
        post_json(
            "truncated envelope",
            "/v1/posts",
            edited(&o, |v| {
                v["envelope"] = json!(base64::engine::general_purpose::STANDARD
                    .encode(&o.envelope[..o.envelope.len() / 2]))
            }),
            400,
            "digest_mismatch",
        ),
        post_json(
            "envelope over a block",
            "/v1/posts",
            edited(&o, |v| {
                v["envelope"] = json!(base64::engine::general_purpose::STANDARD.encode(&big))
            }),
            413,
            "envelope_too_large",
        ),
        post_json(
            "signature by someone else",
            "/v1/posts",
            json(forged),
            403,
            "signer_not_authorized",
        ),
        post_json(
            "signature for another chain",
            "/v1/posts",
            json(sign(&user0, other_chain, bob, 4, later).await),
            403,
            "signer_not_authorized",
        ),
        post_json(
            "signature for another contract",
            "/v1/posts",
            json(sign(&user0, other_contract, bob, 5, later).await),
            403,
            "signer_not_authorized",
        ),
        post_json(
            "replayed nonce",
            "/v1/posts",
            json(sign(&user0, chain.domain.clone(), bob, 1, later).await),
            409,
            "nonce_used",
        ),
        post_json(
            "expired deadline",
            "/v1/posts",
            json(sign(&user0, chain.domain.clone(), bob, 6, unix_now() - 5).await),
            400,
            "expired",
        ),
        post_json(
            "deadline too soon",
            "/v1/posts",
            // Too soon (inside the 60 s margin) yet not past, for 59 s.
            json(sign(&user0, chain.domain.clone(), bob, 7, unix_now() + 59).await),
            400,
            "deadline_too_soon",
        ),
        post_json(
            "unregistered sender",
            "/v1/posts",
            json(sign(&stranger, chain.domain.clone(), bob, 8, later).await),
            400,
            "sender_not_registered",
        ),
        post_json(
            "unregistered recipient",
            "/v1/posts",
            json(sign(&user0, chain.domain.clone(), stranger.address(), 9, later).await),
            400,
            "recipient_not_registered",
        ),
        // GraphQL.
        post_json(
            "GraphQL of 60,000 aliases",
            "/graphql",
            json!({"query": format!("{{ {} }}", (0..60_000).map(|i| format!("a{i}: key(address: \"{bob}\") {{ version }}")).collect::<Vec<_>>().join(" "))}),
            413,
            "body_too_large",
        ),
        post_json(
            "GraphQL batch",
            "/graphql",
            json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}]),
            400,
            "batch_not_supported",
        ),
        post_raw(
            "GraphQL multipart upload",
            "/graphql",
            "multipart/form-data; boundary=x",
            b"--x--\r\n".to_vec(),
            415,
            "unsupported_media_type",
        ),
        post_raw(
            "GraphQL malformed JSON",
            "/graphql",
            "application/json",
            b"{".to_vec(),
            400,
            "invalid_json",
        ),
        post_json(
            "GraphQL too complex",
            "/graphql",
            json!({"query": format!("{{ {} }}", (0..40).map(|i| format!("p{i}: inbox(address: \"{bob}\", limit: 500) {{ messages {{ id from to cid }} }}")).collect::<Vec<_>>().join(" "))}),
            400,
            "",
        ),
    ];
    assert!(
        cases.len() >= 35,
        "the catalogue has {} classes",
        cases.len()
    );

    let before = state(&chain, &full.node, &api, bob).await;
    let http = reqwest::Client::new();
    let mut wrong = Vec::new();
    for case in &cases {
        let mut request = http
            .request(case.method.clone(), format!("{api}{}", case.path))
            .body(case.body.clone());
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        // A case the node fails to answer is a wrong answer like any
        // other: listed with the rest, not a panic that hides them.
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                wrong.push(format!("{}: no answer: {err:?}", case.class));
                continue;
            }
        };
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code_ok = if case.code.is_empty() {
            body["errors"].as_array().is_some_and(|e| !e.is_empty())
        } else {
            body["code"] == case.code && body["message"].as_str().is_some_and(|m| !m.is_empty())
        };
        if status != case.status || !code_ok || status >= 500 {
            wrong.push(format!("{}: {status} {body}", case.class));
        }
    }
    // The stream validates before it upgrades.
    let ws = api.replacen("http", "ws", 1);
    for (query, code) in [
        ("", "missing_address"),
        ("?address=0x12", "invalid_address"),
        (
            "?address=0x0000000000000000000000000000000000000001&after=zz",
            "invalid_cursor",
        ),
    ] {
        match tokio_tungstenite::connect_async(format!("{ws}/v1/stream{query}")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                        .unwrap_or_default();
                if response.status() != 400 || body["code"] != code {
                    wrong.push(format!("stream {query}: {} {body}", response.status()));
                }
            }
            other => wrong.push(format!("stream {query}: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} classes answered wrong:\n{}",
        wrong.len(),
        cases.len() + 3,
        wrong.join("\n")
    );
    assert_eq!(
        state(&chain, &full.node, &api, bob).await,
        before,
        "bad input changed the node's state"
    );
    eprintln!(
        "bad-input catalogue: {} classes, each a 4xx with its code, none changed anything",
        cases.len() + 3
    );
    full.node.shutdown().await.unwrap();
}
