//! `cairn`: end-to-end encrypted messages between wallets, stored on IPFS and
//! anchored on an EVM chain.
//!
//! The library holds everything a client needs to write and read a message:
//!
//! - [`crypto`]: x25519 messaging keys, derived from a wallet signature or kept
//!   in a 0600 keystore.
//! - [`envelope`]: the versioned wire format (`docs/ENVELOPE.md`). Sealing
//!   happens on the sender's device; only ciphertext leaves it.
//! - [`store`]: the [`store::BlobStore`] seam with Kubo and embedded backends.
//!   Every object is one IPFS raw block whose CID is rebuilt from the on-chain
//!   digest, and every read re-hashes the bytes.
//! - [`chain`]: the alloy client for the Cairn contract.
//! - [`messenger`]: the send and read flows that tie the four together.
//! - [`server`]: the node behind `cairn serve`: block gateway, indexer, read API.
//! - [`auth`]: Sign-In with Ethereum and the sessions it opens.
//! - [`consent`]: users' signed allow and block lists.
//! - [`channel`]: group messages: epoch key bundles for channel members.
//! - [`uploads`]: signed block uploads to a node, within per-wallet quotas.
//! - [`read_api`]: a client of the read API for `cairn inbox` and `cairn watch`.
//!
//! Invariants: plaintext never reaches a [`store::BlobStore`] or the chain; a
//! block whose bytes do not hash to its CID is never returned as valid; and
//! nothing is stored or anchored for a recipient without a registered key.

pub mod auth;
pub mod block;
pub mod chain;
pub mod channel;
pub mod consent;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod gateway;
pub mod health;
pub mod messenger;
pub mod read_api;
pub mod roots;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod uploads;
pub mod verify;

pub use error::{Error, Result};
