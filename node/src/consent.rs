//! `POST /v1/consent` (anyone, with the owner's signature) and
//! `GET /v1/consent` (the signed-in owner's export).

use std::sync::Arc;

use alloy::{
    primitives::Address,
    providers::{DynProvider, Provider},
    sol_types::Eip712Domain,
};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::get,
    Json, Router,
};
use cairn_indexer::{
    api::{query, ApiError, Viewers},
    store::{ConsentEntry, Store},
};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::auth::{
    signature::{self, SignatureError},
    Sessions,
};
use cairn_proto::consent::{signing_hash, ConsentRequest};

/// How far ahead of the node's clock an entry's `issuedAt` may be.
const MAX_SKEW_SECS: u64 = 300;
/// Largest body of `POST /v1/consent`.
const MAX_BODY: usize = 4096;

#[derive(Clone)]
struct ConsentApi {
    store: Arc<dyn Store>,
    provider: DynProvider,
    sessions: Arc<Sessions>,
    contract: Address,
    chain_id: Arc<OnceCell<u64>>,
    /// Entries per client IP.
    per_ip: Arc<crate::gateway::quota::Allowance<std::net::IpAddr>>,
}

impl ConsentApi {
    /// The contract's EIP-712 domain; the chain id is asked once, when not configured.
    async fn domain(&self) -> Result<Eip712Domain, ApiError> {
        let chain_id = self
            .chain_id
            .get_or_try_init(|| async { self.provider.get_chain_id().await })
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(cairn_contracts::eip712::domain(*chain_id, self.contract))
    }
}

fn unavailable(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "chain_unavailable",
        format!("the chain cannot be read to check the signature: {e}"),
    )
}

/// The consent routes, over the read API's `store`, checking signatures
/// through `provider` under the domain of `contract` (on `chain_id`, or the
/// provider's chain).
pub fn router(
    store: Arc<dyn Store>,
    provider: DynProvider,
    sessions: Arc<Sessions>,
    contract: Address,
    chain_id: Option<u64>,
) -> Router {
    let chain_id = Arc::new(match chain_id {
        Some(id) => OnceCell::new_with(Some(id)),
        None => OnceCell::new(),
    });
    let api = ConsentApi {
        store,
        provider,
        sessions,
        contract,
        chain_id,
        per_ip: Arc::new(crate::gateway::quota::Allowance::new(
            ENTRIES_PER_IP,
            "ip_quota",
        )),
    };
    Router::new()
        .route("/v1/consent", get(export).post(put))
        .with_state(api)
}

/// The answer to a stored entry.
#[derive(Debug, Serialize)]
struct Stored {
    stored: bool,
    entry: ConsentEntry,
    /// `account`, `contract` or `counterfactual`.
    signer: &'static str,
}

/// Consent entries one client IP may send: each may cost a contract
/// wallet's signature check on the chain's RPC.
const ENTRIES_PER_IP: crate::gateway::quota::Rate = crate::gateway::quota::Rate {
    per_second: 2,
    burst: 60,
};

async fn put(
    State(api): State<ConsentApi>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Stored>, ApiError> {
    api.per_ip.take(&peer.ip(), 1).await?;
    let bad =
        |code: &'static str, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "a consent entry is at most 4 KiB",
        ));
    }
    let request: ConsentRequest = serde_json::from_slice(&body).map_err(|e| {
        bad(
            "invalid_json",
            format!("expected {{owner, peer, state: allow|block, issuedAt, signature}}: {e}"),
        )
    })?;
    if request.owner == request.peer {
        return Err(bad(
            "self_consent",
            "a wallet cannot allow or block itself".into(),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if request.issued_at > now + MAX_SKEW_SECS {
        return Err(bad(
            "from_the_future",
            format!(
                "issuedAt {} is ahead of this node's clock ({now})",
                request.issued_at
            ),
        ));
    }
    let signature = alloy::hex::decode(&request.signature)
        .map_err(|_| bad("invalid_signature", "the signature is not hex".into()))?;
    // Only an owner signed in here, or one with a registered key, may
    // store entries: a stranger's fresh wallets would grow the table
    // without bound, and each check of a contract wallet runs its code.
    let signed_in = api.sessions.viewer(&headers).await? == Some(request.owner);
    if !signed_in
        && api
            .store
            .key(&query::owner_key(request.owner))
            .await?
            .is_none()
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "register_or_sign_in",
            format!(
                "{} has no registered key and no session here: sign in, or register, first",
                request.owner
            ),
        ));
    }
    let domain = api.domain().await?;
    let hash = signing_hash(
        request.owner,
        request.peer,
        request.state,
        request.issued_at,
        &domain,
    );
    let signer =
        signature::check_hash(&api.provider, api.contract, request.owner, hash, &signature)
            .await
            .map_err(|e| match e {
                SignatureError::NotSigner(_) => {
                    ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
                }
                SignatureError::Chain(_) => unavailable(&e),
            })?;
    let entry = ConsentEntry {
        owner: query::owner_key(request.owner),
        peer: query::owner_key(request.peer),
        state: request.state,
        issued_at: request.issued_at,
        signature: format!("0x{}", alloy::hex::encode(&signature)),
    };
    if !api.store.put_consent(&entry).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "stale_consent",
            "an entry for this peer at least as new is stored already",
        ));
    }
    metrics::counter!("cairn_consent_entries_total", "state" => entry.state.as_str()).increment(1);
    Ok(Json(Stored {
        stored: true,
        entry,
        signer: signer.kind(),
    }))
}

/// The export: every entry of the signed-in owner, with the domain they are signed under.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Export {
    owner: String,
    chain_id: u64,
    verifying_contract: String,
    entries: Vec<ConsentEntry>,
}

async fn export(
    State(api): State<ConsentApi>,
    headers: HeaderMap,
) -> Result<Json<Export>, ApiError> {
    let owner = api.sessions.viewer(&headers).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no_session",
            "sign in to read your consent list",
        )
    })?;
    let domain = api.domain().await?;
    let owner = query::owner_key(owner);
    Ok(Json(Export {
        entries: api.store.consent(&owner).await?,
        owner,
        chain_id: domain.chain_id.map_or(0, |c| c.to::<u64>()),
        verifying_contract: query::owner_key(api.contract),
    }))
}
