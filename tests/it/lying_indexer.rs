//! A client trusts no indexer. A proxy in front of a real one rewrites
//! senders and swaps blocks between messages; `cairn inbox` checks every
//! message against the chain through its own RPC and catches each lie,
//! never showing a message as from its claimed sender.

use std::{sync::Arc, time::Duration};

use alloy::primitives::{B256, U256};
use axum::{extract::State, routing::get, Json, Router};
use cairn::{
    chain::CairnClient,
    envelope::{self, Body, Header},
    gateway::client::GatewayClient,
    messenger::Messenger,
    store::cid,
};
use serde_json::{json, Value};

use crate::{
    gateway_stack::{await_anchored, Chain},
    harness::{rpc, Anvil, CairnCli, StoreUnderTest},
};

type Rewrite = Arc<dyn Fn(Value) -> Value + Send + Sync>;

/// Serves `GET /v1/inbox/{address}` from `upstream`, rewritten.
async fn lying_proxy(upstream: String, rewrite: Rewrite) -> String {
    async fn inbox(
        State((upstream, rewrite)): State<(String, Rewrite)>,
        axum::extract::Path(address): axum::extract::Path<String>,
        axum::extract::RawQuery(query): axum::extract::RawQuery,
    ) -> Json<Value> {
        let url = format!(
            "{upstream}/v1/inbox/{address}?{}",
            query.unwrap_or_default()
        );
        let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        Json(rewrite(page))
    }
    let app = Router::new()
        .route("/v1/inbox/{address}", get(inbox))
        .with_state((upstream, rewrite));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A node's JSON answer at `path`, rewritten.
pub(crate) type PathRewrite = Arc<dyn Fn(&str, Value) -> Value + Send + Sync>;

/// The frames a lying node pushes on `/v1/stream`, asked when a client connects.
pub(crate) type LyingStream = Arc<dyn Fn() -> Vec<Value> + Send + Sync>;

/// Forwards every GET to `upstream`, passing each JSON answer through
/// `rewrite` with its path: a lying node in front of a real one.
pub(crate) async fn lying_node(upstream: String, rewrite: PathRewrite) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    lying_node_on(listener, upstream, rewrite, None).await
}

/// [`lying_node`] on `listener`, forwarding every method with its body and
/// cookies (so a client signs in through it, and the session it gets is
/// real), and, given `stream`, serving `/v1/stream` itself: it claims the
/// stream is the signed-in owner's and pushes `stream`'s frames.
pub(crate) async fn lying_node_on(
    listener: tokio::net::TcpListener,
    upstream: String,
    rewrite: PathRewrite,
    stream: Option<LyingStream>,
) -> String {
    type Liar = (String, PathRewrite, Option<LyingStream>, reqwest::Client);
    async fn forward(
        State((upstream, rewrite, stream, http)): State<Liar>,
        ws: Result<
            axum::extract::WebSocketUpgrade,
            axum::extract::ws::rejection::WebSocketUpgradeRejection,
        >,
        request: axum::extract::Request,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        if let (Ok(ws), Some(stream), "/v1/stream") = (ws, stream, path.as_str()) {
            let frames = stream();
            let mut response = ws
                .on_upgrade(|mut socket| async move {
                    use axum::extract::ws::Message;
                    for frame in frames {
                        let text = frame.to_string();
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    // Held open, as a live stream is.
                    while let Some(Ok(_)) = socket.recv().await {}
                })
                .into_response();
            response.headers_mut().insert(
                cairn_indexer::api::VIEWER_HEADER,
                axum::http::HeaderValue::from_static("owner"),
            );
            return response;
        }
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
        let mut upstream_request = http.request(method, format!("{upstream}{path}{query}"));
        for name in ["cookie", "content-type", "origin"] {
            if let Some(value) = parts.headers.get(name) {
                upstream_request = upstream_request.header(name, value.as_bytes());
            }
        }
        let body = axum::body::to_bytes(body, 1 << 24).await.unwrap();
        let answer = upstream_request.body(body).send().await.unwrap();
        let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
        let cookies: Vec<_> = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        let bytes = answer.bytes().await.unwrap();
        let mut response = match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => (status, Json(rewrite(&path, value))).into_response(),
            Err(_) => (status, bytes).into_response(),
        };
        for cookie in cookies {
            response.headers_mut().append(
                "set-cookie",
                axum::http::HeaderValue::from_bytes(&cookie).unwrap(),
            );
        }
        response
    }
    let app = Router::new().fallback(forward).with_state((
        upstream,
        rewrite,
        stream,
        reqwest::Client::new(),
    ));
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    url
}

/// Runs `cairn watch --count count` with `cli` as the wallet `key`, within
/// two minutes; its JSON lines.
async fn watch_lines(cli: &CairnCli, key: &str, count: usize) -> Vec<Value> {
    let count = count.to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        cli.run(key, &["watch", "--count", &count]),
    )
    .await
    .expect("watch ended");
    assert!(out.success, "{}", out.stderr);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Gives each of `users` ETH for gas, so they post and anchor themselves.
async fn fund(chain: &Chain, users: &[&crate::gateway_stack::User]) {
    for user in users {
        rpc(
            &chain.url,
            "anvil_setBalance",
            json!([user.address(), U256::from(10u128.pow(20))]),
        )
        .await;
    }
}

/// `user`'s messenger on `chain`, sending from its own wallet.
async fn messenger_of(chain: &Chain, user: &crate::gateway_stack::User) -> Messenger {
    let client = CairnClient::connect(&chain.url, chain.contract, Some(user.wallet.clone()))
        .await
        .unwrap();
    Messenger::new(
        client,
        chain.store.clone(),
        user.wallet.address(),
        user.key.clone(),
    )
}

#[tokio::test]
async fn a_lying_indexer_is_caught_on_every_message() {
    let chain = Chain::start(3, Anvil::start().await, 1).await;
    let full = chain.full_node(false).await;
    let (alice, bob, mallory) = (&chain.users[0], &chain.users[1], &chain.users[2]);
    fund(&chain, &[alice, mallory]).await;
    let direct = |user| messenger_of(&chain, user);

    // 0: Alice to Bob, direct.
    direct(alice)
        .await
        .send(bob.address(), &Body::text("direct from alice"), &|_| {})
        .await
        .unwrap();
    // 1: Mallory to Bob, direct, in an envelope that claims Alice sent it.
    let forged = envelope::seal(
        &Header::direct(alice.address(), bob.address(), 1_800_000_000),
        &Body::text("forged as alice"),
        &[bob.key.public_key(), mallory.key.public_key()],
    )
    .unwrap();
    chain.store.put(forged.clone().into()).await.unwrap();
    direct(mallory)
        .await
        .chain()
        .post(bob.address().into_word(), cid::block_digest(&forged))
        .await
        .unwrap();
    // 2 and 3: batched, from Alice and from Mallory.
    let gateway = GatewayClient::new(&full.api);
    let mut ids = Vec::new();
    for (from, text) in [(0, "batched from alice"), (2, "batched from mallory")] {
        let o = chain.outgoing(from, 1, 1, text).await;
        ids.extend(gateway.submit(vec![o.request()]).await.unwrap());
        await_anchored(&gateway, &ids).await;
    }

    let honest_cli = |api: &str| CairnCli {
        data_dir: crate::harness::kept_dir(),
        api_url: api.to_string(),
        rpc_url: chain.url.clone(),
        contract: chain.contract,
        store: StoreUnderTest::Kubo(chain.kubo.api_url.clone()),
    };
    let bob_key = format!("0x{}", hex::encode(bob.wallet.to_bytes()));
    let inbox = |cli: CairnCli| {
        let bob_key = bob_key.clone();
        async move {
            let out = cli.run(&bob_key, &["inbox"]).await.json();
            out["messages"].as_array().unwrap().clone()
        }
    };
    // `cairn watch` on a stream that pushes the lies `rewrite` tells in a
    // listing: what it shows must be what `inbox` showed (`listed`).
    let watch_agrees = |rewrite: Rewrite, listed: Vec<Value>| {
        let (bob_key, api, honest_cli) = (bob_key.clone(), full.api.clone(), &honest_cli);
        let bob_address = bob.address();
        async move {
            let (_, honest) =
                crate::gateway_stack::get_json(&format!("{api}/v1/inbox/{bob_address}")).await;
            let frames: Vec<Value> = rewrite(honest)["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| json!({"type": "message", "cursor": m["cursor"], "message": m}))
                .collect();
            let count = frames.len();
            let stream: LyingStream = Arc::new(move || frames.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let liar = lying_node_on(listener, api, Arc::new(|_: &str, v| v), Some(stream)).await;
            let watched: Vec<Value> = watch_lines(&honest_cli(&liar), &bob_key, count)
                .await
                .into_iter()
                .map(|line| line["message"].clone())
                .collect();
            assert_eq!(watched.len(), listed.len(), "{watched:?}");
            for (w, l) in watched.iter().zip(&listed) {
                for field in ["id", "verified", "from", "text"] {
                    assert_eq!(
                        w.get(field),
                        l.get(field),
                        "watch and inbox differ on {field}: {w} / {l}"
                    );
                }
            }
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let truth = loop {
        let messages = inbox(honest_cli(&full.api)).await;
        if messages.len() == 4 && messages.iter().all(|m| m["status"] == "confirmed") {
            break messages;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "inbox never filled: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Through an honest indexer every message verifies; the forged
    // envelope is from Mallory on chain, and does not open as Alice's.
    assert!(truth.iter().all(|m| m["verified"] == true), "{truth:?}");
    let texts: Vec<&str> = truth
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        [
            "direct from alice",
            "",
            "batched from alice",
            "batched from mallory"
        ]
    );
    let lower = |v: &Value| v.as_str().unwrap_or_default().to_lowercase();
    assert_eq!(
        lower(&truth[1]["from"]),
        mallory.address().to_string().to_lowercase()
    );
    assert!(
        truth[1]["error"]
            .as_str()
            .unwrap()
            .contains("anchor mismatch"),
        "{}",
        truth[1]
    );

    // The liar swaps the blocks of messages 0 and 1, and says Mallory's
    // messages are Alice's.
    let (alice_hex, mallory_hex) = (
        alice.address().to_string(),
        lower(&json!(mallory.address().to_string())),
    );
    let rewrite: Rewrite = Arc::new(move |mut page: Value| {
        let messages = page["messages"].as_array_mut().unwrap();
        if messages.len() == 4 {
            for field in ["cid", "digest"] {
                let (a, b) = (messages[0][field].clone(), messages[1][field].clone());
                messages[0][field] = b;
                messages[1][field] = a;
            }
            for m in messages.iter_mut() {
                if m["from"].as_str().unwrap_or_default().to_lowercase() == mallory_hex {
                    m["from"] = json!(alice_hex);
                }
            }
        }
        page
    });
    let liar = lying_proxy(full.api.clone(), rewrite.clone()).await;
    let lies = inbox(honest_cli(&liar)).await;
    assert_eq!(lies.len(), 4);
    watch_agrees(rewrite, lies.clone()).await;
    let verified: Vec<bool> = lies.iter().map(|m| m["verified"] == true).collect();
    assert_eq!(verified, [false, false, true, false], "{lies:?}");
    for m in lies.iter().filter(|m| m["verified"] != true) {
        assert!(
            m.get("text").is_none(),
            "a refuted message's text is shown: {m}"
        );
        assert!(
            m.get("from").is_none(),
            "a refuted message is shown with a sender: {m}"
        );
        assert!(m["error"].as_str().unwrap().contains("contradicts"), "{m}");
    }
    assert_eq!(lies[2]["text"], "batched from alice");

    // A block the chain has never shown: the check cannot end, and a
    // message not proven shows neither text nor sender, whoever the
    // listing names.
    let unknown_block: Rewrite = Arc::new({
        let alice_hex = alice.address().to_string();
        move |mut page: Value| {
            for m in page["messages"].as_array_mut().unwrap() {
                let id = m["id"].as_str().unwrap().to_string();
                let rest = id.split_once('-').unwrap().1.to_string();
                m["id"] = json!(format!("0x{}-{rest}", "ab".repeat(32)));
                m["from"] = json!(alice_hex);
            }
            page
        }
    });
    let liar_unknown = lying_proxy(full.api.clone(), unknown_block.clone()).await;
    let unproven = inbox(honest_cli(&liar_unknown)).await;
    assert_eq!(unproven.len(), 4);
    watch_agrees(unknown_block, unproven.clone()).await;
    for m in &unproven {
        assert_eq!(m["verified"], false, "{m}");
        assert!(
            m.get("text").is_none(),
            "an unproven message's text is shown: {m}"
        );
        assert!(
            m.get("from").is_none(),
            "an unproven message is shown with a sender: {m}"
        );
    }

    // `anchorBatch` is open to anyone: Mallory anchors Alice's batch again,
    // the same signed post in a new batch, and a liar lists the copy after
    // the original. The client delivers Alice's (from, nonce) once.
    let alice_proof = await_anchored(&gateway, &ids[..1]).await.remove(0);
    let manifest = cid::parse(alice_proof.manifest_cid.as_deref().unwrap()).unwrap();
    let reanchor = || {
        let mallory = direct(mallory);
        let (root, count) = (alice_proof.root.unwrap(), alice_proof.count.unwrap());
        async move {
            let mallory = mallory.await;
            let digest = cid::digest_of(&manifest).unwrap();
            let (_, inclusion) = mallory
                .chain()
                .anchor_batch(root, digest, count)
                .await
                .unwrap();
            let filter = alloy::rpc::types::Filter::new()
                .address(mallory.chain().address())
                .at_block_hash(inclusion.block_hash);
            let logs = alloy::providers::Provider::get_logs(mallory.chain().provider(), &filter)
                .await
                .unwrap();
            let log = logs
                .iter()
                .find(|l| l.transaction_hash == Some(inclusion.tx))
                .unwrap();
            let index = alice_proof.index.unwrap();
            format!(
                "{}-{}-{index}",
                inclusion.block_hash,
                log.log_index.unwrap()
            )
        }
    };
    let alice_lower = alice.address().to_string().to_lowercase();
    let is_alices_batched =
        move |m: &Value| !m["nonce"].is_null() && lower(&m["from"]) == alice_lower;
    let replayed_as = |copy_id: String| -> Rewrite {
        let is_alices_batched = is_alices_batched.clone();
        Arc::new(move |mut page: Value| {
            let messages = page["messages"].as_array_mut().unwrap();
            if let Some(original) = messages.iter().find(|m| is_alices_batched(m)).cloned() {
                let mut copy = original;
                copy["id"] = json!(copy_id);
                messages.push(copy);
            }
            page
        })
    };
    let copy_id = reanchor().await;
    let liar = lying_proxy(full.api.clone(), replayed_as(copy_id.clone())).await;
    let replayed = inbox(honest_cli(&liar)).await;
    assert_eq!(replayed.len(), 5, "{replayed:?}");
    watch_agrees(replayed_as(copy_id.clone()), replayed.clone()).await;
    assert_eq!(replayed[2]["text"], "batched from alice");
    let copy = &replayed[4];
    assert_eq!(copy["id"], copy_id.as_str());
    assert_eq!(
        copy["verified"], false,
        "the replay is delivered again: {copy}"
    );
    assert!(copy.get("text").is_none(), "{copy}");
    assert!(copy["error"].as_str().unwrap().contains("replay"), "{copy}");
    // Remembered across runs: the same reader, asked again, still refuses
    // it, even when the listing holds the copy alone.
    let reader = honest_cli(&liar);
    let reader_dir = reader.data_dir.clone();
    let first = inbox(reader).await;
    assert_eq!(first[2]["verified"], true);
    let only_copy: Rewrite = Arc::new({
        let (copy_id, is_alices_batched) = (copy_id.clone(), is_alices_batched.clone());
        move |mut page: Value| {
            let messages = page["messages"].as_array_mut().unwrap();
            messages.retain(|m| is_alices_batched(m));
            for m in messages.iter_mut() {
                m["id"] = json!(copy_id);
            }
            page
        }
    });
    let liar_copy = lying_proxy(full.api.clone(), only_copy).await;
    let again = inbox(CairnCli {
        data_dir: reader_dir.clone(),
        ..honest_cli(&liar_copy)
    })
    .await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["verified"], false, "{again:?}");
    assert!(
        again[0]["error"].as_str().unwrap().contains("replay"),
        "{again:?}"
    );

    // Handed the copy's id (a link, say), `cairn read --id` asks the chain
    // alone, and the same reader refuses it as well.
    let read_copy = CairnCli {
        data_dir: reader_dir,
        ..honest_cli("http://127.0.0.1:9")
    }
    .run(&bob_key, &["read", "--id", &copy_id])
    .await;
    assert!(!read_copy.success, "{}", read_copy.stdout);
    assert!(read_copy.stderr.contains("replay"), "{}", read_copy.stderr);

    // Past its deadline, a post anchored again is refused by any reader,
    // even one that never saw the original.
    rpc(&chain.url, "evm_increaseTime", json!([10 * 24 * 3600])).await;
    let late_id = reanchor().await;
    let liar_late = lying_proxy(full.api.clone(), replayed_as(late_id.clone())).await;
    let late = inbox(honest_cli(&liar_late)).await;
    watch_agrees(replayed_as(late_id.clone()), late.clone()).await;
    let last = late.last().unwrap();
    assert_eq!(last["verified"], false, "{late:?}");
    assert!(last.get("text").is_none(), "{last}");
    assert!(
        last["error"].as_str().unwrap().contains("deadline"),
        "{last}"
    );

    let read_late = honest_cli("http://127.0.0.1:9")
        .run(&bob_key, &["read", "--id", &late_id])
        .await;
    assert!(!read_late.success, "{}", read_late.stdout);
    assert!(
        read_late.stderr.contains("deadline"),
        "{}",
        read_late.stderr
    );

    // `cairn read --id` reads a batched post from the chain alone.
    let batched_id = truth[2]["id"].as_str().unwrap();
    let read = honest_cli("http://127.0.0.1:9")
        .run(&bob_key, &["read", "--id", batched_id])
        .await
        .json();
    assert_eq!(read["text"], "batched from alice");
    assert_eq!(
        lower(&read["from"]),
        alice.address().to_string().to_lowercase()
    );
    // And an envelope that names another sender than the chain's is not
    // opened by id either.
    let forged_id = truth[1]["id"].as_str().unwrap();
    let read_forged = honest_cli("http://127.0.0.1:9")
        .run(&bob_key, &["read", "--id", forged_id])
        .await;
    assert!(!read_forged.success, "{}", read_forged.stdout);
    assert!(
        !read_forged.stdout.contains("forged as alice"),
        "{}",
        read_forged.stdout
    );
    full.node.shutdown().await.unwrap();
}

/// Two more lies `cairn inbox` does not believe: a message in a block that
/// a reorg removed (the node, or an RPC, may still answer its logs by
/// hash), and a batched post whose manifest the node withholds. Neither is
/// shown with its text or its claimed sender.
#[tokio::test]
async fn a_reorged_out_block_and_a_withheld_manifest_are_not_verified() {
    let chain = Chain::start(3, Anvil::start().await, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), false, None).await;
    let api = format!("http://{}", node.addr);
    let (alice, bob, mallory) = (&chain.users[0], &chain.users[1], &chain.users[2]);
    fund(&chain, &[alice, mallory]).await;
    let messenger = |user| messenger_of(&chain, user);

    // Alice's post, then a reorg that takes its block away.
    let snapshot = rpc(&chain.url, "evm_snapshot", json!([])).await;
    let sent = messenger(alice)
        .await
        .send(
            bob.address(),
            &Body::text("in a block reorged out"),
            &|_| {},
        )
        .await
        .unwrap();
    rpc(&chain.url, "evm_revert", json!([snapshot])).await;
    for _ in 0..3 {
        rpc(&chain.url, "evm_mine", json!([])).await;
    }
    // A batch whose manifest nobody is given.
    let (_, anchored) = messenger(mallory)
        .await
        .chain()
        .anchor_batch(B256::repeat_byte(1), B256::repeat_byte(2), 1)
        .await
        .unwrap();
    let receipt = rpc(
        &chain.url,
        "eth_getTransactionReceipt",
        json!([anchored.tx]),
    )
    .await;
    let batch_log = receipt["logs"][0]["logIndex"].as_str().unwrap().to_string();

    let message = |id: String, block: u64, hash: B256, log: u64, item: Option<u64>| {
        json!({
            "id": id, "from": alice.address().to_string().to_lowercase(),
            "to": bob.address().into_word().to_string(), "cid": sent.cid.to_string(),
            "digest": sent.digest.to_string(), "block": block, "blockHash": hash.to_string(),
            "tx": anchored.tx.to_string(), "logIndex": log, "sequence": 0, "item": item,
            "nonce": item.map(|_| 1), "status": "confirmed", "verification": "verified", "cursor": "0"
        })
    };
    let inclusion = &sent.anchor.inclusion;
    let batch_log = u64::from_str_radix(batch_log.trim_start_matches("0x"), 16).unwrap();
    let listed = vec![
        message(
            format!("{}-{}", inclusion.block_hash, sent.anchor.log_index),
            inclusion.block,
            inclusion.block_hash,
            sent.anchor.log_index,
            None,
        ),
        message(
            format!("{}-{batch_log}-0", anchored.block_hash),
            anchored.block,
            anchored.block_hash,
            batch_log,
            Some(0),
        ),
    ];
    let liar = crate::lying_indexer::lying_node(
        api.clone(),
        Arc::new(move |path: &str, mut page: Value| {
            if path.starts_with("/v1/inbox/") {
                page["messages"] = json!(listed.clone());
            }
            page
        }),
    )
    .await;
    let cli = CairnCli {
        data_dir: crate::harness::kept_dir(),
        api_url: liar,
        rpc_url: chain.url.clone(),
        contract: chain.contract,
        store: StoreUnderTest::Kubo(chain.kubo.api_url.clone()),
    };
    let bob_key = format!("0x{}", hex::encode(bob.wallet.to_bytes()));
    let out = cli.run(&bob_key, &["inbox"]).await.json();
    let shown = out["messages"].as_array().unwrap();
    assert_eq!(shown.len(), 2, "{out}");
    for m in shown {
        assert_eq!(m["verified"], false, "{m}");
        assert!(m.get("text").is_none(), "text shown: {m}");
        assert!(m.get("from").is_none(), "a sender shown: {m}");
    }
    assert!(
        shown[1]["error"].as_str().unwrap().contains("manifest"),
        "{}",
        shown[1]
    );
    node.shutdown().await.unwrap();
}

/// A node that lies about consent, and pushes what it likes on the stream.
/// Bob allowed Mallory, then blocked her; the node serves the older
/// "allow" in place of the "block", lists and pushes her messages, and
/// pushes one of them under Alice's name. `cairn consent`, `inbox`,
/// `requests` and `watch` keep the newest entry this machine has seen,
/// never show the blocked sender's text, and never show a sender the chain
/// did not prove.
#[tokio::test]
async fn the_cli_keeps_its_own_consent_and_believes_no_stream() {
    use std::sync::{atomic::AtomicBool, atomic::Ordering, Mutex};

    let chain = Chain::start(3, Anvil::start().await, 0).await;
    let liar_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let liar_origin = format!("http://{}", liar_listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("indexer.db").display());
    // Sign-in through the liar is real: the node's public origin is the
    // liar's address, as it would be for a node behind a hostile proxy.
    let limits = cairn::server::Limits {
        public_origins: vec![liar_origin],
        ..Default::default()
    };
    let node = chain.reader_node_on(&database, true, None, limits).await;
    let api = format!("http://{}", node.addr);
    let (alice, bob, mallory) = (&chain.users[0], &chain.users[1], &chain.users[2]);
    fund(&chain, &[alice, mallory]).await;
    for (user, text) in [(alice, "hello from alice"), (mallory, "hello from mallory")] {
        messenger_of(&chain, user)
            .await
            .send(bob.address(), &Body::text(text), &|_| {})
            .await
            .unwrap();
    }
    // Everything the node holds for Bob, consent aside: what the liar
    // lists and pushes.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let everything: Vec<Value> = loop {
        let (_, page) =
            crate::gateway_stack::get_json(&format!("{api}/v1/inbox/{}", bob.address())).await;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        if messages.len() == 2 && messages.iter().all(|m| m["status"] == "confirmed") {
            break messages;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never indexed: {page}"
        );
        // Blocks come only with transactions here: one more confirms the last.
        rpc(&chain.url, "evm_mine", json!([])).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mallory_lower = mallory.address().to_string().to_lowercase();
    let by_mallory = |m: &Value| m["from"].as_str().unwrap().to_lowercase() == mallory_lower;
    let from_mallory = everything.iter().find(|m| by_mallory(m)).unwrap().clone();
    let from_alice = everything.iter().find(|m| !by_mallory(m)).unwrap().clone();

    let lying = Arc::new(AtomicBool::new(false));
    let older_allow = Arc::new(Mutex::new(Value::Null));
    let rewrite: PathRewrite = Arc::new({
        let (lying, older_allow, everything) =
            (lying.clone(), older_allow.clone(), everything.clone());
        move |path: &str, mut page: Value| {
            if !lying.load(Ordering::SeqCst) {
                return page;
            }
            if path == "/v1/consent" {
                page["entries"] = json!([older_allow.lock().unwrap().clone()]);
            }
            if path.starts_with("/v1/inbox/") {
                page["messages"] = json!(everything);
            }
            page
        }
    });
    let mut forged = from_mallory.clone();
    forged["from"] = json!(alice.address().to_string());
    let frames: Vec<Value> = [&from_alice, &from_mallory, &forged]
        .into_iter()
        .map(|m| json!({"type": "message", "cursor": m["cursor"], "message": m}))
        .collect();
    let stream: LyingStream = Arc::new(move || frames.clone());
    let liar = lying_node_on(liar_listener, api.clone(), rewrite, Some(stream)).await;

    let bob_cli = |data_dir| CairnCli {
        data_dir,
        api_url: liar.clone(),
        rpc_url: chain.url.clone(),
        contract: chain.contract,
        store: StoreUnderTest::Kubo(chain.kubo.api_url.clone()),
    };
    let bob_key = format!("0x{}", hex::encode(bob.wallet.to_bytes()));
    let cli = bob_cli(crate::harness::kept_dir());
    let mallory_hex = mallory.address().to_string();
    cli.run(&bob_key, &["allow", &mallory_hex]).await.json();
    // The "allow" Bob signed, as the node exported it: the lie to come.
    let export = cli.run(&bob_key, &["consent"]).await.json();
    let entry = export["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["peer"].as_str().unwrap().to_lowercase() == mallory_lower)
        .unwrap()
        .clone();
    assert_eq!(entry["state"], "allow");
    *older_allow.lock().unwrap() = entry;
    let blocked = cli.run(&bob_key, &["block", &mallory_hex]).await.json();
    assert_eq!(blocked["state"], "block");
    lying.store(true, Ordering::SeqCst);

    // The export: the node serves the older "allow"; this machine's newer
    // "block" stands, and Bob is told.
    let out = cli.run(&bob_key, &["consent"]).await;
    let export = out.json();
    let entries = export["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{export}");
    assert_eq!(entries[0]["state"], "block", "{export}");
    assert!(
        out.stderr.contains("did not serve your newest entry"),
        "{}",
        out.stderr
    );
    // The node's "allow" did not move this machine's list back either.
    let again = cli.run(&bob_key, &["consent"]).await.json();
    assert_eq!(again["entries"][0]["state"], "block");

    // Listings: the node lists Mallory in Bob's inbox and requests.
    for command in ["inbox", "requests"] {
        let page = cli.run(&bob_key, &[command]).await.json();
        let shown = page["messages"].as_array().unwrap();
        assert_eq!(page["hiddenBlocked"], 1, "{command}: {page}");
        assert!(
            !page.to_string().contains("hello from mallory"),
            "{command} shows a blocked sender: {page}"
        );
        assert_eq!(shown.len(), 1, "{command}: {page}");
        assert_eq!(shown[0]["text"], "hello from alice", "{command}: {page}");
    }
    // A machine that never saw the "block" believes the node about
    // consent (never about who sent what): the list above is what hid her.
    let fresh = bob_cli(crate::harness::kept_dir())
        .run(&bob_key, &["inbox"])
        .await
        .json();
    assert!(fresh.to_string().contains("hello from mallory"), "{fresh}");

    // The stream: the liar claims it is Bob's own, pushes Mallory's
    // message, and the same message again under Alice's name.
    let lines = watch_lines(&cli, &bob_key, 3).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["type"], "message");
    assert_eq!(lines[0]["message"]["text"], "hello from alice");
    assert_eq!(lines[0]["message"]["verified"], true);
    assert_eq!(lines[1]["type"], "hidden", "{}", lines[1]);
    assert_eq!(lines[1]["reason"], "blocked");
    let forged = &lines[2]["message"];
    assert_eq!(forged["verified"], false, "{forged}");
    assert!(forged.get("text").is_none(), "{forged}");
    assert!(forged.get("from").is_none(), "{forged}");
    assert!(
        !json!(lines).to_string().contains("hello from mallory"),
        "{lines:?}"
    );
    node.shutdown().await.unwrap();
}
