//! `cairn-indexer`: follows the Cairn contract and builds queryable inboxes.
//!
//! Not built yet: ingestion, the `Store` trait and the read API arrive with
//! the read-path issue. This crate exists now so the workspace layout is final.

pub use cairn_contracts as contracts;
