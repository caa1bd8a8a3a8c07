//! Many nodes on one PostgreSQL database: who ingests, and how the others
//! hear of new events.
//!
//! **The ingest lease** is a [`crate::lease`] on `INGEST`: one node at a
//! time follows the chain and writes; the others serve reads and stand by.
//! Every ingestion transaction on PostgreSQL starts with the fence read of
//! `ingest_lease`, so a node that lost the lease fails with
//! [`StoreError::LeaseLost`](super::StoreError::LeaseLost) instead of
//! writing after its successor began.
//!
//! **Commit notices.** Every PostgreSQL transaction that appends stream
//! events also calls `pg_notify`, delivered when it commits. Each node
//! listens and wakes its fan-out, which reads the events from its cursor:
//! the table stays the source of truth, and a notice missed while the
//! listener reconnects is made up by the wake-up that follows.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::lease::LeaseKind;

/// The ingest lease ("cairn" + "ingest" as its lock key).
pub(crate) const INGEST: LeaseKind = LeaseKind {
    lock: 0x6361_6972_6e00_0001,
    table: "ingest_lease",
};

/// The channel ingestion transactions notify when they append events.
pub const EVENTS_CHANNEL: &str = "cairn_events";

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

/// Notices of events other processes committed.
#[derive(Debug)]
pub struct CommitFeed(PgListener);

impl CommitFeed {
    /// Listens on `channel` (the indexer's events use [`EVENTS_CHANNEL`];
    /// the gateways' outbox has a channel of its own).
    pub async fn listen(pool: &sqlx::PgPool, channel: &str) -> sqlx::Result<Self> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
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
