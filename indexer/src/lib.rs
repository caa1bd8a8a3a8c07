//! `cairn-indexer`: follows the Cairn contract and serves reorg-safe inboxes.
//!
//! - [`ingest`]: backfill and tail with confirmations, reorg detection and
//!   rollback; every step commits atomically with its checkpoint.
//! - [`store`]: the [`store::Store`] trait, SQLite (default) and PostgreSQL.
//! - [`content`]: re-hashes every anchored block (`verified`, `missing`,
//!   `tampered`).
//! - [`batches`]: checks each batch manifest and delivers its valid posts
//!   like direct ones, recording the invalid ones.
//! - [`api`]: REST, GraphQL and the WebSocket stream of confirmed events.
//!
//! Guarantees: rows are unique on (block hash, log index, batch item); only confirmed
//! rows are pushed; a confirmed row that a deeper reorg removes is retracted,
//! never silently dropped; a stream resumed from its cursor has no gap and no
//! duplicate.

pub mod api;
pub mod batches;
pub mod content;
pub mod ingest;
pub mod retry;
pub mod store;

use std::{sync::Arc, time::Duration};

use alloy::{primitives::Address, transports::TransportError};
use tokio::sync::watch;

pub use cairn_contracts as contracts;

/// Errors from ingestion.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The node failed (after retries) or refused a call.
    #[error("RPC error: {0}")]
    Rpc(#[source] TransportError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The node does not have a block the ingester needs.
    #[error("the node has no block {0}")]
    MissingBlock(u64),
    /// The node does not have a block the batch check needs.
    #[error("the node has no block {0}")]
    MissingBlockHash(alloy::primitives::B256),
}

/// How the indexer follows the chain.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// JSON-RPC endpoint (http or ws).
    pub rpc_url: String,
    /// The Cairn contract.
    pub contract: Address,
    /// The first block to ingest (the contract's deployment block).
    pub start_block: u64,
    /// Blocks on top before a row is confirmed (K).
    pub confirmations: u64,
    /// Blocks per `eth_getLogs` during backfill (split further if refused).
    pub max_range: u64,
    /// Recent blocks kept to trace reorgs; deeper reorgs cannot be traced.
    pub reorg_window: u64,
    /// How often to poll for a new head (also the longest wait when subscribed).
    pub poll_interval: Duration,
    /// A WebSocket endpoint for new-head notifications. RPC calls stay on
    /// `rpc_url`. Without it, a ws:// `rpc_url` is subscribed to, and an
    /// http one is polled.
    pub ws_url: Option<String>,
    /// Blocks per second the content check may re-hash. It is an audit
    /// beside delivery, not on its path: under a burst it falls behind and
    /// catches up afterwards instead of taking CPU from confirmations.
    pub content_check_rate: u32,
    /// When to look again for manifests and blocks no store had.
    pub missing_retry: retry::Backoff,
}

impl IndexerConfig {
    /// Defaults for `contract` at `rpc_url`: K = 2, 2,000-block ranges, a
    /// 64-block window, 250 ms polling, content checks at up to 2,000 blocks/s,
    /// missing blocks retried after 2 s, doubling to 5 minutes.
    pub fn new(rpc_url: impl Into<String>, contract: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            contract,
            start_block: 0,
            confirmations: 2,
            max_range: 2_000,
            reorg_window: 64,
            poll_interval: Duration::from_millis(250),
            ws_url: None,
            content_check_rate: 2_000,
            missing_retry: retry::Backoff::default(),
        }
    }
}

/// Handles to a running indexer.
#[derive(Debug, Clone)]
pub struct Running {
    /// The store it writes.
    pub store: Arc<dyn store::Store>,
    /// The newest stream event seq; changes wake stream subscribers.
    pub events: watch::Receiver<u64>,
    /// Ingestion progress.
    pub progress: watch::Receiver<ingest::Progress>,
}

/// Starts ingestion, batch checks and content checks as background tasks
/// that stop when `shutdown` is cancelled. They share nothing but the store:
/// a slow block store delays batch delivery and content checks, never
/// confirmations.
pub async fn spawn(
    config: IndexerConfig,
    store: Arc<dyn store::Store>,
    blocks: Arc<dyn content::BlockSource>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Running, IndexerError> {
    let source = ingest::ChainSource::connect(&config.rpc_url, config.contract).await?;
    let domain = contracts::eip712::domain(source.chain_id().await?, source.contract());
    let (events_tx, events) = watch::channel(store.last_event_seq().await?);
    let (progress_tx, progress) = watch::channel(ingest::Progress::default());
    let wake = Arc::new(tokio::sync::Notify::new());
    let resolver = batches::Resolver {
        store: store.clone(),
        blocks: blocks.clone(),
        source: source.clone(),
        domain,
        missing: config.missing_retry,
        events: events_tx.clone(),
        wake: wake.clone(),
        interval: config.poll_interval,
    };
    let (rate, missing) = (config.content_check_rate.max(1), config.missing_retry);
    let ingester =
        ingest::Ingester::new(source, store.clone(), wake, config, events_tx, progress_tx).await?;
    let stop = shutdown.clone();
    tokio::spawn(async move { ingester.run(stop.cancelled_owned()).await });
    let stop = shutdown.clone();
    tokio::spawn(async move { resolver.run(stop.cancelled_owned()).await });
    let checker_store = store.clone();
    tokio::spawn(async move {
        content::run(
            checker_store,
            blocks,
            Duration::from_millis(500),
            rate,
            missing,
            shutdown.cancelled_owned(),
        )
        .await
    });
    Ok(Running {
        store,
        events,
        progress,
    })
}
