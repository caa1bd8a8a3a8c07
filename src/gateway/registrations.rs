//! `POST /v1/registrations`: the gateway pays for a key registration that
//! its owner signed (`registerKeyBySig`), so a wallet with no ETH can join.
//!
//! It uses its own key (`--registrar-key`), never the relayer's: the
//! relayer's nonces belong to the batcher. A registration costs its client
//! IP an allowance, and, once the contract would take it, its owner one of
//! a few a day. The contract refuses a bad signature, a replay, an expired
//! deadline or an unchanged key in a simulation, before any gas is spent.
//! Transactions are broadcast one at a time (one nonce sequence) and their
//! receipts awaited side by side.

use cairn_indexer::http::ApiError;
use std::{net::SocketAddr, sync::Arc};

use alloy::primitives::{Address, Bytes as HexBytes, Signature, B256, U256};
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};

use super::Shared;
use crate::{
    chain::{ChainError, Revert},
    crypto::PublicKey,
};

/// A signed key registration.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The wallet whose key this is, and who signed.
    #[schema(value_type = String)]
    pub owner: Address,
    /// The x25519 public key, hex.
    #[schema(value_type = String)]
    pub pubkey: B256,
    /// Unix seconds after which the signature is void.
    pub deadline: u64,
    /// The 65-byte EIP-712 `RegisterKey` signature, hex.
    #[schema(value_type = String)]
    pub signature: HexBytes,
}

/// The answer: the registration as mined.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The key's version (1 for the first registration).
    pub version: u64,
    /// The transaction.
    #[schema(value_type = String)]
    pub tx: B256,
    /// Its block.
    pub block: u64,
}

/// Registers a signed key, paying the gas.
#[utoipa::path(post, path = "/v1/registrations", request_body = RegistrationRequest,
    responses((status = 200, body = Registered), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 403, body = cairn_indexer::http::ErrorBody), (status = 409, body = cairn_indexer::http::ErrorBody),
        (status = 429, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn register(
    State(gw): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<RegistrationRequest>, JsonRejection>,
) -> Result<Json<Registered>, ApiError> {
    let Some(registrar) = &gw.registrar else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registrations_disabled",
            "this gateway pays for no registrations (it runs without --registrar-key)",
        ));
    };
    let Json(r) =
        body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text()))?;
    gw.ip_registrations.take(&peer.ip(), 1)?;
    let signature = Signature::from_raw(&r.signature).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            "the signature is not 65 bytes",
        )
    })?;
    let key = PublicKey::from(r.pubkey);
    let deadline = U256::from(r.deadline);
    // A refusal costs nobody's allowance but the client IP's: nobody can
    // spend an owner's registrations with signatures the contract refuses.
    registrar
        .simulate_register_key_by_sig(r.owner, &key, deadline, &signature)
        .await
        .map_err(refusal)?;
    gw.owner_registrations.take(&r.owner, 1)?;
    // The client broadcasts its transactions one at a time (one nonce
    // sequence) and waits for their blocks side by side: a slow receipt
    // holds up nobody else's registration.
    let (registered, inclusion) = registrar
        .register_key_by_sig(r.owner, &key, deadline, &signature)
        .await
        .map_err(refusal)?;
    Ok(Json(Registered {
        version: registered.version,
        tx: inclusion.tx,
        block: inclusion.block,
    }))
}

fn refusal(e: ChainError) -> ApiError {
    let client = |status, code, message: String| ApiError::new(status, code, message);
    match e {
        ChainError::Reverted(Revert::BadSignature) => client(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            "the contract refused the signature: not the owner's, or its nonce was used".into(),
        ),
        ChainError::Reverted(Revert::Expired(d)) => client(
            StatusCode::BAD_REQUEST,
            "expired",
            format!("the deadline {d} has passed"),
        ),
        ChainError::Reverted(Revert::KeyUnchanged) => client(
            StatusCode::CONFLICT,
            "key_unchanged",
            "this key is already registered".into(),
        ),
        ChainError::Reverted(Revert::ZeroKey) => client(
            StatusCode::BAD_REQUEST,
            "invalid_key",
            "the key is zero".into(),
        ),
        other => ApiError::internal("chain", other),
    }
}
