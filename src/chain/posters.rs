//! Cached answers of "may this wallet post to this channel now?", for the
//! gateway's checks on public requests.
//!
//! The relayer pays to anchor every post it accepts, so a post to a
//! channel that does not exist, or that refuses its sender, must be refused
//! before it is anchored. Answers are kept a short while either way
//! (membership and token balances change), and the check's `eth_call` runs
//! under a gas limit: a token-gated channel names its own token contract,
//! whose `balanceOf` could otherwise burn the RPC's whole call budget.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256};
use futures::{StreamExt, TryStreamExt};

use super::{CairnClient, ChainError};

/// How long an answer is believed.
const TTL: Duration = Duration::from_secs(12);
/// Answers kept at most; past it, they are all forgotten.
const MAX_ENTRIES: usize = 100_000;
/// Gas for one `canPost`: membership, and a token's `balanceOf`.
pub const CAN_POST_GAS: u64 = 200_000;
/// Lookups in flight at once.
const MAX_ROUND: usize = 16;

/// `canPost` of one contract, with a cache.
#[derive(Debug)]
pub struct ChannelPosters {
    chain: CairnClient,
    known: Mutex<HashMap<(B256, Address), (bool, Instant)>>,
}

impl ChannelPosters {
    /// Asks `chain`.
    pub fn new(chain: CairnClient) -> Self {
        Self {
            chain,
            known: Mutex::default(),
        }
    }

    fn cached(&self, pair: &(B256, Address)) -> Option<bool> {
        match self.known.lock().expect("not poisoned").get(pair) {
            Some((may, at)) if at.elapsed() < TTL => Some(*may),
            _ => None,
        }
    }

    /// The first of `pairs` (channel, sender), in order, whose sender may
    /// not post to the channel now (no such channel, not a member, or not
    /// holding its token), or `None`. Stops at the first refusal.
    pub async fn first_refused(
        &self,
        pairs: &[(B256, Address)],
    ) -> Result<Option<(B256, Address)>, ChainError> {
        let mut unknown = Vec::new();
        for pair in pairs {
            match self.cached(pair) {
                Some(false) => return Ok(Some(*pair)),
                Some(true) => {}
                None if unknown.contains(pair) => {}
                None => unknown.push(*pair),
            }
        }
        for chunk in unknown.chunks(MAX_ROUND) {
            let answers: Vec<((B256, Address), bool)> =
                futures::stream::iter(chunk.iter().copied())
                    .map(|(channel, sender)| async move {
                        let may = self
                            .chain
                            .can_post_within(channel, sender, CAN_POST_GAS)
                            .await?;
                        Ok::<_, ChainError>(((channel, sender), may))
                    })
                    .buffered(MAX_ROUND)
                    .try_collect()
                    .await?;
            metrics::counter!("cairn_channel_poster_lookups_total").increment(answers.len() as u64);
            {
                let mut known = self.known.lock().expect("not poisoned");
                if known.len() >= MAX_ENTRIES {
                    known.clear();
                }
                for (pair, may) in &answers {
                    known.insert(*pair, (*may, Instant::now()));
                }
            }
            if let Some((pair, _)) = answers.iter().find(|(_, may)| !may) {
                return Ok(Some(*pair));
            }
        }
        Ok(None)
    }
}
