//! Consent: whom a user accepts messages from.
//!
//! A user signs an EIP-712 `Consent` (allow or block one peer) with their
//! wallet; the node checks the signature against the chain (an account, a
//! contract wallet, or one not deployed yet) and keeps the newest entry per
//! peer, signature and all. No node can forge a user's consent, and the
//! whole list can be exported and checked anywhere (`GET /v1/consent`).
//!
//! What consent changes is in the read API: for the owner signed in, the
//! inbox lists allowed senders and the `requests` view the undecided ones;
//! blocked senders are in neither and never pushed on the owner's stream;
//! and only allowed peers get the owner's presence.

pub mod entry;
pub mod memory;
pub mod routes;

pub use entry::{signing_hash, ConsentRequest};
pub use memory::ConsentMemory;
pub use routes::router;
