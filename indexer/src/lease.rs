//! A lease on PostgreSQL: one process at a time does a job that must not
//! be done twice (the indexer's ingestion, the gateway's batching), and
//! another takes over within moments when it dies.
//!
//! The lease is a PostgreSQL session advisory lock, held on a connection of
//! its own: when the holder dies, the server closes its connection and frees
//! the lock at once, and the next standby to ask takes it. Taking it bumps
//! the `generation` in the lease's one-row table, and every transaction the
//! job writes checks, under a share lock on that row, that the generation is
//! still the one its process took (its [`Fence`]). A process that lost its
//! connection but not its life (a partition, a paused VM) therefore cannot
//! write after its successor began: its next transaction fails, and one it
//! had under way finishes before the successor's bump, so the successor
//! reads what it wrote.
//!
//! A SQLite database has one writing process by construction, so its lease
//! is [`Lease::sole`]: always held, never lost.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use sqlx::{postgres::PgConnectOptions, Connection, PgConnection};

/// How often a holder checks that its lock connection is alive, and how
/// long it waits for the answer.
const LIVENESS: Duration = Duration::from_secs(1);

/// Which lease: its advisory lock key (unique in the database) and the
/// table that counts its generations. The table has one row, `id = 1`, with
/// `generation BIGINT`, `holder TEXT` and `taken_at TIMESTAMPTZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseKind {
    /// The advisory lock key.
    pub lock: i64,
    /// The generation table, as the connection's `search_path` finds it.
    pub table: &'static str,
}

/// The generation a process's fenced transactions must find; 0 until it
/// takes the lease (and then unchecked: SQLite, or a process that never
/// does the job).
#[derive(Debug, Clone, Default)]
pub struct Fence(Arc<AtomicU64>);

impl Fence {
    /// The generation this process holds, or 0.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, generation: u64) {
        self.0.store(generation, Ordering::Release);
    }
}

/// The right to do the job, held until dropped or [`lost`](Self::lost).
#[derive(Debug)]
pub struct Lease {
    /// Which takeover this is (1 for the first; always 0 on SQLite).
    pub generation: u64,
    /// The connection that holds the advisory lock; `None` on SQLite.
    held: Option<PgConnection>,
}

impl Lease {
    /// The lease of the only writer there can be.
    pub fn sole() -> Self {
        Self {
            generation: 0,
            held: None,
        }
    }

    /// Resolves when the lock's connection fails or stops answering: the
    /// server may then have given the lease to another process.
    pub async fn lost(&mut self) {
        let Some(connection) = self.held.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(LIVENESS).await;
            match tokio::time::timeout(LIVENESS, connection.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(%err, "the lease's connection failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!("the lease's connection stopped answering");
                    return;
                }
            }
        }
    }
}

/// A standby's connection, kept between attempts to take the lease.
#[derive(Debug)]
pub struct Standby {
    kind: LeaseKind,
    options: PgConnectOptions,
    fence: Fence,
    kept: tokio::sync::Mutex<Option<PgConnection>>,
}

impl Standby {
    /// A standby for `kind` on the database `options` name, which sets
    /// `fence` when it takes the lease.
    pub fn new(kind: LeaseKind, options: PgConnectOptions, fence: Fence) -> Self {
        Self {
            kind,
            options,
            fence,
            kept: Default::default(),
        }
    }

    /// Takes the lease if no other process holds it.
    pub async fn try_take(&self, holder: &str) -> sqlx::Result<Option<Lease>> {
        let mut kept = self.kept.lock().await;
        let mut connection = match kept.take() {
            Some(connection) => connection,
            None => PgConnection::connect_with(&self.options).await?,
        };
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.kind.lock)
            .fetch_one(&mut connection)
            .await?;
        if !locked {
            *kept = Some(connection);
            return Ok(None);
        }
        // Waits for any transaction of the previous holder that checked the
        // old generation to commit.
        let generation: i64 = sqlx::query_scalar(&format!(
            "UPDATE {} SET generation = generation + 1, holder = $1, taken_at = now() \
             WHERE id = 1 RETURNING generation",
            self.kind.table
        ))
        .bind(holder)
        .fetch_one(&mut connection)
        .await?;
        let generation = generation as u64;
        self.fence.set(generation);
        Ok(Some(Lease {
            generation,
            held: Some(connection),
        }))
    }
}

/// A name for the lease's holder in its table: host and process id.
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{host}:{}", std::process::id())
}
