//! The crate-wide error: one variant per module, each a typed error of its own.

use crate::{chain::ChainError, crypto::KeyError, envelope::EnvelopeError, store::StoreError};

/// Any failure of the `cairn` library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Key generation, derivation or keystore failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Envelope sealing, parsing or opening failure.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Block storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Chain RPC or contract failure.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The recipient has no messaging key on chain, so nobody could read the message.
    #[error("{0} has no registered messaging key; ask them to run `cairn register` first")]
    RecipientNotRegistered(alloy::primitives::Address),
    /// A channel flow failed.
    #[error(transparent)]
    Channel(crate::channel::ChannelError),
    /// The on-chain anchor does not match what the envelope claims.
    #[error("anchor mismatch: {0}")]
    AnchorMismatch(String),
}

impl From<cairn_proto::cid::CidError> for Error {
    fn from(e: cairn_proto::cid::CidError) -> Self {
        Self::Store(e.into())
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
