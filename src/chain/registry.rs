//! Cached answers of the on-chain key registry, for checks on public
//! requests.
//!
//! A request that names 1,024 random addresses must not cost the node
//! 1,024 `eth_call`s. Registered addresses are cached for good (a key is
//! only ever rotated, never removed); unregistered ones for a short time,
//! so a new registration is seen soon. [`KeyRegistry::first_unregistered`]
//! looks addresses up in growing rounds (1, 2, 4, … 16 at once) and stops
//! at the first unregistered one: a request of random recipients costs one
//! lookup before it is refused.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::Address;
use futures::{StreamExt, TryStreamExt};

use super::{CairnClient, ChainError};

/// How long "not registered" is believed.
const NEGATIVE_TTL: Duration = Duration::from_secs(12);
/// Entries kept at most; past it, the unregistered ones are forgotten.
const MAX_ENTRIES: usize = 200_000;
/// Lookups in flight at once.
const MAX_ROUND: usize = 16;

#[derive(Debug, Clone, Copy)]
enum Known {
    Registered,
    Absent(Instant),
}

/// The key registry of one contract, with a cache.
#[derive(Debug)]
pub struct KeyRegistry {
    chain: CairnClient,
    known: Mutex<HashMap<Address, Known>>,
}

impl KeyRegistry {
    /// Looks keys up through `chain`.
    pub fn new(chain: CairnClient) -> Self {
        Self {
            chain,
            known: Mutex::default(),
        }
    }

    fn cached(&self, address: &Address) -> Option<bool> {
        match self.known.lock().expect("not poisoned").get(address) {
            Some(Known::Registered) => Some(true),
            Some(Known::Absent(at)) if at.elapsed() < NEGATIVE_TTL => Some(false),
            _ => None,
        }
    }

    fn remember(&self, address: Address, registered: bool) {
        let mut known = self.known.lock().expect("not poisoned");
        if known.len() >= MAX_ENTRIES {
            known.retain(|_, k| matches!(k, Known::Registered));
        }
        let entry = if registered {
            Known::Registered
        } else {
            Known::Absent(Instant::now())
        };
        known.insert(address, entry);
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
        let mut unknown = Vec::new();
        for a in addresses {
            match self.cached(a) {
                Some(false) => return Ok(Some(*a)),
                Some(true) => {}
                None if unknown.contains(a) => {}
                None => unknown.push(*a),
            }
        }
        for chunk in rounds(&unknown) {
            let answers: Vec<(Address, bool)> =
                futures::stream::iter(chunk.iter().copied())
                    .map(|a| async move {
                        Ok::<_, ChainError>((a, self.chain.key_of(a).await?.is_some()))
                    })
                    .buffered(MAX_ROUND)
                    .try_collect()
                    .await?;
            metrics::counter!("cairn_key_lookups_total").increment(answers.len() as u64);
            for (a, registered) in &answers {
                self.remember(*a, *registered);
            }
            if let Some((a, _)) = answers.iter().find(|(_, registered)| !registered) {
                return Ok(Some(*a));
            }
        }
        Ok(None)
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
