//! Many nodes on one PostgreSQL database: who ingests, and how the others
//! hear of new events.
//!
//! **The ingest lease.** One node at a time follows the chain and writes;
//! the others serve reads and stand by. The lease is a PostgreSQL session
//! advisory lock, held on a connection of its own: when the holder dies,
//! the server closes its connection and frees the lock at once, and the
//! next standby to ask takes it. Taking it bumps `ingest_lease.generation`,
//! and every ingestion transaction checks, under a share lock on that row,
//! that the generation is still the one its node took. A node that lost its
//! connection but not its process (a partition, a paused VM) therefore
//! cannot write after its successor began: its next transaction fails with
//! [`StoreError::LeaseLost`](super::StoreError::LeaseLost), and a
//! transaction it had under way finishes before the successor's bump, so
//! the successor reads its checkpoint after it.
//!
//! SQLite has one writing process by construction, so its lease is always
//! held and never lost.
//!
//! **Commit notices.** Every PostgreSQL transaction that appends stream
//! events also calls `pg_notify`, delivered when it commits. Each node
//! listens and wakes its fan-out, which reads the events from its cursor:
//! the table stays the source of truth, and a notice missed while the
//! listener reconnects is made up by the wake-up that follows.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use sqlx::{postgres::PgListener, Connection, PgConnection};

use super::Result;

/// The advisory lock key of the ingest lease ("cairn" + "ingest").
pub(crate) const INGEST_LOCK: i64 = 0x6361_6972_6e00_0001;

/// The channel ingestion transactions notify when they append events.
pub(crate) const EVENTS_CHANNEL: &str = "cairn_events";

/// The lock and the notice, taken just before a PostgreSQL transaction
/// appends stream events and held until it commits. The lock orders seqs:
/// a `BIGSERIAL` hands them out when rows are inserted, not when they
/// commit, so without it two writers (ingestion and batch resolution) could
/// commit seqs 11 and 10 in that order, and a reader that saw 11 first would
/// move its cursor past 10 for good. SQLite serialises writers on its
/// database lock already, and has no other process to tell.
pub(crate) const ORDER_EVENTS_POSTGRES: &str =
    "SELECT pg_advisory_xact_lock(7283190), pg_notify('cairn_events', '')";

/// The fencing read every ingestion transaction on PostgreSQL starts with.
pub(crate) const FENCE_POSTGRES: &str =
    "SELECT generation FROM ingest_lease WHERE id = 1 FOR SHARE";

/// How often a holder checks that its lock connection is alive, and how
/// long it waits for the answer.
const LIVENESS: Duration = Duration::from_secs(1);

/// The generation a store's ingestion transactions must find; 0 until its
/// process takes the lease (and then unchecked: SQLite, or a store that
/// never ingests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fence(Arc<AtomicU64>);

impl Fence {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, generation: u64) {
        self.0.store(generation, Ordering::Release);
    }
}

/// The right to ingest, held until dropped or [`lost`](Self::lost).
#[derive(Debug)]
pub struct IngestLease {
    /// Which takeover this is (1 for the first; always 0 on SQLite).
    pub generation: u64,
    /// The connection that holds the advisory lock; `None` on SQLite.
    held: Option<PgConnection>,
}

impl IngestLease {
    /// The lease of the only writer there can be.
    pub(crate) fn sole() -> Self {
        Self {
            generation: 0,
            held: None,
        }
    }

    /// Resolves when the lock's connection fails or stops answering: the
    /// server may then have given the lease to another node.
    pub async fn lost(&mut self) {
        let Some(connection) = self.held.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(LIVENESS).await;
            match tokio::time::timeout(LIVENESS, connection.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(%err, "the ingest lease's connection failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!("the ingest lease's connection stopped answering");
                    return;
                }
            }
        }
    }
}

/// A standby's connection, kept between attempts to take the lease.
#[derive(Debug, Default)]
pub(crate) struct Standby(tokio::sync::Mutex<Option<PgConnection>>);

impl Standby {
    /// Takes the lease if no other node holds it, and sets `fence` to the
    /// new generation.
    pub(crate) async fn try_take(
        &self,
        options: &sqlx::postgres::PgConnectOptions,
        holder: &str,
        fence: &Fence,
    ) -> Result<Option<IngestLease>> {
        let mut kept = self.0.lock().await;
        let mut connection = match kept.take() {
            Some(connection) => connection,
            None => PgConnection::connect_with(options).await?,
        };
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(INGEST_LOCK)
            .fetch_one(&mut connection)
            .await?;
        if !locked {
            *kept = Some(connection);
            return Ok(None);
        }
        // Waits for any transaction of the previous holder that checked the
        // old generation to commit.
        let generation: i64 = sqlx::query_scalar(
            "UPDATE ingest_lease SET generation = generation + 1, holder = $1, taken_at = now() \
             WHERE id = 1 RETURNING generation",
        )
        .bind(holder)
        .fetch_one(&mut connection)
        .await?;
        let generation = generation as u64;
        fence.set(generation);
        Ok(Some(IngestLease {
            generation,
            held: Some(connection),
        }))
    }
}

/// Notices of events other processes committed.
#[derive(Debug)]
pub struct CommitFeed(PgListener);

impl CommitFeed {
    pub(crate) async fn listen(pool: &sqlx::PgPool) -> Result<Self> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        Ok(Self(listener))
    }

    /// Waits for the next notice. It also returns when the connection was
    /// lost (notices may have been missed; it listens again on the next
    /// call), and after a failure, a second later: in either case the
    /// caller should read what it may have missed.
    pub async fn next(&mut self) {
        match self.0.try_recv().await {
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(%err, "listening for commits failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
