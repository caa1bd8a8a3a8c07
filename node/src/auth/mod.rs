//! Sign-In with Ethereum (EIP-4361) and the short sessions it opens.
//!
//! The browser asks for a nonce, has the wallet sign a SIWE message, and
//! posts both. The node checks the message against itself (domain, chain,
//! nonce, time: [`siwe`]) and the signature against the chain (an account's
//! or a contract wallet's: [`signature`]), then sets a session cookie:
//! HttpOnly, SameSite=Strict, an hour long, bound to the address.
//!
//! The Rust `siwe` crate is unmaintained and pulls in ethers-rs; the message
//! is simple enough to parse here, and alloy does the cryptography.

pub mod routes;
pub mod sessions;
pub mod signature;
pub use cairn_proto::siwe;

pub use routes::{router, AuthConfig};
pub use sessions::{Session, Sessions};
