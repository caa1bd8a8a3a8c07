//! Consent and presence against a real node, Anvil and Kubo.
//!
//! Bob allows Alice and blocks Carol with the CLI, which signs EIP-712
//! `Consent` entries with his wallet. Signed in, his inbox lists Alice,
//! his requests list strangers, and his stream never pushes Carol, while an
//! anonymous reader still sees everything on the chain. Nobody can forge or
//! replay an older entry of his, and his export checks out signature by
//! signature. Presence reaches Bob only from senders he allowed, and only
//! on connections signed in as him.

use std::time::Duration;

use alloy::primitives::Address;
use cairn::{
    consent::{signing_hash, ConsentRequest},
    read_api::{ReadApi, ReadApiError, View},
};
use cairn_indexer::store::ConsentState;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as WsMessage};

use crate::{
    gateway_stack::Chain,
    harness::{signer, Anvil, ALICE_KEY, BOB_KEY, CAROL_KEY},
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A stream of `address` from the start, with `cookie` (a session) if given.
async fn stream(api: &str, address: Address, cookie: Option<&str>) -> Socket {
    let url = format!(
        "{}/v1/stream?address={address}&after={}",
        api.replacen("http", "ws", 1),
        cairn_indexer::store::StreamCursor(0).encode()
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next JSON frame that is not a heartbeat.
async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .expect("a frame within a minute")
            .expect("the stream stays open")
            .unwrap();
        if let WsMessage::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "heartbeat" {
                return value;
            }
        }
    }
}

/// Message frames' senders, until one with `text`'s sender and sequence marker arrives.
async fn senders_until(socket: &mut Socket, last_from: &str, count_of_last: usize) -> Vec<String> {
    let mut senders = Vec::new();
    while senders.iter().filter(|s| *s == last_from).count() < count_of_last {
        let frame = next_frame(socket).await;
        if frame["type"] == "message" {
            senders.push(frame["message"]["from"].as_str().unwrap().to_string());
        }
    }
    senders
}

async fn signed_in(api: &str, key: &str) -> ReadApi {
    let mut client = ReadApi::new(api);
    client.sign_in(&signer(key), 31337).await.unwrap();
    client
}

/// Registers Alice, Bob and Carol with the CLI; returns their addresses.
async fn register_alice_bob_and_carol(
    cli: &crate::harness::CairnCli,
) -> (Address, Address, Address) {
    for key in [ALICE_KEY, BOB_KEY, CAROL_KEY] {
        let out = cli.run(key, &["register"]).await;
        assert!(out.success, "cairn register: {}", out.stderr);
    }
    (
        signer(ALICE_KEY).address(),
        signer(BOB_KEY).address(),
        signer(CAROL_KEY).address(),
    )
}

fn lower(address: Address) -> String {
    address.to_string().to_lowercase()
}

#[tokio::test]
async fn consent_narrows_the_owners_inbox_and_stream_and_gates_presence() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), true, None).await;
    let api = format!("http://{}", node.addr);
    let cli = chain.cli(&api, dir.path());
    let (alice, bob, carol) = register_alice_bob_and_carol(&cli).await;
    let send = |key: &'static str, text: &'static str| {
        let cli = &cli;
        let bob = bob.to_string();
        async move {
            let out = cli
                .run(key, &["send", "--to", &bob, "--message", text])
                .await;
            assert!(out.success, "cairn send: {}", out.stderr);
        }
    };
    send(ALICE_KEY, "from Alice, before").await;
    send(CAROL_KEY, "from Carol, a stranger").await;

    // Bob allows Alice; his inbox lists her, his requests list Carol.
    let out = cli.run(BOB_KEY, &["allow", &alice.to_string()]).await;
    assert!(out.success, "cairn allow: {}", out.stderr);
    let texts = |out: &crate::harness::CliOutput| -> Vec<String> {
        out.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Wait for both to be indexed, as anyone sees them.
    let anonymous = ReadApi::new(&api);
    for _ in 0..600 {
        if anonymous.inbox(bob, None, 50).await.unwrap().messages.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        texts(&cli.run(BOB_KEY, &["inbox"]).await),
        ["from Alice, before"]
    );
    assert_eq!(
        texts(&cli.run(BOB_KEY, &["requests"]).await),
        ["from Carol, a stranger"]
    );
    // Folders are Bob's: nobody else may ask for them.
    let refused = anonymous
        .folder(bob, View::Requests, None, 50)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ReadApiError::Api { status: 401, ref code, .. } if code == "no_session"),
        "{refused}"
    );
    let as_carol = signed_in(&api, CAROL_KEY).await;
    let refused = as_carol
        .folder(bob, View::Inbox, None, 50)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ReadApiError::Api { status: 401, .. }),
        "{refused}"
    );

    // Bob blocks Carol: she is in neither folder, and never on his stream.
    let out = cli.run(BOB_KEY, &["block", &carol.to_string()]).await;
    assert!(out.success, "cairn block: {}", out.stderr);
    assert!(texts(&cli.run(BOB_KEY, &["requests"]).await).is_empty());
    let as_bob = signed_in(&api, BOB_KEY).await;
    let mut bobs_stream = stream(&api, bob, as_bob.session_cookie()).await;
    let mut public_stream = stream(&api, bob, None).await;
    send(CAROL_KEY, "from Carol, after the block").await;
    send(ALICE_KEY, "from Alice, after").await;
    let pushed = senders_until(&mut bobs_stream, &lower(alice), 2).await;
    assert_eq!(
        pushed,
        [lower(alice), lower(alice)],
        "Carol is never pushed to Bob"
    );
    let public = senders_until(&mut public_stream, &lower(alice), 2).await;
    assert_eq!(
        public.iter().filter(|s| **s == lower(carol)).count(),
        2,
        "an anonymous stream shows what the chain holds: {public:?}"
    );
    assert_eq!(
        anonymous.inbox(bob, None, 50).await.unwrap().messages.len(),
        4
    );
    // The changes feed, for clients that poll, narrows as the stream does.
    let feed = |cookie: Option<String>| {
        let url = format!("{api}/v1/inbox/{bob}/changes");
        async move {
            let mut request = reqwest::Client::new().get(url);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie.split(';').next().unwrap());
            }
            let page: Value = request.send().await.unwrap().json().await.unwrap();
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["message"]["from"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let owners = feed(as_bob.session_cookie().map(str::to_string)).await;
    assert_eq!(
        owners,
        [lower(alice), lower(alice)],
        "Carol is not in Bob's feed"
    );
    let anyones = feed(None).await;
    assert_eq!(anyones.len(), 4, "{anyones:?}");

    // Nobody forges Bob's consent or replays an older entry of his.
    let domain = cairn_contracts::eip712::domain(31337, chain.contract);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let entry = |key: &str, state: ConsentState, issued_at: u64| {
        let hash = signing_hash(bob, carol, state, issued_at, &domain);
        let signature = alloy::signers::SignerSync::sign_hash_sync(&signer(key), &hash).unwrap();
        ConsentRequest {
            owner: bob,
            peer: carol,
            state,
            issued_at,
            signature: format!("0x{}", alloy::hex::encode(signature.as_bytes())),
        }
    };
    let refusals = [
        (
            entry(CAROL_KEY, ConsentState::Allow, now + 1),
            401,
            "bad_signature",
        ),
        (
            entry(BOB_KEY, ConsentState::Allow, now - 3600),
            409,
            "stale_consent",
        ),
        (
            entry(BOB_KEY, ConsentState::Allow, now + 3600),
            400,
            "from_the_future",
        ),
    ];
    // A wallet with no registered key and no session here may not store
    // entries (fresh wallets would grow the table without bound), however
    // well it signs them.
    let stranger = alloy::signers::local::PrivateKeySigner::random();
    let stranger_entry = {
        let hash = signing_hash(stranger.address(), carol, ConsentState::Block, now, &domain);
        let signature = alloy::signers::SignerSync::sign_hash_sync(&stranger, &hash).unwrap();
        ConsentRequest {
            owner: stranger.address(),
            peer: carol,
            state: ConsentState::Block,
            issued_at: now,
            signature: format!("0x{}", alloy::hex::encode(signature.as_bytes())),
        }
    };
    let refusals = [
        refusals.as_slice(),
        &[(stranger_entry, 401, "register_or_sign_in")],
    ]
    .concat();
    for (request, expected_status, expected_code) in refusals {
        let refused = anonymous.put_consent(&request).await.unwrap_err();
        assert!(
            matches!(refused, ReadApiError::Api { status, ref code, .. }
                if status == expected_status && code == expected_code),
            "{refused}"
        );
    }

    // The export: both entries, each signed by Bob under this contract's domain.
    let export = cli.run(BOB_KEY, &["consent"]).await;
    assert!(export.success, "cairn consent: {}", export.stderr);
    let export: Value = serde_json::from_str(&export.stdout).unwrap();
    assert_eq!(export["chainId"], 31337);
    let entries = export["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{export}");
    for e in entries {
        let peer: Address = e["peer"].as_str().unwrap().parse().unwrap();
        let state: ConsentState = serde_json::from_value(e["state"].clone()).unwrap();
        let hash = signing_hash(bob, peer, state, e["issuedAt"].as_u64().unwrap(), &domain);
        let signature: alloy::primitives::Signature =
            e["signature"].as_str().unwrap().parse().unwrap();
        assert_eq!(signature.recover_address_from_prehash(&hash).unwrap(), bob);
        let expected = if peer == alice {
            ConsentState::Allow
        } else {
            ConsentState::Block
        };
        assert_eq!(state, expected);
    }
    let no_session = anonymous.consent().await.unwrap_err();
    assert!(matches!(no_session, ReadApiError::Api { status: 401, .. }));

    // Presence: from Alice (allowed) it reaches Bob's signed-in stream; from
    // Carol (blocked) it does not; an anonymous stream cannot send any.
    let as_alice = signed_in(&api, ALICE_KEY).await;
    let mut alices = stream(&api, alice, as_alice.session_cookie()).await;
    let mut carols = stream(&api, carol, as_carol.session_cookie()).await;
    let presence = |to: Address, state: &str| {
        WsMessage::Text(
            json!({"type": "presence", "to": to, "state": state})
                .to_string()
                .into(),
        )
    };
    carols.send(presence(bob, "typing")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    alices.send(presence(bob, "typing")).await.unwrap();
    let frame = loop {
        let frame = next_frame(&mut bobs_stream).await;
        if frame["type"] == "presence" {
            break frame;
        }
    };
    assert_eq!(
        frame["from"],
        lower(alice),
        "only the allowed sender's presence: {frame}"
    );
    assert_eq!(frame["state"], "typing");
    public_stream.send(presence(alice, "online")).await.unwrap();
    let refused = loop {
        let frame = next_frame(&mut public_stream).await;
        if frame["type"] == "error" {
            break frame;
        }
    };
    assert_eq!(refused["code"], "no_session");
    node.shutdown().await.unwrap();
}

/// A TCP round-robin in front of `backends` on `port`: each connection
/// goes to the next backend, as a load balancer that is not sticky does.
async fn round_robin(port: u16, backends: Vec<std::net::SocketAddr>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut next = 0;
        while let Ok((mut client, _)) = listener.accept().await {
            let backend = backends[next % backends.len()];
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
}

/// Behind a round-robin over three nodes on one PostgreSQL, `cairn watch`
/// signs in on one node and streams from another, and the sender Bob
/// blocked is never shown: the session is the database's, and the CLI
/// refuses a stream served as anonymous. Logout closes a signed-in stream
/// (code 4401), so its consent filtering and presence end with the session.
#[tokio::test]
async fn watch_through_a_round_robin_never_shows_a_blocked_sender() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let db = crate::harness::Postgres::start().await;
    let front = crate::harness::free_port();
    let limits = cairn::server::Limits {
        public_origins: vec![format!("http://127.0.0.1:{front}")],
        ..Default::default()
    };
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            chain
                .reader_node_on(&db.url, true, None, limits.clone())
                .await,
        );
    }
    round_robin(front, nodes.iter().map(|n| n.addr).collect()).await;
    let api = format!("http://127.0.0.1:{front}");
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, dir.path());
    let (alice, bob, carol) = register_alice_bob_and_carol(&cli).await;
    let out = cli.run(BOB_KEY, &["block", &carol.to_string()]).await;
    assert!(out.success, "cairn block: {}", out.stderr);
    for round in 0..3 {
        for (key, who) in [(CAROL_KEY, "Carol"), (ALICE_KEY, "Alice")] {
            let text = format!("from {who}, {round}");
            let out = cli
                .run(key, &["send", "--to", &bob.to_string(), "--message", &text])
                .await;
            assert!(out.success, "cairn send: {}", out.stderr);
        }
    }
    // All six confirmed, as anyone sees them.
    let anonymous = ReadApi::new(&api);
    for _ in 0..600 {
        let page = anonymous.inbox(bob, None, 50).await.unwrap();
        if page.messages.len() == 6
            && page
                .messages
                .iter()
                .all(|m| m.status == cairn_indexer::store::RowStatus::Confirmed)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Three watches, one message each, resuming from the saved cursor: each
    // signs in and streams through the round-robin, so sign-in and stream
    // land on different nodes. Carol's messages come first in each round.
    let first = cairn_indexer::store::StreamCursor(0).encode();
    for round in 0..3 {
        let mut args = vec!["watch", "--count", "1"];
        if round == 0 {
            args.extend(["--after", first.as_str()]);
        }
        let out = tokio::time::timeout(Duration::from_secs(120), cli.run(BOB_KEY, &args))
            .await
            .expect("cairn watch delivers within two minutes");
        assert!(out.success, "cairn watch: {}", out.stderr);
        let frame = out.json();
        let message = &frame["message"];
        assert_eq!(message["text"], format!("from Alice, {round}"), "{frame}");
        assert_eq!(
            message["from"].as_str().unwrap().to_lowercase(),
            lower(alice)
        );
    }

    // Logout ends what the session opened: the node closes the stream.
    let as_bob = signed_in(&api, BOB_KEY).await;
    let cookie = as_bob.session_cookie().unwrap().to_string();
    let mut bobs_stream = stream(&api, bob, Some(&cookie)).await;
    let token = cookie.split(';').next().unwrap().to_string();
    let logout = reqwest::Client::new()
        .post(format!("{api}/v1/auth/logout"))
        .header("cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let closed = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(frame) = bobs_stream.next().await {
            if let Ok(WsMessage::Close(Some(close))) = frame {
                return Some(u16::from(close.code));
            }
        }
        None
    })
    .await
    .expect("the stream closes within a few heartbeats");
    assert_eq!(closed, Some(cairn_indexer::api::SESSION_ENDED));
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

/// Strangers holding every anonymous stream of Bob's address, over
/// `/v1/stream` and GraphQL alike, leave Bob's own slots free: signed in,
/// he still opens his stream, as its owner.
#[tokio::test]
async fn strangers_cannot_take_the_owners_stream_slots() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let node = chain.reader_node(dir.path(), true, None).await;
    let api = format!("http://{}", node.addr);
    let bob = signer(BOB_KEY).address();
    let url = format!("{}/v1/stream?address={bob}", api.replacen("http", "ws", 1));
    let default = cairn_indexer::api::StreamConfig::default();
    let mut strangers = Vec::new();
    for _ in 0..default.max_anonymous_per_address {
        strangers.push(stream(&api, bob, None).await);
    }
    let refused = tokio_tungstenite::connect_async(&url).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("{refused}")
    };
    assert_eq!(response.status(), 429);
    let mut graphql = crate::read_path::graphql_socket(&api).await;
    let answer = crate::hostile_http::subscribe(&mut graphql, "s", bob).await;
    assert!(answer.contains("too_many_streams"), "{answer}");

    let as_bob = signed_in(&api, BOB_KEY).await;
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", as_bob.session_cookie().unwrap().parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()[cairn_indexer::api::VIEWER_HEADER],
        "owner"
    );
    drop(strangers);
}
