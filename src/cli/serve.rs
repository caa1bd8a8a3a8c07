//! `cairn serve`: the block server, the indexer and the read API in one
//! process, and with `--gateway` the relaying gateway too.

use std::time::Duration;

use cairn_indexer::api::StreamConfig;
use clap::Args;

use super::{
    args::GlobalArgs,
    gateway::GatewayArgs,
    http_server::{ctrl_c, ServerArgs},
    index::{show_backfill, IndexerArgs},
};
use cairn::server::{
    web::{NodeInfo, WebConfig},
    Node, NodeConfig,
};

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
    /// Streams open at once per subscribed address for its signed-in owner, and per channel.
    #[arg(long, default_value_t = StreamConfig::default().max_per_address as u64, value_parser = clap::value_parser!(u64).range(1..))]
    streams_per_address: u64,
    /// Anonymous streams open at once per subscribed address; they never take the
    /// signed-in owner's slots.
    #[arg(long, default_value_t = StreamConfig::default().max_anonymous_per_address as u64, value_parser = clap::value_parser!(u64).range(1..))]
    anonymous_streams_per_address: u64,
}

impl ServeArgs {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let limits = self.server.limits()?;
        let stream = StreamConfig {
            buffer: self.stream_buffer as usize,
            send_timeout: Duration::from_secs(self.stream_send_timeout_secs),
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            max_per_address: self.streams_per_address as usize,
            max_anonymous_per_address: self.anonymous_streams_per_address as usize,
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
        let tls = self.server.tls.load()?;
        let scheme = super::http_server::scheme(&tls);
        let node = Node::start(NodeConfig {
            listen: self.server.listen,
            status_listen: self.server.metrics_listen,
            store: global.blob_store()?,
            indexer,
            gateway,
            limits,
            stream,
            web,
            tls,
            auth,
        })
        .await?;
        eprintln!("cairn serving on {scheme}://{}", node.addr);
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
