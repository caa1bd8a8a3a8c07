//! A client of a node's read API, for `cairn inbox`, `cairn watch` and the
//! consent commands: pages, the stream's URL, and, signed in with the wallet
//! (SIWE), the consent folders and the consent list.

use std::time::Duration;

use alloy::{primitives::Address, signers::Signer};
pub use cairn_proto::listing::{ContentStatus, EventKind, Message, Page, StreamEvent};

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
        /// The HTTP status.
        status: u16,
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
    /// The `Cookie` header of a session opened by [`ReadApi::sign_in`].
    session: Option<String>,
}

/// Which part of an inbox to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Everything, consent aside (the only view without a session).
    All,
    /// From senders the owner allowed.
    Inbox,
    /// From senders the owner has not decided on.
    Requests,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl ReadApi {
    /// A client for `base_url`.
    pub fn new(base_url: &str) -> Self {
        let http = crate::roots::trust_local_roots(reqwest::Client::builder())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client with static settings builds");
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            session: None,
        }
    }

    /// Signs in as `wallet` with Sign-In with Ethereum for `chain_id`, and
    /// keeps the session for the calls that follow.
    pub async fn sign_in(
        &mut self,
        wallet: &(impl Signer + Sync),
        chain_id: u64,
    ) -> Result<(), ReadApiError> {
        #[derive(serde::Deserialize)]
        struct Nonce {
            nonce: String,
        }
        let url: reqwest::Url = self.base.parse().map_err(|e| ReadApiError::Api {
            status: 0,
            code: "invalid_url".into(),
            message: format!("{}: {e}", self.base),
        })?;
        let domain = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => String::new(),
        };
        let nonce: Nonce = self
            .answer(self.http.get(format!("{}/v1/auth/nonce", self.base)))
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))?;
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let message = cairn_proto::siwe::SiweMessage {
            uri: format!("{}://{domain}", url.scheme()),
            domain,
            address: wallet.address(),
            statement: Some("Sign in to Cairn.".into()),
            chain_id,
            nonce: nonce.nonce,
            issued_at: now,
            expiration_time: Some(now + time::Duration::minutes(5)),
            not_before: None,
        }
        .to_string();
        let signature =
            wallet
                .sign_message(message.as_bytes())
                .await
                .map_err(|e| ReadApiError::Api {
                    status: 0,
                    code: "signing_failed".into(),
                    message: e.to_string(),
                })?;
        let body = serde_json::json!({
            "message": message,
            "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes())),
        });
        let response = self
            .answer(
                self.http
                    .post(format!("{}/v1/auth/siwe", self.base))
                    .json(&body),
            )
            .await?;
        self.session = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                c.split(';').next().filter(|kv| {
                    kv.starts_with("cairn_session=") || kv.starts_with("__Host-cairn_session=")
                })
            })
            .map(str::to_string);
        Ok(())
    }

    /// The `Cookie` header of the open session, for the stream's handshake.
    pub fn session_cookie(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// One page of `address`'s inbox in `view` (all but [`View::All`] need
    /// a session signed in as `address`).
    pub async fn folder(
        &self,
        address: Address,
        view: View,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, ReadApiError> {
        let view = match view {
            View::All => "all",
            View::Inbox => "inbox",
            View::Requests => "requests",
        };
        self.list("inbox", address, after, limit, Some(view)).await
    }

    /// Publishes a signed consent entry.
    pub async fn put_consent(
        &self,
        entry: &crate::consent::ConsentRequest,
    ) -> Result<(), ReadApiError> {
        self.answer(
            self.http
                .post(format!("{}/v1/consent", self.base))
                .json(entry),
        )
        .await
        .map(drop)
    }

    /// The signed-in wallet's consent list, signatures and domain included.
    pub async fn consent(&self) -> Result<serde_json::Value, ReadApiError> {
        self.answer(self.http.get(format!("{}/v1/consent", self.base)))
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, source: reqwest::Error) -> ReadApiError {
        ReadApiError::Unreachable {
            url: self.base.clone(),
            source,
        }
    }

    /// Sends `request` with the session, if any; a non-2xx answer becomes
    /// [`ReadApiError::Api`].
    async fn answer(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ReadApiError> {
        if let Some(cookie) = &self.session {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: ErrorBody = response.json().await.unwrap_or(ErrorBody {
            code: "http_error".into(),
            message: format!("the node answered {status}"),
        });
        Err(ReadApiError::Api {
            status: status.as_u16(),
            code: body.code,
            message: body.message,
        })
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

    /// One page of a channel's messages.
    pub async fn channel(
        &self,
        channel: alloy::primitives::B256,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, ReadApiError> {
        self.page_at(&format!("channels/{channel}/messages"), after, limit, None)
            .await
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
        self.list(mailbox, address, after, limit, None).await
    }

    async fn list(
        &self,
        mailbox: &str,
        address: Address,
        after: Option<&str>,
        limit: u32,
        view: Option<&str>,
    ) -> Result<Page, ReadApiError> {
        self.page_at(&format!("{mailbox}/{address}"), after, limit, view)
            .await
    }

    /// A page of `/v1/<path>`.
    async fn page_at(
        &self,
        path: &str,
        after: Option<&str>,
        limit: u32,
        view: Option<&str>,
    ) -> Result<Page, ReadApiError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        if let Some(view) = view {
            query.push(("view", view.to_string()));
        }
        let request = self
            .http
            .get(format!("{}/v1/{path}", self.base))
            .query(&query);
        self.answer(request)
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))
    }

    /// The WebSocket URL of a channel's stream, resuming after `after`.
    pub fn channel_stream_url(
        &self,
        channel: alloy::primitives::B256,
        after: Option<&str>,
    ) -> String {
        let ws = self.base.replacen("http", "ws", 1);
        match after {
            Some(cursor) => format!("{ws}/v1/stream?channel={channel}&after={cursor}"),
            None => format!("{ws}/v1/stream?channel={channel}"),
        }
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
