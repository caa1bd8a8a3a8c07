//! `cairn-node`: the server side of Cairn beside the indexer.
//!
//! - [`server`]: the node behind `cairn serve`: block gateway, indexer,
//!   read API, sign-in, consent, uploads and the relaying gateway on one
//!   listener, with TLS and connection limits.
//! - [`gateway`]: the relaying gateway: signed posts in, Merkle-batched
//!   anchors out.
//! - [`auth`]: Sign-In with Ethereum and the sessions it opens.
//! - [`consent`]: the routes that store users' signed allow and block lists.
//! - [`uploads`]: signed block uploads to a node, within per-wallet quotas.
//! - [`health`]: readiness probes of every dependency.
//!
//! It builds on [`cairn_client`] to reach the chain and the block stores,
//! and on [`cairn_indexer`] for the read API; no client builds on it.

pub mod auth;
pub mod consent;
pub mod gateway;
pub mod health;
pub mod server;
pub mod uploads;
