//! `POST /v1/registrations`: the gateway pays for a key registration that
//! its owner signed (`registerKeyBySig`), so a wallet with no ETH can join.
//! `POST /v1/signers` and `POST /v1/signers/revoke` do the same for a
//! device key's authorization and revocation (docs/SIGNERS.md).
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

use alloy::primitives::{Signature, U256};
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, State},
    http::StatusCode,
    Json,
};

use super::Shared;
use cairn_client::{
    chain::{ChainError, Revert},
    crypto::PublicKey,
};
pub use cairn_proto::gateway::{
    Registered, RegistrationRequest, RevocationRequest, SignerChanged, SignerRequest,
};

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
    let (registrar, r) = registrar_and_body(&gw, &peer, body).await?;
    let signature = parse_signature(&r.signature)?;
    let key = PublicKey::from(r.pubkey);
    let deadline = U256::from(r.deadline);
    // A refusal costs nobody's allowance but the client IP's: nobody can
    // spend an owner's registrations with signatures the contract refuses.
    registrar
        .simulate_register_key_by_sig(r.owner, &key, deadline, &signature)
        .await
        .map_err(refusal)?;
    gw.owner_registrations.take(&r.owner, 1).await?;
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
        ChainError::Reverted(Revert::Signer(what)) => client(
            StatusCode::CONFLICT,
            "signer_refused",
            format!("the contract refused the signer change: {what}"),
        ),
        other => ApiError::internal("chain", other),
    }
}

/// Authorizes a signed device key (and publishes the messaging key signed
/// with it), paying the gas. Costs the client IP and the wallet one
/// registration of their allowances, as `POST /v1/registrations` does.
#[utoipa::path(post, path = "/v1/signers", request_body = SignerRequest,
    responses((status = 200, body = SignerChanged), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 403, body = cairn_indexer::http::ErrorBody), (status = 409, body = cairn_indexer::http::ErrorBody),
        (status = 429, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn authorize_signer(
    State(gw): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<SignerRequest>, JsonRejection>,
) -> Result<Json<SignerChanged>, ApiError> {
    let (registrar, r) = registrar_and_body(&gw, &peer, body).await?;
    let authorization = cairn_client::chain::SignerAuthorization {
        owner: r.owner,
        signer: r.signer,
        expiry: r.expiry,
        messaging_key: r.messaging_key,
        deadline: r.deadline,
        signature: parse_signature(&r.signature)?,
    };
    registrar
        .authorize_signer_by_sig(&authorization, true)
        .await
        .map_err(refusal)?;
    gw.owner_registrations.take(&r.owner, 1).await?;
    let inclusion = registrar
        .authorize_signer_by_sig(&authorization, false)
        .await
        .map_err(refusal)?
        .expect("a sent transaction has an inclusion");
    Ok(Json(SignerChanged {
        tx: inclusion.tx,
        block: inclusion.block,
    }))
}

/// Revokes a device key on a signature by its wallet or by the key itself,
/// paying the gas. "Forget this device" needs no wallet prompt.
#[utoipa::path(post, path = "/v1/signers/revoke", request_body = RevocationRequest,
    responses((status = 200, body = SignerChanged), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 403, body = cairn_indexer::http::ErrorBody), (status = 409, body = cairn_indexer::http::ErrorBody),
        (status = 429, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn revoke_signer(
    State(gw): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<RevocationRequest>, JsonRejection>,
) -> Result<Json<SignerChanged>, ApiError> {
    let (registrar, r) = registrar_and_body(&gw, &peer, body).await?;
    let revocation = cairn_client::chain::SignerRevocation {
        owner: r.owner,
        signer: r.signer,
        deadline: r.deadline,
        signature: parse_signature(&r.signature)?,
    };
    registrar
        .revoke_signer_by_sig(&revocation, true)
        .await
        .map_err(refusal)?;
    // A revocation is never refused for want of allowance: stopping a lost
    // device must always be possible. It is good once per key, so it
    // cannot be repeated to spend the registrar's gas.
    let inclusion = registrar
        .revoke_signer_by_sig(&revocation, false)
        .await
        .map_err(refusal)?
        .expect("a sent transaction has an inclusion");
    // This gateway refuses the key's posts at once; others within the
    // registry's 10 s, and every reader from the revocation's block on.
    gw.registry.forget_signer(r.owner, r.signer);
    Ok(Json(SignerChanged {
        tx: inclusion.tx,
        block: inclusion.block,
    }))
}

/// The registrar (or 403 when this gateway has none), the parsed body, and
/// one registration of the client IP's allowance spent.
pub(super) async fn registrar_and_body<'a, T>(
    gw: &'a Shared,
    peer: &SocketAddr,
    body: Result<Json<T>, JsonRejection>,
) -> Result<(&'a cairn_client::chain::CairnClient, T), ApiError> {
    let Some(registrar) = &gw.registrar else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registrations_disabled",
            "this gateway pays for no registrations (it runs without --registrar-key)",
        ));
    };
    let Json(r) =
        body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text()))?;
    gw.ip_registrations.take(&peer.ip(), 1).await?;
    Ok((registrar, r))
}

fn parse_signature(bytes: &[u8]) -> Result<Signature, ApiError> {
    Signature::from_raw(bytes).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            "the signature is not 65 bytes",
        )
    })
}
