//! The Cairn contract's alloy bindings and the formats it anchors: the
//! EIP-712 types it verifies ([`eip712`]), the Merkle tree over batches
//! ([`merkle`]), the batch manifest block ([`manifest`]) and the rule
//! that judges a device signer ([`signers`]). Client, gateway and indexer all use this crate, so they
//! cannot disagree on a hash.
//!
//! Generated at compile time by `sol!` from `contracts/artifacts/Cairn.json`,
//! the committed forge artifact (ABI and bytecode). `make test` fails when
//! that artifact is stale against `contracts/src`, so these bindings always
//! describe the contract that the sources compile to.

pub mod eip712;
pub mod manifest;
pub mod merkle;
pub mod rpc;
pub mod signers;

#[allow(missing_docs)]
mod bindings {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        Cairn,
        "artifacts/Cairn.json"
    );
}

pub use bindings::Cairn;
