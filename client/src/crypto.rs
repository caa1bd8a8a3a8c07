//! x25519 messaging keys ([`cairn_proto::crypto`]), and the keystore that
//! keeps one on disk.

pub use cairn_proto::crypto::*;

pub mod keystore;
