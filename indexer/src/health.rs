//! What `/healthz` says, from facts gathered apart from ingestion.
//!
//! The chain head comes from its own poll, not from the ingester, so a
//! stuck ingester shows as lag instead of hiding it. The verdict is pure:
//! [`assess`] turns a [`Progress`] and the time into a [`Health`].

use std::time::{Duration, Instant};

use serde::Serialize;

/// How far ingestion has come, for progress bars and `/healthz`
/// ([`assess`] judges it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The first block to ingest.
    pub start: u64,
    /// The last block ingested.
    pub indexed: Option<u64>,
    /// The chain head, polled apart from ingestion.
    pub head: u64,
    /// When the head was last read.
    pub head_seen: Option<Instant>,
    /// When ingestion last completed a step: ingested, rolled back, or
    /// found itself at the head.
    pub progressed: Option<Instant>,
    /// Why the chain cannot be read, while it cannot.
    pub rpc_error: Option<String>,
    /// Why ingestion will not run at all.
    pub fatal: Option<String>,
    /// Whether this node holds the ingest lease (see
    /// [`crate::store::lease`]); a standby follows the shared checkpoint.
    pub ingesting: bool,
    /// Confirmations (K).
    pub confirmations: u64,
    /// How long without progress (or without the head) is a stall.
    pub stall_after: Duration,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Following the head within K blocks.
    Ok,
    /// Behind the head, and moving.
    Syncing,
    /// The chain cannot be read; what is indexed is still served.
    Degraded,
    /// Behind the head, and not moving for longer than the stall time.
    Stalled,
    /// Ingestion will not run: wrong chain or not a Cairn contract.
    Failed,
}

impl Status {
    /// Whether a load balancer should send readers here: a degraded or
    /// syncing node serves what it has; a stalled or failed one is stale.
    pub fn serving(self) -> bool {
        matches!(self, Self::Ok | Self::Syncing | Self::Degraded)
    }
}

/// `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The verdict.
    pub status: Status,
    /// Why, when it is not `ok`.
    pub reason: Option<String>,
    /// The chain head, as last polled.
    pub head: u64,
    /// The last block ingested.
    pub indexed: Option<u64>,
    /// `head - indexed`.
    pub lag: Option<u64>,
    /// Milliseconds since the head was last read.
    pub head_age_ms: Option<u64>,
    /// Milliseconds since ingestion last made progress.
    pub since_progress_ms: Option<u64>,
    /// `ingesting` while this node holds the ingest lease, `standby` while
    /// another node of the same database does.
    pub role: Role,
}

/// A node's part in ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// It follows the chain and writes.
    Ingesting,
    /// It serves reads and waits for the ingest lease.
    Standby,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Judges `p` at `now`: stalled when more than K + 1 blocks behind with no
/// progress for `p.stall_after`, degraded when the head could not be read
/// for as long.
pub fn assess(p: &Progress, now: Instant) -> Health {
    let stall_after = p.stall_after;
    // The head is polled once a second; a block already ingested is proof
    // the chain reached it. (Another chain behind it is refused apart.)
    let head = p.indexed.map_or(p.head, |i| p.head.max(i));
    let lag = p.indexed.map(|i| head.saturating_sub(i));
    let head_age = p.head_seen.map(|t| now.saturating_duration_since(t));
    let since_progress = p.progressed.map(|t| now.saturating_duration_since(t));
    let behind = p.head_seen.is_some()
        && lag.unwrap_or(p.head.saturating_sub(p.start)) > p.confirmations + 1;
    let (status, reason) = if let Some(fatal) = &p.fatal {
        (Status::Failed, Some(fatal.clone()))
    } else if head_age.is_none_or(|age| age > stall_after) || p.rpc_error.is_some() {
        let why = p.rpc_error.as_deref().unwrap_or("no answer yet");
        (
            Status::Degraded,
            Some(format!(
                "the chain cannot be read ({why}); serving what is indexed"
            )),
        )
    } else if behind && since_progress.is_none_or(|d| d > stall_after) {
        (
            Status::Stalled,
            Some(format!(
                "{} blocks behind the head with no progress for {} s",
                lag.unwrap_or(p.head),
                since_progress.map_or(0, |d| d.as_secs())
            )),
        )
    } else if behind {
        (Status::Syncing, None)
    } else {
        (Status::Ok, None)
    };
    Health {
        status,
        reason,
        head,
        indexed: p.indexed,
        lag,
        head_age_ms: head_age.map(ms),
        since_progress_ms: since_progress.map(ms),
        role: if p.ingesting {
            Role::Ingesting
        } else {
            Role::Standby
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(30);

    fn progress(now: Instant, head: u64, indexed: u64, progressed_ago: u64) -> Progress {
        Progress {
            start: 0,
            indexed: Some(indexed),
            head,
            head_seen: Some(now - Duration::from_secs(1)),
            progressed: Some(now - Duration::from_secs(progressed_ago)),
            rpc_error: None,
            fatal: None,
            confirmations: 2,
            stall_after: STALL,
            ingesting: true,
        }
    }

    #[test]
    fn judges_lag_progress_and_the_rpc() {
        let now = Instant::now() + Duration::from_secs(3600);
        let at = |p: &Progress| assess(p, now).status;
        assert_eq!(at(&progress(now, 100, 98, 1)), Status::Ok);
        let ahead = assess(&progress(now, 100, 101, 1), now);
        assert_eq!(
            (ahead.head, ahead.lag),
            (101, Some(0)),
            "a polled head a block behind"
        );
        assert_eq!(at(&progress(now, 100, 50, 1)), Status::Syncing);
        // At the head, an idle chain is not a stall.
        assert_eq!(at(&progress(now, 100, 100, 600)), Status::Ok);
        let stalled = assess(&progress(now, 100, 50, 31), now);
        assert_eq!(stalled.status, Status::Stalled);
        assert_eq!(stalled.lag, Some(50));
        assert!(stalled.reason.unwrap().contains("50 blocks behind"));

        let mut down = progress(now, 100, 98, 1);
        down.rpc_error = Some("connection refused".into());
        let health = assess(&down, now);
        assert_eq!(health.status, Status::Degraded);
        assert!(health.reason.unwrap().contains("connection refused"));
        let mut never = progress(now, 0, 10_003, 1);
        never.head_seen = None;
        assert_eq!(
            at(&never),
            Status::Degraded,
            "a head never read is no lag 0"
        );
        let mut stale = progress(now, 100, 98, 1);
        stale.head_seen = Some(now - Duration::from_secs(31));
        assert_eq!(at(&stale), Status::Degraded);

        let mut wrong = progress(now, 100, 98, 1);
        wrong.fatal = Some("this database indexes chain 1".into());
        assert_eq!(at(&wrong), Status::Failed);
        assert!(!Status::Failed.serving() && !Status::Stalled.serving());
        assert!(Status::Degraded.serving());
    }

    #[test]
    fn says_whether_this_node_ingests() {
        let now = Instant::now() + Duration::from_secs(3600);
        let mut p = progress(now, 100, 100, 0);
        assert_eq!(assess(&p, now).role, Role::Ingesting);
        p.ingesting = false;
        assert_eq!(assess(&p, now).role, Role::Standby);
        let json = serde_json::to_value(assess(&p, now)).unwrap();
        assert_eq!(json["role"], "standby");
    }
}
