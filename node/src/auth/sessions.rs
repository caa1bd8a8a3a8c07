//! Nonces issued for sign-in, and the sessions sign-in opens, kept in the
//! indexer's database so that every node of one database shares them: a
//! node restart signs nobody out, and behind a round-robin a nonce issued
//! by one node is taken by another and a session opened on one is honoured
//! by all.
//!
//! **Nonces** are not stored when issued. Each carries its issue time and a
//! random part, signed with an HMAC key that the nodes share through the
//! database; taking one checks the signature and the time, then records the
//! nonce as used (until it would have expired), so it is taken once. A flood
//! of nonce requests therefore stores nothing and evicts nobody's nonce.
//!
//! **Sessions** are named by a random token that the browser holds in an
//! HttpOnly cookie; the database keeps only the token's SHA-256, the
//! address and the expiry.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::Address;
use cairn_indexer::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// How long an issued nonce may wait for its sign-in.
pub const NONCE_TTL: Duration = Duration::from_secs(300);
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
/// A nonce's bytes: issue time (8), random (8), HMAC tag (16); hex-encoded.
const NONCE_BYTES: usize = 32;

/// Sign-in state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("sign-in state: {0}")]
pub struct SessionError(#[from] StoreError);

/// A signed-in wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub address: Address,
    /// When the session ends.
    pub expires: SystemTime,
}

/// The nodes' nonces and sessions, in the indexer's database.
#[derive(Debug)]
pub struct Sessions {
    store: Arc<dyn Store>,
    secret: OnceCell<Vec<u8>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// Sessions kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            secret: OnceCell::new(),
        }
    }

    /// The shared HMAC key: made by the first node that needs one.
    async fn mac(&self) -> Result<Hmac<Sha256>, SessionError> {
        let secret = self
            .secret
            .get_or_try_init(|| async {
                let mut fresh = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut fresh);
                self.store.auth_secret(&fresh).await
            })
            .await?;
        Ok(Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length"))
    }

    /// A fresh nonce, valid for [`NONCE_TTL`]: 64 hex digits.
    pub async fn issue_nonce(&self) -> Result<String, SessionError> {
        let mut body = [0u8; NONCE_BYTES];
        body[..8].copy_from_slice(&now_ms().to_be_bytes());
        rand::thread_rng().fill_bytes(&mut body[8..16]);
        let mut mac = self.mac().await?;
        mac.update(&body[..16]);
        body[16..].copy_from_slice(&mac.finalize().into_bytes()[..16]);
        Ok(hex::encode(body))
    }

    /// Takes `nonce` if a node of this database issued it, it has not
    /// expired, and it was not taken before.
    pub async fn take_nonce(&self, nonce: &str) -> Result<bool, SessionError> {
        let Some(body) = hex::decode(nonce)
            .ok()
            .filter(|b| b.len() == NONCE_BYTES && nonce.len() == 2 * NONCE_BYTES)
        else {
            return Ok(false);
        };
        let mut mac = self.mac().await?;
        mac.update(&body[..16]);
        if mac.verify_truncated_left(&body[16..]).is_err() {
            return Ok(false);
        }
        let issued = i64::from_be_bytes(body[..8].try_into().expect("8 bytes"));
        let expires = issued.saturating_add(NONCE_TTL.as_millis() as i64);
        let now = now_ms();
        if expires <= now || issued > now + 60_000 {
            return Ok(false);
        }
        // Stored lowercase: hex in either case names the same nonce.
        Ok(self
            .store
            .spend_nonce(&nonce.to_ascii_lowercase(), expires, now)
            .await?)
    }

    /// Opens a session for `address`; returns its token, for the cookie.
    pub async fn open(&self, address: Address) -> Result<String, SessionError> {
        let mut token = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut token);
        let token = hex::encode(token);
        let now = now_ms();
        self.store
            .open_session(
                &token_hash(&token),
                &cairn_proto::ids::lowercase(address),
                now + SESSION_TTL.as_millis() as i64,
                now,
            )
            .await?;
        Ok(token)
    }

    /// The live session named by `token`, if any.
    pub async fn get(&self, token: &str) -> Result<Option<Session>, SessionError> {
        let found = self.store.session(&token_hash(token), now_ms()).await?;
        Ok(found.and_then(|(address, expires_ms)| {
            Some(Session {
                address: address.parse().ok()?,
                expires: UNIX_EPOCH + Duration::from_millis(u64::try_from(expires_ms).ok()?),
            })
        }))
    }

    /// Ends the session named by `token`.
    pub async fn close(&self, token: &str) -> Result<(), SessionError> {
        Ok(self
            .store
            .close_session(&token_hash(token), now_ms())
            .await?)
    }
}

#[async_trait::async_trait]
impl cairn_indexer::api::Viewers for Sessions {
    async fn viewer(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Option<Address>, cairn_indexer::http::ApiError> {
        let Some(token) = super::routes::token(headers) else {
            return Ok(None);
        };
        match self.get(&token).await {
            Ok(session) => Ok(session.map(|s| s.address)),
            Err(err) => {
                tracing::error!(%err, "cannot read sign-in sessions");
                Err(cairn_indexer::http::ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "sessions cannot be checked now; try again shortly",
                ))
            }
        }
    }
}
