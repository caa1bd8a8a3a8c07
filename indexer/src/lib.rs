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
pub mod lease;
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
    pub progress: watch::Receiver<health::Progress>,
    /// The read API's load, which background work steps aside for; the
    /// API marks its requests in it.
    pub reads: Arc<read_load::ReadLoad>,
}

/// Starts ingestion, batch checks, content checks, the head poll and the
/// publishing of stream events to `fanout` as background tasks that stop
/// when `shutdown` is cancelled. They share nothing but the store: a slow
/// block store delays batch delivery and content checks, never
/// confirmations.
///
/// It returns at once, whether or not the chain answers: a node whose RPC
/// is down serves what it has indexed (and says so on `/healthz`) while
/// the tasks that need the chain wait for it. They start once the RPC
/// serves the chain and contract this database was first filled from.
///
/// Several nodes may share one PostgreSQL database: then the one holding
/// the ingest lease ([`lease`]) ingests and runs the checks, the
/// others serve reads and streams and take over when it dies.
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
    if let Some(feed) = store.commit_feed().await? {
        tokio::spawn(wake_on_commits(feed, fanout.clone(), shutdown.clone()));
    }
    let (progress_tx, progress) = watch::channel(health::Progress {
        start: config.start_block,
        indexed: store.checkpoint().await?.map(|c| c.number),
        progressed: Some(std::time::Instant::now()),
        confirmations: config.confirmations,
        stall_after: config.stall_after,
        ..Default::default()
    });
    let reads = Arc::new(read_load::ReadLoad::default());
    tokio::spawn(follow_chain(
        config,
        Leader {
            store: store.clone(),
            blocks,
            fanout: fanout.clone(),
            reads: reads.clone(),
            progress: progress_tx,
        },
        shutdown,
    ));
    Ok(Running {
        store,
        fanout,
        progress,
        reads,
    })
}

/// Wakes `fanout` whenever another process commits events.
async fn wake_on_commits(
    mut feed: store::CommitFeed,
    fanout: Arc<fanout::Fanout>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = feed.next() => fanout.wake(),
        }
    }
}

/// What the lease holder's tasks share.
#[derive(Debug, Clone)]
struct Leader {
    store: Arc<dyn store::Store>,
    blocks: Arc<dyn content::BlockSource>,
    fanout: Arc<fanout::Fanout>,
    reads: Arc<read_load::ReadLoad>,
    progress: watch::Sender<health::Progress>,
}

/// How often a standby asks for the ingest lease (and reads the shared
/// checkpoint for its `/healthz`).
const STANDBY_POLL: Duration = Duration::from_millis(250);

/// Waits for the chain and runs the head poll; then, whenever this node
/// holds the ingest lease, ingestion, batch checks and content checks.
async fn follow_chain(
    config: IndexerConfig,
    leader: Leader,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let connected = tokio::select! {
        _ = shutdown.cancelled() => None,
        source = connect(&config, &leader.store, &leader.progress) => source,
    };
    let Some((source, chain_id)) = connected else {
        return;
    };
    tracing::info!(chain_id, contract = %config.contract, "following the chain");
    let poll = config.poll_interval.max(Duration::from_secs(1));
    tokio::spawn(poll_head(
        source.clone(),
        poll,
        leader.progress.clone(),
        shutdown.clone(),
    ));
    let holder = lease::holder_name();
    loop {
        let mut lease = tokio::select! {
            _ = shutdown.cancelled() => return,
            lease = stand_by(&leader, &holder) => lease,
        };
        tracing::info!(
            generation = lease.generation,
            "holding the ingest lease; ingesting"
        );
        metrics::counter!("cairn_indexer_lease_taken_total").increment(1);
        leader.progress.send_modify(|p| p.ingesting = true);
        let lost = shutdown.child_token();
        let tasks = lead(&config, &leader, &source, chain_id, lost.clone());
        tokio::select! {
            _ = lease.lost() => tracing::warn!("lost the ingest lease; standing by"),
            _ = lost.cancelled() => {}
        }
        lost.cancel();
        // Every task of this term ends before the next term may begin: a
        // task still writing would pass the next term's fence.
        for task in tasks {
            let _ = task.await;
        }
        leader.progress.send_modify(|p| p.ingesting = false);
        drop(lease);
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Asks for the ingest lease until it is granted, following the shared
/// checkpoint meanwhile so that `/healthz` reports the cluster's progress.
async fn stand_by(leader: &Leader, holder: &str) -> store::Lease {
    let mut announced = false;
    loop {
        match leader.store.try_ingest_lease(holder).await {
            Ok(Some(lease)) => return lease,
            Ok(None) if !announced => {
                tracing::info!("another node holds the ingest lease; standing by");
                announced = true;
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "cannot ask for the ingest lease; retrying"),
        }
        if let Ok(checkpoint) = leader.store.checkpoint().await {
            let indexed = checkpoint.map(|c| c.number);
            leader.progress.send_if_modified(|p| {
                let moved = p.indexed != indexed;
                if moved {
                    p.indexed = indexed;
                    p.progressed = Some(std::time::Instant::now());
                }
                moved
            });
        }
        tokio::time::sleep(STANDBY_POLL).await;
    }
}

/// Starts the lease holder's tasks: ingestion, batch checks and content
/// checks, until `lost` is cancelled.
fn lead(
    config: &IndexerConfig,
    leader: &Leader,
    source: &ingest::ChainSource,
    chain_id: u64,
    lost: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let content = tokio::spawn(content::run(
        leader.store.clone(),
        leader.blocks.clone(),
        leader.reads.clone(),
        Duration::from_millis(500),
        config.content_check_rate.max(1),
        config.missing_retry,
        lost.clone().cancelled_owned(),
    ));
    let wake = Arc::new(tokio::sync::Notify::new());
    let resolver = batches::Resolver {
        store: leader.store.clone(),
        blocks: leader.blocks.clone(),
        source: source.clone(),
        domain: contracts::eip712::domain(chain_id, source.contract()),
        missing: config.missing_retry,
        fanout: leader.fanout.clone(),
        wake: wake.clone(),
        interval: config.poll_interval,
    };
    let resolver = tokio::spawn(resolver.run(lost.clone().cancelled_owned()));
    let ingest = tokio::spawn(ingest_until(
        config.clone(),
        leader.clone(),
        source.clone(),
        wake,
        lost,
    ));
    vec![content, resolver, ingest]
}

/// Runs ingestion until `lost` is cancelled; cancels it when the store
/// says another node took the lease.
async fn ingest_until(
    config: IndexerConfig,
    leader: Leader,
    source: ingest::ChainSource,
    wake: Arc<tokio::sync::Notify>,
    lost: tokio_util::sync::CancellationToken,
) {
    loop {
        match ingest::Ingester::new(
            source.clone(),
            leader.store.clone(),
            wake.clone(),
            config.clone(),
            leader.fanout.clone(),
            leader.progress.clone(),
        )
        .await
        {
            Ok(ingester) => {
                ingester.run(lost.clone().cancelled_owned()).await;
                // It returns early only when another node took the lease.
                lost.cancel();
                return;
            }
            Err(err) => {
                tracing::error!(%err, "ingestion cannot start; retrying");
                tokio::select! {
                    _ = lost.cancelled() => return,
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
    progress: &watch::Sender<health::Progress>,
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
    progress: watch::Sender<health::Progress>,
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
