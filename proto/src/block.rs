//! The unit Cairn stores and anchors: one IPFS raw block (CIDv1, raw codec,
//! sha2-256). Envelopes, key bundle parts and batch manifests are each one
//! block, sized to fit it; the stores refuse anything larger. Kept below
//! both the formats and the stores, so neither imports the other for it.

/// The largest block Cairn stores: 1 MiB, the size IPFS peers exchange.
pub const MAX_BLOCK_SIZE: usize = 1 << 20;
