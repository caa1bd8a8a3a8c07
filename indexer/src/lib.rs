//! `cairn-indexer`: follows the Cairn contract and serves reorg-safe inboxes.
//!
//! - [`ingest`]: backfill and tail with confirmations, reorg detection and
//!   rollback; every step commits atomically with its checkpoint.
//! - [`store`]: the [`store::Store`] trait, SQLite (default) and PostgreSQL.
//! - [`content`]: re-hashes every anchored block (`verified`, `missing`,
//!   `tampered`).
//! - [`batches`]: checks each batch manifest and delivers its valid posts
//!   like direct ones, recording the invalid ones.
//! - [`fanout`]: publishes each confirmed event once, to the stream
//!   subscribers of its recipient.
//! - [`api`]: REST, GraphQL and the WebSocket stream of confirmed events.
//!
//! Guarantees: rows are unique on (block hash, log index, batch item); only confirmed
//! rows are pushed; a confirmed row that a deeper reorg removes is retracted,
//! never silently dropped; a stream resumed from its cursor has no gap and no
//! duplicate.

pub mod api;
pub mod batches;
pub mod block;
pub mod content;
pub mod fanout;
pub mod health;
pub mod http;
pub mod ingest;
pub mod read_load;
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
    /// The database indexes another chain or contract.
    #[error("this database indexes {recorded}, but the RPC serves {found}: point --rpc-url and --contract at what it indexes, or use a new database")]
    WrongChain {
        /// What the database holds.
        recorded: store::ChainIdentity,
        /// What the RPC serves.
        found: store::ChainIdentity,
    },
    /// The contract is not a Cairn contract.
    #[error(
        "{contract} is not a Cairn contract ({reason}); check --contract or the deployment file"
    )]
    NotCairn {
        /// The address.
        contract: Address,
        /// What gave it away.
        reason: String,
    },
}

impl IndexerError {
    /// Whether retrying cannot help: the chain or contract is wrong.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::WrongChain { .. } | Self::NotCairn { .. })
    }
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
    /// Blocks per `eth_getLogs` during backfill at most (split further if
    /// refused, and narrowed to what [`max_logs_per_fetch`](Self::max_logs_per_fetch) allows).
    pub max_range: u64,
    /// Logs one backfill fetch may return (unless one block holds more).
    /// A fetch is held in memory and committed in one transaction, so this
    /// bounds the ingester's memory and its longest statement; ranges are
    /// sized from the density the last fetch showed to return about half.
    pub max_logs_per_fetch: usize,
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
    /// How long ingestion may make no progress while behind before
    /// `/healthz` says it is stalled (and the chain unreadable before it
    /// says degraded).
    pub stall_after: Duration,
}

impl IndexerConfig {
    /// Defaults for `contract` at `rpc_url`: K = 2, 2,000-block ranges, a
    /// 64-block window, 250 ms polling, content checks at up to 2,000 blocks/s,
    /// missing blocks retried after 2 s, doubling to 5 minutes, stalled
    /// after 30 s without progress.
    pub fn new(rpc_url: impl Into<String>, contract: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            contract,
            start_block: 0,
            confirmations: 2,
            max_range: 2_000,
            max_logs_per_fetch: 10_000,
            reorg_window: 64,
            poll_interval: Duration::from_millis(250),
            ws_url: None,
            content_check_rate: 2_000,
            missing_retry: retry::Backoff::default(),
            stall_after: Duration::from_secs(30),
        }
    }
}

/// Handles to a running indexer.
#[derive(Debug, Clone)]
pub struct Running {
    /// The store it writes.
    pub store: Arc<dyn store::Store>,
    /// Pushes confirmed events to stream subscribers.
    pub fanout: Arc<fanout::Fanout>,
    /// Ingestion progress.
    pub progress: watch::Receiver<ingest::Progress>,
    /// The read API's load, which background work steps aside for; the
    /// API marks its requests in it.
    pub reads: Arc<read_load::ReadLoad>,
}

/// Starts ingestion, batch checks, content checks, the head poll and the
/// publishing of stream events to `fanout` as background tasks that stop when `shutdown` is cancelled. They share
/// nothing but the store: a slow block store delays batch delivery and
/// content checks, never confirmations.
///
/// It returns at once, whether or not the chain answers: a node whose RPC
/// is down serves what it has indexed (and says so on `/healthz`) while
/// the tasks that need the chain wait for it. They start once the RPC
/// serves the chain and contract this database was first filled from.
pub async fn spawn(
    config: IndexerConfig,
    store: Arc<dyn store::Store>,
    blocks: Arc<dyn content::BlockSource>,
    fanout: Arc<fanout::Fanout>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Running, IndexerError> {
    tokio::spawn(fanout.clone().run(
        store.clone(),
        store::StreamCursor(store.last_event_seq().await?),
        shutdown.clone().cancelled_owned(),
    ));
    let (progress_tx, progress) = watch::channel(ingest::Progress {
        start: config.start_block,
        indexed: store.checkpoint().await?.map(|c| c.number),
        progressed: Some(std::time::Instant::now()),
        confirmations: config.confirmations,
        stall_after: config.stall_after,
        ..Default::default()
    });
    let (rate, missing) = (config.content_check_rate.max(1), config.missing_retry);
    let reads = Arc::new(read_load::ReadLoad::default());
    tokio::spawn(content::run(
        store.clone(),
        blocks.clone(),
        reads.clone(),
        Duration::from_millis(500),
        rate,
        missing,
        shutdown.clone().cancelled_owned(),
    ));
    tokio::spawn(follow_chain(
        config,
        store.clone(),
        blocks,
        fanout.clone(),
        progress_tx,
        shutdown,
    ));
    Ok(Running {
        store,
        fanout,
        progress,
        reads,
    })
}

/// Waits for the chain, then runs the head poll, batch checks and ingestion.
async fn follow_chain(
    config: IndexerConfig,
    store: Arc<dyn store::Store>,
    blocks: Arc<dyn content::BlockSource>,
    fanout: Arc<fanout::Fanout>,
    progress: watch::Sender<ingest::Progress>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let connected = tokio::select! {
        _ = shutdown.cancelled() => None,
        source = connect(&config, &store, &progress) => source,
    };
    let Some((source, chain_id)) = connected else {
        return;
    };
    tracing::info!(chain_id, contract = %config.contract, "following the chain");
    let poll = config.poll_interval.max(Duration::from_secs(1));
    tokio::spawn(poll_head(
        source.clone(),
        poll,
        progress.clone(),
        shutdown.clone(),
    ));
    let wake = Arc::new(tokio::sync::Notify::new());
    let resolver = batches::Resolver {
        store: store.clone(),
        blocks,
        source: source.clone(),
        domain: contracts::eip712::domain(chain_id, source.contract()),
        missing: config.missing_retry,
        fanout: fanout.clone(),
        wake: wake.clone(),
        interval: config.poll_interval,
    };
    tokio::spawn(resolver.run(shutdown.clone().cancelled_owned()));
    loop {
        match ingest::Ingester::new(
            source.clone(),
            store.clone(),
            wake.clone(),
            config.clone(),
            fanout.clone(),
            progress.clone(),
        )
        .await
        {
            Ok(ingester) => return ingester.run(shutdown.cancelled_owned()).await,
            Err(err) => {
                tracing::error!(%err, "ingestion cannot start; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
}

/// Pause while the chain cannot be reached: 0.5 s doubling to 8 s.
const UNREACHABLE_BACKOFF: retry::Backoff = retry::Backoff {
    first: Duration::from_millis(500),
    cap: Duration::from_secs(8),
};

/// Connects, checks the contract and the chain against what the store
/// recorded, and retries until that works. `None` when it never can.
async fn connect(
    config: &IndexerConfig,
    store: &Arc<dyn store::Store>,
    progress: &watch::Sender<ingest::Progress>,
) -> Option<(ingest::ChainSource, u64)> {
    let mut failures = 0u32;
    loop {
        let attempt = async {
            let source = ingest::ChainSource::connect(&config.rpc_url, config.contract).await?;
            let found = source.identity().await?;
            source.check_contract().await?;
            let recorded = store.claim_chain(&found).await?;
            if recorded != found {
                return Err(IndexerError::WrongChain { recorded, found });
            }
            Ok((source, found.chain_id))
        };
        match attempt.await {
            Ok(connected) => {
                progress.send_modify(|p| p.rpc_error = None);
                return Some(connected);
            }
            Err(err) if err.is_fatal() => {
                tracing::error!(%err, "not indexing");
                progress.send_modify(|p| p.fatal = Some(err.to_string()));
                return None;
            }
            Err(err) => {
                failures += 1;
                let delay = UNREACHABLE_BACKOFF.delay(failures - 1);
                tracing::warn!(%err, ?delay, "cannot reach the chain; serving what is indexed");
                progress.send_modify(|p| p.rpc_error = Some(err.to_string()));
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Reads the head every `interval`, apart from ingestion, for `/healthz`.
async fn poll_head(
    source: ingest::ChainSource,
    interval: Duration,
    progress: watch::Sender<ingest::Progress>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let polled = source.head_once().await;
        progress.send_modify(|p| match polled {
            Ok(head) => {
                p.head = head;
                p.head_seen = Some(std::time::Instant::now());
                p.rpc_error = None;
            }
            Err(err) => p.rpc_error = Some(err),
        });
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
