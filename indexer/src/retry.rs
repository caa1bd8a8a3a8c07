//! When to look again for a block or manifest that no store had.
//!
//! Anyone can anchor a digest whose block exists nowhere, so a missing
//! block is normal input, not an error. Each one is retried on its own
//! schedule, doubling from `first` up to `cap`: a late upload is found
//! within one period, and a heap of blocks that never come costs a lookup
//! per row per `cap`, not one per round.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential backoff with a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first miss.
    pub first: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 2 s, doubling to 5 minutes.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after `misses` earlier misses (0 for the first).
    pub fn delay(&self, misses: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << misses.min(20))
            .min(self.cap)
    }

    /// When (unix ms) to look again, `now_ms` after `misses` earlier misses.
    pub fn next_at(&self, now_ms: u64, misses: u32) -> u64 {
        now_ms.saturating_add(self.delay(misses).as_millis() as u64)
    }
}

/// Now, in unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff {
            first: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (0..7).map(|m| b.delay(m).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(b.next_at(1_000, 1), 5_000);
        assert_eq!(b.next_at(u64::MAX, 3), u64::MAX);
    }
}
