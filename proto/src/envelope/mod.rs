//! The envelope: Cairn's versioned wire format for one encrypted message.
//!
//! `docs/ENVELOPE.md` is the normative specification; this module implements
//! it and `tests/vectors/` pins the exact bytes, so other implementations (the
//! web client) can check themselves against the same vectors.
//!
//! In short: a random content key encrypts the [`Body`] with
//! XChaCha20-Poly1305. The key is wrapped once per reader (the recipient and
//! the sender) with an ephemeral x25519 exchange, HKDF-SHA256 and
//! ChaCha20-Poly1305. Every AEAD binds the [`Header`] (version, sender,
//! recipient, timestamp, reply-to), so moving a ciphertext into another
//! context fails to open. Channel messages (kind 2, [`seal_channel`]) are
//! encrypted once under the channel's epoch key instead.

mod body;
mod channel;
mod seal;
mod wire;

pub use body::{Attachment, Body, BodyKind};
pub use channel::{open_channel, peek_channel, seal_channel, seal_channel_with, OpenedChannel};
pub use seal::{open, open_with_any, peek_header, seal, seal_with, Opened, SealRandomness};
pub use wire::{Header, MAGIC, MAX_READERS, VERSION};

/// The largest envelope: one IPFS raw block.
pub const MAX_ENVELOPE_SIZE: usize = crate::block::MAX_BLOCK_SIZE;

/// Refuses an envelope of `size` bytes that would not fit one block; nothing
/// is stored or anchored then.
pub(crate) fn fits_a_block(size: usize) -> Result<(), EnvelopeError> {
    if size > MAX_ENVELOPE_SIZE {
        return Err(EnvelopeError::TooLarge {
            size,
            max: MAX_ENVELOPE_SIZE,
        });
    }
    Ok(())
}

/// Errors from sealing, parsing or opening an envelope.
///
/// Parsing errors say which rule the bytes broke; authentication errors say
/// only *that* the bytes were altered or the key is wrong, never which byte.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The bytes do not start with the Cairn envelope magic.
    #[error("not a Cairn envelope (bad magic)")]
    BadMagic,
    /// A version this build does not read.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// A message kind this build does not read.
    #[error("unsupported envelope kind {0}")]
    UnsupportedKind(u8),
    /// The bytes end early or break a structural rule.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// None of the envelope's readers is the given key.
    #[error("this key is not among the envelope's readers")]
    NotARecipient,
    /// None of the envelope's readers is any of the given keys.
    #[error("none of your keys ({mine}) can open this envelope: it was sealed for {readers}; it needs the key that was registered when it was sent")]
    NoKeyFor {
        /// The readers' public keys, hex.
        readers: String,
        /// The keys tried, hex.
        mine: String,
    },
    /// The key wrap did not authenticate: a wrong key, or altered header or stanza.
    #[error("key unwrap failed: wrong key or the envelope was altered")]
    UnwrapFailed,
    /// The body did not authenticate: the envelope was altered.
    #[error("body authentication failed: the envelope was altered")]
    BodyAuthFailed,
    /// The decrypted body is not a valid body encoding.
    #[error("invalid body: {0}")]
    InvalidBody(&'static str),
    /// The sealed envelope would not fit in one block.
    #[error(
        "envelope is {size} bytes; the limit is {max} (chunked attachments are not built yet)"
    )]
    TooLarge {
        /// The envelope size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A reader key is a low-order point, which would leak the content key.
    #[error("reader key {0} is a weak (low-order) x25519 key")]
    WeakKey(crate::crypto::PublicKey),
    /// Too few or too many readers.
    #[error("an envelope has 1 to {max} readers, not {got}", max = MAX_READERS)]
    ReaderCount {
        /// The number given.
        got: usize,
    },
}
