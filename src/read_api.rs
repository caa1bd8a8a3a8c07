//! A client of the indexer's read API, for `cairn inbox` and `cairn watch`.

use std::time::Duration;

use alloy::primitives::Address;
pub use cairn_indexer::{
    api::query::Page,
    store::{ContentStatus, EventKind, Message, StreamEvent},
};

/// Errors from the read API.
#[derive(Debug, thiserror::Error)]
pub enum ReadApiError {
    /// The server could not be reached.
    #[error("read API at {url} is unreachable: {source}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("read API error {code}: {message}")]
    Api {
        /// The stable code.
        code: String,
        /// The reason.
        message: String,
    },
}

/// The read API at one base URL, e.g. `http://127.0.0.1:8080`.
#[derive(Debug, Clone)]
pub struct ReadApi {
    base: String,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl ReadApi {
    /// A client for `base_url`.
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client with static settings builds");
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// One page of `address`'s inbox.
    pub async fn inbox(
        &self,
        address: Address,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, ReadApiError> {
        self.page("inbox", address, after, limit).await
    }

    /// One page of what `address` sent.
    pub async fn sent(
        &self,
        address: Address,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, ReadApiError> {
        self.page("sent", address, after, limit).await
    }

    async fn page(
        &self,
        mailbox: &str,
        address: Address,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, ReadApiError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        let unreachable = |source| ReadApiError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = self
            .http
            .get(format!("{}/v1/{mailbox}/{address}", self.base))
            .query(&query)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            let body: ErrorBody = response.json().await.map_err(unreachable)?;
            return Err(ReadApiError::Api {
                code: body.code,
                message: body.message,
            });
        }
        response.json().await.map_err(unreachable)
    }

    /// The WebSocket URL of `address`'s stream, resuming after `after`.
    pub fn stream_url(&self, address: Address, after: Option<&str>) -> String {
        let ws = self.base.replacen("http", "ws", 1);
        match after {
            Some(cursor) => format!("{ws}/v1/stream?address={address}&after={cursor}"),
            None => format!("{ws}/v1/stream?address={address}"),
        }
    }
}
