//! Whether a device key could sign for a wallet at an anchor: the one rule
//! the indexer, the gateway and both clients apply (docs/SIGNERS.md).
//!
//! A post signed by a key other than its `from` is valid only when the
//! chain's own `SignerAuthorized` and `SignerRevoked` logs for that
//! (wallet, signer) pair, before the anchor's place, say the key was
//! authorized, never revoked, and its expiry is not before the anchor
//! block's time. Each reader fetches the logs its own way (the indexer
//! from its RPC, the CLI from the user's, the page from the wallet's) and
//! replays them here.

use alloy::{
    primitives::{Address, B256},
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};

use crate::Cairn;

/// A log's place in the chain: block number, then log index.
pub type Place = (u64, u64);

/// Why a signer does not sign for a wallet at some place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignerRefusal {
    /// No authorization of this key by this wallet precedes the place.
    #[error("the key was never authorized to sign for this wallet")]
    NeverAuthorized,
    /// The wallet, or the key itself, revoked it before the place.
    #[error("the key was revoked before the post was anchored")]
    Revoked,
    /// The authorization had expired at the anchor block's time.
    #[error("the key's authorization expired before the post was anchored")]
    Expired,
}

impl SignerRefusal {
    /// A stable machine-readable reason, as the indexer records it.
    pub fn code(self) -> &'static str {
        match self {
            Self::NeverAuthorized => "signer_not_authorized",
            Self::Revoked => "signer_revoked",
            Self::Expired => "signer_expired",
        }
    }
}

/// One signer event of a (wallet, signer) pair, at its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerEvent {
    /// Authorized until this expiry (unix seconds).
    Authorized(u64),
    /// Revoked, for good.
    Revoked,
}

/// The filter of every signer event of the contract at `contract` up to
/// block `to_block`, for the wallets `owners` (topic 1) and the keys
/// `signers` (topic 2). An empty list matches any.
pub fn signer_filter(
    contract: Address,
    owners: &[Address],
    signers: &[Address],
    to_block: u64,
) -> Filter {
    let topics = |a: &[Address]| -> Vec<B256> { a.iter().map(|a| a.into_word()).collect() };
    let mut filter = Filter::new()
        .address(contract)
        .event_signature(vec![
            Cairn::SignerAuthorized::SIGNATURE_HASH,
            Cairn::SignerRevoked::SIGNATURE_HASH,
        ])
        .from_block(0)
        .to_block(to_block);
    if !owners.is_empty() {
        filter = filter.topic1(topics(owners));
    }
    if !signers.is_empty() {
        filter = filter.topic2(topics(signers));
    }
    filter
}

/// Decodes a signer log into its pair, place and event; `None` for any
/// other log, a removed one, or one without a place.
pub fn decode_signer_log(log: &Log) -> Option<((Address, Address), Place, SignerEvent)> {
    if log.removed {
        return None;
    }
    let place = (log.block_number?, log.log_index?);
    match *log.topic0()? {
        Cairn::SignerAuthorized::SIGNATURE_HASH => {
            let e = log.log_decode::<Cairn::SignerAuthorized>().ok()?.inner.data;
            Some((
                (e.owner, e.signer),
                place,
                SignerEvent::Authorized(e.expiry),
            ))
        }
        Cairn::SignerRevoked::SIGNATURE_HASH => {
            let e = log.log_decode::<Cairn::SignerRevoked>().ok()?.inner.data;
            Some(((e.owner, e.signer), place, SignerEvent::Revoked))
        }
        _ => None,
    }
}

/// Replays one pair's `events` (in any order) up to, not including, `at`,
/// and judges the key at a block whose time is `block_time`.
pub fn authorized_at(
    events: &[(Place, SignerEvent)],
    at: Place,
    block_time: u64,
) -> Result<(), SignerRefusal> {
    let mut before: Vec<_> = events.iter().filter(|(p, _)| *p < at).collect();
    before.sort_by_key(|(p, _)| *p);
    if before.iter().any(|(_, e)| *e == SignerEvent::Revoked) {
        return Err(SignerRefusal::Revoked);
    }
    match before.last() {
        None => Err(SignerRefusal::NeverAuthorized),
        Some((_, SignerEvent::Authorized(expiry))) if *expiry >= block_time => Ok(()),
        Some(_) => Err(SignerRefusal::Expired),
    }
}

#[cfg(test)]
mod tests {
    use super::{authorized_at, SignerEvent::*, SignerRefusal};

    #[test]
    fn only_an_earlier_unrevoked_unexpired_authorization_counts() {
        let auth = [((10, 1), Authorized(1_000))];
        assert_eq!(authorized_at(&auth, (11, 0), 999), Ok(()));
        assert_eq!(authorized_at(&auth, (10, 2), 1_000), Ok(()));
        // The same block, but before the authorization's log.
        assert_eq!(
            authorized_at(&auth, (10, 0), 1),
            Err(SignerRefusal::NeverAuthorized)
        );
        assert_eq!(
            authorized_at(&auth, (11, 0), 1_001),
            Err(SignerRefusal::Expired)
        );
        assert_eq!(
            authorized_at(&[], (11, 0), 1),
            Err(SignerRefusal::NeverAuthorized)
        );
    }

    #[test]
    fn a_revocation_counts_from_its_place_on_and_a_renewal_replaces_the_expiry() {
        let events = [
            ((12, 0), Revoked),
            ((10, 1), Authorized(1_000)),
            ((11, 0), Authorized(5_000)),
        ];
        assert_eq!(authorized_at(&events, (11, 1), 4_000), Ok(()));
        assert_eq!(
            authorized_at(&events, (10, 9), 4_000),
            Err(SignerRefusal::Expired)
        );
        assert_eq!(
            authorized_at(&events, (12, 1), 10),
            Err(SignerRefusal::Revoked)
        );
    }
}
