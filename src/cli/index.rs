//! `cairn index`: the indexer alone, keeping its database up to date with
//! the chain and serving only `/healthz` and `/metrics`; and the indexer
//! flags `cairn serve` shares.
//!
//! It exists so that the indexer can run (and be restarted, upgraded or
//! killed) apart from the processes that answer users. Two indexers must not
//! write one database: give each its own.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use cairn::server::{self, Limits, StoreBlocks};
use cairn_indexer::IndexerConfig;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{args::GlobalArgs, http_server::ctrl_c};

/// How the indexer follows the chain, and where it writes.
#[derive(Debug, Args)]
pub(crate) struct IndexerArgs {
    /// Indexer database: sqlite://<path> (default <data-dir>/indexer.db) or postgres://...
    /// Prefer --database-url-file: a flag's value (and its password) is in the process list.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A file (readable by its owner alone) holding --database-url.
    #[arg(
        long,
        env = "DATABASE_URL_FILE",
        conflicts_with = "database_url",
        value_name = "FILE"
    )]
    database_url_file: Option<PathBuf>,
    /// Blocks that must sit on top of a message before it is confirmed and pushed (K).
    #[arg(long, env = "CAIRN_CONFIRMATIONS", default_value_t = 2)]
    pub(crate) confirmations: u64,
    /// First block to index. Defaults to the deployment block in <data-dir>/deployment.json, else 0.
    #[arg(long)]
    start_block: Option<u64>,
    /// Blocks per eth_getLogs during backfill (halved while the node refuses).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_range: u64,
    /// Logs one backfill eth_getLogs may return (unless one block holds more): bounds
    /// memory and the longest database transaction whatever the chain's density.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_logs_per_fetch: u64,
    /// Recent blocks kept to trace reorgs.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(2..))]
    reorg_window: u64,
    /// WebSocket endpoint of the node for new-head notifications (e.g. ws://127.0.0.1:8545);
    /// RPC calls stay on --rpc-url. Without it the indexer polls.
    #[arg(long, env = "CAIRN_WS_URL")]
    ws_url: Option<String>,
    /// Envelopes per second the content check may re-hash (an audit beside delivery:
    /// under a burst it falls behind and catches up after).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    content_check_rate: u32,
    /// Head polling interval in milliseconds (the longest wait even when subscribed).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..))]
    poll_interval_ms: u64,
    /// Seconds without progress while behind (or without reading the head) before
    /// /healthz says stalled (503) or degraded.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    stall_after_secs: u64,
}

impl IndexerArgs {
    /// The indexer's configuration and database URL.
    pub(crate) fn config(&self, global: &GlobalArgs) -> anyhow::Result<(IndexerConfig, String)> {
        let contract = global.contract()?;
        let start_block = self
            .start_block
            .or_else(|| global.deployment().ok().map(|d| d.deploy_block))
            .unwrap_or(0);
        let database_url = super::args::url_or_file(&self.database_url, &self.database_url_file)?
            .unwrap_or_else(|| {
                format!("sqlite://{}", global.data_dir.join("indexer.db").display())
            });
        global.ensure_data_dir()?;
        let config = IndexerConfig {
            start_block,
            confirmations: self.confirmations,
            max_range: self.max_range,
            max_logs_per_fetch: self.max_logs_per_fetch as usize,
            reorg_window: self.reorg_window,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            ws_url: self.ws_url.clone(),
            content_check_rate: self.content_check_rate,
            stall_after: Duration::from_secs(self.stall_after_secs),
            ..IndexerConfig::new(global.rpc_url.clone(), contract)
        };
        Ok((config, database_url))
    }
}

/// Arguments of `cairn index`.
#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    #[command(flatten)]
    indexer: IndexerArgs,
    /// Address of `/healthz`, `/livez`, `/readyz` and `/metrics` (no other
    /// route is served).
    #[arg(long, env = "CAIRN_INDEX_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: super::http_server::TlsArgs,
}

impl IndexArgs {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let (config, database_url) = self.indexer.config(global)?;
        let tls = self.tls.load()?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", self.listen))?;
        let store = cairn_indexer::store::open(&database_url).await?;
        // Batch manifests and envelopes are read for checking, never served.
        let blob_store = global.blob_store()?;
        let mut probes = blob_store.probes();
        probes.push(cairn::health::rpc_probe(&config.rpc_url).await);
        probes.push(cairn::health::database_probe(store.clone()));
        let blocks = Arc::new(StoreBlocks(blob_store));
        let shutdown = CancellationToken::new();
        let running =
            cairn_indexer::spawn(config, store, blocks, Default::default(), shutdown.clone())
                .await?;
        eprintln!(
            "cairn indexing; status on {}://{}",
            super::http_server::scheme(&tls),
            listener.local_addr()?
        );
        tokio::spawn(show_backfill(
            running.progress.clone(),
            self.indexer.confirmations,
        ));
        let limits = Limits::default().status();
        let readiness = cairn::health::spawn(
            probes,
            cairn::health::PROBE_EVERY,
            cairn::health::PROBE_TIMEOUT,
            shutdown.clone(),
        );
        let app = server::status_app(running.progress, readiness, &limits);
        let server = server::serve_with(listener, app, &limits, tls, shutdown.clone());
        tokio::select! {
            result = server => result?,
            _ = ctrl_c() => shutdown.cancel(),
        }
        Ok(())
    }
}

/// A progress bar with blocks per second while the indexer is behind the head.
pub(crate) async fn show_backfill(
    mut progress: tokio::sync::watch::Receiver<cairn_indexer::health::Progress>,
    confirmations: u64,
) {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "backfill {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta})",
        )
        .expect("static template"),
    );
    while progress.changed().await.is_ok() {
        let p = progress.borrow().clone();
        let done = p.indexed.map_or(0, |i| i.saturating_sub(p.start) + 1);
        bar.set_length(p.head.saturating_sub(p.start) + 1);
        bar.set_position(done);
        if p.indexed.is_some_and(|i| i + confirmations >= p.head) {
            bar.finish_with_message("caught up");
            return;
        }
    }
}
