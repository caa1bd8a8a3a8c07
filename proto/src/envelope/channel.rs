//! Channel messages (kind 2): one body encrypted under the channel's epoch
//! key, for every member of that epoch at once.
//!
//! The header is a direct message's, with the channel id as recipient, and
//! is followed by the epoch. Header and epoch are the AAD, and the body key
//! is derived from the epoch key with the channel id and the epoch as salt,
//! so a ciphertext moved to another channel or epoch fails to open.

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305,
};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{
    wire::{self, Header, HEADER_LEN, KIND_CHANNEL, TAG_LEN},
    Body, EnvelopeError,
};

const MESSAGE_INFO: &[u8] = b"cairn/v1/channel-message";
/// Header and epoch: the AAD of a channel message's body.
const AAD_LEN: usize = HEADER_LEN + 8;

/// An opened channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedChannel {
    /// The authenticated header; `recipient` is the channel id.
    pub header: Header,
    /// The key epoch it was sealed under.
    pub epoch: u64,
    /// The decrypted body.
    pub body: Body,
}

/// Seals `body` for the channel `header.recipient` under the key of `epoch`.
pub fn seal_channel(
    header: &Header,
    epoch: u64,
    epoch_key: &[u8; 32],
    body: &Body,
) -> Result<Vec<u8>, EnvelopeError> {
    let mut nonce = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    seal_channel_with(header, epoch, epoch_key, body, &nonce)
}

/// [`seal_channel`] with a given nonce: reusing one breaks confidentiality;
/// this exists for test vectors.
pub fn seal_channel_with(
    header: &Header,
    epoch: u64,
    epoch_key: &[u8; 32],
    body: &Body,
    nonce: &[u8; 24],
) -> Result<Vec<u8>, EnvelopeError> {
    let plaintext = Zeroizing::new(body.encode()?);
    let mut out = wire::encode_header_of(KIND_CHANNEL, header, nonce);
    out.extend_from_slice(&epoch.to_be_bytes());
    let size = out.len() + plaintext.len() + TAG_LEN;
    super::fits_a_block(size)?;
    let key = body_key(epoch_key, header, epoch);
    let ciphertext = XChaCha20Poly1305::new(key.as_ref().into())
        .encrypt(
            nonce.as_ref().into(),
            Payload {
                msg: &plaintext,
                aad: &out,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// The channel and epoch a channel message claims, read without a key: a
/// reader needs them to pick the epoch key. Authenticated only by opening.
pub fn peek_channel(bytes: &[u8]) -> Result<(Header, u64), EnvelopeError> {
    let (header, _) = wire::parse_header_of(KIND_CHANNEL, bytes, AAD_LEN + TAG_LEN)?;
    Ok((header, epoch_of(bytes)))
}

/// Opens a channel message with the key of the epoch it names.
pub fn open_channel(bytes: &[u8], epoch_key: &[u8; 32]) -> Result<OpenedChannel, EnvelopeError> {
    let (header, nonce) = wire::parse_header_of(KIND_CHANNEL, bytes, AAD_LEN + TAG_LEN)?;
    let epoch = epoch_of(bytes);
    let key = body_key(epoch_key, &header, epoch);
    let plaintext = Zeroizing::new(
        XChaCha20Poly1305::new(key.as_ref().into())
            .decrypt(
                nonce.as_ref().into(),
                Payload {
                    msg: &bytes[AAD_LEN..],
                    aad: &bytes[..AAD_LEN],
                },
            )
            .map_err(|_| EnvelopeError::BodyAuthFailed)?,
    );
    Ok(OpenedChannel {
        header,
        epoch,
        body: Body::decode(&plaintext)?,
    })
}

fn epoch_of(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes[HEADER_LEN..AAD_LEN].try_into().expect("8 bytes"))
}

/// `HKDF-SHA256(salt = channel id ‖ epoch, ikm = epoch key, info = "cairn/v1/channel-message")`.
fn body_key(epoch_key: &[u8; 32], header: &Header, epoch: u64) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 40];
    salt[..32].copy_from_slice(header.recipient.as_slice());
    salt[32..].copy_from_slice(&epoch.to_be_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), epoch_key)
        .expand(MESSAGE_INFO, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 length");
    key
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256};

    use super::*;

    fn header(channel: B256) -> Header {
        Header {
            sender: Address::with_last_byte(1),
            recipient: channel,
            timestamp: 1_800_000_000,
            reply_to: None,
        }
    }

    #[test]
    fn a_channel_message_opens_only_with_its_epoch_key_channel_and_epoch() {
        let channel = B256::with_last_byte(0xc0);
        let key = [7u8; 32];
        let sealed = seal_channel(&header(channel), 3, &key, &Body::text("gm dao")).unwrap();
        let opened = open_channel(&sealed, &key).unwrap();
        assert_eq!((opened.epoch, opened.body.text.as_str()), (3, "gm dao"));
        assert_eq!(peek_channel(&sealed).unwrap(), (header(channel), 3));
        assert_eq!(
            open_channel(&sealed, &[8u8; 32]),
            Err(EnvelopeError::BodyAuthFailed)
        );
        // Another epoch or channel in the bytes: the AAD and the key both change.
        let mut moved = sealed.clone();
        moved[HEADER_LEN + 7] ^= 1;
        assert_eq!(
            open_channel(&moved, &key),
            Err(EnvelopeError::BodyAuthFailed)
        );
        let mut moved = sealed.clone();
        moved[40] ^= 1;
        assert_eq!(
            open_channel(&moved, &key),
            Err(EnvelopeError::BodyAuthFailed)
        );
        // A direct-message reader refuses it by kind.
        assert_eq!(
            super::super::peek_header(&sealed),
            Err(EnvelopeError::UnsupportedKind(2))
        );
    }
}
