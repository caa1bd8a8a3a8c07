//! Messaging keys derived from a wallet signature.
//!
//! The wallet signs [`derivation_message`] with EIP-191 `personal_sign`. The
//! signature's `r || s` (with `s` normalised to the low half, so malleated
//! signatures give the same key) is the input key material of HKDF-SHA256:
//!
//! ```text
//! secret = HKDF-SHA256(salt = "cairn/v1/wallet-key", ikm = r || s, info = address)[..32]
//! ```
//!
//! This is only as deterministic as the wallet's signer. RFC 6979 signers
//! (alloy's local signer, MetaMask, Ledger, Trezor) always return the same
//! signature for the same message; a signer that randomises its nonce would
//! derive a different key each time, which is why the derived public key is
//! always compared with the registered one before use.

use alloy::{
    primitives::{Address, Signature},
    signers::Signer,
};
use hkdf::Hkdf;
use sha2::Sha256;

use super::{KeyError, SecretKey};

const SALT: &[u8] = b"cairn/v1/wallet-key";

/// The exact text a wallet signs to derive its messaging key.
///
/// It names the purpose, warns what the signature unlocks, and includes the
/// address so one wallet's signature can never stand in for another's.
pub fn derivation_message(address: Address) -> String {
    format!(
        "Cairn messaging key v1\n\n\
         Sign this message to derive your Cairn encryption key.\n\
         Anyone holding this signature can read your Cairn messages:\n\
         only sign it in Cairn software you trust.\n\n\
         Address: {}",
        address.to_checksum(None)
    )
}

/// Derives the messaging key from `signature`, after checking that `address`
/// made it over [`derivation_message`].
pub fn derive_from_signature(
    address: Address,
    signature: &Signature,
) -> Result<SecretKey, KeyError> {
    let message = derivation_message(address);
    let recovered = signature
        .recover_address_from_msg(message.as_bytes())
        .map_err(|e| KeyError::Signing(e.to_string()))?;
    if recovered != address {
        return Err(KeyError::WrongSigner {
            expected: address,
            recovered,
        });
    }
    let signature = signature.normalized_s();
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    ikm[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), &ikm)
        .expand(address.as_slice(), &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Ok(SecretKey::from_bytes(okm))
}

/// Asks `signer` to sign the derivation message and derives its messaging key.
pub async fn derive_with_signer<S: Signer + Sync>(signer: &S) -> Result<SecretKey, KeyError> {
    let address = signer.address();
    let signature = signer
        .sign_message(derivation_message(address).as_bytes())
        .await
        .map_err(|e| KeyError::Signing(e.to_string()))?;
    derive_from_signature(address, &signature)
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    #[tokio::test]
    async fn same_wallet_derives_same_key_and_others_differ() {
        let alice = PrivateKeySigner::random();
        let bob = PrivateKeySigner::random();
        let a1 = derive_with_signer(&alice).await.unwrap().public_key();
        let a2 = derive_with_signer(&alice).await.unwrap().public_key();
        let b = derive_with_signer(&bob).await.unwrap().public_key();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
    }

    #[tokio::test]
    async fn signature_from_another_wallet_is_refused() {
        let alice = PrivateKeySigner::random();
        let mallory = PrivateKeySigner::random();
        let forged = mallory
            .sign_message(derivation_message(alice.address()).as_bytes())
            .await
            .unwrap();
        let err = derive_from_signature(alice.address(), &forged).unwrap_err();
        assert!(
            matches!(err, KeyError::WrongSigner { recovered, .. } if recovered == mallory.address())
        );
    }

    #[tokio::test]
    async fn signature_over_another_message_is_refused() {
        let alice = PrivateKeySigner::random();
        let other = alice
            .sign_message(b"not the derivation message")
            .await
            .unwrap();
        assert!(matches!(
            derive_from_signature(alice.address(), &other),
            Err(KeyError::WrongSigner { .. })
        ));
    }
}
