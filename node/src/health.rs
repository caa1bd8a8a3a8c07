//! Readiness: whether the parts a node depends on answer right now.
//!
//! `/healthz` says how the indexer is doing (syncing, stalled, caught up);
//! it does not ask the database, the block store or the RPC. A load
//! balancer needs that answer: a node whose database is gone should get no
//! traffic, though it is alive. So each part that depends on something
//! outside the process names a [`Probe`], and [`spawn`] runs them all in
//! the background, each within a deadline, and keeps the last round.
//! `/readyz` reads it without waiting on anything, so a dead dependency
//! cannot make the health check itself hang.
//!
//! Probes come in groups: a group is up while one of its probes is (two
//! Kubo nodes behind a node are one `blockstore` group, and one of them
//! dying leaves the node ready). The node is ready when every group is up.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use cairn_client::probe::Probe;

/// What one probe found in the last round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The group it counts in.
    pub group: &'static str,
    /// Whether it answered in time.
    pub up: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The last round of every probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// `ready`, `not_ready`, or `starting` before the first round ends.
    pub status: &'static str,
    /// Each probe by name.
    pub checks: BTreeMap<String, Found>,
}

impl Readiness {
    fn starting() -> Self {
        Self {
            status: "starting",
            checks: BTreeMap::new(),
        }
    }

    /// Whether every group has a probe that is up.
    pub fn ready(&self) -> bool {
        self.status == "ready"
    }

    fn of(checks: BTreeMap<String, Found>) -> Self {
        let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
        for found in checks.values() {
            *groups.entry(found.group).or_default() |= found.up;
        }
        let status = if groups.values().all(|up| *up) {
            "ready"
        } else {
            "not_ready"
        };
        Self { status, checks }
    }
}

/// How often the probes run, and how long each may take.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// A probe that has not answered in this long counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `probes` every `every` until `shutdown`, each within `timeout`, all
/// of a round at once. Sets the gauge `cairn_dependency_up{dependency}` to 1
/// or 0 for each. The receiver holds the latest round.
pub fn spawn(
    probes: Vec<Probe>,
    every: Duration,
    timeout: Duration,
    shutdown: CancellationToken,
) -> watch::Receiver<Readiness> {
    let (tx, rx) = watch::channel(Readiness::starting());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let round = futures::future::join_all(probes.iter().map(|p| async move {
                let outcome = match tokio::time::timeout(timeout, p.check()).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer in {} ms", timeout.as_millis())),
                };
                (p, outcome)
            }))
            .await;
            let mut checks = BTreeMap::new();
            for (probe, outcome) in round {
                metrics::gauge!("cairn_dependency_up", "dependency" => probe.name().to_string())
                    .set(if outcome.is_ok() { 1.0 } else { 0.0 });
                if let Err(error) = &outcome {
                    tracing::debug!(dependency = %probe.name(), %error, "a dependency is down");
                }
                checks.insert(
                    probe.name().to_string(),
                    Found {
                        group: probe.group(),
                        up: outcome.is_ok(),
                        error: outcome.err(),
                    },
                );
            }
            let readiness = Readiness::of(checks);
            tx.send_if_modified(|old| {
                if old.status != readiness.status {
                    tracing::warn!(status = readiness.status, "readiness changed");
                }
                let changed = *old != readiness;
                *old = readiness;
                changed
            });
        }
    });
    rx
}

/// The chain's RPC answers `eth_blockNumber`. A URL it cannot even
/// connect to makes a probe that is always down, saying why: the node
/// still starts, and says it is not ready.
pub async fn rpc_probe(url: &str) -> Probe {
    use alloy::providers::{Provider, ProviderBuilder};
    let client = match cairn_contracts::rpc::client(url).await {
        Ok(client) => client,
        Err(e) => {
            let error = format!("cannot connect to {url}: {e}");
            return Probe::new("rpc", "rpc", move || std::future::ready(Err(error.clone())));
        }
    };
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(client)
        .erased();
    Probe::new("rpc", "rpc", move || {
        let provider = provider.clone();
        async move {
            provider
                .get_block_number()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    })
}

/// The indexer's database answers a trivial query.
pub fn database_probe(store: Arc<dyn cairn_indexer::store::Store>) -> Probe {
    Probe::new("database", "database", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn flag(up: &Arc<AtomicBool>) -> impl Fn() -> std::future::Ready<Result<(), String>> {
        let up = up.clone();
        move || {
            std::future::ready(if up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("down".into())
            })
        }
    }

    #[tokio::test]
    async fn a_group_is_up_while_one_of_its_probes_is_and_a_slow_probe_is_down() {
        let (kubo_a, kubo_b, db) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(true)),
        );
        let probes = vec![
            Probe::new("kubo a", "blockstore", flag(&kubo_a)),
            Probe::new("kubo b", "blockstore", flag(&kubo_b)),
            Probe::new("database", "database", flag(&db)),
        ];
        let stop = CancellationToken::new();
        let (every, timeout) = (Duration::from_millis(10), Duration::from_millis(50));
        let mut rx = spawn(probes, every, timeout, stop.clone());
        assert_eq!(rx.borrow().status, "starting");
        let next = async |rx: &mut watch::Receiver<Readiness>| {
            rx.changed().await.unwrap();
            rx.borrow().clone()
        };
        assert!(next(&mut rx).await.ready());
        kubo_a.store(false, Ordering::SeqCst);
        let one_kubo = next(&mut rx).await;
        assert!(one_kubo.ready(), "one Kubo of two is enough: {one_kubo:?}");
        assert!(!one_kubo.checks["kubo a"].up);
        kubo_b.store(false, Ordering::SeqCst);
        assert!(!next(&mut rx).await.ready());
        kubo_b.store(true, Ordering::SeqCst);
        assert!(next(&mut rx).await.ready());
        db.store(false, Ordering::SeqCst);
        let no_db = next(&mut rx).await;
        assert_eq!(no_db.status, "not_ready");
        assert_eq!(no_db.checks["database"].error.as_deref(), Some("down"));
        stop.cancel();

        // A probe that never answers is down after the timeout.
        let hangs = Probe::new("rpc", "rpc", std::future::pending::<Result<(), String>>);
        let mut rx = spawn(vec![hangs], every, timeout, CancellationToken::new());
        let round = next(&mut rx).await;
        assert!(!round.ready());
        assert_eq!(
            round.checks["rpc"].error.as_deref(),
            Some("no answer in 50 ms")
        );
    }
}
