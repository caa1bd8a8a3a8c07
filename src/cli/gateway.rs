//! `cairn gateway`: the block server plus the relaying gateway, without the
//! indexer; and the gateway flags `cairn serve --gateway` shares.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::{
    args::{key_or_file, url_or_file, GlobalArgs},
    http_server::ServerArgs,
};
use cairn::{
    gateway::{quota::Rate, GatewayConfig},
    server::{Node, NodeConfig},
};

/// Arguments of `cairn gateway`.
#[derive(Debug, Args)]
pub(crate) struct GatewayCmd {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
}

/// How the gateway batches and anchors.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// Key that pays for anchors (hex). It must serve this gateway only. Defaults to --private-key.
    /// Prefer --relayer-key-file: a flag's value is in the process list.
    #[arg(long, env = "CAIRN_RELAYER_KEY", hide_env_values = true)]
    relayer_key: Option<String>,
    /// A file (readable by its owner alone) holding --relayer-key: hex, or an encrypted
    /// keystore opened with --keystore-password-file.
    #[arg(
        long,
        env = "CAIRN_RELAYER_KEY_FILE",
        conflicts_with = "relayer_key",
        value_name = "FILE"
    )]
    relayer_key_file: Option<PathBuf>,
    /// Outbox database: sqlite://<path> (default <data-dir>/gateway.db) or postgres://...
    #[arg(long, env = "CAIRN_GATEWAY_DATABASE_URL", hide_env_values = true)]
    gateway_database_url: Option<String>,
    /// A file (readable by its owner alone) holding --gateway-database-url, so that its
    /// password is not in the process list.
    #[arg(
        long,
        env = "CAIRN_GATEWAY_DATABASE_URL_FILE",
        conflicts_with = "gateway_database_url",
        value_name = "FILE"
    )]
    gateway_database_url_file: Option<PathBuf>,
    /// Close a batch at this many posts.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=cairn_contracts::manifest::MAX_POSTS as u64))]
    max_batch: u64,
    /// Close a batch when its oldest post has waited this many milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..))]
    max_batch_age_ms: u64,
    /// Blocks on top of an anchor before the gateway reports it final.
    #[arg(long, default_value_t = 2)]
    anchor_confirmations: u64,
    /// Seconds a post must have left before its deadline to be accepted.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(31..))]
    min_deadline_secs: u64,
    /// Posts per POST /v1/posts request.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_posts_per_request: u64,
    /// Seconds without a receipt before an anchor is broadcast again.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    rebroadcast_after_secs: u64,
    /// Seconds an anchor may stay unmined before it is replaced with fees a quarter higher.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    fee_bump_after_secs: u64,
    /// Posts per second one sender may have accepted (the relayer pays for each).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    posts_per_sender: u32,
    /// Posts one sender may send at once above that rate.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    posts_per_sender_burst: u32,
    /// Posts per second one client IP may submit.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    posts_per_ip: u32,
    /// Posts one client IP may submit at once above that rate.
    #[arg(long, default_value_t = 8_192, value_parser = clap::value_parser!(u32).range(1..))]
    posts_per_ip_burst: u32,
    /// Key (hex) that pays for signed key registrations (POST /v1/registrations), so wallets
    /// with no ETH can join. Not the relayer's. Without it the gateway pays for none.
    #[arg(long, env = "CAIRN_REGISTRAR_KEY", hide_env_values = true)]
    registrar_key: Option<String>,
    /// A file (readable by its owner alone) holding --registrar-key: hex, or an encrypted
    /// keystore opened with --keystore-password-file.
    #[arg(
        long,
        env = "CAIRN_REGISTRAR_KEY_FILE",
        conflicts_with = "registrar_key",
        value_name = "FILE"
    )]
    registrar_key_file: Option<PathBuf>,
    /// Registrations (first keys, rotations and device-signer authorizations) the registrar
    /// pays for one wallet in a day.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    registrations_per_owner_per_day: u32,
    /// Channel changes (create, members, epochs, key bundles) the registrar pays for one
    /// admin in a day, sent for a signature of the admin's or its device key's.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    channel_actions_per_admin_per_day: u32,
    /// Below this balance (wei) the relayer makes `/readyz` answer 503: it may soon be unable
    /// to pay for an anchor.
    #[arg(long, default_value_t = 1_000_000_000_000_000)]
    min_relayer_balance_wei: u128,
    /// A post still unanchored this many seconds after it was accepted makes `/readyz`
    /// answer 503.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    max_anchor_delay_secs: u64,
}

impl GatewayArgs {
    /// The validated gateway settings.
    pub(crate) fn config(&self, global: &GlobalArgs) -> anyhow::Result<GatewayConfig> {
        let relayer = match key_or_file(
            global,
            "relayer-key",
            &self.relayer_key,
            &self.relayer_key_file,
        )? {
            Some(key) => key,
            None => global.wallet()?,
        };
        global.ensure_data_dir()?;
        let database_url =
            url_or_file(&self.gateway_database_url, &self.gateway_database_url_file)?
                .unwrap_or_else(|| {
                    format!("sqlite://{}", global.data_dir.join("gateway.db").display())
                });
        let registrar = key_or_file(
            global,
            "registrar-key",
            &self.registrar_key,
            &self.registrar_key_file,
        )?;
        Ok(GatewayConfig {
            registrar,
            registrations_per_owner_per_day: self.registrations_per_owner_per_day,
            channel_actions_per_admin_per_day: self.channel_actions_per_admin_per_day,
            min_relayer_balance: alloy::primitives::U256::from(self.min_relayer_balance_wei),
            max_anchor_delay: Duration::from_secs(self.max_anchor_delay_secs),
            max_batch: self.max_batch as usize,
            max_age: Duration::from_millis(self.max_batch_age_ms),
            confirmations: self.anchor_confirmations,
            min_deadline_margin: Duration::from_secs(self.min_deadline_secs),
            max_posts_per_request: self.max_posts_per_request as usize,
            rebroadcast_after: Duration::from_secs(self.rebroadcast_after_secs),
            fee_bump_after: Duration::from_secs(self.fee_bump_after_secs),
            posts_per_sender: Rate {
                per_second: self.posts_per_sender,
                burst: self.posts_per_sender_burst,
            },
            posts_per_ip: Rate {
                per_second: self.posts_per_ip,
                burst: self.posts_per_ip_burst,
            },
            ..GatewayConfig::new(
                global.rpc_url.clone(),
                global.contract()?,
                relayer,
                database_url,
            )
        })
    }
}

impl GatewayCmd {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let tls = self.server.tls.load()?;
        let scheme = super::http_server::scheme(&tls);
        let node = Node::start(NodeConfig {
            listen: self.server.listen,
            status_listen: self.server.metrics_listen,
            store: global.blob_store()?,
            indexer: None,
            gateway: Some(self.gateway.config(global)?),
            limits: self.server.limits()?,
            stream: Default::default(),
            web: None,
            tls,
            auth: None,
        })
        .await?;
        eprintln!(
            "cairn gateway on {scheme}://{} (POST /v1/posts, GET /v1/proofs/<id>)",
            node.addr
        );
        node.run_until(super::http_server::ctrl_c()).await?;
        Ok(())
    }
}
