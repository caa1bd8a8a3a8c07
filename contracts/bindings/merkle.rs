//! The Merkle tree over a batch of signed posts (docs/BATCHING.md).
//!
//! - A leaf is `keccak256(0x00 ‖ post_hash)`, an inner node
//!   `keccak256(0x01 ‖ left ‖ right)`: the prefixes keep a leaf from ever
//!   passing for an inner node.
//! - Leaves keep their batch order (a proof carries the index).
//! - A level with an odd count promotes its last node unchanged; nothing is
//!   duplicated, so no two different batches share a root.

use alloy::primitives::{keccak256, B256};

/// The leaf of a post whose EIP-712 signing hash is `post_hash`.
pub fn leaf_hash(post_hash: B256) -> B256 {
    let mut buf = [0u8; 33];
    buf[1..].copy_from_slice(post_hash.as_slice());
    keccak256(buf)
}

/// An inner node.
pub fn node_hash(left: B256, right: B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// A complete tree, kept level by level to answer proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    levels: Vec<Vec<B256>>,
}

impl MerkleTree {
    /// Builds the tree over `leaves` (already [`leaf_hash`]ed). `None` when empty.
    pub fn new(leaves: Vec<B256>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels.last().expect("at least one level").len() > 1 {
            let below = levels.last().expect("at least one level");
            let next = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(*left, *right),
                    [single] => *single,
                    _ => unreachable!("chunks(2)"),
                })
                .collect();
            levels.push(next);
        }
        Some(Self { levels })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels.last().expect("at least one level")[0]
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether the tree has no leaves (never: [`MerkleTree::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sibling hashes from leaf `index` up to the root, skipping levels
    /// where the node was promoted. `None` when out of range.
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
        if index >= self.len() {
            return None;
        }
        let mut proof = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            i /= 2;
        }
        Some(proof)
    }
}

/// Checks that `leaf` sits at `index` of a `count`-leaf tree with `root`.
pub fn verify(leaf: B256, index: usize, count: usize, proof: &[B256], root: B256) -> bool {
    if index >= count {
        return false;
    }
    let (mut hash, mut i, mut width, mut siblings) = (leaf, index, count, proof.iter());
    while width > 1 {
        let sibling = i ^ 1;
        if sibling < width {
            let Some(s) = siblings.next() else {
                return false;
            };
            hash = if i % 2 == 0 {
                node_hash(hash, *s)
            } else {
                node_hash(*s, hash)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && hash == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<B256> {
        (0..n)
            .map(|i| leaf_hash(B256::with_last_byte(i as u8)))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_size_verifies() {
        for n in 1..=40 {
            let tree = MerkleTree::new(leaves(n)).unwrap();
            for (i, leaf) in leaves(n).into_iter().enumerate() {
                let proof = tree.proof(i).unwrap();
                assert!(verify(leaf, i, n, &proof, tree.root()), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn three_leaves_by_hand() {
        let l = leaves(3);
        let root = node_hash(node_hash(l[0], l[1]), l[2]);
        let tree = MerkleTree::new(l.clone()).unwrap();
        assert_eq!(tree.root(), root);
        assert_eq!(tree.proof(2).unwrap(), vec![node_hash(l[0], l[1])]);
        assert_eq!(MerkleTree::new(vec![l[0]]).unwrap().root(), l[0]);
    }

    #[test]
    fn wrong_leaf_index_sibling_or_count_fails() {
        let n = 13;
        let tree = MerkleTree::new(leaves(n)).unwrap();
        let l = leaves(n);
        let proof = tree.proof(5).unwrap();
        assert!(!verify(l[6], 5, n, &proof, tree.root()), "another leaf");
        assert!(!verify(l[5], 4, n, &proof, tree.root()), "another index");
        // The count matters where it changes the path: leaf 12 of 13 is
        // promoted past level 0, and of 14 it would have a sibling. (Verifiers
        // take the count from the BatchAnchored event.)
        let last = tree.proof(12).unwrap();
        assert!(verify(l[12], 12, n, &last, tree.root()));
        assert!(
            !verify(l[12], 12, n + 1, &last, tree.root()),
            "another count"
        );
        assert!(!verify(l[5], 5, n, &proof[1..], tree.root()), "short proof");
        let mut bad = proof.clone();
        bad[0] = B256::repeat_byte(9);
        assert!(!verify(l[5], 5, n, &bad, tree.root()), "altered sibling");
        assert!(
            !verify(l[5], 99, n, &proof, tree.root()),
            "index out of range"
        );
        assert_eq!(tree.proof(n), None);
        assert_eq!(MerkleTree::new(Vec::new()), None);
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert_ne!(leaf_hash(node_hash(a, b)), node_hash(a, b));
    }
}
