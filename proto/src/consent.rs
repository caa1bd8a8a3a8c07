//! The wire form of a consent entry, and its EIP-712 hash.

use crate::listing::ConsentState;
use alloy::{
    primitives::Address,
    sol_types::{Eip712Domain, SolStruct},
};
use cairn_contracts::eip712::Consent;
use serde::{Deserialize, Serialize};

/// `POST /v1/consent`'s body: one entry and its owner's signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    /// Who decides.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub owner: Address,
    /// About whom.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub peer: Address,
    /// `allow` or `block`.
    pub state: ConsentState,
    /// Unix seconds; a later entry for the same peer replaces an earlier one.
    pub issued_at: u64,
    /// The owner's signature over the EIP-712 `Consent` (hex).
    pub signature: String,
}

/// The digest the owner signs: EIP-712 `Consent` under the contract's domain.
pub fn signing_hash(
    owner: Address,
    peer: Address,
    state: ConsentState,
    issued_at: u64,
    domain: &Eip712Domain,
) -> alloy::primitives::B256 {
    Consent {
        owner,
        peer,
        state: state.code(),
        issuedAt: issued_at,
    }
    .eip712_signing_hash(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::{local::PrivateKeySigner, SignerSync};

    #[test]
    fn the_hash_binds_every_field_and_the_domain() {
        let domain = cairn_contracts::eip712::domain(31337, Address::with_last_byte(9));
        let (a, b) = (Address::with_last_byte(1), Address::with_last_byte(2));
        let base = signing_hash(a, b, ConsentState::Allow, 100, &domain);
        assert_ne!(base, signing_hash(b, a, ConsentState::Allow, 100, &domain));
        assert_ne!(base, signing_hash(a, b, ConsentState::Block, 100, &domain));
        assert_ne!(base, signing_hash(a, b, ConsentState::Allow, 101, &domain));
        let other = cairn_contracts::eip712::domain(1, Address::with_last_byte(9));
        assert_ne!(base, signing_hash(a, b, ConsentState::Allow, 100, &other));
        let wallet = PrivateKeySigner::random();
        let sig = wallet.sign_hash_sync(&base).unwrap();
        assert_eq!(
            sig.recover_address_from_prehash(&base).unwrap(),
            wallet.address()
        );
    }
}
