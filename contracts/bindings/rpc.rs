//! The JSON-RPC connection every Cairn component opens to its node, with
//! timeouts. alloy's default HTTP transport has none: a node (or a proxy in
//! front of it) that accepts a request and never answers would freeze the
//! indexer, the gateway's batcher and every client call for good. Here each
//! call gives up after [`REQUEST_TIMEOUT`], and the callers' retries take over.

use std::time::Duration;

use alloy::{
    rpc::client::{ClientBuilder, RpcClient},
    transports::{http::reqwest, TransportError, TransportErrorKind},
};

/// The longest one JSON-RPC call over HTTP may take, answer included. Long
/// enough for an `eth_getLogs` over a few thousand blocks on a busy node.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest the TCP (and TLS) handshake with the node may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for `rpc_url`: over HTTP(S) with [`REQUEST_TIMEOUT`] and
/// [`CONNECT_TIMEOUT`]; over WebSocket or IPC as alloy connects them (a
/// subscription has no answer to time out).
pub async fn client(rpc_url: &str) -> Result<RpcClient, TransportError> {
    if !(rpc_url.starts_with("http://") || rpc_url.starts_with("https://")) {
        return ClientBuilder::default().connect(rpc_url).await;
    }
    let url = rpc_url
        .parse()
        .map_err(|e| TransportErrorKind::custom_str(&format!("invalid RPC URL {rpc_url}: {e}")))?;
    Ok(ClientBuilder::default().http_with_client(http_client()?, url))
}

/// The HTTP client under [`client`], with [`REQUEST_TIMEOUT`] and
/// [`CONNECT_TIMEOUT`], for callers that must speak JSON-RPC themselves
/// (the indexer reads `eth_getLogs` answers with a size cap).
pub fn http_client() -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(TransportErrorKind::custom)
}
