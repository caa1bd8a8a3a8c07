//! How busy the read API is, so that background work can step aside.
//!
//! The content check is an audit of blocks that were already delivered. A
//! round of a thousand checks takes a core and the database for tens of
//! milliseconds; a reader paging its inbox in that moment waits for it, and
//! on two cores that shows in every page's tail. So the check asks
//! [`ReadLoad::wait_for_quiet`] before each round: while readers are busy it
//! waits, and if they stay busy it goes on with a small round, so it still
//! progresses under a load that never pauses.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::time::Instant;

/// Read requests in flight and when the last one ended.
#[derive(Debug)]
pub struct ReadLoad {
    in_flight: AtomicUsize,
    /// Milliseconds after `epoch` at which the last request began or ended.
    last: AtomicU64,
    epoch: Instant,
}

impl Default for ReadLoad {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

/// A read in progress; dropping it ends the read.
#[derive(Debug)]
pub struct Reading(Arc<ReadLoad>);

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.stamp();
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}

impl ReadLoad {
    /// Marks a read as begun until the returned guard drops.
    pub fn begin(self: &Arc<Self>) -> Reading {
        self.in_flight.fetch_add(1, Ordering::Acquire);
        self.stamp();
        Reading(self.clone())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn stamp(&self) {
        self.last.fetch_max(self.now_ms(), Ordering::Release);
    }

    /// Whether a read is running or one ran within `quiet`.
    pub fn busy(&self, quiet: Duration) -> bool {
        let since = self
            .now_ms()
            .saturating_sub(self.last.load(Ordering::Acquire));
        self.in_flight.load(Ordering::Acquire) > 0 || u128::from(since) < quiet.as_millis()
    }

    /// Waits until no read has run for `quiet`, but no longer than `longest`.
    /// True if the quiet came, false if it gave up waiting.
    pub async fn wait_for_quiet(&self, quiet: Duration, longest: Duration) -> bool {
        let deadline = Instant::now() + longest;
        while self.busy(quiet) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(quiet.min(deadline - Instant::now())).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(50);
    const LONGEST: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn an_idle_api_is_quiet_at_once() {
        let load = Arc::new(ReadLoad::default());
        tokio::time::advance(QUIET).await;
        let started = Instant::now();
        assert!(load.wait_for_quiet(QUIET, LONGEST).await);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_comes_a_quiet_spell_after_the_last_read_ends() {
        let load = Arc::new(ReadLoad::default());
        let reading = load.begin();
        let ender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(reading);
        });
        let started = Instant::now();
        assert!(load.wait_for_quiet(QUIET, LONGEST).await);
        ender.await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(350), "{waited:?}");
        assert!(waited < LONGEST, "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_never_ends_is_waited_for_only_so_long() {
        let load = Arc::new(ReadLoad::default());
        let _reading = load.begin();
        let started = Instant::now();
        assert!(!load.wait_for_quiet(QUIET, LONGEST).await);
        assert_eq!(started.elapsed(), LONGEST);
        assert!(load.busy(QUIET));
    }

    #[tokio::test(start_paused = true)]
    async fn back_to_back_reads_keep_it_busy() {
        let load = Arc::new(ReadLoad::default());
        let reader = {
            let load = load.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    let _reading = load.begin();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!load.wait_for_quiet(QUIET, LONGEST).await);
        reader.await.unwrap();
        assert!(load.wait_for_quiet(QUIET, LONGEST).await);
    }
}
