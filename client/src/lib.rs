//! `cairn-client`: send, read and verify Cairn messages, trusting nothing
//! between the chain and the reader.
//!
//! - [`messenger`]: the send and read flows: seal on this device, store the
//!   block, anchor its digest; fetch, re-hash and open.
//! - [`verify`]: checks what a read API lists against the chain itself.
//! - [`read_api`]: a client of a node's read API (REST, sign-in, consent).
//! - [`gateway`]: a client of the relaying gateway, and [`gateway::delivery`],
//!   which delivers one signed post without ever reporting a false failure.
//! - [`chain`]: the alloy client for the Cairn contract.
//! - [`store`]: the [`store::BlobStore`] seam, with Kubo and embedded backends.
//! - [`channel`]: group messages: epoch key bundles for channel members.
//! - [`consent`]: a user's signed allow and block lists.
//! - [`crypto`]: messaging keys, and the keystore that keeps them on disk.
//!
//! The formats themselves live in [`cairn_proto`], re-exported as [`proto`].
//! This crate pulls in no server: no axum, no sqlx, no async-graphql.
//!
//! Invariants: plaintext never reaches a [`store::BlobStore`] or the chain; a
//! block whose bytes do not hash to its CID is never returned as valid; and
//! nothing is stored or anchored for a recipient without a registered key.

pub mod chain;
pub mod channel;
pub mod consent;
pub mod crypto;
pub mod error;
pub mod gateway;
pub mod messenger;
pub mod probe;
pub mod read_api;
pub mod roots;
pub mod store;
pub mod verify;

pub use cairn_proto as proto;
pub use cairn_proto::{block, envelope};
pub use error::{Error, Result};

/// `docs/SDK.md`, whose Rust blocks run as this crate's doc tests.
#[doc = include_str!("../../docs/SDK.md")]
#[cfg(doctest)]
pub struct SdkGuide;
