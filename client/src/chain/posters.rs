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

/// Why a sender may not post to a channel by a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such channel, not a member now, or (for a direct post) not
    /// holding its token.
    NotAPoster,
    /// A token-gated channel takes direct posts only: the contract checks
    /// the balance then, while nobody could check it for a batched post.
    Gated,
}

/// `canPost` of one contract, with a cache.
#[derive(Debug)]
pub struct ChannelPosters {
    chain: CairnClient,
    known: Mutex<HashMap<(B256, Address), (bool, Instant)>>,
    /// Whether each channel is token-gated; a channel's gate never changes.
    gated: Mutex<HashMap<B256, bool>>,
}

impl ChannelPosters {
    /// Asks `chain`.
    pub fn new(chain: CairnClient) -> Self {
        Self {
            chain,
            known: Mutex::default(),
            gated: Mutex::default(),
        }
    }

    fn cached(&self, pair: &(B256, Address)) -> Option<bool> {
        match self.known.lock().expect("not poisoned").get(pair) {
            Some((may, at)) if at.elapsed() < TTL => Some(*may),
            _ => None,
        }
    }

    /// The first of `pairs` (channel, sender), in order, whose sender may
    /// not post to the channel by a batch now, and why, or `None`. Stops at
    /// the first refusal.
    pub async fn first_refused(
        &self,
        pairs: &[(B256, Address)],
    ) -> Result<Option<((B256, Address), Refusal)>, ChainError> {
        // Membership first: its answers are cached either way, so a
        // channel that does not exist costs one lookup, not one each time.
        if let Some(pair) = self.first_not_a_poster(pairs).await? {
            return Ok(Some((pair, Refusal::NotAPoster)));
        }
        for pair in pairs {
            if self.is_gated(pair.0).await? {
                return Ok(Some((*pair, Refusal::Gated)));
            }
        }
        Ok(None)
    }

    /// Whether `channel`, which exists, is token-gated.
    async fn is_gated(&self, channel: B256) -> Result<bool, ChainError> {
        if let Some(gated) = self.gated.lock().expect("not poisoned").get(&channel) {
            return Ok(*gated);
        }
        let Some(state) = self.chain.channel(channel).await? else {
            return Ok(false);
        };
        let gated = state.gate != super::Gate::MembersOnly;
        let mut known = self.gated.lock().expect("not poisoned");
        if known.len() >= MAX_ENTRIES {
            known.clear();
        }
        known.insert(channel, gated);
        Ok(gated)
    }

    /// The first of `pairs` whose sender may not post to the channel now.
    async fn first_not_a_poster(
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
