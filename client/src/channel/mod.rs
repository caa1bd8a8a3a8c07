//! Channels: end-to-end encrypted group messages for DAO members.
//!
//! Membership lives on chain (`contracts/src/Channels.sol`), and every
//! change bumps the channel's key epoch. Each epoch has a random 32-byte key,
//! wrapped for every member's registered x25519 key in a [`bundle`] whose
//! root digest an admin anchors with the epoch. A message is sealed once
//! under its epoch's key ([`crate::envelope::seal_channel`]), so a member
//! removed at epoch e cannot read what is sent from e on, and a member added
//! at e reads from e on.

pub mod bundle;
mod messenger;

pub use bundle::{Bundle, BundleError, Root};
pub(crate) use messenger::EpochKeys;
pub use messenger::{ChannelError, Rotation};
