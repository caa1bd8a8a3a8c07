//! The consent list a client keeps for itself.
//!
//! The node serves a user's consent entries, and a lying node can serve an
//! older, validly signed "allow" in place of a newer "block", or leave an
//! entry out. So a client keeps on its own disk the newest signed entry it
//! has seen for each peer, and never goes back: an entry is replaced only
//! by a newer one (a later `issuedAt`, as the node's own rule). `cairn
//! inbox`, `requests` and `watch` hide the senders it blocks, whatever the
//! node lists or pushes. `cairn consent` exports it merged with the node's
//! list. The web page keeps the same list in its own storage
//! (`web/src/trust.ts`).

use std::{collections::BTreeMap, path::PathBuf};

use alloy::{
    primitives::{Address, Signature},
    sol_types::Eip712Domain,
};
use cairn_proto::listing::ConsentState;

pub use cairn_proto::consent::{signing_hash, ConsentRequest};

/// Why the kept list could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The file exists but could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a list this client wrote.
    #[error("{path} is not a consent list: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: serde_json::Error,
    },
}

/// The newest signed consent entry seen per peer, for one owner, kept in
/// one JSON file.
#[derive(Debug)]
pub struct ConsentMemory {
    path: PathBuf,
    owner: Address,
    entries: BTreeMap<Address, ConsentRequest>,
}

impl ConsentMemory {
    /// The list kept at `path` for `owner`; empty when there is no file yet.
    pub fn open(path: impl Into<PathBuf>, owner: Address) -> Result<Self, MemoryError> {
        let path = path.into();
        let entries = match std::fs::read(&path) {
            Ok(bytes) => {
                let list: Vec<ConsentRequest> =
                    serde_json::from_slice(&bytes).map_err(|source| MemoryError::Parse {
                        path: path.clone(),
                        source,
                    })?;
                list.into_iter()
                    .filter(|e| e.owner == owner)
                    .map(|e| (e.peer, e))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(MemoryError::Io { path, source }),
        };
        Ok(Self {
            path,
            owner,
            entries,
        })
    }

    /// Keeps `entry` unless it is another owner's, or an entry as new or
    /// newer is already known for its peer. Returns whether it was kept.
    /// The caller checks the signature first ([`signed_by`]).
    pub fn keep(&mut self, entry: ConsentRequest) -> bool {
        if entry.owner != self.owner {
            return false;
        }
        if self
            .entries
            .get(&entry.peer)
            .is_some_and(|known| known.issued_at >= entry.issued_at)
        {
            return false;
        }
        self.entries.insert(entry.peer, entry);
        true
    }

    /// What the owner last said of `peer`, as far as this client knows.
    pub fn state(&self, peer: Address) -> Option<ConsentState> {
        self.entries.get(&peer).map(|e| e.state)
    }

    /// The `issuedAt` a new entry for `peer` needs to replace every entry
    /// known for it: `now`, or one second past the newest known.
    pub fn next_issued_at(&self, peer: Address, now: u64) -> u64 {
        self.entries
            .get(&peer)
            .map_or(now, |known| now.max(known.issued_at + 1))
    }

    /// Every kept entry, by peer.
    pub fn entries(&self) -> impl Iterator<Item = &ConsentRequest> {
        self.entries.values()
    }

    /// Writes the list, atomically: a crash leaves the old one or the new one.
    pub fn save(&self) -> Result<(), MemoryError> {
        let io = |source| MemoryError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let list: Vec<&ConsentRequest> = self.entries.values().collect();
        let bytes = serde_json::to_vec_pretty(&list).expect("entries serialize");
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(io)
    }
}

/// Whether `entry` carries its owner's own signature under `domain`, as an
/// account (ECDSA) signs. Entries of contract wallets, which only the chain
/// can check, are not kept by a client.
pub fn signed_by(entry: &ConsentRequest, domain: &Eip712Domain) -> bool {
    let hash = signing_hash(
        entry.owner,
        entry.peer,
        entry.state,
        entry.issued_at,
        domain,
    );
    let Ok(bytes) = alloy::hex::decode(entry.signature.trim_start_matches("0x")) else {
        return false;
    };
    Signature::try_from(bytes.as_slice())
        .ok()
        .and_then(|s| s.recover_address_from_prehash(&hash).ok())
        == Some(entry.owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::{local::PrivateKeySigner, SignerSync};

    fn signed(
        wallet: &PrivateKeySigner,
        peer: Address,
        state: ConsentState,
        issued_at: u64,
        domain: &Eip712Domain,
    ) -> ConsentRequest {
        let hash = signing_hash(wallet.address(), peer, state, issued_at, domain);
        let signature = wallet.sign_hash_sync(&hash).unwrap();
        ConsentRequest {
            owner: wallet.address(),
            peer,
            state,
            issued_at,
            signature: format!("0x{}", alloy::hex::encode(signature.as_bytes())),
        }
    }

    #[test]
    fn an_older_entry_never_replaces_a_newer_one_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        let domain = cairn_contracts::eip712::domain(31337, Address::with_last_byte(9));
        let (owner, peer) = (PrivateKeySigner::random(), Address::with_last_byte(7));
        let allow = signed(&owner, peer, ConsentState::Allow, 100, &domain);
        let block = signed(&owner, peer, ConsentState::Block, 200, &domain);

        let mut memory = ConsentMemory::open(&path, owner.address()).unwrap();
        assert_eq!(memory.state(peer), None);
        assert!(memory.keep(block.clone()));
        memory.save().unwrap();

        let mut memory = ConsentMemory::open(&path, owner.address()).unwrap();
        assert!(!memory.keep(allow), "an older allow replaced a newer block");
        assert!(!memory.keep(block), "the same entry counts once");
        assert_eq!(memory.state(peer), Some(ConsentState::Block));
        assert_eq!(memory.next_issued_at(peer, 150), 201);
        assert_eq!(memory.next_issued_at(peer, 900), 900);
        let stranger = signed(
            &PrivateKeySigner::random(),
            peer,
            ConsentState::Allow,
            300,
            &domain,
        );
        assert!(!memory.keep(stranger), "another owner's entry was kept");
        assert_eq!(memory.state(peer), Some(ConsentState::Block));
    }

    #[test]
    fn only_the_owners_own_signature_counts() {
        let domain = cairn_contracts::eip712::domain(31337, Address::with_last_byte(9));
        let owner = PrivateKeySigner::random();
        let entry = signed(
            &owner,
            Address::with_last_byte(7),
            ConsentState::Allow,
            100,
            &domain,
        );
        assert!(signed_by(&entry, &domain));
        let other_domain = cairn_contracts::eip712::domain(1, Address::with_last_byte(9));
        assert!(!signed_by(&entry, &other_domain));
        let flipped = ConsentRequest {
            state: ConsentState::Block,
            ..entry.clone()
        };
        assert!(!signed_by(&flipped, &domain));
        let garbage = ConsentRequest {
            signature: "0x1234".into(),
            ..entry
        };
        assert!(!signed_by(&garbage, &domain));
    }

    #[test]
    fn a_file_that_is_not_a_list_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        std::fs::write(&path, b"not json").unwrap();
        assert!(matches!(
            ConsentMemory::open(&path, Address::ZERO),
            Err(MemoryError::Parse { .. })
        ));
    }
}
