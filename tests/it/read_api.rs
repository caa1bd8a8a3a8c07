//! The read API's contract: every bad input gets a 400 with a stable code,
//! unknown things a 404, and the documents and GraphQL answer.

use std::time::Duration;

use cairn::envelope::Body;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    harness::{mine, signer, ALICE_KEY, BOB_KEY},
    read_path::{Stack, StoreChoice},
};

#[tokio::test]
async fn bad_inputs_get_400_with_stable_codes() {
    let stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let bob = signer(BOB_KEY).address();
    let cases = [
        ("/v1/inbox/0x1234".to_string(), 400, "invalid_address"),
        (
            "/v1/sent/not-an-address".to_string(),
            400,
            "invalid_address",
        ),
        (format!("/v1/inbox/{bob}?limit=0"), 400, "invalid_limit"),
        (format!("/v1/inbox/{bob}?limit=501"), 400, "invalid_limit"),
        (format!("/v1/inbox/{bob}?limit=ten"), 400, "invalid_query"),
        (
            format!("/v1/inbox/{bob}?after=garbage"),
            400,
            "invalid_cursor",
        ),
        (
            format!("/v1/inbox/{bob}?order=sideways"),
            400,
            "invalid_query",
        ),
        (
            format!("/v1/inbox/{bob}?order=newest&after=x"),
            400,
            "invalid_query",
        ),
        (
            format!("/v1/sent/{bob}?before=garbage"),
            400,
            "invalid_cursor",
        ),
        (format!("/v1/inbox/{bob}?order=newest"), 200, ""),
        ("/v1/messages/42".to_string(), 400, "invalid_id"),
        (
            format!("/v1/messages/0x{}-0", "00".repeat(32)),
            404,
            "message_not_found",
        ),
        (format!("/v1/keys/{bob}"), 404, "key_not_found"),
        // EIP-55: mixed case must carry a valid checksum; one case is fine.
        (
            format!("/v1/inbox/{}", flip_case(&bob.to_string())),
            400,
            "invalid_checksum",
        ),
        (
            format!("/v1/inbox/{}", bob.to_string().to_lowercase()),
            200,
            "",
        ),
        // Numbers beyond what the database holds are refused, not wrapped.
        (
            format!(
                "/v1/inbox/{bob}?after={}",
                forged_cursor("l1:18446744073709551615:0")
            ),
            400,
            "invalid_cursor",
        ),
        (
            format!("/v1/messages/0x{}-18446744073709551615", "00".repeat(32)),
            400,
            "invalid_id",
        ),
        (format!("/v1/inbox/{bob}?limit=-1"), 400, "invalid_query"),
        (
            format!("/v1/inbox/{bob}?limit=99999999999"),
            400,
            "invalid_query",
        ),
        // Every error is JSON, the router's own included.
        ("/v1/nowhere".to_string(), 404, "not_found"),
        ("/v1/inbox/%FF%FE".to_string(), 400, "invalid_request"),
    ];
    for (path, status, code) in cases {
        let (got, body) = stack.get(&path).await;
        if status == 200 {
            assert_eq!(got, 200, "{path}: {body}");
            continue;
        }
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/inbox/{bob}", stack.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("allow"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");

    // Pages of other sites may read (without CORS headers, the browser
    // hides the answer) but may not write or open streams.
    let evil = "https://evil.example";
    let response = http
        .post(format!("{}/v1/blobs", stack.api))
        .header("origin", evil)
        .header("content-type", "application/octet-stream")
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "origin_not_allowed");
    // Its own origin may; a page on another port of this machine is
    // another site, and may not.
    let own = stack.api.trim_end_matches('/').to_string();
    for (origin, allowed) in [
        (evil, false),
        ("http://localhost:5173", false),
        (own.as_str(), true),
    ] {
        let preflight = http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/inbox/{bob}", stack.api),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(
            preflight
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            allowed.then_some(origin),
            "{origin}"
        );
    }

    // The stream validates before upgrading, and checks the page's origin.
    let ws = stack.api.replacen("http", "ws", 1);
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("{ws}/v1/stream?address={bob}")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", "https://evil.example".parse().unwrap());
        let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
        let tokio_tungstenite::tungstenite::Error::Http(response) = err else {
            panic!("{err}")
        };
        assert_eq!(response.status(), 403);
    }
    for (query, code) in [
        ("", "missing_address"),
        ("?address=0x12", "invalid_address"),
        (
            &format!("?address={bob}&after=zz") as &str,
            "invalid_cursor",
        ),
    ] {
        let err = tokio_tungstenite::connect_async(format!("{ws}/v1/stream{query}"))
            .await
            .unwrap_err();
        let tokio_tungstenite::tungstenite::Error::Http(response) = err else {
            panic!("{err}")
        };
        assert_eq!(response.status(), 400);
        let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
        assert_eq!(body["code"], code);
    }
}

/// `address` with the case of its first letter flipped, which breaks its checksum.
fn flip_case(address: &str) -> String {
    let i = address[2..]
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap()
        + 2;
    let mut chars: Vec<char> = address.chars().collect();
    chars[i] = if chars[i].is_ascii_uppercase() {
        chars[i].to_ascii_lowercase()
    } else {
        chars[i].to_ascii_uppercase()
    };
    chars.into_iter().collect()
}

/// A cursor as a client could forge it.
fn forged_cursor(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn keys_documents_and_graphql() {
    let stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    alice.send(bob, &Body::text("gm"), &|_| {}).await.unwrap();
    mine(&stack.anvil.url, 2).await;
    stack.await_inbox(bob, 1, "confirmed").await;

    let (status, key) = stack.get(&format!("/v1/keys/{bob}")).await;
    assert_eq!(
        (status, key["version"].as_u64(), key["status"].as_str()),
        (200, Some(1), Some("confirmed"))
    );
    let (status, sent) = stack
        .get(&format!("/v1/sent/{}", signer(ALICE_KEY).address()))
        .await;
    assert_eq!(
        (status, sent["messages"].as_array().map(Vec::len)),
        (200, Some(1))
    );

    let (status, doc) = stack.get("/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/v1/inbox/{address}",
        "/v1/sent/{address}",
        "/v1/messages/{id}",
        "/v1/keys/{address}",
        "/v1/batches/{id}",
        "/ipfs/{cid}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let (status, health) = stack.get("/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert!(health["indexed"].as_u64().is_some());

    let http = reqwest::Client::new();
    let query = json!({"query": format!("{{ inbox(address: \"{bob}\") {{ more messages {{ from status verification }} }} key(address: \"{bob}\") {{ version }} }}")});
    let reply = graphql(&stack, &query).await;
    assert_eq!(
        reply["data"]["inbox"]["messages"][0]["status"], "CONFIRMED",
        "{reply}"
    );
    assert_eq!(reply["data"]["key"]["version"], 1);
    let bad = json!({"query": "{ inbox(address: \"0x12\") { more } }"});
    let reply = graphql(&stack, &bad).await;
    assert_eq!(
        reply["errors"][0]["extensions"]["code"], "invalid_address",
        "{reply}"
    );
    let schema = graphql(
        &stack,
        &json!({"query": "{ __type(name: \"Message\") { fields { name type { name } } } }"}),
    )
    .await;
    let nonce = schema["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "nonce")
        .cloned()
        .unwrap();
    assert_eq!(
        nonce["type"]["name"], "String",
        "a 64-bit nonce is no GraphQL Int"
    );
    let graphiql = http
        .get(format!("{}/graphql", stack.api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        graphiql.contains("graphiql"),
        "GraphiQL is served in the browser"
    );
}

/// A request the server refuses ends `cairn watch` with its reason; it is
/// not retried forever.
#[tokio::test]
async fn cli_watch_stops_on_a_permanent_error() {
    let stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    stack.messenger(BOB_KEY).await;
    let cli = stack.cli();
    let run = cli.run(BOB_KEY, &["watch", "--after", "bogus"]);
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("watch gave up instead of retrying");
    assert!(!out.success);
    assert!(out.stderr.contains("invalid_cursor"), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("invalid cursor").count(),
        1,
        "the cause is said once: {}",
        out.stderr
    );
}

/// Drops every stream connection: stops the node, has `alice` send
/// `<what> 0` and `<what> 1` to `bob` (confirmed), then starts the node
/// again on the same address.
async fn send_while_the_node_is_down(
    stack: &mut Stack,
    alice: &cairn::messenger::Messenger,
    bob: alloy::primitives::Address,
    what: &str,
) {
    let node = stack.node.take().unwrap();
    let addr = node.addr;
    node.shutdown().await.unwrap();
    for i in 0..2 {
        alice
            .send(bob, &Body::text(format!("{what} {i}")), &|_| {})
            .await
            .unwrap();
    }
    mine(&stack.anvil.url, 2).await;
    stack.start_node_at(addr, 2).await;
}

/// `cairn watch` decrypts live, and resumes after the server goes away and
/// comes back, printing every message exactly once.
#[tokio::test]
async fn cli_watch_resumes_after_a_dropped_connection() {
    let mut stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    let cli = stack.cli();
    let mut watch = cli.command(BOB_KEY, &["watch", "--count", "4"]);
    watch
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = watch.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let connected = async {
        loop {
            let line = stderr.next_line().await.unwrap().expect("watch exited");
            eprintln!("watch: {line}");
            if line.starts_with("watching") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), connected)
        .await
        .expect("watch connected");

    for i in 0..2 {
        alice
            .send(bob, &Body::text(format!("before restart {i}")), &|_| {})
            .await
            .unwrap();
    }
    mine(&stack.anvil.url, 2).await;
    stack.await_inbox(bob, 2, "confirmed").await;

    send_while_the_node_is_down(&mut stack, &alice, bob, "after restart").await;

    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("watch finished")
        .unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines
        .iter()
        .map(|l| l["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "before restart 0",
            "before restart 1",
            "after restart 0",
            "after restart 1"
        ]
    );
}

/// The GraphQL subscription pushes confirmed messages (graphql-transport-ws).
#[tokio::test]
async fn graphql_subscription_pushes_confirmed_messages() {
    let stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();

    let mut socket = crate::read_path::graphql_socket(&stack.api).await;
    let query = format!(
        "subscription {{ messages(address: \"{bob}\") {{ type message {{ status digest }} }} }}"
    );
    crate::read_path::start_operation(&mut socket, "1", &query)
        .await
        .unwrap();
    // Let the subscription start before the message is sent (it starts from now).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sent = alice
        .send(bob, &Body::text("over graphql"), &|_| {})
        .await
        .unwrap();
    mine(&stack.anvil.url, 2).await;
    let next = read_json(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    let event = &next["payload"]["data"]["messages"];
    assert_eq!(event["type"], "MESSAGE");
    assert_eq!(event["message"]["status"], "CONFIRMED");
    assert_eq!(event["message"]["digest"], sent.digest.to_string());
}

async fn read_json(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    use futures::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn graphql(stack: &Stack, query: &Value) -> Value {
    let url = format!("{}/graphql", stack.api);
    let response = reqwest::Client::new()
        .post(url)
        .json(query)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// A `cairn watch` with no saved cursor starts "from now". The stream's
/// first frame names that place, so when the connection drops before any
/// message, the messages confirmed while it was away still come, once.
#[tokio::test]
async fn cli_watch_resumes_from_its_first_frame_when_dropped_before_any_message() {
    let mut stack = Stack::start(false, StoreChoice::Embedded, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob = signer(BOB_KEY).address();
    let cli = stack.cli();
    let cursors = cli.data_dir.join("cursors");
    let mut watch = cli.command(BOB_KEY, &["watch", "--count", "2"]);
    watch
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = watch.spawn().unwrap();
    // The first frame arrived and was kept: a cursor file, before any message.
    let kept = async {
        while std::fs::read_dir(&cursors).map_or(true, |mut d| d.next().is_none()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), kept)
        .await
        .expect("the first frame's cursor was saved");

    send_while_the_node_is_down(&mut stack, &alice, bob, "while away").await;

    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("watch printed both messages sent while it was away")
        .unwrap();
    assert!(output.status.success());
    let texts: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, ["while away 0", "while away 1"]);
}
