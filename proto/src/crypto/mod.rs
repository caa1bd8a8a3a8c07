//! Messaging keys: x25519 key pairs bound to a wallet.
//!
//! A wallet's ECDSA key never encrypts anything. Instead each wallet has an
//! x25519 *messaging key*, published on chain, which envelopes are sealed to.
//! It comes from one of two places:
//!
//! - [`wallet`]: derived from the wallet's signature over a fixed,
//!   domain-separated EIP-191 message. Any device holding the wallet derives
//!   the same key again, so there is no key to back up or lose.
//! - the keystore (`cairn_client::crypto::keystore`, which does the file I/O):
//!   generated at random and kept in a 0600 file, for operators
//!   who do not want their messaging key tied to a signature.

mod keys;
pub mod wallet;

pub use keys::wrap_key;
pub use keys::{PublicKey, SecretKey};

/// Errors from key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key was not 32 bytes of hex.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// The signature offered for derivation was not made by the claimed wallet.
    #[error("signature was made by {recovered}, not {expected}")]
    WrongSigner {
        /// The wallet whose key was requested.
        expected: alloy::primitives::Address,
        /// The wallet that actually signed.
        recovered: alloy::primitives::Address,
    },
    /// Signing the derivation message failed.
    #[error("wallet could not sign the derivation message: {0}")]
    Signing(String),
    /// The keystore file exists and may not be overwritten.
    #[error("keystore {0} already exists; refusing to overwrite it")]
    KeystoreExists(std::path::PathBuf),
    /// The keystore file is readable by other users.
    #[error("{path} has mode {mode:o}: a file holding a secret must be readable by its owner alone (run `chmod 600 {path}`)")]
    InsecurePermissions {
        /// The keystore path.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The keystore file is not valid.
    #[error("keystore {path} is malformed: {reason}")]
    MalformedKeystore {
        /// The keystore path.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The passphrase does not open the keystore.
    #[error("wrong passphrase for keystore {0}")]
    WrongPassphrase(std::path::PathBuf),
    /// No passphrase was given for an encrypted keystore.
    #[error("keystore {0} is encrypted: pass --keystore-password-file, or run on a terminal to be asked")]
    NoPassphrase(std::path::PathBuf),
    /// Reading or writing the keystore failed.
    #[error("keystore {path}: {source}")]
    Io {
        /// The keystore path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
