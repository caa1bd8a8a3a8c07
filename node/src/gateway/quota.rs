//! How much a client may submit: posts counted per post, not per request,
//! per client IP and per signing sender (the relayer pays gas for every
//! post it anchors, so no one address may make it pay without bound), and
//! uploaded KiB per signer.
//!
//! Each allowance is a token bucket per key. On one gateway the buckets are
//! in memory ([`governor`]). Gateways that share a PostgreSQL outbox share
//! the buckets too ([`SharedBuckets`], a table beside the outbox), so two
//! gateways behind a round-robin do not let a sender post at twice the
//! rate.

use std::{hash::Hash, num::NonZeroU32, str::FromStr, time::Duration};

use axum::http::StatusCode;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

use cairn_indexer::http::ApiError;

/// A sustained rate and a burst, in units (posts, or KiB of uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Units per second, sustained.
    pub per_second: u32,
    /// Units at once above the sustained rate.
    pub burst: u32,
}

/// Token buckets in PostgreSQL, shared by every gateway of one outbox: a
/// row per (scope, key) holding its tokens at a time, refilled by the time
/// since, taken from in one statement per request.
#[derive(Debug, Clone)]
pub struct SharedBuckets {
    pool: PgPool,
}

/// Why a shared bucket could not be read.
pub type SharedError = sqlx::Error;

impl SharedBuckets {
    /// The buckets of the PostgreSQL outbox at `url` (its schema holds the
    /// table; the outbox's migrations made it).
    pub async fn connect(url: &str) -> Result<Self, SharedError> {
        let options =
            PgConnectOptions::from_str(url)?.options([("search_path", super::outbox::PG_SCHEMA)]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// The connections to the outbox's database, for other shared state
    /// of its gateways ([`super::turns`]).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Takes `wants[i].1` units from bucket `wants[i].0` of `scope` (keys
    /// distinct), each on its own, refilled at `per_second` up to `burst`.
    /// Returns, for each key refused, its index and the seconds until it
    /// could have them.
    pub async fn take(
        &self,
        scope: &str,
        per_second: f64,
        burst: f64,
        wants: &[(String, f64)],
    ) -> Result<Vec<(usize, f64)>, SharedError> {
        let (keys, units): (Vec<String>, Vec<f64>) = wants.iter().cloned().unzip();
        // A new key starts full; an old one is refilled by the time since
        // it was last taken from, capped at the burst. Rows are locked in
        // key order, so that two requests over the same keys cannot
        // deadlock. The refused are read from the snapshot before the
        // insert, which they did not change.
        let refused: Vec<(String, f64, f64)> = sqlx::query_as(
            "WITH want AS (SELECT * FROM unnest($2::text[], $3::float8[]) AS w(key, n)), \
             taken AS ( \
               INSERT INTO allowances AS a (scope, key, tokens, at) \
               SELECT $1, key, $5 - n, now() FROM want WHERE n <= $5 ORDER BY key \
               ON CONFLICT (scope, key) DO UPDATE \
                 SET tokens = LEAST($5, a.tokens + EXTRACT(EPOCH FROM now() - a.at)::float8 * $4) \
                              - ($5 - EXCLUDED.tokens), \
                     at = now() \
                 WHERE LEAST($5, a.tokens + EXTRACT(EPOCH FROM now() - a.at)::float8 * $4) \
                       >= $5 - EXCLUDED.tokens \
               RETURNING a.key) \
             SELECT w.key, w.n, \
               COALESCE(LEAST($5, a.tokens + EXTRACT(EPOCH FROM now() - a.at)::float8 * $4), $5) \
             FROM want w LEFT JOIN allowances a ON a.scope = $1 AND a.key = w.key \
             WHERE w.key NOT IN (SELECT key FROM taken)",
        )
        .bind(scope)
        .bind(&keys)
        .bind(&units)
        .bind(per_second)
        .bind(burst)
        .fetch_all(&self.pool)
        .await?;
        Ok(refused
            .into_iter()
            .filter_map(|(key, n, tokens)| {
                let at = keys.iter().position(|k| *k == key)?;
                let wait = if n > burst {
                    60.0
                } else {
                    (n - tokens).max(0.0) / per_second.max(f64::MIN_POSITIVE)
                };
                Some((at, wait))
            })
            .collect())
    }

    /// Forgets buckets untouched for a day: every allowance here is full
    /// again by then.
    pub async fn prune(&self) -> Result<u64, SharedError> {
        let done = sqlx::query("DELETE FROM allowances WHERE at < now() - interval '1 day'")
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Units counted per key (client IP, sender, uploader).
#[derive(Debug)]
pub struct Allowance<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    what: &'static str,
    per_second: f64,
    burst: f64,
    /// The shared buckets and this allowance's scope among them.
    shared: Option<(SharedBuckets, &'static str)>,
}

impl<K: Hash + Eq + Clone + std::fmt::Display> Allowance<K> {
    /// An allowance refusing with code `what` past `quota`.
    pub fn new(quota: Rate, what: &'static str) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        let limit = Quota::per_second(nz(quota.per_second)).allow_burst(nz(quota.burst));
        Self {
            limiter: RateLimiter::keyed(limit),
            what,
            per_second: f64::from(quota.per_second.max(1)),
            burst: f64::from(quota.burst.max(1)),
            shared: None,
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
            per_second: f64::from(count.get()) / period.as_secs_f64(),
            burst: f64::from(count.get()),
            shared: None,
        }
    }

    /// The same allowance, kept in `buckets` under `scope` (one scope per
    /// allowance), shared with every gateway of the outbox.
    pub fn shared(mut self, buckets: Option<SharedBuckets>, scope: &'static str) -> Self {
        self.shared = buckets.map(|b| (b, scope));
        self
    }

    /// Takes `units` from `key`'s allowance, or says when to come back.
    pub async fn take(&self, key: &K, units: usize) -> Result<(), ApiError> {
        self.take_each(&[(key.clone(), units)]).await
    }

    /// Takes from several keys' allowances (keys distinct), each on its
    /// own; refuses with the first key refused.
    pub async fn take_each(&self, wants: &[(K, usize)]) -> Result<(), ApiError> {
        let refused = match &self.shared {
            Some((buckets, scope)) => {
                let asked: Vec<(String, f64)> = wants
                    .iter()
                    .map(|(k, n)| (k.to_string(), *n as f64))
                    .collect();
                buckets
                    .take(scope, self.per_second, self.burst, &asked)
                    .await
                    .map_err(|e| {
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "quota_unavailable",
                            format!("the shared allowances cannot be read now ({e}); try again"),
                        )
                        .with_retry_after(1)
                    })?
                    .into_iter()
                    .map(|(i, secs)| (i, Duration::from_secs_f64(secs)))
                    .next()
            }
            None => wants
                .iter()
                .enumerate()
                .find_map(|(i, (key, units))| self.take_here(key, *units).err().map(|w| (i, w))),
        };
        let Some((i, wait)) = refused else {
            return Ok(());
        };
        metrics::counter!("cairn_gateway_quota_refusals_total", "quota" => self.what).increment(1);
        let secs = wait.as_secs().max(1);
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            self.what,
            format!("{} is over its quota; retry in {secs} s", wants[i].0),
        )
        .with_retry_after(secs))
    }

    /// Takes from this process's own bucket; the wait when refused.
    fn take_here(&self, key: &K, units: usize) -> Result<(), Duration> {
        // Keys whose allowance is full again are forgotten now and then.
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        let n =
            NonZeroU32::new(u32::try_from(units).unwrap_or(u32::MAX).max(1)).expect("at least 1");
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                Err(not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
            }
            // More at once than the burst allows, ever.
            Err(_) => Err(Duration::from_secs(60)),
        }
    }
}
