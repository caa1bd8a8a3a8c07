//! `POST /v1/channels/admin`: the registrar sends a channel change that an
//! admin signed, or a device key signing for the admin (docs/SIGNERS.md):
//! create a members-only channel, change its members, start a new epoch,
//! publish an epoch's key bundle. So administering a channel from the page
//! asks the wallet nothing and needs no ETH.
//!
//! Each request costs its client IP one registration of its allowance; a
//! change the contract would take (asked first, in an `eth_call`) costs the
//! admin one of its channel actions a day. A signature is good once (the
//! admin's `adminNonces`), so replaying one spends nothing.

use cairn_indexer::http::ApiError;
use std::{net::SocketAddr, sync::Arc};

use alloy::primitives::{Address, Bytes as HexBytes, B256};
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};

use super::{registrations::registrar_and_body, Shared};
use cairn_client::chain::{ChainError, ChannelAction, Revert};

/// The most members one request may name: a change is one transaction.
pub const MAX_MEMBERS: usize = 256;

/// A signed channel change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ChannelAdminRequest {
    /// `createChannelBySig`: a members-only channel, its signer the admin.
    Create {
        /// The creator, whose (or whose device key's) signature this is.
        #[schema(value_type = String)]
        admin: Address,
        /// 1 to 64 bytes.
        name: String,
        /// Members besides the creator.
        #[schema(value_type = Vec<String>)]
        members: Vec<Address>,
        /// Unix seconds after which the signature is void.
        deadline: u64,
        /// The EIP-712 `CreateChannel` signature, hex.
        #[schema(value_type = String)]
        signature: HexBytes,
    },
    /// `changeMembersBySig`.
    ChangeMembers {
        /// The admin.
        #[schema(value_type = String)]
        admin: Address,
        /// The channel.
        #[schema(value_type = String)]
        channel: B256,
        /// Added members.
        #[schema(value_type = Vec<String>)]
        added: Vec<Address>,
        /// Removed members.
        #[schema(value_type = Vec<String>)]
        removed: Vec<Address>,
        /// Unix seconds after which the signature is void.
        deadline: u64,
        /// The EIP-712 `ChangeMembers` signature, hex.
        #[schema(value_type = String)]
        signature: HexBytes,
    },
    /// `newEpochBySig`.
    NewEpoch {
        /// The admin.
        #[schema(value_type = String)]
        admin: Address,
        /// The channel.
        #[schema(value_type = String)]
        channel: B256,
        /// Unix seconds after which the signature is void.
        deadline: u64,
        /// The EIP-712 `NewEpoch` signature, hex.
        #[schema(value_type = String)]
        signature: HexBytes,
    },
    /// `publishEpochKeyBySig`.
    PublishEpochKey {
        /// The admin.
        #[schema(value_type = String)]
        admin: Address,
        /// The channel.
        #[schema(value_type = String)]
        channel: B256,
        /// The current epoch.
        epoch: u64,
        /// sha2-256 of the bundle's first block.
        #[schema(value_type = String)]
        bundle_digest: B256,
        /// Unix seconds after which the signature is void.
        deadline: u64,
        /// The EIP-712 `PublishEpochKey` signature, hex.
        #[schema(value_type = String)]
        signature: HexBytes,
    },
}

impl ChannelAdminRequest {
    /// The admin, the action, its deadline and signature.
    fn parts(self) -> (Address, ChannelAction, u64, HexBytes) {
        match self {
            Self::Create {
                admin,
                name,
                members,
                deadline,
                signature,
            } => (
                admin,
                ChannelAction::Create { name, members },
                deadline,
                signature,
            ),
            Self::ChangeMembers {
                admin,
                channel,
                added,
                removed,
                deadline,
                signature,
            } => (
                admin,
                ChannelAction::ChangeMembers {
                    channel,
                    added,
                    removed,
                },
                deadline,
                signature,
            ),
            Self::NewEpoch {
                admin,
                channel,
                deadline,
                signature,
            } => (
                admin,
                ChannelAction::NewEpoch { channel },
                deadline,
                signature,
            ),
            Self::PublishEpochKey {
                admin,
                channel,
                epoch,
                bundle_digest,
                deadline,
                signature,
            } => (
                admin,
                ChannelAction::PublishEpochKey {
                    channel,
                    epoch,
                    bundle_digest,
                },
                deadline,
                signature,
            ),
        }
    }
}

/// The change as mined.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAdminDone {
    /// The channel (the new one, for `create`).
    #[schema(value_type = String)]
    pub channel: B256,
    /// The transaction.
    #[schema(value_type = String)]
    pub tx: B256,
    /// Its block.
    pub block: u64,
}

/// Sends a signed channel change, paying the gas.
#[utoipa::path(post, path = "/v1/channels/admin", request_body = ChannelAdminRequest,
    responses((status = 200, body = ChannelAdminDone), (status = 400, body = cairn_indexer::http::ErrorBody),
        (status = 403, body = cairn_indexer::http::ErrorBody), (status = 409, body = cairn_indexer::http::ErrorBody),
        (status = 429, body = cairn_indexer::http::ErrorBody)))]
pub(super) async fn relay(
    State(gw): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<ChannelAdminRequest>, JsonRejection>,
) -> Result<Json<ChannelAdminDone>, ApiError> {
    let (registrar, request) = registrar_and_body(&gw, &peer, body).await?;
    let (admin, action, deadline, signature) = request.parts();
    let named = match &action {
        ChannelAction::Create { members, .. } => members.len(),
        ChannelAction::ChangeMembers { added, removed, .. } => added.len() + removed.len(),
        _ => 0,
    };
    if named > MAX_MEMBERS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "too_many_members",
            format!("one change names at most {MAX_MEMBERS} members, not {named}"),
        ));
    }
    registrar
        .relay_channel_action(admin, &action, deadline, &signature, true)
        .await
        .map_err(refusal)?;
    gw.admin_actions.take(&admin, 1).await?;
    let done = registrar
        .relay_channel_action(admin, &action, deadline, &signature, false)
        .await
        .map_err(refusal)?
        .expect("a sent transaction has a receipt");
    Ok(Json(ChannelAdminDone {
        channel: done.channel,
        tx: done.inclusion.tx,
        block: done.inclusion.block,
    }))
}

fn refusal(e: ChainError) -> ApiError {
    match e {
        ChainError::Reverted(Revert::NotAdmin { channel, account }) => ApiError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            format!("{account} is not an admin of channel {channel}"),
        ),
        ChainError::Reverted(Revert::UnknownChannel(channel)) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_channel",
            format!("no channel {channel}"),
        ),
        ChainError::Reverted(Revert::Channel(what)) if what.contains("BadAdminSignature") => {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_signature",
                "the contract refused the signature: not the admin's, not a device key that signs for the admin now, or its nonce was used",
            )
        }
        ChainError::Reverted(Revert::Channel(what)) if what.contains("ChangeExpired") => {
            ApiError::new(StatusCode::BAD_REQUEST, "expired", "the deadline has passed")
        }
        ChainError::Reverted(Revert::Channel(what)) => ApiError::new(
            StatusCode::CONFLICT,
            "channel_refused",
            format!("the contract refused the change: {what}"),
        ),
        other => ApiError::internal("chain", other),
    }
}
