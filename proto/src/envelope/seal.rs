//! Sealing and opening: the cryptography of the envelope.

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    ChaCha20Poly1305, XChaCha20Poly1305,
};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::{
    wire::{self, Header, Stanza, MAX_READERS, WRAPPED_LEN},
    Body, EnvelopeError,
};
use crate::crypto::{wrap_key, PublicKey, SecretKey};

const WRAP_INFO: &[u8] = b"cairn/v1/wrap";

/// Every random value one seal consumes. Tests and test vectors fix them;
/// everything else uses [`SealRandomness::generate`].
#[derive(Clone)]
pub struct SealRandomness {
    /// The content key that encrypts the body.
    pub content_key: Zeroizing<[u8; 32]>,
    /// The XChaCha20 nonce of the body.
    pub nonce: [u8; 24],
    /// One ephemeral x25519 secret per reader, in reader order.
    pub ephemerals: Vec<SecretKey>,
}

impl SealRandomness {
    /// Fresh randomness for `readers` readers.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, readers: usize) -> Self {
        let mut content_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(content_key.as_mut());
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let ephemerals = (0..readers).map(|_| SecretKey::generate(rng)).collect();
        Self {
            content_key,
            nonce,
            ephemerals,
        }
    }
}

/// An opened envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The authenticated header.
    pub header: Header,
    /// The decrypted body.
    pub body: Body,
}

/// Seals `body` under `header` for `readers` (duplicates are dropped; order is kept).
pub fn seal(header: &Header, body: &Body, readers: &[PublicKey]) -> Result<Vec<u8>, EnvelopeError> {
    let readers = dedup(readers);
    let randomness = SealRandomness::generate(&mut rand::rngs::OsRng, readers.len());
    seal_with(header, body, &readers, &randomness)
}

/// Seals with the given randomness. Reusing randomness across messages breaks
/// confidentiality: this exists for test vectors.
pub fn seal_with(
    header: &Header,
    body: &Body,
    readers: &[PublicKey],
    randomness: &SealRandomness,
) -> Result<Vec<u8>, EnvelopeError> {
    if readers.is_empty()
        || readers.len() > MAX_READERS
        || randomness.ephemerals.len() != readers.len()
    {
        return Err(EnvelopeError::ReaderCount { got: readers.len() });
    }
    let plaintext = Zeroizing::new(body.encode()?);
    let mut out = wire::encode_header(header, &randomness.nonce);
    let header_len = out.len();
    let stanzas = readers
        .iter()
        .zip(&randomness.ephemerals)
        .map(|(reader, ephemeral)| {
            let wrap_key = wrap_key(WRAP_INFO, ephemeral, &ephemeral.public_key(), reader)
                .ok_or(EnvelopeError::WeakKey(*reader))?;
            let wrapped = ChaCha20Poly1305::new(wrap_key.as_ref().into())
                .encrypt(
                    &Default::default(),
                    Payload {
                        msg: randomness.content_key.as_ref(),
                        aad: &out[..header_len],
                    },
                )
                .expect("ChaCha20-Poly1305 encrypts any 32-byte message");
            Ok(Stanza {
                reader: *reader,
                ephemeral: ephemeral.public_key(),
                wrapped_key: wrapped.try_into().expect("32-byte key plus 16-byte tag"),
            })
        })
        .collect::<Result<Vec<_>, EnvelopeError>>()?;
    wire::encode_stanzas(&mut out, &stanzas);
    let size = out.len() + plaintext.len() + wire::TAG_LEN;
    super::fits_a_block(size)?;
    let ciphertext = XChaCha20Poly1305::new(randomness.content_key.as_ref().into())
        .encrypt(
            randomness.nonce.as_ref().into(),
            Payload {
                msg: &plaintext,
                aad: &out,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// [`open`] with the first of `keys` the envelope was sealed for: a wallet
/// that rotated its key keeps its old ones, and old messages stay readable.
pub fn open_with_any(bytes: &[u8], keys: &[SecretKey]) -> Result<Opened, EnvelopeError> {
    let parsed = wire::parse(bytes)?;
    match keys
        .iter()
        .find(|k| parsed.stanzas.iter().any(|s| s.reader == k.public_key()))
    {
        Some(key) => open(bytes, key),
        None => {
            let hex = |keys: Vec<PublicKey>| {
                keys.iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(EnvelopeError::NoKeyFor {
                readers: hex(parsed.stanzas.iter().map(|s| s.reader).collect()),
                mine: hex(keys.iter().map(SecretKey::public_key).collect()),
            })
        }
    }
}

/// Opens `bytes` with `secret`. Fails with a typed error if the key is not a
/// reader or if any byte of the envelope was changed.
pub fn open(bytes: &[u8], secret: &SecretKey) -> Result<Opened, EnvelopeError> {
    let parsed = wire::parse(bytes)?;
    let me = secret.public_key();
    let stanza = parsed
        .stanzas
        .iter()
        .find(|s| s.reader == me)
        .ok_or(EnvelopeError::NotARecipient)?;
    let wrap_key =
        wrap_key(WRAP_INFO, secret, &stanza.ephemeral, &me).ok_or(EnvelopeError::UnwrapFailed)?;
    let content_key = Zeroizing::new(
        ChaCha20Poly1305::new(wrap_key.as_ref().into())
            .decrypt(
                &Default::default(),
                Payload {
                    msg: &stanza.wrapped_key[..WRAPPED_LEN],
                    aad: parsed.header_bytes,
                },
            )
            .map_err(|_| EnvelopeError::UnwrapFailed)?,
    );
    let plaintext = Zeroizing::new(
        XChaCha20Poly1305::new(content_key.as_slice().into())
            .decrypt(
                parsed.nonce.as_ref().into(),
                Payload {
                    msg: parsed.ciphertext,
                    aad: parsed.body_aad,
                },
            )
            .map_err(|_| EnvelopeError::BodyAuthFailed)?,
    );
    Ok(Opened {
        header: parsed.header,
        body: Body::decode(&plaintext)?,
    })
}

/// Reads the header without any key. The header is authenticated only once
/// the envelope is opened, so callers must treat it as a claim until then.
pub fn peek_header(bytes: &[u8]) -> Result<Header, EnvelopeError> {
    wire::parse(bytes).map(|p| p.header)
}

fn dedup(readers: &[PublicKey]) -> Vec<PublicKey> {
    let mut out: Vec<PublicKey> = Vec::with_capacity(readers.len());
    for r in readers {
        if !out.contains(r) {
            out.push(*r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, Address, B256};

    use super::*;

    const ALICE: Address = address!("0x00000000000000000000000000000000000a11ce");
    const BOB: Address = address!("0x0000000000000000000000000000000000000b0b");

    fn keys() -> (SecretKey, SecretKey, SecretKey) {
        let mut rng = rand::thread_rng();
        (
            SecretKey::generate(&mut rng),
            SecretKey::generate(&mut rng),
            SecretKey::generate(&mut rng),
        )
    }

    fn sealed(alice: &SecretKey, bob: &SecretKey) -> Vec<u8> {
        let header = Header {
            reply_to: Some(B256::repeat_byte(9)),
            ..Header::direct(ALICE, BOB, 1_700_000_000)
        };
        seal(
            &header,
            &Body::text("gm"),
            &[bob.public_key(), alice.public_key()],
        )
        .unwrap()
    }

    #[test]
    fn recipient_and_sender_open_third_party_cannot() {
        let (alice, bob, eve) = keys();
        let bytes = sealed(&alice, &bob);
        for reader in [&alice, &bob] {
            let opened = open(&bytes, reader).unwrap();
            assert_eq!(opened.body, Body::text("gm"));
            assert_eq!(opened.header.sender, ALICE);
            assert_eq!(opened.header.reply_to, Some(B256::repeat_byte(9)));
        }
        assert_eq!(open(&bytes, &eve), Err(EnvelopeError::NotARecipient));
        match open_with_any(&bytes, std::slice::from_ref(&eve)) {
            Err(EnvelopeError::NoKeyFor { readers, mine }) => {
                assert!(readers.contains(&bob.public_key().to_string()), "{readers}");
                assert_eq!(mine, eve.public_key().to_string());
            }
            other => panic!("{other:?}"),
        }
        assert!(open_with_any(&bytes, &[eve, bob.clone()]).is_ok());
    }

    #[test]
    fn changing_any_single_byte_fails_with_a_typed_error() {
        let (alice, bob, _) = keys();
        let bytes = sealed(&alice, &bob);
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let err = open(&tampered, &bob).expect_err(&format!("byte {i} flipped yet it opened"));
            assert!(
                matches!(
                    err,
                    EnvelopeError::BadMagic
                        | EnvelopeError::UnsupportedVersion(_)
                        | EnvelopeError::UnsupportedKind(_)
                        | EnvelopeError::Malformed(_)
                        | EnvelopeError::NotARecipient
                        | EnvelopeError::UnwrapFailed
                        | EnvelopeError::BodyAuthFailed
                ),
                "byte {i}: {err:?}"
            );
        }
    }

    #[test]
    fn header_fields_are_bound_to_the_ciphertext() {
        let (alice, bob, _) = keys();
        let bytes = sealed(&alice, &bob);
        // Swap the recipient for another address, as a relayer moving the
        // ciphertext to another inbox would.
        let mut moved = bytes.clone();
        moved[26..58].copy_from_slice(Address::repeat_byte(0xee).into_word().as_slice());
        assert_eq!(open(&moved, &bob), Err(EnvelopeError::UnwrapFailed));
        // Claim another sender.
        let mut spoofed = bytes.clone();
        spoofed[6..26].copy_from_slice(Address::repeat_byte(0xee).as_slice());
        assert_eq!(open(&spoofed, &bob), Err(EnvelopeError::UnwrapFailed));
        // Truncate the body or append to it.
        assert_eq!(
            open(&bytes[..bytes.len() - 1], &bob),
            Err(EnvelopeError::BodyAuthFailed)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(open(&longer, &bob), Err(EnvelopeError::BodyAuthFailed));
    }

    #[test]
    fn stanza_relabelled_for_another_key_does_not_unwrap() {
        let (alice, bob, eve) = keys();
        let mut bytes = sealed(&alice, &bob);
        // Eve rewrites Bob's stanza to name her key: she still cannot unwrap.
        let reader_at = wire::HEADER_LEN + 1;
        bytes[reader_at..reader_at + 32].copy_from_slice(eve.public_key().as_bytes());
        assert_eq!(open(&bytes, &eve), Err(EnvelopeError::UnwrapFailed));
        assert_eq!(open(&bytes, &bob), Err(EnvelopeError::NotARecipient));
    }

    #[test]
    fn rejects_weak_keys_empty_and_oversize() {
        let (alice, _, _) = keys();
        let header = Header::direct(ALICE, BOB, 0);
        let weak = PublicKey::from_bytes([0; 32]);
        assert_eq!(
            seal(&header, &Body::text("x"), &[weak]),
            Err(EnvelopeError::WeakKey(weak))
        );
        assert_eq!(
            seal(&header, &Body::text("x"), &[]),
            Err(EnvelopeError::ReaderCount { got: 0 })
        );
        let huge = Body::text("x".repeat(super::super::MAX_ENVELOPE_SIZE));
        assert!(matches!(
            seal(&header, &huge, &[alice.public_key()]),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }

    #[test]
    fn duplicate_readers_collapse_to_one_stanza() {
        let (alice, _, _) = keys();
        let header = Header::direct(ALICE, ALICE, 0);
        let once = seal(&header, &Body::text("note"), &[alice.public_key()]).unwrap();
        let twice = seal(
            &header,
            &Body::text("note"),
            &[alice.public_key(), alice.public_key()],
        )
        .unwrap();
        assert_eq!(once.len(), twice.len());
        assert_eq!(open(&twice, &alice).unwrap().body.text, "note");
    }
}
