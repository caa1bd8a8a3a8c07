//! The reorg window: recent blocks by number, with no I/O.
//!
//! The ingester records every block it ingests near the head. A new block
//! whose parent hash is not the recorded hash of the block below it means the
//! chain reorganised; [`ReorgWindow::find_fork_point`] then names the highest
//! recorded block the canonical chain still contains, the point to roll back
//! to. Blocks older than the capacity are forgotten: a reorg deeper than the
//! window cannot be traced and is reported as such.

use std::collections::BTreeMap;

use alloy::primitives::B256;

use crate::block::BlockRef;

/// What [`ReorgWindow::validate_parent`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The block extends the recorded chain.
    Extends,
    /// The block's parent is not the recorded block below it.
    Reorg {
        /// The recorded hash of the block below.
        expected: B256,
        /// The parent hash the new block names.
        got: B256,
    },
    /// Nothing is recorded below this block (first block, or after a range backfill
    /// whose end the window holds).
    Unknown,
}

/// A bounded map from block number to block, for the newest blocks.
#[derive(Debug, Clone, Default)]
pub struct ReorgWindow {
    blocks: BTreeMap<u64, BlockRef>,
    capacity: usize,
}

impl ReorgWindow {
    /// An empty window holding at most `capacity` blocks.
    pub fn new(capacity: usize) -> Self {
        Self {
            blocks: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// A window pre-filled with `blocks` (e.g. loaded from the store).
    pub fn with_blocks(capacity: usize, blocks: impl IntoIterator<Item = BlockRef>) -> Self {
        let mut window = Self::new(capacity);
        for b in blocks {
            window.insert(b);
        }
        window
    }

    /// Records `block`, forgetting the oldest beyond capacity.
    pub fn insert(&mut self, block: BlockRef) {
        self.blocks.insert(block.number, block);
        while self.blocks.len() > self.capacity {
            self.blocks.pop_first();
        }
    }

    /// The recorded block at `number`.
    pub fn get(&self, number: u64) -> Option<&BlockRef> {
        self.blocks.get(&number)
    }

    /// The newest recorded block.
    pub fn tip(&self) -> Option<&BlockRef> {
        self.blocks.values().next_back()
    }

    /// Recorded blocks, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &BlockRef> {
        self.blocks.values().rev()
    }

    /// Whether `block` extends the recorded block below it.
    pub fn validate_parent(&self, block: &BlockRef) -> Continuity {
        match block
            .number
            .checked_sub(1)
            .and_then(|n| self.blocks.get(&n))
        {
            Some(below) if below.hash == block.parent_hash => Continuity::Extends,
            Some(below) => Continuity::Reorg {
                expected: below.hash,
                got: block.parent_hash,
            },
            None => Continuity::Unknown,
        }
    }

    /// The highest recorded block whose hash the canonical chain still has.
    /// `canonical` maps block numbers to canonical hashes; numbers it lacks
    /// are skipped. `None` means the reorg is deeper than the window.
    pub fn find_fork_point(&self, canonical: &BTreeMap<u64, B256>) -> Option<BlockRef> {
        self.newest_first()
            .find(|b| canonical.get(&b.number) == Some(&b.hash))
            .copied()
    }

    /// Forgets every block above `number` (after a rollback).
    pub fn truncate_above(&mut self, number: u64) {
        self.blocks.split_off(&(number + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(fork: u8, from: u64, to: u64, parent_of_first: B256) -> Vec<BlockRef> {
        let mut parent = parent_of_first;
        (from..=to)
            .map(|n| {
                let hash = B256::with_last_byte(n as u8) | B256::right_padding_from(&[fork]);
                let b = BlockRef {
                    number: n,
                    hash,
                    parent_hash: parent,
                };
                parent = hash;
                b
            })
            .collect()
    }

    #[test]
    fn extends_and_detects_a_changed_parent() {
        let blocks = chain(1, 1, 5, B256::ZERO);
        let window = ReorgWindow::with_blocks(10, blocks[..4].iter().copied());
        assert_eq!(window.validate_parent(&blocks[4]), Continuity::Extends);
        let other = chain(2, 4, 5, blocks[2].hash);
        assert!(matches!(
            window.validate_parent(&other[1]),
            Continuity::Reorg { .. }
        ));
        assert_eq!(
            window.validate_parent(&chain(1, 20, 20, B256::ZERO)[0]),
            Continuity::Unknown
        );
    }

    #[test]
    fn finds_the_fork_point_of_a_three_block_reorg() {
        let old = chain(1, 1, 10, B256::ZERO);
        let window = ReorgWindow::with_blocks(64, old.iter().copied());
        // The new fork shares blocks 1..=7 and replaces 8..=10.
        let new = chain(2, 8, 11, old[6].hash);
        let canonical: BTreeMap<u64, B256> = old[..7]
            .iter()
            .chain(new.iter())
            .map(|b| (b.number, b.hash))
            .collect();
        assert_eq!(
            window.find_fork_point(&canonical).map(|b| b.number),
            Some(7)
        );
    }

    #[test]
    fn reorg_deeper_than_window_is_none() {
        let old = chain(1, 1, 10, B256::ZERO);
        let window = ReorgWindow::with_blocks(3, old.iter().copied());
        assert_eq!(window.tip().map(|b| b.number), Some(10));
        assert!(window.get(7).is_none(), "capacity 3 keeps 8..=10");
        let new = chain(2, 5, 11, old[3].hash);
        let canonical: BTreeMap<u64, B256> = new.iter().map(|b| (b.number, b.hash)).collect();
        assert_eq!(window.find_fork_point(&canonical), None);
    }

    #[test]
    fn truncate_forgets_orphans() {
        let mut window = ReorgWindow::with_blocks(64, chain(1, 1, 10, B256::ZERO));
        window.truncate_above(6);
        assert_eq!(window.tip().map(|b| b.number), Some(6));
    }
}
