//! A batching stack for the gateway tests: real Anvil mining a block a
//! second, real Kubo, users onboarded by signature (a relayer pays for
//! their key registrations), and a node running the gateway and the indexer.

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::Eip712Domain,
};
use cairn::{
    chain::{sign_key_registration, CairnClient},
    crypto::{wallet, SecretKey},
    envelope::{self, Body, Header},
    gateway::{
        client::{sign_post, GatewayClient},
        submit::PostRequest,
        GatewayConfig,
    },
    server::{Limits, Node, NodeConfig},
    store::{cid, BlobStore, KuboStore},
};
use cairn_contracts::manifest::SignedPost;
use cairn_indexer::IndexerConfig;
use serde_json::{json, Value};

use crate::harness::{rpc, signer, Anvil, Database, Kubo, CAROL_KEY, DEPLOYER_KEY};

/// The gateway's relayer (Anvil account 3): it serves the gateway only.
pub(crate) const RELAYER_KEY: &str = CAROL_KEY;

/// A wallet with a registered messaging key.
pub(crate) struct User {
    pub(crate) wallet: PrivateKeySigner,
    pub(crate) key: SecretKey,
}

impl User {
    pub(crate) fn address(&self) -> Address {
        self.wallet.address()
    }
}

/// One signed post with its sealed envelope.
pub(crate) struct Outgoing {
    pub(crate) signed: SignedPost,
    pub(crate) envelope: Vec<u8>,
    pub(crate) text: String,
}

impl Outgoing {
    pub(crate) fn request(&self) -> PostRequest {
        PostRequest::new(&self.signed, Some(&self.envelope))
    }

    pub(crate) fn id(&self, domain: &Eip712Domain) -> B256 {
        self.signed.signing_hash(domain)
    }
}

/// Chain, store and users, before any node runs.
pub(crate) struct Chain {
    /// `None` while a test has stopped it.
    pub(crate) anvil: Option<Anvil>,
    /// Its JSON-RPC URL.
    pub(crate) url: String,
    pub(crate) contract: Address,
    pub(crate) client: CairnClient,
    pub(crate) domain: Eip712Domain,
    pub(crate) kubo: Kubo,
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) users: Vec<User>,
}

impl Chain {
    /// Deploys, onboards `users` random wallets (their keys registered by
    /// signature, paid for by the deployer) with Anvil automining, then
    /// switches Anvil to a block every `block_secs` seconds (0: keeps automining).
    pub(crate) async fn start(users: usize, anvil: Anvil, block_secs: u64) -> Self {
        Self::start_with(users, anvil, block_secs, Kubo::start().await).await
    }

    /// [`start`](Self::start) with a Kubo of the caller's.
    pub(crate) async fn start_with(
        users: usize,
        anvil: Anvil,
        block_secs: u64,
        kubo: Kubo,
    ) -> Self {
        let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
            .await
            .unwrap();
        let client = CairnClient::connect(&anvil.url, contract, Some(signer(DEPLOYER_KEY)))
            .await
            .unwrap();
        let domain = client.domain().await.unwrap();
        let mut onboarded = Vec::new();
        for _ in 0..users {
            let wallet = PrivateKeySigner::random();
            let key = wallet::derive_with_signer(&wallet).await.unwrap();
            let deadline = U256::from(4_000_000_000u64);
            let nonce = client.registration_nonce(wallet.address()).await.unwrap();
            let sig = sign_key_registration(&wallet, &domain, &key.public_key(), nonce, deadline)
                .await
                .unwrap();
            client
                .register_key_by_sig(wallet.address(), &key.public_key(), deadline, &sig)
                .await
                .unwrap();
            onboarded.push(User { wallet, key });
        }
        if block_secs > 0 {
            interval_mining(&anvil.url, block_secs).await;
        }
        let store: Arc<dyn BlobStore> = Arc::new(KuboStore::new(&kubo.api_url));
        Self {
            url: anvil.url.clone(),
            anvil: Some(anvil),
            contract,
            client,
            domain,
            kubo,
            store,
            users: onboarded,
        }
    }

    /// Seals `text` from user `from` to user `to` and signs the post.
    pub(crate) async fn outgoing(
        &self,
        from: usize,
        to: usize,
        nonce: u64,
        text: &str,
    ) -> Outgoing {
        outgoing(&self.users, &self.domain, from, to, nonce, text).await
    }

    /// The real CLI on this chain and its Kubo, reading from `api`, with its
    /// data in `data_dir`.
    pub(crate) fn cli(&self, api: &str, data_dir: &std::path::Path) -> crate::harness::CairnCli {
        crate::harness::CairnCli {
            data_dir: data_dir.to_path_buf(),
            api_url: api.to_string(),
            rpc_url: self.url.clone(),
            contract: self.contract,
            store: crate::harness::StoreUnderTest::Kubo(self.kubo.api_url.clone()),
        }
    }

    /// A node indexing this chain (K = 1, SQLite in `dir`), with sign-in
    /// when `auth`, and a gateway when given its outbox's URL.
    pub(crate) async fn reader_node(
        &self,
        dir: &std::path::Path,
        auth: bool,
        outbox: Option<String>,
    ) -> cairn::server::Node {
        let database = format!("sqlite://{}", dir.join("indexer.db").display());
        self.reader_node_on(&database, auth, outbox, Default::default())
            .await
    }

    /// [`reader_node`](Self::reader_node) on the index database at
    /// `database` (several nodes may share a PostgreSQL one), with `limits`.
    pub(crate) async fn reader_node_on(
        &self,
        database: &str,
        auth: bool,
        outbox: Option<String>,
        limits: cairn::server::Limits,
    ) -> cairn::server::Node {
        cairn::server::Node::start(cairn::server::NodeConfig {
            status_listen: Some("127.0.0.1:0".parse().unwrap()),
            listen: "127.0.0.1:0".parse().unwrap(),
            store: self.store.clone(),
            indexer: Some((
                cairn_indexer::IndexerConfig {
                    confirmations: 1,
                    poll_interval: Duration::from_millis(100),
                    ..cairn_indexer::IndexerConfig::new(self.url.clone(), self.contract)
                },
                database.to_string(),
            )),
            gateway: outbox.map(|url| self.gateway_config(url)),
            limits,
            stream: Default::default(),
            web: None,
            tls: None,
            auth: auth.then(|| crate::harness::accounts(&self.url, self.contract)),
        })
        .await
        .unwrap()
    }

    /// A gateway config for this chain, with test-sized timings.
    pub(crate) fn gateway_config(&self, outbox_url: String) -> GatewayConfig {
        GatewayConfig {
            max_batch: 256,
            max_age: Duration::from_millis(500),
            confirmations: 1,
            rebroadcast_after: Duration::from_secs(2),
            poll_interval: Duration::from_millis(100),
            ..GatewayConfig::new(
                self.url.clone(),
                self.contract,
                signer(RELAYER_KEY),
                outbox_url,
            )
        }
    }

    /// Starts a node with the gateway and the indexer, each when configured.
    pub(crate) async fn node(
        &self,
        gateway: Option<GatewayConfig>,
        indexer_db: Option<String>,
    ) -> Node {
        let indexer = indexer_db.map(|url| {
            let config = IndexerConfig {
                confirmations: 1,
                poll_interval: Duration::from_millis(100),
                ..IndexerConfig::new(self.url.clone(), self.contract)
            };
            (config, url)
        });
        Node::start(NodeConfig {
            status_listen: Some("127.0.0.1:0".parse().unwrap()),
            listen: "127.0.0.1:0".parse().unwrap(),
            store: self.store.clone(),
            indexer,
            gateway,
            limits: Limits::default(),
            stream: Default::default(),
            web: None,
            tls: None,
            auth: None,
        })
        .await
        .unwrap()
    }
}

/// Seals `text` from `users[from]` to `users[to]` and signs the post for `domain`.
pub(crate) async fn outgoing(
    users: &[User],
    domain: &Eip712Domain,
    from: usize,
    to: usize,
    nonce: u64,
    text: &str,
) -> Outgoing {
    let (sender, recipient) = (&users[from], &users[to]);
    let header = Header::direct(sender.address(), recipient.address(), 1_800_000_000);
    let envelope = envelope::seal(
        &header,
        &Body::text(text.to_string()),
        &[recipient.key.public_key(), sender.key.public_key()],
    )
    .unwrap();
    let signed = sign_post(
        &sender.wallet,
        domain,
        recipient.address().into_word(),
        cid::block_digest(&envelope),
        nonce,
        unix_now() + 3600,
    )
    .await
    .unwrap();
    Outgoing {
        signed,
        envelope,
        text: text.to_string(),
    }
}

/// A node running both the gateway and the indexer, with their databases.
pub(crate) struct FullNode {
    pub(crate) node: Node,
    pub(crate) api: String,
    _databases: (Database, Database),
}

impl Chain {
    /// Starts a [`FullNode`] on SQLite or PostgreSQL.
    pub(crate) async fn full_node(&self, postgres: bool) -> FullNode {
        let indexer_db = Database::start(postgres).await;
        let (outbox, outbox_url) = outbox_db(postgres).await;
        let node = self
            .node(
                Some(self.gateway_config(outbox_url)),
                Some(indexer_db.url()),
            )
            .await;
        FullNode {
            api: format!("http://{}", node.addr),
            node,
            _databases: (indexer_db, outbox),
        }
    }
}

/// Switches Anvil from automining to a block every `secs` seconds.
pub(crate) async fn interval_mining(url: &str, secs: u64) {
    rpc(url, "evm_setAutomine", json!([false])).await;
    rpc(url, "evm_setIntervalMining", json!([secs])).await;
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A second database for the gateway's outbox (never the indexer's).
pub(crate) async fn outbox_db(postgres: bool) -> (Database, String) {
    let db = Database::start(postgres).await;
    let url = match &db {
        Database::Sqlite(dir) => format!("sqlite://{}", dir.path().join("gateway.db").display()),
        Database::Postgres(pg) => pg.url.clone(),
    };
    (db, url)
}

/// A GET's status and JSON body.
pub(crate) async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Raw `POST /v1/posts`: status and JSON body.
pub(crate) async fn post_raw(api: &str, body: &Value) -> (u16, Value) {
    post_to(&format!("{api}/v1/posts"), body).await
}

/// POSTs `body` as JSON to `url`: the status and the JSON answer (null if none).
pub(crate) async fn post_to(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until every id is anchored and returns the proofs.
pub(crate) async fn await_anchored(
    gateway: &GatewayClient,
    ids: &[B256],
) -> Vec<cairn::gateway::proofs::Proof> {
    use futures::StreamExt;
    futures::stream::iter(ids.iter().copied())
        .map(|id| async move {
            gateway
                .wait(id, Duration::from_secs(120), false, &|_| {})
                .await
                .unwrap_or_else(|e| panic!("post {id}: {e}"))
        })
        .buffered(16)
        .collect()
        .await
}

/// How many times the chain anchors each post, by id.
pub(crate) async fn anchored_posts(chain: &Chain) -> std::collections::HashMap<B256, usize> {
    let mut seen = std::collections::HashMap::new();
    for p in anchored_batch_posts(chain).await {
        *seen.entry(p.signing_hash(&chain.domain)).or_insert(0) += 1;
    }
    seen
}

/// Every post the chain anchors in batches, once per anchoring: every
/// `BatchAnchored` log of the contract, its manifest fetched from the store
/// and decoded.
pub(crate) async fn anchored_batch_posts(chain: &Chain) -> Vec<SignedPost> {
    use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
    let filter = Filter::new()
        .address(chain.contract)
        .event_signature(cairn::chain::Cairn::BatchAnchored::SIGNATURE_HASH)
        .from_block(0);
    let logs = chain.client.provider().get_logs(&filter).await.unwrap();
    let mut all = Vec::new();
    for log in logs {
        let event = log
            .log_decode::<cairn::chain::Cairn::BatchAnchored>()
            .unwrap()
            .inner
            .data;
        let bytes = chain
            .store
            .get(&cid::cid_for_digest(event.manifestDigest))
            .await
            .unwrap();
        let posts = cairn_contracts::manifest::decode(&bytes).unwrap();
        assert_eq!(posts.len(), event.count as usize);
        all.extend(posts);
    }
    all
}
