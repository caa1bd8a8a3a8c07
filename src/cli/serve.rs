//! `cairn serve`: run the embedded block store's HTTP server.

use std::{net::SocketAddr, time::Duration};

use clap::Args;

use super::args::GlobalArgs;
use cairn::server::{self, AppState, Limits};

/// Arguments of `cairn serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on. Loopback by default: put a reverse proxy with TLS in front for anything else.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Request timeout, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_secs: u64,
    /// Sustained requests per second per client IP.
    #[arg(long, default_value_t = Limits::default().per_ip_per_second, value_parser = clap::value_parser!(u64).range(1..))]
    rate_per_ip: u64,
    /// Burst of requests per client IP above the sustained rate.
    #[arg(long, default_value_t = Limits::default().per_ip_burst)]
    burst_per_ip: u32,
}

impl ServeArgs {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let limits = Limits {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            per_ip_per_second: self.rate_per_ip,
            per_ip_burst: self.burst_per_ip.max(1),
            ..Limits::default()
        };
        let state = AppState {
            store: global.blob_store()?,
            metrics: server::metrics_handle(),
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        server::serve(self.listen, state, &limits, shutdown).await?;
        Ok(())
    }
}
