//! alloy bindings for the Cairn contract.
//!
//! Generated at compile time by `sol!` from `contracts/artifacts/Cairn.json`,
//! the committed forge artifact (ABI and bytecode). `make test` fails when
//! that artifact is stale against `contracts/src`, so these bindings always
//! describe the contract that the sources compile to.

#![allow(missing_docs)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Cairn,
    "artifacts/Cairn.json"
);
