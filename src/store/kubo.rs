//! The Kubo backend: a Kubo daemon (or IPFS Cluster's Kubo-compatible proxy)
//! over its HTTP RPC API.
//!
//! Blocks are written with `block/put?cid-codec=raw&mhtype=sha2-256&pin=true`,
//! so Kubo computes the same CID as [`cid::cid_for_block`] and keeps the block
//! through garbage collection. Kubo's answer is checked against the locally
//! computed CID: a daemon that stored something else is an error.

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::{check_size, cid, BlobStore, Cid, StoreError};

/// A client for one Kubo RPC endpoint.
#[derive(Debug, Clone)]
pub struct KuboStore {
    api: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct BlockPutResponse {
    #[serde(rename = "Key")]
    key: String,
}

#[derive(Deserialize)]
struct KuboErrorBody {
    #[serde(rename = "Message")]
    message: String,
}

impl KuboStore {
    /// A client for the RPC API at `api_url`, e.g. `http://127.0.0.1:5001`.
    pub fn new(api_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client with static settings builds");
        Self {
            api: api_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    async fn call(
        &self,
        operation: &'static str,
        query: &[(&str, String)],
        file: Option<Bytes>,
    ) -> Result<reqwest::Response, StoreError> {
        let mut request = self
            .http
            .post(format!("{}/api/v0/{operation}", self.api))
            .query(query);
        if let Some(file) = file {
            let part = reqwest::multipart::Part::stream(file).file_name("block");
            request = request.multipart(reqwest::multipart::Form::new().part("file", part));
        }
        let unreachable = |source| StoreError::Unreachable {
            url: self.api.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let message = serde_json::from_str::<KuboErrorBody>(&text)
            .map(|b| b.message)
            .unwrap_or(text);
        Err(StoreError::Kubo {
            operation,
            message: format!("{status}: {message}"),
        })
    }
}

#[async_trait::async_trait]
impl BlobStore for KuboStore {
    async fn put(&self, block: Bytes) -> Result<Cid, StoreError> {
        check_size(&block)?;
        let expected = cid::cid_for_block(&block);
        let query = [
            ("cid-codec", "raw".to_string()),
            ("mhtype", "sha2-256".to_string()),
            ("mhlen", "32".to_string()),
            ("pin", "true".to_string()),
        ];
        let response = self.call("block/put", &query, Some(block)).await?;
        let body: BlockPutResponse = response.json().await.map_err(|e| StoreError::Kubo {
            operation: "block/put",
            message: e.to_string(),
        })?;
        if body.key != expected.to_string() {
            return Err(StoreError::Kubo {
                operation: "block/put",
                message: format!("kubo stored {} but the block's CID is {expected}", body.key),
            });
        }
        Ok(expected)
    }

    async fn fetch_unverified(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        cid::digest_of(cid)?;
        match self
            .call("block/get", &[("arg", cid.to_string())], None)
            .await
        {
            Ok(response) => response
                .bytes()
                .await
                .map_err(|source| StoreError::Unreachable {
                    url: self.api.clone(),
                    source,
                }),
            Err(StoreError::Kubo { message, .. }) if message.contains("not found") => {
                Err(StoreError::NotFound(Box::new(*cid)))
            }
            Err(e) => Err(e),
        }
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        cid::digest_of(cid)?;
        let query = [("arg", cid.to_string()), ("offline", "true".to_string())];
        match self.call("block/stat", &query, None).await {
            Ok(_) => Ok(true),
            Err(StoreError::Kubo { message, .. }) if message.contains("not found") => Ok(false),
            Err(e) => Err(e),
        }
    }
}
