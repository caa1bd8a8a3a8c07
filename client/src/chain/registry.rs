//! Cached answers of the on-chain key registry, for checks on public
//! requests.
//!
//! A request that names 1,024 random addresses must not cost the node
//! 1,024 `eth_call`s. Registered addresses are cached for good (a key is
//! only ever rotated, never removed); unregistered ones for a short time,
//! so a new registration is seen soon. [`KeyRegistry::first_unregistered`]
//! looks addresses up in growing rounds (1, 2, 4, … 16 at once) and stops
//! at the first unregistered one: a request of random recipients costs one
//! lookup before it is refused. Device signers are looked up the same way
//! ([`KeyRegistry::first_unauthorized`]), and believed for 10 s.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::Address;
use futures::{StreamExt, TryStreamExt};

use super::{CairnClient, ChainError};

/// How long "not registered" (or "not a signer") is believed.
const NEGATIVE_TTL: Duration = Duration::from_secs(12);
/// How long "this key signs for that wallet" is believed: a revocation
/// reaches the gateway's checks within this time. The indexer and the
/// clients judge each post at its anchor, so a post that slips through in
/// that time is refused there (docs/SIGNERS.md).
const SIGNER_TTL: Duration = Duration::from_secs(10);
/// Entries kept at most; past it, the expired ones are forgotten.
const MAX_ENTRIES: usize = 200_000;
/// Lookups in flight at once.
const MAX_ROUND: usize = 16;

/// Answers of the chain, each believed for a while: yes for `yes_ttl`
/// (`None`: for good), no for [`NEGATIVE_TTL`].
#[derive(Debug)]
struct Answers<K> {
    known: Mutex<HashMap<K, (bool, Instant)>>,
    yes_ttl: Option<Duration>,
}

impl<K: Hash + Eq + Copy> Answers<K> {
    fn new(yes_ttl: Option<Duration>) -> Self {
        Self {
            known: Mutex::default(),
            yes_ttl,
        }
    }

    fn fresh(&self, (yes, at): (bool, Instant)) -> bool {
        match (yes, self.yes_ttl) {
            (true, None) => true,
            (true, Some(ttl)) => at.elapsed() < ttl,
            (false, _) => at.elapsed() < NEGATIVE_TTL,
        }
    }

    fn cached(&self, key: &K) -> Option<bool> {
        let known = self.known.lock().expect("not poisoned");
        known.get(key).filter(|k| self.fresh(**k)).map(|k| k.0)
    }

    fn remember(&self, key: K, yes: bool) {
        let mut known = self.known.lock().expect("not poisoned");
        if known.len() >= MAX_ENTRIES {
            known.retain(|_, k| k.0 && self.yes_ttl.is_none());
        }
        known.insert(key, (yes, Instant::now()));
    }

    fn forget(&self, key: &K) {
        self.known.lock().expect("not poisoned").remove(key);
    }

    /// The first of `keys` (in order) the chain says no to, asking
    /// `lookup` in growing rounds and stopping at the first no.
    async fn first_no<F, Fut>(&self, keys: &[K], lookup: F) -> Result<Option<K>, ChainError>
    where
        F: Fn(K) -> Fut,
        Fut: std::future::Future<Output = Result<bool, ChainError>>,
    {
        let mut unknown = Vec::new();
        for k in keys {
            match self.cached(k) {
                Some(false) => return Ok(Some(*k)),
                Some(true) => {}
                None if unknown.contains(k) => {}
                None => unknown.push(*k),
            }
        }
        for chunk in rounds(&unknown) {
            let answers: Vec<(K, bool)> = futures::stream::iter(chunk.iter().copied())
                .map(|k| {
                    let asked = lookup(k);
                    async move { Ok::<_, ChainError>((k, asked.await?)) }
                })
                .buffered(MAX_ROUND)
                .try_collect()
                .await?;
            metrics::counter!("cairn_key_lookups_total").increment(answers.len() as u64);
            for (k, yes) in &answers {
                self.remember(*k, *yes);
            }
            if let Some((k, _)) = answers.iter().find(|(_, yes)| !yes) {
                return Ok(Some(*k));
            }
        }
        Ok(None)
    }
}

/// The key registry and device signers of one contract, with a cache.
#[derive(Debug)]
pub struct KeyRegistry {
    chain: CairnClient,
    registered: Answers<Address>,
    signers: Answers<(Address, Address)>,
}

impl KeyRegistry {
    /// Looks keys up through `chain`.
    pub fn new(chain: CairnClient) -> Self {
        Self {
            chain,
            // A key is only ever rotated, never removed.
            registered: Answers::new(None),
            signers: Answers::new(Some(SIGNER_TTL)),
        }
    }

    /// Whether `address` has a registered key.
    pub async fn is_registered(&self, address: Address) -> Result<bool, ChainError> {
        Ok(self.first_unregistered(&[address]).await?.is_none())
    }

    /// The first of `addresses` (in order) without a registered key, or
    /// `None` when all have one. Stops looking at the first miss.
    pub async fn first_unregistered(
        &self,
        addresses: &[Address],
    ) -> Result<Option<Address>, ChainError> {
        self.registered
            .first_no(addresses, |a| async move {
                Ok(self.chain.key_of(a).await?.is_some())
            })
            .await
    }

    /// Forgets what was believed of a pair: this node just revoked it.
    pub fn forget_signer(&self, owner: Address, signer: Address) {
        self.signers.forget(&(owner, signer));
    }

    /// The first of the (wallet, device key) `pairs` in which the key does
    /// not sign for the wallet now (never authorized, revoked, or expired
    /// by `now`, unix seconds), or `None`. Stops at the first miss: a
    /// request signed by random keys costs one lookup.
    pub async fn first_unauthorized(
        &self,
        pairs: &[(Address, Address)],
        now: u64,
    ) -> Result<Option<(Address, Address)>, ChainError> {
        self.signers
            .first_no(pairs, |(owner, key)| async move {
                Ok(self.chain.signer_expiry(owner, key).await? > now)
            })
            .await
    }
}

/// Splits `items` into rounds of 1, 2, 4, … up to [`MAX_ROUND`].
fn rounds<T>(items: &[T]) -> Vec<&[T]> {
    let (mut out, mut rest, mut size) = (Vec::new(), items, 1);
    while !rest.is_empty() {
        let (now, later) = rest.split_at(size.min(rest.len()));
        out.push(now);
        rest = later;
        size = (size * 2).min(MAX_ROUND);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_grow_to_the_cap() {
        let items: Vec<u32> = (0..40).collect();
        let sizes: Vec<usize> = rounds(&items).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [1, 2, 4, 8, 16, 9]);
        assert!(rounds::<u32>(&[]).is_empty());
    }
}
