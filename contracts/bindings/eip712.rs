//! The EIP-712 types the contract verifies (docs/BATCHING.md).
//!
//! `Post` is what a sender signs for a batched message; `RegisterKey` is
//! what a user signs so a relayer can publish their key; `Upload` is what
//! a user signs to store a block on a node; `Consent` is what a user signs
//! to allow or block a sender; `AuthorizeSigner` and `RevokeSigner` are
//! what a wallet signs to let a device key sign for it, or stop it
//! (docs/SIGNERS.md). The contract's
//! `hashPost` and `recoverPost` compute the same hashes; a test checks the
//! two against each other on a real chain.

use alloy::{
    primitives::{keccak256, Address, B256, U256},
    sol,
    sol_types::{Eip712Domain, SolStruct},
};

sol! {
    /// A post signed for batching. `to` is an address left-padded to 32
    /// bytes or a channel id; `digest` is the envelope block's sha2-256;
    /// `nonce` is per sender and never reused; `deadline` is unix seconds.
    #[derive(Debug, PartialEq, Eq)]
    struct Post {
        address from;
        bytes32 to;
        bytes32 digest;
        uint64 nonce;
        uint64 deadline;
    }

    /// A block upload to a node (`POST /v1/blobs`), signed so that only
    /// wallets with a registered key can store blocks there, within their
    /// quota. Checked by nodes only; the contract never sees it.
    #[derive(Debug, PartialEq, Eq)]
    struct Upload {
        address from;
        bytes32 digest;
        uint64 deadline;
    }

    /// What `owner` says of messages from `peer`: 1 allow, 2 block. Signed
    /// by the owner, so that no node can forge a user's consent; a later
    /// `issuedAt` (unix seconds) replaces an earlier entry for the same peer.
    /// Checked by nodes and clients only; the contract never sees it.
    #[derive(Debug, PartialEq, Eq)]
    struct Consent {
        address owner;
        address peer;
        uint8 state;
        uint64 issuedAt;
    }

    /// A membership change an admin (an account, or an ERC-1271 wallet such
    /// as a Safe) signs for anyone to submit (`changeMembersBySig`); `nonce`
    /// is the admin's next `adminNonces`.
    #[derive(Debug, PartialEq, Eq)]
    struct ChangeMembers {
        bytes32 channel;
        address[] added;
        address[] removed;
        uint256 nonce;
        uint256 deadline;
    }

    /// A device key `owner` lets sign for it until `expiry` (unix seconds),
    /// submitted by a relayer (`authorizeSignerBySig`). A non-zero
    /// `messagingKey` publishes the x25519 key in the same transaction.
    #[derive(Debug, PartialEq, Eq)]
    struct AuthorizeSigner {
        address owner;
        address signer;
        uint64 expiry;
        bytes32 messagingKey;
        uint256 nonce;
        uint256 deadline;
    }

    /// A revocation of `signer`, signed by `owner` or by the signer itself
    /// (`revokeSignerBySig`).
    #[derive(Debug, PartialEq, Eq)]
    struct RevokeSigner {
        address owner;
        address signer;
        uint256 nonce;
        uint256 deadline;
    }

    /// A key registration a relayer submits for `owner`.
    #[derive(Debug, PartialEq, Eq)]
    struct RegisterKey {
        address owner;
        bytes32 pubkey;
        uint256 nonce;
        uint256 deadline;
    }
}

/// The wallet a post's `to` names, when it is an address left-padded to
/// 32 bytes; `None` for a channel id (the contract sets its top bit, so its
/// top 12 bytes are never all zero).
pub fn recipient_address(to: B256) -> Option<Address> {
    to[..12]
        .iter()
        .all(|b| *b == 0)
        .then(|| Address::from_slice(&to[12..]))
}

/// Whether a post's `to` is a channel id rather than a wallet.
pub fn is_channel(to: B256) -> bool {
    recipient_address(to).is_none()
}

/// The Cairn contract's EIP-712 domain on `chain_id` at `contract`.
pub fn domain(chain_id: u64, contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some("Cairn".into()),
        Some("1".into()),
        Some(U256::from(chain_id)),
        Some(contract),
        None,
    )
}

/// A domain's EIP-712 separator, hashed once. Hashing the domain costs
/// about as much as hashing a post, and every post's signing hash needs
/// it: code that hashes many posts under one domain (a gateway checking a
/// request, an indexer checking a manifest) computes this once and passes
/// it where a `&Eip712Domain` would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separator(pub B256);

impl From<&Eip712Domain> for Separator {
    fn from(domain: &Eip712Domain) -> Self {
        Self(domain.separator())
    }
}

impl Post {
    /// The EIP-712 signing hash, `keccak256(0x1901 ‖ separator ‖
    /// hashStruct(post))`: what `eip712_signing_hash` computes, without
    /// hashing the domain again.
    pub fn signing_hash(&self, domain: impl Into<Separator>) -> B256 {
        let mut bytes = [0u8; 66];
        bytes[..2].copy_from_slice(&[0x19, 0x01]);
        bytes[2..34].copy_from_slice(domain.into().0.as_slice());
        bytes[34..].copy_from_slice(self.eip712_hash_struct().as_slice());
        keccak256(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_hashed_under_a_separator_is_its_eip712_signing_hash() {
        let post = Post {
            from: Address::repeat_byte(1),
            to: B256::repeat_byte(2),
            digest: B256::repeat_byte(3),
            nonce: 4,
            deadline: 5,
        };
        for d in [
            domain(31337, Address::repeat_byte(9)),
            domain(1, Address::ZERO),
        ] {
            let separator = Separator::from(&d);
            assert_eq!(post.signing_hash(separator), post.eip712_signing_hash(&d));
            assert_eq!(post.signing_hash(&d), post.eip712_signing_hash(&d));
        }
        assert_ne!(
            post.signing_hash(&domain(1, Address::ZERO)),
            post.signing_hash(&domain(2, Address::ZERO))
        );
    }
}
