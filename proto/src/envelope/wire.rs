//! Byte layout of an envelope, with no cryptography.
//!
//! ```text
//! offset  size      field
//! 0       4         magic "CRNE"
//! 4       1         version (1)
//! 5       1         kind (1 = direct message)
//! 6       20        sender address
//! 26      32        recipient (address left-padded, or channel id)
//! 58      8         timestamp, unix seconds, big-endian
//! 66      32        reply-to digest (all zero = none)
//! 98      24        body nonce
//! 122     1         reader count n (1..=8)
//! 123     n * 112   stanzas: reader key 32 | ephemeral key 32 | wrapped key 48
//! ...     rest      body ciphertext (at least the 16-byte tag)
//! ```

use alloy::primitives::{Address, B256};

use super::EnvelopeError;
use crate::crypto::PublicKey;

/// The first four bytes of every envelope.
pub const MAGIC: [u8; 4] = *b"CRNE";
/// The envelope version this build writes and reads.
pub const VERSION: u8 = 1;
/// The only kind in version 1: a direct message.
pub(crate) const KIND_DIRECT: u8 = 1;
/// The kind byte of a channel message (`docs/ENVELOPE.md`, "Channels").
pub(crate) const KIND_CHANNEL: u8 = 2;
/// The most readers one envelope may have.
pub const MAX_READERS: usize = 8;

pub(crate) const HEADER_LEN: usize = 122;
pub(crate) const NONCE_OFFSET: usize = 98;
pub(crate) const STANZA_LEN: usize = 112;
pub(crate) const WRAPPED_LEN: usize = 48;
pub(crate) const TAG_LEN: usize = 16;

/// The authenticated, unencrypted context of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The wallet that sent the message. The chain's `Posted.from` must match it.
    pub sender: Address,
    /// The recipient address (left-padded) or channel id.
    pub recipient: B256,
    /// When the sender sealed the message, in unix seconds.
    pub timestamp: u64,
    /// The digest of the message this one answers, if any.
    pub reply_to: Option<B256>,
}

impl Header {
    /// The header of a direct message to a wallet.
    pub fn direct(sender: Address, recipient: Address, timestamp: u64) -> Self {
        Self {
            sender,
            recipient: recipient.into_word(),
            timestamp,
            reply_to: None,
        }
    }
}

/// One reader's copy of the content key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    pub(crate) reader: PublicKey,
    pub(crate) ephemeral: PublicKey,
    pub(crate) wrapped_key: [u8; WRAPPED_LEN],
}

/// An envelope split into its parts, still encrypted.
#[derive(Debug, Clone)]
pub(crate) struct Parsed<'a> {
    pub(crate) header: Header,
    pub(crate) nonce: [u8; 24],
    pub(crate) stanzas: Vec<Stanza>,
    /// Bytes 0..HEADER_LEN: the AAD of every key wrap.
    pub(crate) header_bytes: &'a [u8],
    /// Header, count and stanzas: the AAD of the body.
    pub(crate) body_aad: &'a [u8],
    pub(crate) ciphertext: &'a [u8],
}

/// Writes the header fields and the body nonce (bytes 0..HEADER_LEN) of a direct message.
pub(crate) fn encode_header(header: &Header, nonce: &[u8; 24]) -> Vec<u8> {
    encode_header_of(KIND_DIRECT, header, nonce)
}

/// Writes the header fields and the body nonce of an envelope of `kind`.
pub(crate) fn encode_header_of(kind: u8, header: &Header, nonce: &[u8; 24]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(header.sender.as_slice());
    out.extend_from_slice(header.recipient.as_slice());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(header.reply_to.unwrap_or_default().as_slice());
    out.extend_from_slice(nonce);
    debug_assert_eq!(out.len(), HEADER_LEN);
    out
}

/// Appends the reader count and the stanzas.
pub(crate) fn encode_stanzas(out: &mut Vec<u8>, stanzas: &[Stanza]) {
    out.push(stanzas.len() as u8);
    for s in stanzas {
        out.extend_from_slice(s.reader.as_bytes());
        out.extend_from_slice(s.ephemeral.as_bytes());
        out.extend_from_slice(&s.wrapped_key);
    }
}

/// Reads the header fields and the body nonce of an envelope of `kind`,
/// checking magic, version, kind and that `min_len` bytes are there.
pub(crate) fn parse_header_of(
    kind: u8,
    bytes: &[u8],
    min_len: usize,
) -> Result<(Header, [u8; 24]), EnvelopeError> {
    if bytes.len() < 6 {
        return Err(EnvelopeError::Malformed("shorter than the fixed header"));
    }
    if bytes[..4] != MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(EnvelopeError::UnsupportedVersion(bytes[4]));
    }
    if bytes[5] != kind {
        return Err(EnvelopeError::UnsupportedKind(bytes[5]));
    }
    if bytes.len() < min_len.max(HEADER_LEN) {
        return Err(EnvelopeError::Malformed("shorter than the fixed header"));
    }
    let word = |at: usize| B256::from_slice(&bytes[at..at + 32]);
    let reply_to = word(66);
    let header = Header {
        sender: Address::from_slice(&bytes[6..26]),
        recipient: word(26),
        timestamp: u64::from_be_bytes(bytes[58..66].try_into().expect("8 bytes")),
        reply_to: (!reply_to.is_zero()).then_some(reply_to),
    };
    let nonce: [u8; 24] = bytes[NONCE_OFFSET..HEADER_LEN]
        .try_into()
        .expect("24 bytes");
    Ok((header, nonce))
}

/// Splits `bytes` into its parts, checking every structural rule.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, EnvelopeError> {
    let (header, nonce) = parse_header_of(KIND_DIRECT, bytes, HEADER_LEN + 1)?;
    let count = bytes[HEADER_LEN] as usize;
    if count == 0 || count > MAX_READERS {
        return Err(EnvelopeError::Malformed("reader count out of range"));
    }
    let stanzas_end = HEADER_LEN + 1 + count * STANZA_LEN;
    if bytes.len() < stanzas_end + TAG_LEN {
        return Err(EnvelopeError::Malformed("truncated stanzas or body"));
    }
    let stanzas = bytes[HEADER_LEN + 1..stanzas_end]
        .chunks_exact(STANZA_LEN)
        .map(|c| Stanza {
            reader: PublicKey::from_bytes(c[..32].try_into().expect("32 bytes")),
            ephemeral: PublicKey::from_bytes(c[32..64].try_into().expect("32 bytes")),
            wrapped_key: c[64..].try_into().expect("48 bytes"),
        })
        .collect();
    Ok(Parsed {
        header,
        nonce,
        stanzas,
        header_bytes: &bytes[..HEADER_LEN],
        body_aad: &bytes[..stanzas_end],
        ciphertext: &bytes[stanzas_end..],
    })
}
