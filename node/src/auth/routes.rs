//! `GET /v1/auth/nonce`, `POST /v1/auth/siwe`, `GET /v1/auth/session` and
//! `POST /v1/auth/logout`.

use std::sync::Arc;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use cairn_indexer::{api::PublicOrigins, http::ApiError};
use serde::{Deserialize, Serialize};

use super::{
    sessions::{Sessions, SESSION_TTL},
    signature::{self, SignatureError},
    siwe::{SiweError, SiweMessage},
};

/// What sign-in and consent check against.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The chain's JSON-RPC, for contract wallets.
    pub rpc_url: String,
    /// The chain messages must name, when known (else the RPC's).
    pub chain_id: Option<u64>,
    /// The Cairn contract, whose EIP-712 domain consent entries are signed under.
    pub contract: alloy::primitives::Address,
}

impl AuthConfig {
    /// A provider for the chain's RPC, with Cairn's timeouts.
    pub async fn provider(&self) -> Result<DynProvider, cairn_client::chain::ChainError> {
        let client = cairn_contracts::rpc::client(&self.rpc_url)
            .await
            .map_err(cairn_client::chain::ChainError::from_transport)?;
        Ok(ProviderBuilder::new().connect_client(client).erased())
    }
}

#[derive(Clone)]
struct AuthState {
    sessions: Arc<Sessions>,
    provider: DynProvider,
    /// The Cairn contract, whose device signers may sign in for a wallet.
    contract: alloy::primitives::Address,
    chain_id: Option<u64>,
    public: PublicOrigins,
}

/// The session cookie's name over http (development).
const COOKIE: &str = "cairn_session";
/// Its name when every public origin is https: the `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, host-only and for `/`, so no
/// sibling subdomain or plain-http page can set or shadow it.
const HOST_COOKIE: &str = "__Host-cairn_session";
const MAX_MESSAGE: usize = 4096;

/// The sign-in routes, sharing `sessions` with whatever needs to know who
/// is signed in. A sign-in must be made for one of the `public` origins.
pub fn router(
    provider: DynProvider,
    contract: alloy::primitives::Address,
    chain_id: Option<u64>,
    sessions: Arc<Sessions>,
    public: PublicOrigins,
) -> Router {
    let state = AuthState {
        sessions,
        provider,
        contract,
        chain_id,
        public,
    };
    Router::new()
        .route("/v1/auth/nonce", get(nonce))
        .route("/v1/auth/siwe", post(sign_in))
        .route("/v1/auth/session", get(session))
        .route("/v1/auth/logout", post(logout))
        .with_state(state)
}

/// Sign-in state could not be read or written: try again.
fn unavailable(err: super::sessions::SessionError) -> ApiError {
    tracing::error!(%err, "sign-in");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "sign-in is unavailable for a moment; try again shortly",
    )
}

async fn nonce(State(s): State<AuthState>) -> Result<Response, ApiError> {
    let nonce = s.sessions.issue_nonce().await.map_err(unavailable)?;
    let mut response = Json(serde_json::json!({ "nonce": nonce })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
struct SignIn {
    message: String,
    signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedIn {
    address: String,
    /// `account`, `contract` or `counterfactual` (ERC-6492).
    signer: &'static str,
    expires_in_secs: u64,
}

async fn sign_in(
    State(s): State<AuthState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let refuse = |code: &'static str, message: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    };
    if body.len() > MAX_MESSAGE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "a sign-in is at most 4 KiB",
        ));
    }
    let request: SignIn = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("expected {{message, signature}}: {e}"),
        )
    })?;
    let message = SiweMessage::parse(&request.message)
        .map_err(|e| refuse("invalid_message", e.to_string()))?;
    // The domain and URI the wallet showed its user must be this node's
    // public origin. The request's own `Host` decides nothing: a sign-in
    // collected by any other site, for its own domain, is refused here
    // whatever `Host` it is posted with.
    if !s.public.allows_sign_in(&message.domain, &message.uri) {
        return Err(refuse(
            "wrong_domain",
            format!(
                "the sign-in is for {} at {}, not for this node ({})",
                message.domain,
                message.uri,
                s.public.list().join(", ")
            ),
        ));
    }
    message
        .check(
            &message.domain,
            s.chain_id,
            time::OffsetDateTime::now_utc(),
            time::Duration::minutes(5),
        )
        .map_err(|e| match e {
            SiweError::WrongDomain { .. } => refuse("wrong_domain", e.to_string()),
            SiweError::WrongChain { .. } => refuse("wrong_chain", e.to_string()),
            SiweError::OutOfTime(_) => refuse("expired", e.to_string()),
            SiweError::Malformed(_) => refuse("invalid_message", e.to_string()),
        })?;
    let signature = hex::decode(request.signature.trim_start_matches("0x"))
        .map_err(|_| refuse("invalid_signature", "the signature is not hex".to_string()))?;
    // The nonce is spent before the (slow) signature check, so a replay
    // racing the first use is refused too.
    if !s
        .sessions
        .take_nonce(&message.nonce)
        .await
        .map_err(unavailable)?
    {
        return Err(refuse(
            "unknown_nonce",
            "the nonce was not issued here, or is used or expired: ask for a new one".to_string(),
        ));
    }
    let signer = signature::check(
        &s.provider,
        s.contract,
        message.address,
        &request.message,
        &signature,
    )
    .await
    .map_err(|e| match e {
        SignatureError::NotSigner(_) => refuse("bad_signature", e.to_string()),
        SignatureError::Chain(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "chain_unavailable",
            e.to_string(),
        ),
    })?;
    let token = s
        .sessions
        .open(message.address)
        .await
        .map_err(unavailable)?;
    let cookie = session_cookie(&s.public, &token, SESSION_TTL.as_secs());
    let body = SignedIn {
        address: message.address.to_string(),
        signer: signer.kind(),
        expires_in_secs: SESSION_TTL.as_secs(),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("hex token"),
    );
    Ok(response)
}

/// The `Set-Cookie` value holding `token` for `max_age` seconds (0 clears
/// it): `__Host-` and `Secure` whenever users reach the node over https
/// only.
fn session_cookie(public: &PublicOrigins, token: &str, max_age: u64) -> String {
    let (name, secure) = match public.all_https() {
        true => (HOST_COOKIE, "; Secure"),
        false => (COOKIE, ""),
    };
    format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

/// The session token in the request's cookie, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (name, value) = kv.trim().split_once('=')?;
            (name == COOKIE || name == HOST_COOKIE).then(|| value.to_string())
        })
}

/// Who is signed in: `{signedIn, address, expiresInSecs}`, 200 either way,
/// since "nobody" is an answer and not an error (a browser would log a 401
/// on every page load as a console error).
async fn session(State(s): State<AuthState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let live = match token(&headers) {
        Some(t) => s.sessions.get(&t).await.map_err(unavailable)?,
        None => None,
    };
    let body = match live {
        Some(session) => {
            let left = session
                .expires
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            serde_json::json!({"signedIn": true, "address": session.address.to_string(), "expiresInSecs": left.as_secs()})
        }
        None => serde_json::json!({"signedIn": false, "address": null, "expiresInSecs": 0}),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn logout(State(s): State<AuthState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(t) = token(&headers) {
        s.sessions.close(&t).await.map_err(unavailable)?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cleared = session_cookie(&s.public, "", 0);
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cleared).expect("a cookie of static parts"),
    );
    Ok(response)
}
