//! Turns to send a registrar's transactions, shared by every gateway of a
//! PostgreSQL outbox, so that several gateways can pay registrations with
//! one registrar key: each prepares and broadcasts under a transaction-level
//! advisory lock (released at its end, or when the process dies with its
//! connection), so no two read the same pending nonce. Receipts are still
//! awaited side by side, outside the turn.

use std::any::Any;

use alloy::primitives::{keccak256, Address};
use sqlx::PgPool;

use cairn_client::chain::{ChainError, SharedTurn};

/// The turns of one key, in one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgTurns {
    pool: PgPool,
    lock: i64,
}

impl PgTurns {
    /// Turns for transactions signed by `key`, through `pool` (the shared
    /// allowances' connections to the outbox's database).
    pub fn new(pool: PgPool, key: Address) -> Self {
        // One lock per key, apart from the leases' (cairn_indexer::lease).
        let digest = keccak256([b"cairn turns to send as ".as_slice(), key.as_slice()].concat());
        let lock = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        Self { pool, lock }
    }
}

#[async_trait::async_trait]
impl SharedTurn for PgTurns {
    async fn take(&self) -> Result<Box<dyn Any + Send>, ChainError> {
        let unavailable = |e: sqlx::Error| ChainError::Turn(e.to_string());
        let mut turn = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.lock)
            .execute(&mut *turn)
            .await
            .map_err(unavailable)?;
        // Dropped, the transaction rolls back and the lock goes with it.
        Ok(Box::new(turn))
    }
}
