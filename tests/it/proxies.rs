//! A node behind a load balancer (`--trusted-proxy`): the client named by
//! a trusted proxy's `X-Forwarded-For` gets its own request rate, the proxy
//! is not held to the per-IP connection cap, and a forged entry left of the
//! real client changes nothing. Without the flag the header is ignored:
//! every request counts under the TCP peer, and its connections are capped.

use std::{sync::Arc, time::Duration};

use cairn::{
    server::{Limits, Node, NodeConfig},
    store::BlobStore,
};
use cairn_indexer::{api::TrustedProxies, IndexerConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{gateway_stack::Chain, harness::Anvil};

/// A node whose limits are small enough to reach: 5 requests at once per
/// client, then 1 a second; 2 connections per IP.
async fn node(chain: &Chain, dir: &std::path::Path, proxies: TrustedProxies) -> Node {
    let indexer = IndexerConfig {
        confirmations: 1,
        poll_interval: Duration::from_millis(100),
        ..IndexerConfig::new(chain.url.clone(), chain.contract)
    };
    let store: Arc<dyn BlobStore> = chain.store.clone();
    Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        indexer: Some((
            indexer,
            format!("sqlite://{}", dir.join("index.db").display()),
        )),
        gateway: None,
        limits: Limits {
            per_ip_per_second: 1,
            per_ip_burst: 5,
            max_connections_per_ip: 2,
            trusted_proxies: proxies,
            ..Limits::default()
        },
        stream: Default::default(),
        web: None,
        tls: None,
        auth: None,
    })
    .await
    .unwrap()
}

/// The status of one request on a new connection, forwarded for `client`;
/// `None` when the connection is closed without an answer.
async fn status(node: &Node, client: &str) -> Option<u16> {
    let mut socket = TcpStream::connect(node.addr).await.unwrap();
    let request = format!(
        "GET /v1/inbox/0x0000000000000000000000000000000000000001 HTTP/1.1\r\nHost: {}\r\nX-Forwarded-For: {client}\r\nConnection: close\r\n\r\n",
        node.addr
    );
    socket.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Opens `n` connections and keeps them, each having sent a request whose
/// answer came; returns how many were answered.
async fn held_connections(node: &Node, n: usize) -> (usize, Vec<TcpStream>) {
    let mut held = Vec::new();
    let mut answered = 0;
    for i in 0..n {
        let mut socket = TcpStream::connect(node.addr).await.unwrap();
        let request = format!(
            "GET /livez HTTP/1.1\r\nHost: {}\r\nX-Forwarded-For: 198.51.100.{i}\r\n\r\n",
            node.addr
        );
        let _ = socket.write_all(request.as_bytes()).await;
        let mut buf = [0u8; 12];
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
        if matches!(read, Ok(Ok(n)) if n > 0) && buf.starts_with(b"HTTP/1.1 ") {
            answered += 1;
        }
        held.push(socket);
    }
    (answered, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_and_no_one_else_does() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let behind = node(
        &chain,
        &dir.path().join("behind"),
        TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]),
    )
    .await;
    let exposed = node(
        &chain,
        &dir.path().join("exposed"),
        TrustedProxies::default(),
    )
    .await;

    // Behind the proxy: one client's burst, then 429; another client is
    // untouched; a forged entry left of the real client counts for it.
    for _ in 0..5 {
        assert_eq!(status(&behind, "203.0.113.7").await, Some(200));
    }
    assert_eq!(status(&behind, "203.0.113.7").await, Some(429));
    assert_eq!(status(&behind, "203.0.113.8").await, Some(200));
    assert_eq!(status(&behind, "192.0.2.99, 203.0.113.7").await, Some(429));
    // The proxy carries many clients: more connections than the per-IP cap.
    let (answered, _held) = held_connections(&behind, 4).await;
    assert_eq!(answered, 4, "a trusted proxy is not held to 2 connections");

    // Exposed: the header is anyone's to write, so it is ignored.
    for i in 0..5 {
        assert_eq!(status(&exposed, &format!("203.0.113.{i}")).await, Some(200));
    }
    assert_eq!(status(&exposed, "203.0.113.200").await, Some(429));
    let (answered, _held) = held_connections(&exposed, 4).await;
    assert_eq!(answered, 2, "an untrusted peer keeps its 2 connections");
}
