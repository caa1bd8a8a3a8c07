//! Ingestion: from contract logs to store rows, safe under reorgs and crashes.
//!
//! Far below the head (more than the reorg window) the ingester backfills
//! with `eth_getLogs` over large ranges, fetching the next range while it
//! commits the last: the node's answer and the database's writes then take
//! their time side by side instead of in turn. Near the head it takes one block at
//! a time: it checks the block's parent hash against the [`ReorgWindow`],
//! fetches the block's logs by block hash, and commits rows, window entry,
//! checkpoint and confirmations in one transaction. On a parent mismatch it
//! finds the fork point, rolls back (retracting confirmed rows) and goes on
//! from there.
//!
//! A block is confirmed once `confirmations` blocks sit on top of it
//! (`block + confirmations <= head`).

mod decode;
mod ranges;
mod source;
mod window;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{watch, Notify};

use crate::{fanout::Fanout, health::Progress};

pub use crate::block::{cid_for_digest, BlockRef};
pub use source::{ChainSource, SignerEvents};
pub use window::{Continuity, ReorgWindow};

use crate::{
    store::{IngestBatch, Store},
    IndexerConfig, IndexerError,
};

/// Rows one backfill transaction commits at most (unless one block holds
/// more): about 100 ms on PostgreSQL, so readers never wait behind a
/// confirmation of a whole fetch.
const COMMIT_ROWS: usize = 1_000;

/// Pause after a failed step: 0.4 s doubling to 12.8 s.
const FAILURE_BACKOFF: crate::retry::Backoff = crate::retry::Backoff {
    first: Duration::from_millis(400),
    cap: Duration::from_millis(12_800),
};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Ingested blocks up to this number.
    Ingested(u64),
    /// Rolled back to this number.
    RolledBack(u64),
    /// Nothing new.
    AtHead,
}

/// Follows the chain and writes the store.
#[derive(Debug)]
pub struct Ingester {
    source: ChainSource,
    store: Arc<dyn Store>,
    /// Wakes the batch check when new anchors are stored.
    batches_wake: Arc<Notify>,
    config: IndexerConfig,
    window: ReorgWindow,
    checkpoint: Option<BlockRef>,
    /// Blocks the next backfill fetch spans, sized by the last one's density.
    span: u64,
    /// The backfill range fetched while the one before it committed; used
    /// by the next step if it starts where that step does.
    prefetched: Option<Fetched>,
    /// The newest head a `newHeads` notification announced: while the
    /// checkpoint is below it, a step need not ask for the head first.
    announced_head: Option<u64>,
    fanout: Arc<Fanout>,
    progress: watch::Sender<Progress>,
}

impl Ingester {
    /// Loads the checkpoint and window from `store`.
    pub async fn new(
        source: ChainSource,
        store: Arc<dyn Store>,
        batches_wake: Arc<Notify>,
        config: IndexerConfig,
        fanout: Arc<Fanout>,
        progress: watch::Sender<Progress>,
    ) -> Result<Self, IndexerError> {
        let window = ReorgWindow::with_blocks(config.reorg_window as usize, store.window().await?);
        let checkpoint = store.checkpoint().await?;
        if let Some(cp) = checkpoint {
            tracing::info!(block = cp.number, "resuming from checkpoint");
        }
        progress.send_modify(|p| p.indexed = checkpoint.map(|c| c.number));
        Ok(Self {
            source,
            store,
            batches_wake,
            span: ranges::FIRST_SPAN.min(config.max_range),
            prefetched: None,
            announced_head: None,
            config,
            window,
            checkpoint,
            fanout,
            progress,
        })
    }

    /// Runs until `shutdown` resolves. Failures are logged and retried with
    /// backoff: an RPC outage or a database restart pauses ingestion, it
    /// never ends it. Losing the ingest lease does.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        // A ws:// RPC endpoint offers subscriptions itself.
        let ws_url = self.config.ws_url.clone().or_else(|| {
            let rpc = &self.config.rpc_url;
            (rpc.starts_with("ws://") || rpc.starts_with("wss://")).then(|| rpc.clone())
        });
        let mut heads = HeadWatcher::new(ws_url.as_deref(), self.config.poll_interval).await;
        let mut failures = 0u32;
        loop {
            let step = self.step().await;
            if step.is_ok() {
                self.progress
                    .send_modify(|p| p.progressed = Some(Instant::now()));
            }
            let wait = match step {
                Ok(Step::Ingested(_) | Step::RolledBack(_)) => {
                    failures = 0;
                    continue;
                }
                Ok(Step::AtHead) => None,
                Err(IndexerError::Store(crate::store::StoreError::LeaseLost)) => {
                    tracing::warn!("another node took the ingest lease; stopping ingestion");
                    return;
                }
                Err(err) => {
                    // Ask the node again rather than trust an announcement.
                    self.announced_head = None;
                    failures += 1;
                    let delay = FAILURE_BACKOFF.delay(failures - 1);
                    tracing::error!(%err, ?delay, "ingestion step failed; retrying");
                    metrics::counter!("cairn_indexer_errors_total").increment(1);
                    Some(delay)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                announced = async {
                    match wait {
                        Some(delay) => {
                            tokio::time::sleep(delay).await;
                            None
                        }
                        None => heads.next().await,
                    }
                } => {
                    // The latest word wins, even if lower: after a reorg to a
                    // shorter chain the head goes down.
                    if announced.is_some() {
                        self.announced_head = announced;
                    }
                }
            }
        }
    }

    async fn step(&mut self) -> Result<Step, IndexerError> {
        let next = self
            .checkpoint
            .map_or(self.config.start_block, |c| c.number + 1);
        // `Progress::head` is the independent poll's; this is the step's own.
        // Following announced heads, the node is asked only once the
        // checkpoint has caught up with them: a confirming block is then
        // ingested without a round trip first.
        let head = match self.announced_head {
            Some(head) if next <= head => head,
            _ => self.source.head().await?,
        };
        if next > head {
            return Ok(Step::AtHead);
        }
        let confirm_upto = head.checked_sub(self.config.confirmations);
        let window = self.config.reorg_window;
        let cap = self.config.max_logs_per_fetch;
        let (block, logs, following) = if head - next > window {
            // Deep below the head: as many blocks as about half the log cap
            // allows at the density seen last, ending `window` blocks below it.
            let end = head - window;
            let fetched = match self.prefetched.take() {
                Some(f) if f.from == next && f.block.number <= end => {
                    metrics::counter!("cairn_indexer_prefetched_ranges_total").increment(1);
                    f
                }
                _ => {
                    let to = next.saturating_add(self.span - 1).min(end);
                    Fetched::fetch(&self.source, next..=to, cap).await?
                }
            };
            let to = fetched.block.number;
            self.span = ranges::next_span(
                to - next + 1,
                fetched.logs.len(),
                cap,
                self.config.max_range,
            );
            // The range after it, still `window` below the head.
            let following = (to < end).then(|| to + 1..=to.saturating_add(self.span).min(end));
            (fetched.block, fetched.logs, following)
        } else {
            self.prefetched = None;
            let block = self.source.header(next).await?;
            let continuity = match (self.window.validate_parent(&block), self.checkpoint) {
                (Continuity::Unknown, Some(cp))
                    if cp.number + 1 == block.number && cp.hash != block.parent_hash =>
                {
                    Continuity::Reorg {
                        expected: cp.hash,
                        got: block.parent_hash,
                    }
                }
                (c, _) => c,
            };
            if let Continuity::Reorg { expected, got } = continuity {
                tracing::warn!(block = block.number, %expected, %got, "parent hash mismatch: reorg");
                return self.roll_back().await.map(Step::RolledBack);
            }
            let logs = self.source.logs_in_block(block.hash).await?;
            (block, logs, None)
        };
        // A backfill fetch commits in chunks of whole blocks, each with its
        // checkpoint, so no transaction grows with the fetch; the last chunk
        // records the range's end block.
        let max_rows = if block.number > next {
            COMMIT_ROWS
        } else {
            usize::MAX
        };
        let chunks = ranges::commit_chunks(&logs, max_rows);
        let last = chunks.len() - 1;
        // The next range is fetched beside the commits, on a clone of the
        // source; it is dropped with this step if the step is.
        let prefetch = following.map(|range| {
            let source = self.source.clone();
            async move { Fetched::fetch(&source, range, cap).await }
        });
        let commits = async {
            for (i, chunk) in chunks.into_iter().enumerate() {
                let logs = &logs[chunk];
                let at = match logs.last() {
                    Some(log) if i < last => BlockRef {
                        number: log.block_number.unwrap_or_default(),
                        hash: log.block_hash.unwrap_or_default(),
                        parent_hash: Default::default(),
                    },
                    _ => block,
                };
                self.commit(logs, at, i == last, confirm_upto).await?;
            }
            Ok::<_, IndexerError>(())
        };
        let (committed, prefetched) =
            tokio::join!(commits, futures::future::OptionFuture::from(prefetch));
        committed?;
        // A failed prefetch is not this step's failure: the next step
        // fetches the range itself, and reports what fails then.
        self.prefetched = match prefetched {
            Some(Ok(fetched)) => Some(fetched),
            Some(Err(err)) => {
                tracing::debug!(%err, "prefetching the next range failed; it is fetched again");
                None
            }
            None => None,
        };
        self.window.insert(block);
        Ok(Step::Ingested(block.number))
    }

    /// Commits the rows of `logs`, the checkpoint `at` (recorded in the
    /// window table when `record`), and the confirmations up to `confirm_upto`.
    async fn commit(
        &mut self,
        logs: &[alloy::rpc::types::Log],
        at: BlockRef,
        record: bool,
        confirm_upto: Option<u64>,
    ) -> Result<(), IndexerError> {
        let decode::Decoded {
            messages,
            keys,
            batches,
            channel_events,
        } = decode::decode_logs(logs);
        let (count, anchors) = (messages.len(), batches.len());
        let batch = IngestBatch {
            messages,
            keys,
            batches,
            channel_events,
            blocks: if record { vec![at] } else { Vec::new() },
            checkpoint: Some(at),
            confirm_upto,
            prune_below: at.number.saturating_sub(self.config.reorg_window),
        };
        let started = Instant::now();
        self.store.apply(&batch).await?;
        metrics::histogram!("cairn_indexer_commit_seconds").record(started.elapsed());
        self.checkpoint = Some(at);
        self.progress.send_modify(|p| p.indexed = Some(at.number));
        metrics::gauge!("cairn_indexer_block").set(at.number as f64);
        metrics::counter!("cairn_indexer_messages_total").increment(count as u64);
        self.fanout.wake();
        if anchors > 0 {
            self.batches_wake.notify_one();
        }
        Ok(())
    }

    /// Finds the fork point, rolls the store back to it and retracts.
    async fn roll_back(&mut self) -> Result<u64, IndexerError> {
        self.announced_head = None;
        self.prefetched = None;
        let mut canonical = BTreeMap::new();
        let recorded: Vec<BlockRef> = self.window.newest_first().copied().collect();
        for b in &recorded {
            let now = self.source.header(b.number).await?;
            canonical.insert(b.number, now.hash);
            if now.hash == b.hash {
                break;
            }
        }
        let fork = match self.window.find_fork_point(&canonical) {
            Some(fork) => fork,
            None => {
                // Deeper than the window: roll back everything it holds.
                let oldest = recorded
                    .last()
                    .map_or(self.config.start_block, |b| b.number);
                let below = oldest.saturating_sub(1);
                tracing::error!(
                    window = self.config.reorg_window,
                    below,
                    "reorg deeper than the window"
                );
                self.source.header(below).await?
            }
        };
        let retracted = self.store.rollback_to(&fork).await?;
        self.window.truncate_above(fork.number);
        self.checkpoint = Some(fork);
        self.progress.send_modify(|p| p.indexed = Some(fork.number));
        tracing::warn!(
            fork = fork.number,
            retracted,
            "rolled back to the fork point"
        );
        metrics::counter!("cairn_indexer_reorgs_total").increment(1);
        metrics::counter!("cairn_indexer_retracted_total").increment(retracted);
        self.fanout.wake();
        Ok(fork.number)
    }
}

/// One backfill range's logs, in chain order, and its last block.
#[derive(Debug)]
struct Fetched {
    /// The range's first block.
    from: u64,
    /// Its last block: the end asked for, or less when the log cap cut it.
    block: BlockRef,
    logs: Vec<alloy::rpc::types::Log>,
}

impl Fetched {
    /// The logs from the start of `range` on, at most `cap` of them (see
    /// [`ChainSource::logs_from`]), and the header of the last block read.
    async fn fetch(
        source: &ChainSource,
        range: std::ops::RangeInclusive<u64>,
        cap: usize,
    ) -> Result<Self, IndexerError> {
        let from = *range.start();
        let (to, logs) = source.logs_from(range, cap).await?;
        let block = source.header(to).await?;
        Ok(Self { from, block, logs })
    }
}

/// Waits for the next head: by `newHeads` subscription on a WebSocket
/// endpoint when one is configured, by polling otherwise, and never longer
/// than the poll interval (a missed notification costs one interval).
struct HeadWatcher {
    subscription: Option<(
        alloy::providers::DynProvider,
        alloy::pubsub::Subscription<alloy::rpc::types::Header>,
    )>,
    poll_interval: Duration,
}

impl HeadWatcher {
    async fn new(ws_url: Option<&str>, poll_interval: Duration) -> Self {
        use alloy::providers::{Provider, ProviderBuilder};
        let subscription = match ws_url {
            Some(url) => match ProviderBuilder::new().connect(url).await {
                Ok(provider) => {
                    let provider = provider.erased();
                    match provider.subscribe_blocks().await {
                        Ok(sub) => Some((provider, sub)),
                        Err(err) => {
                            tracing::warn!(%err, url, "no newHeads subscription; polling");
                            None
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, url, "cannot reach the WebSocket endpoint; polling");
                    None
                }
            },
            None => None,
        };
        match subscription {
            Some(_) => tracing::info!("following new heads by subscription"),
            None => tracing::info!(?poll_interval, "following new heads by polling"),
        }
        Self {
            subscription,
            poll_interval,
        }
    }

    /// Waits for the next head; returns its number when a notification said it.
    async fn next(&mut self) -> Option<u64> {
        match &mut self.subscription {
            Some((_, sub)) => tokio::time::timeout(self.poll_interval, sub.recv())
                .await
                .ok()?
                .ok()
                .map(|header| header.number),
            None => {
                tokio::time::sleep(self.poll_interval).await;
                None
            }
        }
    }
}
