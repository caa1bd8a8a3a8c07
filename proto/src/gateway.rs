//! The gateway's wire format: the JSON a client sends to `POST /v1/posts`,
//! `POST /v1/registrations` and `POST /v1/signers`, and the answers it
//! reads back, `GET /v1/proofs/{id}` included. The gateway and its clients
//! share these types, so neither can drift from the other.

use alloy::primitives::{Address, Bytes as HexBytes, Signature, B256};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::contracts::{eip712::Post, manifest::SignedPost};

/// One signed post as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostRequest {
    /// The sender's wallet, which must be the signer.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub from: Address,
    /// The recipient address left-padded to 32 bytes, or a channel id.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub to: B256,
    /// sha2-256 of the envelope block.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub digest: B256,
    /// Per-sender nonce, never reused.
    pub nonce: u64,
    /// Unix seconds after which the post may no longer be anchored.
    pub deadline: u64,
    /// The 65-byte EIP-712 signature, hex.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub signature: HexBytes,
    /// The envelope block itself, base64, when it is not uploaded already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
}

impl PostRequest {
    /// The request for `signed`, with its envelope inline if given.
    pub fn new(signed: &SignedPost, envelope: Option<&[u8]>) -> Self {
        Self {
            from: signed.post.from,
            to: signed.post.to,
            digest: signed.post.digest,
            nonce: signed.post.nonce,
            deadline: signed.post.deadline,
            signature: HexBytes::from(
                signed
                    .signature
                    .map_or_else(|| vec![0; 65], |s| s.as_bytes().to_vec()),
            ),
            envelope: envelope.map(|e| base64::engine::general_purpose::STANDARD.encode(e)),
        }
    }

    /// The signed post; `signature` is `None` when its bytes do not parse.
    pub fn signed(&self) -> SignedPost {
        SignedPost {
            post: Post {
                from: self.from,
                to: self.to,
                digest: self.digest,
                nonce: self.nonce,
                deadline: self.deadline,
            },
            signature: Signature::from_raw(&self.signature).ok(),
        }
    }
}

/// The body of `POST /v1/posts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Submission {
    /// Many posts.
    Many {
        /// The posts, accepted all or none.
        posts: Vec<PostRequest>,
    },
    /// One post.
    One(PostRequest),
}

/// The 202 answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// Each post's id (its EIP-712 signing hash), in request order.
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub ids: Vec<B256>,
    /// The ids among them that the outbox held already: accepted again,
    /// as they were, and charged to nobody's allowance.
    #[serde(default, rename = "alreadyHeld", skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub already_held: Vec<B256>,
}

/// Where a post stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProofStatus {
    /// Accepted, waiting for a batch.
    Queued,
    /// In a batch; the proof is final, the anchor not sent yet.
    Sealed,
    /// The anchor transaction is sent, not yet mined.
    Sent,
    /// Mined, with fewer confirmations than the gateway waits for.
    Mined,
    /// Mined with enough confirmations.
    Anchored,
    /// The deadline came before it could be sealed; it will never be anchored.
    Expired,
}

/// The answer of `GET /v1/proofs/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    /// The post id: its EIP-712 signing hash.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub id: B256,
    /// Where it stands.
    pub status: ProofStatus,
    /// The signed post.
    pub post: PostRequest,
    /// The chain id and contract of the EIP-712 domain.
    pub chain_id: u64,
    /// The Cairn contract.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub contract: Address,
    /// From `sealed` on: the batch's Merkle root.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub root: Option<B256>,
    /// The leaf's index in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Posts in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Sibling hashes from the leaf up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub proof: Vec<B256>,
    /// The manifest block's CID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_cid: Option<String>,
    /// From `sent` on: the anchoring transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub tx: Option<B256>,
    /// From `mined` on: its block number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// From `mined` on: its block hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub block_hash: Option<B256>,
}

/// A signed key registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The wallet whose key this is, and who signed.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub owner: Address,
    /// The x25519 public key, hex.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub pubkey: B256,
    /// Unix seconds after which the signature is void.
    pub deadline: u64,
    /// The 65-byte EIP-712 `RegisterKey` signature, hex.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub signature: HexBytes,
}

/// The answer: the registration as mined.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The key's version (1 for the first registration).
    pub version: u64,
    /// The transaction.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub tx: B256,
    /// Its block.
    pub block: u64,
}

/// A wallet's signed authorization of a device key (`authorizeSignerBySig`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignerRequest {
    /// The wallet, which signed.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub owner: Address,
    /// The device key's address.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub signer: Address,
    /// Unix seconds until which the key signs for the wallet.
    pub expiry: u64,
    /// The x25519 key to publish with it, hex; zero or absent for none.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub messaging_key: B256,
    /// Unix seconds after which the signature is void.
    pub deadline: u64,
    /// The 65-byte EIP-712 `AuthorizeSigner` signature, hex.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub signature: HexBytes,
}

/// A signed revocation of a device key, by its wallet or by the key itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevocationRequest {
    /// The wallet.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub owner: Address,
    /// The device key's address.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub signer: Address,
    /// Unix seconds after which the signature is void.
    pub deadline: u64,
    /// The 65-byte EIP-712 `RevokeSigner` signature, hex.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub signature: HexBytes,
}

/// Where a signer change was mined.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignerChanged {
    /// The transaction.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub tx: B256,
    /// Its block: the change holds from this block on.
    pub block: u64,
}
