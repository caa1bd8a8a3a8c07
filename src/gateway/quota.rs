//! How much a client may submit: posts counted per post, not per request,
//! per client IP and per signing sender (the relayer pays gas for every
//! post it anchors, so no one address may make it pay without bound), and
//! uploaded KiB per signer.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use axum::http::StatusCode;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use cairn_indexer::http::ApiError;

/// A sustained rate and a burst, in units (posts, or KiB of uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Units per second, sustained.
    pub per_second: u32,
    /// Units at once above the sustained rate.
    pub burst: u32,
}

/// Units counted per key (client IP, sender, uploader).
#[derive(Debug)]
pub struct Allowance<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    what: &'static str,
}

impl<K: Hash + Eq + Clone + std::fmt::Display> Allowance<K> {
    /// An allowance refusing with code `what` past `quota`.
    pub fn new(quota: Rate, what: &'static str) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        let quota = Quota::per_second(nz(quota.per_second)).allow_burst(nz(quota.burst));
        Self {
            limiter: RateLimiter::keyed(quota),
            what,
        }
    }

    /// An allowance of `count` units per `period`, refilled evenly, all of
    /// them usable at once: for what is rare, such as key rotations.
    pub fn per_period(count: u32, period: Duration, what: &'static str) -> Self {
        let count = NonZeroU32::new(count.max(1)).expect("at least 1");
        let quota = Quota::with_period(period / count.get())
            .expect("a period longer than zero")
            .allow_burst(count);
        Self {
            limiter: RateLimiter::keyed(quota),
            what,
        }
    }

    /// Takes `units` from `key`'s allowance, or says when to come back.
    pub fn take(&self, key: &K, units: usize) -> Result<(), ApiError> {
        // Keys whose allowance is full again are forgotten now and then.
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        let n =
            NonZeroU32::new(u32::try_from(units).unwrap_or(u32::MAX).max(1)).expect("at least 1");
        let wait = match self.limiter.check_key_n(key, n) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => {
                not_until.wait_time_from(governor::clock::DefaultClock::default().now())
            }
            // More at once than the burst allows, ever.
            Err(_) => Duration::from_secs(60),
        };
        metrics::counter!("cairn_gateway_quota_refusals_total", "quota" => self.what).increment(1);
        let secs = wait.as_secs().max(1);
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            self.what,
            format!("{key} is over its quota; retry in {secs} s"),
        )
        .with_retry_after(secs))
    }
}
