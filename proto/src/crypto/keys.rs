use std::{fmt, str::FromStr};

use alloy::primitives::B256;
use rand::{CryptoRng, RngCore};
use x25519_dalek::StaticSecret;

use super::KeyError;

/// An x25519 secret messaging key. Zeroed on drop and never printed.
#[derive(Clone)]
pub struct SecretKey(StaticSecret);

impl SecretKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self(StaticSecret::random_from_rng(rng))
    }

    /// Wraps raw key bytes. x25519 clamps them when the key is used.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// Parses 32 bytes of hex, `0x` optional, as an old plain keystore holds them.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        parse_hex32(s).map(Self::from_bytes)
    }

    /// The raw bytes, for the keystore. Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// Diffie-Hellman with `their` key; `None` when the result is the all-zero
    /// point, which happens only for low-order keys chosen by an attacker.
    pub(crate) fn agree(&self, their: &PublicKey) -> Option<[u8; 32]> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(their.0));
        shared.was_contributory().then(|| shared.to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public_key())
    }
}

/// An x25519 public messaging key, as published in the on-chain registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub(crate) [u8; 32]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as the contract stores it.
    pub fn to_b256(&self) -> B256 {
        B256::from(self.0)
    }

    /// Whether this is a low-order point: every key agreement with it gives
    /// zero, so nothing can be sealed or wrapped for it. Anyone can
    /// register one; clients skip such a member rather than fail.
    pub fn is_weak(&self) -> bool {
        // Every clamped scalar is a multiple of the cofactor, so any one
        // tells a low-order point apart.
        SecretKey::from_bytes([1; 32]).agree(self).is_none()
    }
}

impl From<B256> for PublicKey {
    fn from(value: B256) -> Self {
        Self(value.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(Self)
    }
}

/// Parses 32 bytes of hex, with or without `0x`.
pub(crate) fn parse_hex32(s: &str) -> Result<[u8; 32], KeyError> {
    let raw = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(raw).map_err(|e| KeyError::Invalid(e.to_string()))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| KeyError::Invalid(format!("expected 32 bytes, got {}", b.len())))
}

/// The key that wraps a secret for `reader`:
/// `HKDF-SHA256(salt = E ‖ R, ikm = X25519, info)`. Both sides compute it:
/// the sender from the ephemeral secret, the reader from its own secret.
/// `None` for a low-order key (an all-zero shared secret).
pub fn wrap_key(
    info: &[u8],
    secret: &SecretKey,
    ephemeral: &PublicKey,
    reader: &PublicKey,
) -> Option<zeroize::Zeroizing<[u8; 32]>> {
    let their = if secret.public_key() == *reader {
        ephemeral
    } else {
        reader
    };
    let shared = zeroize::Zeroizing::new(secret.agree(their)?);
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral.as_bytes());
    salt[32..].copy_from_slice(reader.as_bytes());
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), shared.as_ref())
        .expand(info, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trips_through_hex() {
        let key = SecretKey::generate(&mut rand::thread_rng()).public_key();
        assert_eq!(key.to_string().parse::<PublicKey>().unwrap(), key);
    }

    #[test]
    fn rejects_wrong_length_and_bad_hex() {
        assert!(matches!(
            "0x1234".parse::<PublicKey>(),
            Err(KeyError::Invalid(_))
        ));
        assert!(matches!(
            "zz".repeat(32).parse::<PublicKey>(),
            Err(KeyError::Invalid(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretKey::from_bytes([7; 32]);
        let shown = format!("{secret:?}");
        assert!(!shown.contains(&hex::encode([7u8; 32])), "{shown}");
    }

    #[test]
    fn low_order_point_is_rejected() {
        let secret = SecretKey::generate(&mut rand::thread_rng());
        assert_eq!(secret.agree(&PublicKey::from_bytes([0; 32])), None);
    }
}
