//! One Cairn node: the block server plus, optionally, the indexer and its
//! read API and the relaying gateway, in one process. The CLI's `cairn serve` and the tests start
//! nodes the same way.

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use cairn_indexer::{
    api::{ApiState, Limits, StreamConfig},
    health::Progress,
    store::PoolConfig,
    IndexerConfig,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{app, metrics_handle, AppState, StoreBlocks};
use crate::gateway::{Gateway, GatewayConfig};
use cairn_client::store::BlobStore;

/// What to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Address of the status listener (`/healthz` and `/metrics`); `None`
    /// serves no metrics, and health only on `listen`.
    pub status_listen: Option<SocketAddr>,
    /// The block store served and checked.
    pub store: Arc<dyn BlobStore>,
    /// The indexer and its database URL; `None` runs no indexer.
    pub indexer: Option<(IndexerConfig, String)>,
    /// The relaying gateway; `None` accepts no signed posts.
    pub gateway: Option<GatewayConfig>,
    /// Server limits.
    pub limits: Limits,
    /// WebSocket stream tuning.
    pub stream: StreamConfig,
    /// The web client, served at `/`; `None` serves none.
    pub web: Option<super::web::WebConfig>,
    /// TLS on every listener (`https://`, `wss://`); `None` serves plain HTTP.
    pub tls: Option<Arc<super::tls::Tls>>,
    /// Sign-in, consent and presence, which need the indexer (its database
    /// keeps sessions); `None` runs none of them, and every reader is
    /// anonymous.
    pub auth: Option<crate::auth::AuthConfig>,
}

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The indexer database could not be opened or migrated.
    #[error("indexer database: {0}")]
    Store(#[from] cairn_indexer::store::StoreError),
    /// The indexer could not start.
    #[error("indexer: {0}")]
    Indexer(#[from] cairn_indexer::IndexerError),
    /// The gateway could not start.
    #[error("gateway: {0}")]
    Gateway(#[from] crate::gateway::GatewayError),
    /// A `--public-origin` is not an origin.
    #[error("public origin: {0}")]
    Origin(#[from] cairn_indexer::api::OriginError),
    /// Sign-in keeps its nonces and sessions in the indexer's database.
    #[error("sign-in needs the indexer (its database keeps sessions)")]
    SignInWithoutIndex,
    /// Sign-in's RPC URL is unusable.
    #[error("sign-in: {0}")]
    Auth(#[from] cairn_client::chain::ChainError),
}

/// A running node. Dropping it does not stop it; call [`Node::shutdown`].
#[derive(Debug)]
pub struct Node {
    /// The bound address.
    pub addr: SocketAddr,
    /// The status listener's bound address, when it runs.
    pub status_addr: Option<SocketAddr>,
    /// Indexer progress, when the indexer runs.
    pub progress: Option<watch::Receiver<Progress>>,
    /// The indexer's store, when the indexer runs.
    pub indexer_store: Option<Arc<dyn cairn_indexer::store::Store>>,
    /// The gateway's outbox, when the gateway runs.
    pub outbox: Option<Arc<dyn crate::gateway::Outbox>>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A listener on `listen`, and the address it got.
async fn bind(listen: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), NodeError> {
    let bound = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener.local_addr().map(|addr| (listener, addr)),
        Err(err) => Err(err),
    };
    bound.map_err(|source| NodeError::Bind {
        addr: listen,
        source,
    })
}

impl Node {
    /// Binds, opens and migrates the database, and starts every task.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let (listener, addr) = bind(config.listen).await?;
        let public = config.limits.public_origins_at(addr)?;
        // A node serving TLS itself is reached at https://, in development too.
        let public = match config.tls {
            Some(_) => public.over_tls(),
            None => public,
        };
        let rate = config.limits.per_ip_rate();
        let status = match config.status_listen {
            Some(listen) => Some(bind(listen).await?),
            None => None,
        };
        let status_addr = status.as_ref().map(|(_, addr)| *addr);
        let shutdown = CancellationToken::new();
        let auth = match &config.auth {
            Some(auth) => Some((auth.clone(), auth.provider().await?)),
            None => None,
        };
        if auth.is_some() && config.indexer.is_none() {
            return Err(NodeError::SignInWithoutIndex);
        }
        let mut accounts = None;
        let mut probes = config.store.probes();
        let rpc_url = config
            .indexer
            .as_ref()
            .map(|(indexer, _)| indexer.rpc_url.clone())
            .or_else(|| config.gateway.as_ref().map(|g| g.rpc_url.clone()));
        if let Some(url) = rpc_url {
            probes.push(crate::health::rpc_probe(&url).await);
        }
        let (read_api, progress, indexer_store) = match config.indexer {
            Some((indexer, database_url)) => {
                let store = cairn_indexer::store::open(&database_url).await?;
                probes.push(crate::health::database_probe(store.clone()));
                // Its own pool, so that queries cannot starve ingestion.
                let api_store =
                    cairn_indexer::store::open_with(&database_url, PoolConfig::API).await?;
                // Sign-in's nonces and sessions live in the same database,
                // so every node of it honours them.
                let sessions = Arc::new(crate::auth::Sessions::new(api_store.clone()));
                let blocks = Arc::new(StoreBlocks(config.store.clone()));
                let fanout = Arc::new(cairn_indexer::fanout::Fanout::new(config.stream.queue));
                let running =
                    cairn_indexer::spawn(indexer, store.clone(), blocks, fanout, shutdown.clone())
                        .await?;
                let state = ApiState {
                    store: api_store,
                    fanout: running.fanout,
                    progress: running.progress.clone(),
                    stream: config.stream,
                    streams: Default::default(),
                    viewers: auth
                        .is_some()
                        .then(|| sessions.clone() as Arc<dyn cairn_indexer::api::Viewers>),
                    presence: Default::default(),
                    reads: running.reads,
                    graphiql: config.web.is_none(),
                    rate: rate.clone(),
                };
                if let Some((auth, provider)) = &auth {
                    let sign_in = crate::auth::router(
                        provider.clone(),
                        auth.contract,
                        auth.chain_id,
                        sessions.clone(),
                        public.clone(),
                    );
                    let consent = crate::consent::router(
                        state.store.clone(),
                        provider.clone(),
                        sessions.clone(),
                        auth.contract,
                        auth.chain_id,
                    );
                    accounts = Some(sign_in.merge(consent));
                }
                (
                    Some(cairn_indexer::api::router(state)),
                    Some(running.progress),
                    Some(store),
                )
            }
            None => (None, None, None),
        };
        let openapi = super::openapi(read_api.is_some(), config.gateway.is_some());
        let (read_api, outbox, uploads, batching) = match config.gateway {
            Some(gateway) => {
                let gateway =
                    Gateway::start(gateway, config.store.clone(), shutdown.clone()).await?;
                probes.extend(gateway.probes.iter().cloned());
                let router = match read_api {
                    Some(api) => api.merge(gateway.router),
                    None => gateway.router,
                };
                (
                    Some(router),
                    Some(gateway.outbox),
                    Some(gateway.uploads),
                    Some(gateway.batching),
                )
            }
            None => (read_api, None, None, None),
        };
        let readiness = crate::health::spawn(
            probes,
            crate::health::PROBE_EVERY,
            crate::health::PROBE_TIMEOUT,
            shutdown.clone(),
        );
        let state = AppState {
            store: config.store,
            metrics: metrics_handle(),
            progress: progress.clone(),
            openapi: Arc::new(openapi),
            uploads,
            batching,
            readiness,
        };
        let read_api = [
            read_api,
            config.web.as_ref().map(super::web::router),
            accounts,
        ]
        .into_iter()
        .flatten()
        .reduce(Router::merge);
        if let Some((listener, _)) = status {
            let limits = config.limits.status();
            let router = super::status(state.clone(), &limits);
            let (stop, tls) = (shutdown.clone(), config.tls.clone());
            tokio::spawn(async move {
                if let Err(err) = super::serve_with(listener, router, &limits, tls, stop).await {
                    tracing::error!(%err, "the status listener stopped");
                }
            });
        }
        // Addresses whose allowance refilled are forgotten each minute, so
        // one request from each of many addresses does not hold memory.
        tokio::spawn({
            let (rate, shutdown) = (rate.clone(), shutdown.clone());
            async move {
                let mut minutes = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = minutes.tick() => rate.forget_idle(),
                    }
                }
            }
        });
        let router = app(state, read_api, &config.limits, &public, &rate);
        let (stop, limits, tls) = (shutdown.clone(), config.limits, config.tls);
        let server =
            tokio::spawn(
                async move { super::serve_with(listener, router, &limits, tls, stop).await },
            );
        Ok(Self {
            addr,
            status_addr,
            progress,
            indexer_store,
            outbox,
            shutdown,
            server,
        })
    }

    /// Stops every task and waits for the server to finish.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.server.await.unwrap_or(Ok(()))
    }

    /// Resolves when the server stops by itself (an error) or `signal` fires.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let Self {
            shutdown,
            mut server,
            ..
        } = self;
        tokio::select! {
            _ = signal => {
                shutdown.cancel();
                server.await.unwrap_or(Ok(()))
            }
            result = &mut server => result.unwrap_or(Ok(())),
        }
    }
}
