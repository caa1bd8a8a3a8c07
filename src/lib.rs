//! `cairn`: the command-line tool, and the crates it is made of under one
//! roof.
//!
//! The work lives in crates by role (`docs/LAYOUT.md`):
//!
//! - [`cairn_proto`]: the envelope, crypto, wire formats and shared types;
//!   pure, with no I/O.
//! - [`cairn_client`]: send, read and verify, trusting nothing between the
//!   chain and the reader. No server inside.
//! - [`cairn_node`]: the server, the relaying gateway, sign-in, consent and
//!   uploads, beside [`cairn_indexer`].
//!
//! This library re-exports their modules under the paths the CLI, the
//! integration tests and the benchmarks use. A program that only sends and
//! reads messages should depend on `cairn-client` alone.

pub use cairn_client::{
    block, chain, channel, crypto, envelope, error, messenger, read_api, roots, store, verify,
    Error, Result,
};
pub use cairn_node::{auth, health, server, uploads};

pub mod telemetry;

/// Consent: the signed entries and a client's memory of them
/// ([`cairn_client::consent`]), and the node's routes ([`cairn_node::consent`]).
pub mod consent {
    pub use cairn_client::consent::*;
    pub use cairn_node::consent::*;
}

/// The relaying gateway ([`cairn_node::gateway`]) and its clients
/// ([`cairn_client::gateway`]).
pub mod gateway {
    pub use cairn_client::gateway::{client, delivery};
    pub use cairn_node::gateway::*;
}
