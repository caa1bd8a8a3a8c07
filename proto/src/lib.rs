//! `cairn-proto`: what every part of Cairn agrees on, with no I/O.
//!
//! - [`crypto`]: x25519 messaging keys and their derivation from a wallet
//!   signature.
//! - [`envelope`]: the versioned wire format (`docs/ENVELOPE.md`), sealed
//!   and opened in memory.
//! - [`block`] and [`cid`]: the block size limit, and the digest ↔ CID
//!   mapping the chain relies on.
//! - [`contracts`]: the Solidity contract's alloy bindings, EIP-712 types,
//!   batch manifests and the Merkle tree (the `cairn-contracts` crate).
//! - [`listing`], [`cursor`] and [`ids`]: what the read API lists, its
//!   pagination cursors, and the ids and addresses it takes.
//! - [`gateway`]: the JSON of the gateway API, requests and answers.
//! - [`consent`] and [`siwe`]: the signed consent entry and the Sign-In
//!   with Ethereum message.
//!
//! Clients, the node and the indexer all build on this crate; it builds on
//! none of them. Its `schema` feature adds the OpenAPI and GraphQL derives
//! that only servers need.

pub mod block;
pub mod cid;
pub mod consent;
pub mod crypto;
pub mod cursor;
pub mod envelope;
pub mod gateway;
pub mod ids;
pub mod listing;
pub mod siwe;

/// The Cairn contract's bindings and the formats it checks: EIP-712 types,
/// batch manifests, Merkle proofs and delegated signers.
pub mod contracts {
    pub use cairn_contracts::{eip712, manifest, merkle, signers, Cairn};
}
