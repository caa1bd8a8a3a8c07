//! The read path end to end: real Anvil, real Kubo (or the embedded store),
//! the indexer and its API in-process, against SQLite and PostgreSQL.

use std::{sync::Arc, time::Duration};

use alloy::primitives::Address;
use cairn::{
    chain::CairnClient,
    crypto::{wallet, SecretKey},
    envelope::{self, Body},
    messenger::Messenger,
    read_api::{EventKind, StreamEvent},
    server::{Limits, Node, NodeConfig},
    store::{cid, BlobStore, EmbeddedStore, KuboStore},
};
use cairn_indexer::{api::StreamConfig, store::RowStatus, IndexerConfig};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::{
    mine, signer, Anvil, CairnCli, Database, Kubo, StoreUnderTest, ALICE_KEY, BOB_KEY, DEPLOYER_KEY,
};

/// Anvil, the contract, a block store, an indexer database and a node.
pub(crate) struct Stack {
    pub(crate) anvil: Anvil,
    pub(crate) contract: Address,
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) node: Option<Node>,
    pub(crate) api: String,
    pub(crate) db: Database,
    stream: StreamConfig,
    pub(crate) limits: Limits,
    _kubo: Option<Kubo>,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) enum StoreChoice {
    Kubo,
    Embedded,
}

impl Stack {
    pub(crate) async fn start(postgres: bool, store: StoreChoice, confirmations: u64) -> Self {
        let stream = StreamConfig {
            heartbeat: Duration::from_secs(1),
            ..StreamConfig::default()
        };
        Self::start_with(postgres, store, confirmations, stream).await
    }

    pub(crate) async fn start_with(
        postgres: bool,
        store: StoreChoice,
        confirmations: u64,
        stream: StreamConfig,
    ) -> Self {
        let anvil = Anvil::start().await;
        let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (kubo, store): (Option<Kubo>, Arc<dyn BlobStore>) = match store {
            StoreChoice::Kubo => {
                let kubo = Kubo::start().await;
                let store = Arc::new(KuboStore::new(&kubo.api_url));
                (Some(kubo), store)
            }
            StoreChoice::Embedded => (
                None,
                Arc::new(EmbeddedStore::open(dir.path().join("store")).unwrap()),
            ),
        };
        let db = Database::start(postgres).await;
        let mut stack = Self {
            anvil,
            contract,
            store,
            node: None,
            api: String::new(),
            db,
            stream,
            limits: Limits::default(),
            _kubo: kubo,
            dir,
        };
        stack.start_node(confirmations).await;
        stack
    }

    pub(crate) async fn start_node(&mut self, confirmations: u64) {
        self.start_node_at("127.0.0.1:0".parse().unwrap(), confirmations)
            .await;
    }

    /// (Re)starts the node on `listen`, e.g. the address of one just stopped.
    pub(crate) async fn start_node_at(&mut self, listen: std::net::SocketAddr, confirmations: u64) {
        let indexer = IndexerConfig {
            confirmations,
            poll_interval: Duration::from_millis(50),
            ..IndexerConfig::new(self.anvil.url.clone(), self.contract)
        };
        let node = Node::start(NodeConfig {
            status_listen: Some("127.0.0.1:0".parse().unwrap()),
            listen,
            store: self.store.clone(),
            indexer: Some((indexer, self.db.url())),
            gateway: None,
            limits: self.limits.clone(),
            stream: self.stream.clone(),
            web: None,
            tls: None,
            auth: None,
        })
        .await
        .unwrap();
        self.api = format!("http://{}", node.addr);
        self.node = Some(node);
    }

    /// The base URL of the node's status listener (`/metrics`).
    pub(crate) fn status(&self) -> String {
        let node = self.node.as_ref().expect("the node runs");
        format!("http://{}", node.status_addr.expect("a status listener"))
    }

    /// Restarts the node on a new port with `limits`.
    pub(crate) async fn restart_with(&mut self, limits: Limits, confirmations: u64) {
        if let Some(node) = self.node.take() {
            node.shutdown().await.unwrap();
        }
        self.limits = limits;
        self.start_node(confirmations).await;
    }

    /// The real CLI, pointed at this stack (embedded store in its directory).
    pub(crate) fn cli(&self) -> CairnCli {
        CairnCli {
            data_dir: self.dir.path().to_path_buf(),
            api_url: self.api.clone(),
            rpc_url: self.anvil.url.clone(),
            contract: self.contract,
            store: StoreUnderTest::Embedded,
        }
    }

    pub(crate) async fn messenger(&self, key: &str) -> Messenger {
        let wallet = signer(key);
        let chain = CairnClient::connect(&self.anvil.url, self.contract, Some(wallet.clone()))
            .await
            .unwrap();
        let secret = wallet::derive_with_signer(&wallet).await.unwrap();
        chain.register_key(&secret.public_key()).await.ok();
        Messenger::new(chain, self.store.clone(), wallet.address(), secret)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.api)).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the inbox of `who` lists `n` messages with `status`.
    pub(crate) async fn await_inbox(&self, who: Address, n: usize, status: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, page) = self.get(&format!("/v1/inbox/{who}?limit=500")).await;
            let messages: Vec<Value> = page["messages"].as_array().cloned().unwrap_or_default();
            if messages.len() == n && messages.iter().all(|m| m["status"] == status) {
                return messages;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "inbox never reached {n} {status}: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A WebSocket stream client. Like a real client it reads all the time (in
/// a task, so pings are answered while the test does other work), and it
/// hands over events, skipping heartbeats.
pub(crate) struct StreamClient(tokio::sync::mpsc::UnboundedReceiver<StreamEvent>);

impl StreamClient {
    pub(crate) async fn connect(api: &str, who: Address, after: Option<&str>) -> Self {
        let base = api.replacen("http", "ws", 1);
        let url = match after {
            Some(c) => format!("{base}/v1/stream?address={who}&after={c}"),
            None => format!("{base}/v1/stream?address={who}"),
        };
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                let WsMessage::Text(text) = frame else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "heartbeat"
                    && tx.send(serde_json::from_value(value).unwrap()).is_err()
                {
                    return;
                }
            }
        });
        Self(rx)
    }

    /// The next event, or `None` if none arrives within `wait`.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<StreamEvent> {
        tokio::time::timeout(wait, self.0.recv())
            .await
            .ok()
            .flatten()
    }

    pub(crate) async fn take(&mut self, n: usize) -> Vec<StreamEvent> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let event = self.next(Duration::from_secs(60)).await;
            events.push(
                event.unwrap_or_else(|| panic!("only {} of {n} events arrived", events.len())),
            );
        }
        events
    }
}

async fn send_many(alice: &Messenger, to: Address, range: std::ops::Range<usize>) {
    for i in range {
        alice
            .send(to, &Body::text(format!("message {i}")), &|_| {})
            .await
            .unwrap();
    }
}

/// Each event is a confirmed message from Alice with the expected text.
async fn assert_messages(
    events: &[StreamEvent],
    first: usize,
    bob_key: &SecretKey,
    store: &Arc<dyn BlobStore>,
) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.kind, EventKind::Message, "{event:?}");
        let m = &event.message;
        assert_eq!(m.status, RowStatus::Confirmed, "{m:?}");
        assert_eq!(m.sequence as usize, first + i, "in chain order");
        let bytes = store.get(&cid::parse(&m.cid).unwrap()).await.unwrap();
        assert_eq!(
            envelope::open(&bytes, bob_key).unwrap().body.text,
            format!("message {}", first + i)
        );
    }
}

async fn hundred_messages(postgres: bool) {
    let stack = Stack::start(postgres, StoreChoice::Kubo, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await; // registers Bob's key
    let bob_addr = signer(BOB_KEY).address();
    let bob_key = wallet::derive_with_signer(&signer(BOB_KEY)).await.unwrap();
    let mut client = StreamClient::connect(&stack.api, bob_addr, None).await;
    send_many(&alice, bob_addr, 0..100).await;
    mine(&stack.anvil.url, 2).await;
    let events = client.take(100).await;
    assert_messages(&events, 0, &bob_key, &stack.store).await;
    assert!(
        client.next(Duration::from_millis(1500)).await.is_none(),
        "exactly 100 events"
    );
}

#[tokio::test]
async fn hundred_messages_are_pushed_once_in_order_sqlite() {
    hundred_messages(false).await;
}

#[tokio::test]
async fn hundred_messages_are_pushed_once_in_order_postgres() {
    hundred_messages(true).await;
}

async fn resume(postgres: bool) {
    let stack = Stack::start(postgres, StoreChoice::Kubo, 2).await;
    let alice = stack.messenger(ALICE_KEY).await;
    stack.messenger(BOB_KEY).await;
    let bob_addr = signer(BOB_KEY).address();
    let bob_key = wallet::derive_with_signer(&signer(BOB_KEY)).await.unwrap();

    let mut client = StreamClient::connect(&stack.api, bob_addr, None).await;
    send_many(&alice, bob_addr, 0..30).await;
    mine(&stack.anvil.url, 2).await;
    let first = client.take(30).await;
    let cursor = first.last().unwrap().cursor.clone();
    drop(client);

    // 40 more are confirmed while the client is away.
    send_many(&alice, bob_addr, 30..70).await;
    mine(&stack.anvil.url, 2).await;
    stack.await_inbox(bob_addr, 70, "confirmed").await;

    let mut client = StreamClient::connect(&stack.api, bob_addr, Some(&cursor)).await;
    let missed = client.take(40).await;
    assert_messages(&missed, 30, &bob_key, &stack.store).await;
    assert!(
        client.next(Duration::from_millis(1500)).await.is_none(),
        "no duplicates after the missing 40"
    );
}

#[tokio::test]
async fn reconnect_with_cursor_gets_exactly_the_missed_messages_sqlite() {
    resume(false).await;
}

#[tokio::test]
async fn reconnect_with_cursor_gets_exactly_the_missed_messages_postgres() {
    resume(true).await;
}

/// A GraphQL WebSocket.
pub(crate) type GraphqlSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts operation `id`, running `query`, on a graphql-transport-ws socket.
pub(crate) async fn start_operation(
    socket: &mut GraphqlSocket,
    id: &str,
    query: &str,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use futures::SinkExt;
    let message = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            message.to_string().into(),
        ))
        .await
}

/// A GraphQL WebSocket (graphql-transport-ws), initialised.
pub(crate) async fn graphql_socket(api: &str) -> GraphqlSocket {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let mut request = format!("{}/graphql/ws", api.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(
            json!({"type": "connection_init"}).to_string().into(),
        ))
        .await
        .unwrap();
    let ack = tokio::time::timeout(
        Duration::from_secs(10),
        futures::StreamExt::next(&mut socket),
    )
    .await
    .unwrap();
    let ack: Value = match ack {
        Some(Ok(Message::Text(text))) => serde_json::from_str(&text).unwrap(),
        other => panic!("no connection_ack: {other:?}"),
    };
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}
