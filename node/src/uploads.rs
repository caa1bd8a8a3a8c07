//! Who may store blocks through `POST /v1/blobs`.
//!
//! An open upload endpoint stores any bytes for anyone, cross-site form
//! posts included. A node stores a block only when a wallet with a
//! registered key signs for it (EIP-712 `Upload`, under the contract's
//! domain), within a per-wallet quota of KiB. Signed posts can carry their
//! envelope inline instead (`POST /v1/posts`); a node without the gateway
//! takes no uploads at all.
//!
//! The signature travels in three headers: `X-Cairn-From` (the wallet),
//! `X-Cairn-Deadline` (unix seconds, at most an hour ahead) and
//! `X-Cairn-Signature` (65 bytes, hex).

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, Signature, B256},
    signers::Signer,
    sol_types::{Eip712Domain, SolStruct},
};
use axum::http::{HeaderMap, StatusCode};
use cairn_contracts::eip712::Upload;

use crate::gateway::quota::{Allowance, Rate};
use cairn_client::{chain::KeyRegistry, store::cid};
use cairn_indexer::http::ApiError;

/// The wallet header.
pub const FROM: &str = "x-cairn-from";
/// The deadline header.
pub const DEADLINE: &str = "x-cairn-deadline";
/// The signature header.
pub const SIGNATURE: &str = "x-cairn-signature";
/// How far ahead a deadline may be: a signature is good for one upload
/// window, not forever.
pub const MAX_AHEAD: Duration = Duration::from_secs(3600);

/// Checks signed uploads.
#[derive(Debug)]
pub struct Uploads {
    registry: Arc<KeyRegistry>,
    domain: Eip712Domain,
    kib: Allowance<Address>,
}

impl Uploads {
    /// Uploads signed under `domain` by wallets `registry` knows, within
    /// `rate` KiB per wallet.
    /// With `shared` buckets (a PostgreSQL outbox's), the allowance is
    /// shared with every gateway of that outbox.
    pub fn new(
        registry: Arc<KeyRegistry>,
        domain: Eip712Domain,
        rate: Rate,
        shared: Option<crate::gateway::quota::SharedBuckets>,
    ) -> Self {
        Self {
            registry,
            domain,
            kib: Allowance::new(rate, "upload_quota").shared(shared, "upload_kib"),
        }
    }

    /// The uploader of `block`, if its headers carry a valid signature of a
    /// registered wallet. Nothing is charged: see [`charge`](Self::charge).
    pub async fn check(&self, headers: &HeaderMap, block: &[u8]) -> Result<Address, ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(from), Some(deadline), Some(signature)) =
            (header(FROM), header(DEADLINE), header(SIGNATURE))
        else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "upload_unsigned",
                "sign the upload (EIP-712 Upload) and send X-Cairn-From, X-Cairn-Deadline and \
                 X-Cairn-Signature, or send the envelope inline in a signed post",
            ));
        };
        let bad = |code, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
        let from: Address = ApiError::address(from)?;
        let deadline: u64 = deadline.parse().map_err(|_| {
            bad(
                "invalid_deadline",
                format!("{deadline:?} is not unix seconds"),
            )
        })?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if deadline <= now {
            return Err(bad(
                "expired",
                format!("the deadline {deadline} has passed (now {now})"),
            ));
        }
        if deadline > now + MAX_AHEAD.as_secs() {
            return Err(bad(
                "deadline_too_far",
                format!(
                    "the deadline may be at most {} s ahead",
                    MAX_AHEAD.as_secs()
                ),
            ));
        }
        let signature: Signature = signature.parse().map_err(|_| {
            bad(
                "invalid_signature",
                "X-Cairn-Signature is not 65 bytes of hex".into(),
            )
        })?;
        let upload = Upload {
            from,
            digest: cid::block_digest(block),
            deadline,
        };
        let hash = upload.eip712_signing_hash(&self.domain);
        let unavailable = |e: cairn_client::chain::ChainError| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
                format!("cannot read the key registry: {e}"),
            )
        };
        let signed = match signature.recover_address_from_prehash(&hash).ok() {
            Some(key) if key == from => true,
            // A device key that signs for `from` now (docs/SIGNERS.md).
            Some(key) => self
                .registry
                .first_unauthorized(&[(from, key)], now)
                .await
                .map_err(unavailable)?
                .is_none(),
            None => false,
        };
        if !signed {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                format!(
                    "the signature is not {from}'s, nor a device key's of {from}, over this block"
                ),
            ));
        }
        let registered = self
            .registry
            .is_registered(from)
            .await
            .map_err(unavailable)?;
        if !registered {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "sender_not_registered",
                format!("{from} has no registered key; run `cairn register` first"),
            ));
        }
        Ok(from)
    }

    /// Takes a block of `size` bytes from `from`'s KiB allowance.
    pub async fn charge(&self, from: &Address, size: usize) -> Result<(), ApiError> {
        self.kib.take(from, size.div_ceil(1024)).await
    }

    /// Takes each sender's KiB from its allowance (inline envelopes of
    /// signed posts; senders distinct).
    pub async fn charge_kib(&self, wants: &[(Address, usize)]) -> Result<(), ApiError> {
        self.kib.take_each(wants).await
    }
}

/// The three headers that sign an upload of `block` by `signer`.
pub async fn sign(
    signer: &(impl Signer + Sync),
    domain: &Eip712Domain,
    block: &[u8],
    deadline: u64,
) -> Result<[(&'static str, String); 3], alloy::signers::Error> {
    sign_for(signer, signer.address(), domain, block, deadline).await
}

/// The three headers that sign an upload of `block` from wallet `from` by
/// `signer`: the wallet itself, or a device key that signs for it.
pub async fn sign_for(
    signer: &(impl Signer + Sync),
    from: alloy::primitives::Address,
    domain: &Eip712Domain,
    block: &[u8],
    deadline: u64,
) -> Result<[(&'static str, String); 3], alloy::signers::Error> {
    let upload = Upload {
        from,
        digest: cid::block_digest(block),
        deadline,
    };
    let hash: B256 = upload.eip712_signing_hash(domain);
    let signature = signer.sign_hash(&hash).await?;
    Ok([
        (FROM, from.to_string()),
        (DEADLINE, deadline.to_string()),
        (SIGNATURE, signature.to_string()),
    ])
}
