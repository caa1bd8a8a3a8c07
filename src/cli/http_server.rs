//! The HTTP server's flags (address and limits) and its shutdown signal,
//! shared by `cairn serve`, `cairn gateway` and `cairn index`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;

use cairn::server::{tls::Tls, Limits, PublicOrigins};
use cairn_indexer::api::TrustedProxies;

/// TLS served by the process itself, shared by `cairn serve`, `cairn gateway` and `cairn index`.
#[derive(Debug, Args)]
pub(crate) struct TlsArgs {
    /// PEM certificate chain: serve https:// and wss:// on every listener, without a proxy in
    /// front. Read again on SIGHUP (after a renewal); a file that does not load then leaves
    /// the running certificate in place.
    #[arg(
        long,
        env = "CAIRN_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1). Keep it readable by this user only.
    #[arg(
        long,
        env = "CAIRN_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The certificate, reloaded on SIGHUP; `None` without --tls-cert.
    pub(crate) fn load(&self) -> anyhow::Result<Option<Arc<Tls>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let tls = Tls::load(cert, key)?;
        tls.reload_on_sighup()?;
        Ok(Some(tls))
    }
}

/// `https` with TLS, else `http`, for the address a command prints.
pub(crate) fn scheme(tls: &Option<Arc<Tls>>) -> &'static str {
    if tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// The HTTP server's address and limits, shared by `cairn serve` and `cairn gateway`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on. Loopback by default: for anything else serve TLS (--tls-cert) or put
    /// a reverse proxy with TLS in front.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Address of the status listener: `/healthz` and Prometheus `/metrics`, which are never
    /// served on `--listen` (their counters would tell strangers about users). Keep it private.
    /// Without it no metrics are served.
    #[arg(long, env = "CAIRN_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<SocketAddr>,
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
    /// Open connections at most, WebSockets included. Default: three quarters of the open-file
    /// limit (`ulimit -n`), between 256 and 65,536; the rest is for databases, Kubo and files.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Open connections at most from one client IP.
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_ip: u64,
    /// Seconds a client may take to send a request's headers (and a keep-alive connection may idle).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    header_read_timeout_secs: u64,
    /// Where users reach this node (e.g. https://chat.dao.example); repeat for more. Sign-ins
    /// must be made for one of these, and requests naming another `Host` are refused.
    /// Default: the listen address on this machine (127.0.0.1, localhost, [::1]), for development.
    #[arg(
        long = "public-origin",
        env = "CAIRN_PUBLIC_ORIGINS",
        value_delimiter = ','
    )]
    public_origins: Vec<String>,
    /// A web origin (e.g. https://dao.example) whose pages may use this node, besides the
    /// public origins; repeat for more.
    #[arg(
        long = "allow-origin",
        env = "CAIRN_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// A load balancer or reverse proxy (an address or a network, e.g. 10.0.0.0/8) whose
    /// X-Forwarded-For names the client; repeat for more. Its connections are exempt from the
    /// per-IP connection cap, and every per-IP limit counts the client it names. Anyone
    /// else's X-Forwarded-For is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "CAIRN_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR",
        value_parser = parse_network
    )]
    trusted_proxies: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

/// A network (`10.0.0.0/8`), or one address (`192.0.2.7`, taken as /32 or /128).
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a network (e.g. 10.0.0.0/8)"))
}

impl ServerArgs {
    /// The validated limits.
    pub(crate) fn limits(&self) -> anyhow::Result<Limits> {
        PublicOrigins::validate(&self.public_origins)?;
        Ok(Limits {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            per_ip_per_second: self.rate_per_ip,
            per_ip_burst: self.burst_per_ip,
            max_connections: match self.max_connections {
                Some(n) => n as usize,
                None => {
                    let files = open_file_limit();
                    let cap = connection_cap(files);
                    tracing::info!(
                        max_connections = cap,
                        open_file_limit = files,
                        "connection cap from the open-file limit (--max-connections sets it)"
                    );
                    cap
                }
            },
            max_connections_per_ip: self.max_connections_per_ip as usize,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            allowed_origins: self.allowed_origins.clone(),
            public_origins: self.public_origins.clone(),
            trusted_proxies: TrustedProxies::new(self.trusted_proxies.clone()),
            ..Limits::default()
        })
    }
}

/// The process's soft limit of open files (`ulimit -n`), from
/// `/proc/self/limits`; `None` where that cannot be read.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The default connection cap for `files` open files: three quarters of
/// them (each connection is one), between 256 and 65,536; 4,096 when the
/// limit is unknown.
fn connection_cap(files: Option<u64>) -> usize {
    files.map_or(Limits::default().max_connections, |n| {
        (n / 4 * 3).clamp(256, 65_536) as usize
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what systemd and container
/// runtimes send to stop a service): open requests then finish, and the
/// leases go with the database connections.
pub(crate) async fn ctrl_c() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxy_is_an_address_or_a_network() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("lb.internal")
            .unwrap_err()
            .contains("not an address"));
    }

    #[test]
    fn the_connection_cap_follows_the_open_file_limit() {
        assert_eq!(connection_cap(Some(1024)), 768);
        assert_eq!(connection_cap(Some(1_048_576)), 65_536);
        assert_eq!(connection_cap(Some(100)), 256);
        assert_eq!(connection_cap(None), 4096);
        // This machine's limit is read as a number.
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
