use alloy::{
    primitives::{Address, B256},
    providers::PendingTransactionError,
    transports::{RpcError, TransportError},
};
use cairn_contracts::Cairn::CairnErrors;

/// Errors from the chain client.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered with an error.
    #[error("RPC error: {0}")]
    Rpc(#[source] TransportError),
    /// The contract rejected the call.
    #[error("contract reverted: {0}")]
    Reverted(Revert),
    /// The transaction was mined but failed.
    #[error("transaction {tx} failed on chain")]
    TxFailed {
        /// The transaction hash.
        tx: B256,
    },
    /// The transaction was not mined in time.
    #[error("transaction was not mined in time: {0}")]
    NotMined(String),
    /// No contract code at the configured address.
    #[error("no Cairn contract is deployed at {0}; check --contract or the deployment file")]
    NotDeployed(Address),
    /// A transaction was needed but no wallet was configured.
    #[error("this needs a wallet: pass --private-key or set CAIRN_PRIVATE_KEY")]
    MissingSigner,
    /// A receipt lacked what a successful call must produce.
    #[error("transaction {tx} has no {event}")]
    MissingEvent {
        /// The transaction hash.
        tx: B256,
        /// What was missing.
        event: &'static str,
    },
    /// Any other contract-binding failure (ABI encoding, decoding).
    #[error("contract call failed: {0}")]
    Contract(String),
    /// Another process signing with the same key could not be waited for
    /// (its shared turn, in a database, was unreachable).
    #[error("cannot take a turn to send with this key: {0}")]
    Turn(String),
    /// The wallet cannot pay for gas.
    #[error("the wallet has no ETH to pay for gas on this chain ({0}); fund it, or let a gateway pay: `cairn register --via-gateway <url>`, `cairn send --via-gateway <url>`")]
    NoFunds(String),
    /// The address holds another contract.
    #[error(
        "{contract} is not a Cairn contract ({reason}); check --contract or the deployment file"
    )]
    NotCairn {
        /// The address.
        contract: Address,
        /// What gave it away.
        reason: String,
    },
}

/// A revert, decoded into the contract's custom errors where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// The key is all zero.
    ZeroKey,
    /// The key is the one already registered.
    KeyUnchanged,
    /// The recipient is zero.
    ZeroRecipient,
    /// The digest is zero.
    ZeroDigest,
    /// A batch without a root, a manifest or any post.
    EmptyBatch,
    /// A signature's deadline (unix seconds) has passed.
    Expired(u64),
    /// A signature was not made by the owner, or was already used.
    BadSignature,
    /// The sender may not post to the channel: not a member, or too little
    /// of the gate token.
    NotAllowedToPost {
        /// The channel.
        channel: B256,
        /// The sender.
        account: Address,
    },
    /// Only the channel's admins may do this.
    NotAdmin {
        /// The channel.
        channel: B256,
        /// Who tried.
        account: Address,
    },
    /// No channel has this id.
    UnknownChannel(B256),
    /// Any other channel rule (the error's name and arguments).
    Channel(String),
    /// A device-signer rule: an invalid key, a past expiry, a key revoked
    /// for good, or one that is no signer (the error's name and arguments).
    Signer(String),
    /// Revert data this client does not know.
    Unknown(String),
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ZeroKey => "ZeroKey (the all-zero key cannot be registered)",
            Self::KeyUnchanged => {
                "KeyUnchanged (this key is already registered; nothing to rotate)"
            }
            Self::ZeroRecipient => "ZeroRecipient (a post needs a recipient)",
            Self::ZeroDigest => "ZeroDigest (a post needs a block digest)",
            Self::EmptyBatch => "EmptyBatch (a batch needs a root, a manifest and a post)",
            Self::BadSignature => "BadSignature (not signed by the owner, or already used)",
            Self::Expired(deadline) => {
                return write!(
                    f,
                    "Expired (the signature's deadline {deadline} has passed)"
                )
            }
            Self::NotAllowedToPost { channel, account } => {
                return write!(
                    f,
                    "NotAllowedToPost ({account} is not a member of channel {channel}, or holds too little of its gate token)"
                )
            }
            Self::NotAdmin { channel, account } => {
                return write!(f, "NotAdmin ({account} is not an admin of channel {channel})")
            }
            Self::UnknownChannel(channel) => {
                return write!(f, "UnknownChannel (no channel {channel})")
            }
            Self::Channel(what) | Self::Signer(what) => return write!(f, "{what}"),
            Self::Unknown(data) => return write!(f, "unrecognised revert data {data}"),
        })
    }
}

impl ChainError {
    /// Whether retrying the same call later may succeed (connection loss,
    /// rate limiting, timeouts), as opposed to a revert that will repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Rpc(RpcError::Transport(_)) => true,
            // 429 and -32005 are how nodes and providers say "slow down".
            Self::Rpc(RpcError::ErrorResp(payload)) => matches!(payload.code, 429 | -32005),
            Self::NotMined(_) | Self::Turn(_) => true,
            _ => false,
        }
    }

    /// The error for a failed RPC call: unreachable, timed out, or refused.
    pub fn from_transport(e: TransportError) -> Self {
        match &e {
            // -32003 is the standard "transaction rejected"; nodes say why in the message.
            RpcError::ErrorResp(payload)
                if payload.code == -32003
                    || payload
                        .message
                        .to_lowercase()
                        .contains("insufficient funds") =>
            {
                Self::NoFunds(payload.message.to_string())
            }
            _ => Self::Rpc(e),
        }
    }

    pub(crate) fn from_contract(e: alloy::contract::Error) -> Self {
        if let Some(decoded) = e.as_decoded_interface_error::<CairnErrors>() {
            return Self::Reverted(match decoded {
                CairnErrors::ZeroKey(_) => Revert::ZeroKey,
                CairnErrors::KeyUnchanged(_) => Revert::KeyUnchanged,
                CairnErrors::ZeroRecipient(_) => Revert::ZeroRecipient,
                CairnErrors::ZeroDigest(_) => Revert::ZeroDigest,
                CairnErrors::EmptyBatch(_) => Revert::EmptyBatch,
                CairnErrors::BadSignature(_) => Revert::BadSignature,
                CairnErrors::Expired(e) => Revert::Expired(e.deadline.saturating_to()),
                CairnErrors::SignatureExpired(e) => Revert::Expired(e.deadline.saturating_to()),
                CairnErrors::BadSignerSignature(_) => Revert::BadSignature,
                other @ (CairnErrors::InvalidSigner(_)
                | CairnErrors::ExpiryPassed(_)
                | CairnErrors::SignerWasRevoked(_)
                | CairnErrors::NotASigner(_)) => Revert::Signer(format!("{other:?}")),
                CairnErrors::NotAllowedToPost(e) => Revert::NotAllowedToPost {
                    channel: e.channel,
                    account: e.account,
                },
                CairnErrors::NotAdmin(e) => Revert::NotAdmin {
                    channel: e.channel,
                    account: e.account,
                },
                CairnErrors::UnknownChannel(e) => Revert::UnknownChannel(e.channel),
                other @ (CairnErrors::AlreadyIn(_)
                | CairnErrors::NotIn(_)
                | CairnErrors::NoChange(_)
                | CairnErrors::LastAdmin(_)
                | CairnErrors::WrongEpoch(_)
                | CairnErrors::BadGate(_)
                | CairnErrors::BadName(_)
                | CairnErrors::ZeroAccount(_)
                | CairnErrors::ZeroBundle(_)
                | CairnErrors::KeyAlreadyPublished(_)
                | CairnErrors::ChangeExpired(_)
                | CairnErrors::BadAdminSignature(_)) => Revert::Channel(format!("{other:?}")),
                // Errors of the OpenZeppelin libraries the contract links.
                other => Revert::Unknown(format!("{other:?}")),
            });
        }
        if let Some(data) = e.as_revert_data() {
            return Self::Reverted(Revert::Unknown(data.to_string()));
        }
        match e {
            alloy::contract::Error::TransportError(t) => Self::from_transport(t),
            alloy::contract::Error::PendingTransactionError(p) => Self::from_pending(p),
            other => Self::Contract(other.to_string()),
        }
    }

    pub(crate) fn from_pending(e: PendingTransactionError) -> Self {
        match e {
            PendingTransactionError::TransportError(t) => Self::from_transport(t),
            other => Self::NotMined(other.to_string()),
        }
    }
}
