//! The relaying gateway: signed posts in, Merkle-batched anchors out
//! (docs/BATCHING.md).
//!
//! - [`submit`]: `POST /v1/posts` checks each post (size, deadline,
//!   signature on every core, registered keys, nonce, envelope block) and
//!   writes it to the outbox before answering 202 with its id.
//! - [`outbox`]: the durable outbox (SQLite or PostgreSQL).
//! - [`batcher`]: seals posts into batches on size or age, stores the
//!   manifest block, and anchors the root with a transaction it signs and
//!   stores before sending, so a crash or an RPC outage never loses a post
//!   and never anchors one twice.
//! - [`proofs`]: `GET /v1/proofs/{id}`, the inclusion proof of a post.
//! - [`quota`]: allowances per IP, sender and uploader, shared by the
//!   gateways of a PostgreSQL outbox; [`turns`]: their shared registrar key.
//!
//! Its clients, and the delivery that never reports a false failure, are in
//! [`cairn_client::gateway`]; the JSON both sides exchange is
//! [`cairn_proto::gateway`].
//!
//! The gateway can delay a post but not forge or alter one: the sender's
//! signature, checked again by every reader, is what makes it valid.

pub mod batcher;
pub mod channel_admin;

pub mod outbox;
pub mod proofs;
pub mod quota;
pub mod registrations;
pub mod submit;
pub mod turns;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
    sol_types::Eip712Domain,
};
use axum::{
    extract::DefaultBodyLimit,
    routing::{get, post},
    Router,
};
use cairn_contracts::merkle::MerkleTree;
use tokio_util::sync::CancellationToken;

use cairn_client::{
    chain::{CairnClient, ChainError, KeyRegistry, Relayer},
    store::BlobStore,
};
pub use outbox::{Outbox, OutboxError};

/// How the gateway batches and anchors.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// The Cairn contract.
    pub contract: Address,
    /// The key that pays for anchors. It must serve this gateway only: the
    /// gateway hands out its nonces from the outbox.
    pub relayer: PrivateKeySigner,
    /// The outbox: `sqlite://<path>` or `postgres://...`.
    pub database_url: String,
    /// A batch closes when it holds this many posts...
    pub max_batch: usize,
    /// ...or when its oldest post has waited this long.
    pub max_age: Duration,
    /// Blocks on top of an anchor before the gateway calls it final.
    pub confirmations: u64,
    /// A post must have at least this long before its deadline when accepted.
    pub min_deadline_margin: Duration,
    /// Posts per `POST /v1/posts` request.
    pub max_posts_per_request: usize,
    /// Body limit of `POST /v1/posts` (inline envelopes count).
    pub max_request_bytes: usize,
    /// Bytes of `POST /v1/posts` bodies read at once across requests; more
    /// wait a moment, then get `503 busy`. Bounds the memory they take.
    pub max_request_bytes_in_flight: usize,
    /// A sent anchor with no receipt after this long is broadcast again.
    pub rebroadcast_after: Duration,
    /// An anchor still unmined this long after it was signed is replaced by
    /// one with the same nonce and higher fees.
    pub fee_bump_after: Duration,
    /// How often the batcher looks at the queue and the chain when idle.
    pub poll_interval: Duration,
    /// Posts one client IP may submit.
    pub posts_per_ip: quota::Rate,
    /// Posts one sender may have accepted: the relayer pays for each.
    pub posts_per_sender: quota::Rate,
    /// KiB one wallet may upload through `POST /v1/blobs`.
    pub upload_kib_per_sender: quota::Rate,
    /// How often posts past their deadline in final batches are forgotten
    /// (their proofs are then answered 404; the manifest block keeps them).
    pub prune_interval: Duration,
    /// The key that pays for signed key registrations
    /// (`POST /v1/registrations`); `None` offers none. Never the relayer's.
    pub registrar: Option<PrivateKeySigner>,
    /// Registrations one client IP may ask for.
    pub registrations_per_ip: quota::Rate,
    /// Registrations the registrar pays for one owner in a day: a wallet
    /// rotating its key without end must not drain the registrar.
    pub registrations_per_owner_per_day: u32,
    /// Channel changes (`POST /v1/channels/admin`) the registrar pays for
    /// one admin in a day.
    pub channel_actions_per_admin_per_day: u32,
    /// Below this balance (wei) the relayer counts as down in `/readyz`: it
    /// may soon fail to pay for an anchor.
    pub min_relayer_balance: U256,
    /// A post accepted this long ago and still not anchored makes the
    /// gateway not ready (`/readyz`, `anchors`).
    pub max_anchor_delay: Duration,
}

impl GatewayConfig {
    /// Defaults: batches of up to 4,096 posts or 2 s, K = 2, a 60 s deadline
    /// margin, 1,024 posts or 8 MiB per request, rebroadcast after 12 s,
    /// replace with higher fees after 60 s; 2,000 posts/s per client IP
    /// (burst 8,192), 10 posts/s per sender (burst 1,000), and uploads of
    /// 64 KiB/s per wallet (burst 16 MiB).
    pub fn new(
        rpc_url: impl Into<String>,
        contract: Address,
        relayer: PrivateKeySigner,
        database_url: impl Into<String>,
    ) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            contract,
            relayer,
            database_url: database_url.into(),
            max_batch: 4096,
            max_age: Duration::from_secs(2),
            confirmations: 2,
            min_deadline_margin: Duration::from_secs(60),
            max_posts_per_request: 1024,
            max_request_bytes: 8 << 20,
            max_request_bytes_in_flight: 64 << 20,
            min_relayer_balance: U256::from(10u64.pow(15)),
            max_anchor_delay: Duration::from_secs(300),
            rebroadcast_after: Duration::from_secs(12),
            fee_bump_after: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            posts_per_ip: quota::Rate {
                per_second: 2_000,
                burst: 8_192,
            },
            posts_per_sender: quota::Rate {
                per_second: 10,
                burst: 1_000,
            },
            upload_kib_per_sender: quota::Rate {
                per_second: 64,
                burst: 16 * 1024,
            },
            prune_interval: Duration::from_secs(600),
            registrar: None,
            registrations_per_ip: quota::Rate {
                per_second: 1,
                burst: 10,
            },
            registrations_per_owner_per_day: 20,
            channel_actions_per_admin_per_day: 100,
        }
    }
}

/// Errors starting the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The outbox could not be opened.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The chain could not be reached.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A setting is out of range.
    #[error("invalid gateway setting: {0}")]
    Config(String),
}

/// State shared by the handlers and the batcher.
#[derive(Debug)]
pub(crate) struct Shared {
    config: GatewayConfig,
    outbox: Arc<dyn Outbox>,
    store: Arc<dyn BlobStore>,
    relayer: Relayer,
    domain: Eip712Domain,
    /// Registered keys, cached.
    registry: Arc<KeyRegistry>,
    /// Who may post to which channel, cached.
    posters: cairn_client::chain::ChannelPosters,
    /// Signed uploads' KiB allowances, which inline envelopes spend too.
    uploads: Arc<crate::uploads::Uploads>,
    /// Posts per client IP.
    ip_posts: quota::Allowance<std::net::IpAddr>,
    /// Posts per sender.
    sender_posts: quota::Allowance<Address>,
    /// Pays for signed key registrations, when configured.
    registrar: Option<CairnClient>,
    /// Registrations per client IP.
    ip_registrations: quota::Allowance<std::net::IpAddr>,
    /// Registrations paid per owner.
    owner_registrations: quota::Allowance<Address>,
    /// Channel changes paid per admin.
    admin_actions: quota::Allowance<Address>,
    /// The allowances' buckets in a PostgreSQL outbox, shared by its gateways.
    buckets: Option<quota::SharedBuckets>,
    /// Bytes of `POST /v1/posts` bodies being read at once.
    in_flight: submit::InFlight,
    /// Merkle trees of recent batches, for proofs.
    trees: Mutex<HashMap<i64, Arc<MerkleTree>>>,
    /// Wakes the batcher when posts arrive.
    wake: tokio::sync::Notify,
    /// Whether this gateway holds the batcher lease.
    batching: tokio::sync::watch::Sender<bool>,
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// Its routes (`POST /v1/posts`, `GET /v1/proofs/{id}`), without the
    /// server-wide limits, which the caller applies.
    pub router: Router,
    /// The outbox, for inspection.
    pub outbox: Arc<dyn Outbox>,
    /// The batcher task; it ends when the shutdown token is cancelled.
    pub batcher: tokio::task::JoinHandle<()>,
    /// Signed block uploads, checked against the same key registry.
    pub uploads: Arc<crate::uploads::Uploads>,
    /// Whether this gateway holds the batcher lease (always, on SQLite).
    pub batching: tokio::sync::watch::Receiver<bool>,
    /// Readiness checks: the outbox, the relayer's balance, and how long
    /// the oldest post has waited for its anchor.
    pub probes: Vec<crate::health::Probe>,
}

/// Connects the registry's client and the relayer. A gateway (re)started
/// while its RPC is down, rate limited or stalled waits for it, logging,
/// rather than exiting: nothing can be checked or anchored without the
/// chain, and a supervisor restarting it in a loop would not help.
async fn connect_chain(config: &GatewayConfig) -> Result<(CairnClient, Relayer), ChainError> {
    use backon::{ExponentialBuilder, Retryable};
    let connect = || async {
        let chain = CairnClient::connect(&config.rpc_url, config.contract, None).await?;
        let relayer =
            Relayer::connect(&config.rpc_url, config.contract, config.relayer.clone()).await?;
        Ok::<_, ChainError>((chain, relayer))
    };
    connect
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_millis(250))
                .with_max_delay(std::time::Duration::from_secs(5))
                .without_max_times(),
        )
        .when(ChainError::is_transient)
        .notify(|err, after| tracing::warn!(%err, ?after, "chain unavailable; waiting for it"))
        .await
}

impl Gateway {
    /// Opens the outbox, connects to the chain and starts the batcher.
    pub async fn start(
        config: GatewayConfig,
        store: Arc<dyn BlobStore>,
        shutdown: CancellationToken,
    ) -> Result<Self, GatewayError> {
        if config.max_batch == 0 || config.max_batch > cairn_contracts::manifest::MAX_POSTS {
            return Err(GatewayError::Config(format!(
                "max batch {} is outside 1..={}",
                config.max_batch,
                cairn_contracts::manifest::MAX_POSTS
            )));
        }
        let outbox = outbox::open(&config.database_url).await?;
        let (chain, relayer) = connect_chain(&config).await?;
        let domain = cairn_contracts::eip712::domain(relayer.chain_id(), config.contract);
        let posters = cairn_client::chain::ChannelPosters::new(chain.clone());
        let registry = Arc::new(KeyRegistry::new(chain));
        // On a PostgreSQL outbox the allowances are shared by its gateways.
        let buckets = match outbox::is_postgres(&config.database_url) {
            true => Some(
                quota::SharedBuckets::connect(&config.database_url)
                    .await
                    .map_err(|e| GatewayError::Outbox(e.into()))?,
            ),
            false => None,
        };
        let registrar = match &config.registrar {
            Some(key) if key.address() == config.relayer.address() => {
                return Err(GatewayError::Config(
                    "the registrar key must not be the relayer's: the batcher owns its nonces"
                        .into(),
                ))
            }
            Some(key) => {
                let client =
                    CairnClient::connect(&config.rpc_url, config.contract, Some(key.clone()))
                        .await?;
                // Gateways of one PostgreSQL outbox take turns sending with
                // the registrar key, so they may share it.
                Some(match &buckets {
                    Some(buckets) => client.with_shared_turn(Arc::new(turns::PgTurns::new(
                        buckets.pool().clone(),
                        key.address(),
                    ))),
                    None => client,
                })
            }
            None => None,
        };
        let uploads = Arc::new(crate::uploads::Uploads::new(
            registry.clone(),
            domain.clone(),
            config.upload_kib_per_sender,
            buckets.clone(),
        ));
        let shared = Arc::new(Shared {
            outbox: outbox.clone(),
            store,
            relayer,
            domain,
            registry: registry.clone(),
            posters,
            uploads: uploads.clone(),
            ip_posts: quota::Allowance::new(config.posts_per_ip, "ip_quota")
                .shared(buckets.clone(), "ip_posts"),
            sender_posts: quota::Allowance::new(config.posts_per_sender, "sender_quota")
                .shared(buckets.clone(), "sender_posts"),
            registrar,
            ip_registrations: quota::Allowance::new(config.registrations_per_ip, "ip_quota")
                .shared(buckets.clone(), "ip_registrations"),
            owner_registrations: quota::Allowance::per_period(
                config.registrations_per_owner_per_day,
                Duration::from_secs(24 * 3600),
                "owner_quota",
            )
            .shared(buckets.clone(), "owner_registrations"),
            admin_actions: quota::Allowance::per_period(
                config.channel_actions_per_admin_per_day,
                Duration::from_secs(24 * 3600),
                "admin_quota",
            )
            .shared(buckets.clone(), "admin_actions"),
            buckets,
            in_flight: submit::InFlight::new(
                config.max_request_bytes_in_flight,
                config.max_request_bytes,
            ),
            trees: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            batching: tokio::sync::watch::Sender::new(false),
            config,
        });
        let batching = shared.batching.subscribe();
        let probes = probes(&shared);
        let batcher = tokio::spawn(batcher::run(shared.clone(), shutdown));
        let router = Router::new()
            .route("/v1/posts", post(submit::submit))
            .route("/v1/proofs/{id}", get(proofs::proof))
            .route("/v1/registrations", post(registrations::register))
            .route("/v1/signers", post(registrations::authorize_signer))
            .route("/v1/signers/revoke", post(registrations::revoke_signer))
            .route("/v1/channels/admin", post(channel_admin::relay))
            .layer(DefaultBodyLimit::max(shared.config.max_request_bytes))
            .with_state(shared);
        Ok(Self {
            router,
            outbox,
            batcher,
            uploads,
            batching,
            probes,
        })
    }
}

/// The gateway's readiness checks; each also sets its gauge
/// (`cairn_relayer_balance_wei`, `cairn_oldest_unanchored_post_seconds`).
fn probes(shared: &Arc<Shared>) -> Vec<crate::health::Probe> {
    use crate::health::Probe;
    let outbox = {
        let outbox = shared.outbox.clone();
        Probe::new("outbox", "outbox", move || {
            let outbox = outbox.clone();
            async move { outbox.queue().await.map(drop).map_err(|e| e.to_string()) }
        })
    };
    let balance = {
        let shared = shared.clone();
        Probe::new("relayer_balance", "relayer", move || {
            let shared = shared.clone();
            async move {
                let relayer = &shared.relayer;
                let balance = relayer
                    .provider()
                    .get_balance(relayer.address())
                    .await
                    .map_err(|e| format!("the RPC did not say: {e}"))?;
                metrics::gauge!("cairn_relayer_balance_wei").set(f64::from(balance));
                let min = shared.config.min_relayer_balance;
                if balance < min {
                    return Err(format!(
                        "{balance} wei, below the {min} wei it needs to keep anchoring"
                    ));
                }
                Ok(())
            }
        })
    };
    let anchors = {
        let shared = shared.clone();
        Probe::new("anchors", "anchors", move || {
            let shared = shared.clone();
            async move {
                let oldest = shared
                    .outbox
                    .oldest_unanchored()
                    .await
                    .map_err(|e| e.to_string())?;
                let waited = oldest.map_or(0, |t| now_ms().saturating_sub(t)) / 1000;
                metrics::gauge!("cairn_oldest_unanchored_post_seconds").set(waited as f64);
                let max = shared.config.max_anchor_delay.as_secs();
                if waited > max {
                    return Err(format!(
                        "a post has waited {waited} s for its anchor (more than {max} s)"
                    ));
                }
                Ok(())
            }
        })
    };
    vec![outbox, balance, anchors]
}

/// The OpenAPI document of the gateway's routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        submit::submit,
        proofs::proof,
        registrations::register,
        registrations::authorize_signer,
        registrations::revoke_signer
    ),
    components(schemas(
        submit::PostRequest,
        submit::Submission,
        submit::Accepted,
        proofs::Proof,
        proofs::ProofStatus,
        registrations::RegistrationRequest,
        registrations::Registered,
        registrations::SignerRequest,
        registrations::RevocationRequest,
        registrations::SignerChanged,
        channel_admin::ChannelAdminRequest,
        channel_admin::ChannelAdminDone
    ))
)]
pub struct GatewayDoc;

/// Milliseconds since the unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
