//! `cairn serve`: the block server, the indexer and the read API in one
//! process, and with `--gateway` the relaying gateway too.

use std::{io::IsTerminal, net::SocketAddr, time::Duration};

use cairn_indexer::api::StreamConfig;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{args::GlobalArgs, gateway::GatewayArgs, index::IndexerArgs};
use cairn::server::{
    web::{NodeInfo, WebConfig},
    Limits, Node, NodeConfig,
};

/// The HTTP server's address and limits, shared by `cairn serve` and `cairn gateway`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on. Loopback by default: put a reverse proxy with TLS in front for anything else.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Largest request body, in bytes (POST /v1/posts has its own limit, 8 MiB).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Request timeout, in seconds (WebSocket streams are not cut by it).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_secs: u64,
    /// Sustained requests per second per client IP.
    #[arg(long, default_value_t = Limits::default().per_ip_per_second, value_parser = clap::value_parser!(u64).range(1..))]
    rate_per_ip: u64,
    /// Burst of requests per client IP above the sustained rate.
    #[arg(long, default_value_t = Limits::default().per_ip_burst, value_parser = clap::value_parser!(u32).range(1..))]
    burst_per_ip: u32,
    /// Open connections at most, WebSockets included; keep it well below `ulimit -n`.
    #[arg(long, default_value_t = Limits::default().max_connections as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Open connections at most from one client IP.
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_ip: u64,
    /// Seconds a client may take to send a request's headers (and a keep-alive connection may idle).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    header_read_timeout_secs: u64,
    /// A web origin (e.g. https://dao.example) whose pages may use this node, besides the
    /// node's own and pages on this machine; repeat for more.
    #[arg(
        long = "allow-origin",
        env = "CAIRN_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
}

impl ServerArgs {
    /// The validated limits.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            per_ip_per_second: self.rate_per_ip,
            per_ip_burst: self.burst_per_ip,
            max_connections: self.max_connections as usize,
            max_connections_per_ip: self.max_connections_per_ip as usize,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            allowed_origins: self.allowed_origins.clone(),
            ..Limits::default()
        }
    }
}

/// Resolves on Ctrl-C (or SIGINT).
pub(crate) async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

/// Arguments of `cairn serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Serve blocks only: no indexer, no read API.
    #[arg(long)]
    no_indexer: bool,
    /// Also run the relaying gateway (POST /v1/posts, GET /v1/proofs/<id>).
    #[arg(long, env = "CAIRN_GATEWAY")]
    gateway: bool,
    #[command(flatten)]
    gateway_args: GatewayArgs,
    #[command(flatten)]
    indexer: IndexerArgs,
    /// Frames buffered per stream connection before it counts as slow.
    #[arg(long, default_value_t = StreamConfig::default().buffer as u64, value_parser = clap::value_parser!(u64).range(1..))]
    stream_buffer: u64,
    /// Seconds a stream's buffer may stay full before the client is disconnected.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    stream_send_timeout_secs: u64,
    /// Seconds between stream heartbeats.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_secs: u64,
    /// The built web client (`web/dist`, made by `make web`), served at `/`. Without it, no web client.
    #[arg(long, env = "CAIRN_WEB_DIR")]
    web_dir: Option<std::path::PathBuf>,
    /// Chain id the web client asks wallets to use. Defaults to the one in <data-dir>/deployment.json.
    #[arg(long, env = "CAIRN_CHAIN_ID")]
    chain_id: Option<u64>,
    /// Streams open at once per subscribed address.
    #[arg(long, default_value_t = StreamConfig::default().max_per_address as u64, value_parser = clap::value_parser!(u64).range(1..))]
    streams_per_address: u64,
}

impl ServeArgs {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let limits = self.server.limits();
        let stream = StreamConfig {
            buffer: self.stream_buffer as usize,
            send_timeout: Duration::from_secs(self.stream_send_timeout_secs),
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            max_per_address: self.streams_per_address as usize,
            ..StreamConfig::default()
        };
        let indexer = match self.no_indexer {
            true => None,
            false => Some(self.indexer.config(global)?),
        };
        let gateway = match self.gateway {
            true => Some(self.gateway_args.config(global)?),
            false => None,
        };
        let web = match &self.web_dir {
            Some(dir) => Some(self.web(dir, global)?),
            None => None,
        };
        // Sign-in, consent and presence come with the read API.
        let auth = match indexer {
            Some(_) => Some(cairn::auth::AuthConfig {
                rpc_url: global.rpc_url.clone(),
                chain_id: self.chain_id(global),
                contract: global.contract()?,
            }),
            None => None,
        };
        let node = Node::start(NodeConfig {
            listen: self.server.listen,
            store: global.blob_store()?,
            indexer,
            gateway,
            limits,
            stream,
            web,
            auth,
        })
        .await?;
        eprintln!("cairn serving on http://{}", node.addr);
        if let Some(progress) = node.progress.clone() {
            tokio::spawn(show_backfill(progress, self.indexer.confirmations));
        }
        node.run_until(ctrl_c()).await?;
        Ok(())
    }
}

impl ServeArgs {
    /// `--chain-id`, else the deployment's.
    fn chain_id(&self, global: &GlobalArgs) -> Option<u64> {
        self.chain_id
            .or_else(|| global.deployment().ok().map(|d| d.chain_id))
    }

    fn web(&self, dir: &std::path::Path, global: &GlobalArgs) -> anyhow::Result<WebConfig> {
        if !dir.join("index.html").is_file() {
            anyhow::bail!(
                "{} has no index.html: build the web client first (make web)",
                dir.display()
            );
        }
        Ok(WebConfig {
            dir: dir.to_path_buf(),
            node: NodeInfo {
                contract: global.contract()?,
                chain_id: self.chain_id(global),
                confirmations: self.indexer.confirmations,
                gateway: self.gateway,
            },
        })
    }
}

/// A progress bar with blocks per second while the indexer is behind the head.
pub(crate) async fn show_backfill(
    mut progress: tokio::sync::watch::Receiver<cairn_indexer::ingest::Progress>,
    confirmations: u64,
) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("backfill {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta})")
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
