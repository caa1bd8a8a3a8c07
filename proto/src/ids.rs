//! Parsing the identifiers a user or a server hands over: wallet addresses
//! and log ids. The indexer refuses bad ones with these rules, and clients
//! that check ids against the chain read them with the same rules.

use alloy::primitives::{Address, B256};

/// Why text is not a wallet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not 20 bytes of hex.
    #[error("is not a 20-byte hex address")]
    Invalid,
    /// Mixed case whose EIP-55 checksum fails: most likely a typo.
    #[error("mixes upper and lower case but fails its EIP-55 checksum: a typo?")]
    BadChecksum,
}

/// Parses a wallet address: all lowercase, all uppercase, or mixed case
/// with a valid EIP-55 checksum. Mixed case that breaks its checksum is
/// most likely a typo, and is refused rather than read as another address.
pub fn parse_address(raw: &str) -> Result<Address, AddressError> {
    let text = raw.trim();
    let parsed: Address = text.parse().map_err(|_| AddressError::Invalid)?;
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mixed = digits.bytes().any(|b| b.is_ascii_lowercase())
        && digits.bytes().any(|b| b.is_ascii_uppercase());
    if mixed && Address::parse_checksummed(text, None).is_err() {
        return Err(AddressError::BadChecksum);
    }
    Ok(parsed)
}

/// An address as stores spell it: `0x` and lowercase hex. Not
/// `to_string().to_lowercase()`: `to_string()` computes the EIP-55
/// checksum, a keccak for each of the millions of rows a store writes.
pub fn lowercase(address: Address) -> String {
    format!("{address:#x}")
}

/// Parses `<block hash>-<log index>` followed by at most `extra` more
/// `-<number>` parts; every number must fit the database (at most 2^63 − 1).
/// A message id is a log id with at most one extra part, its batch item.
pub fn parse_log_id(id: &str, extra: usize) -> Option<(B256, u64, Vec<u64>)> {
    let mut parts = id.split('-');
    let hash: B256 = parts.next()?.parse().ok()?;
    let numbers = parts
        .map(|p| crate::cursor::position(p).ok())
        .collect::<Option<Vec<_>>>()?;
    match numbers.split_first() {
        Some((index, rest)) if rest.len() <= extra => Some((hash, *index, rest.to_vec())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_spelled_as_lowercase_hex() {
        for a in [
            Address::ZERO,
            Address::repeat_byte(0xab),
            Address::with_last_byte(0xf0),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
                .parse()
                .unwrap(),
        ] {
            assert_eq!(lowercase(a), a.to_string().to_lowercase());
        }
    }

    #[test]
    fn a_mixed_case_typo_is_refused() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(parse_address(good).is_ok());
        assert_eq!(
            parse_address(&good.to_lowercase()).unwrap(),
            parse_address(good).unwrap()
        );
        let typo = good.replace("5aA", "5AA");
        assert_eq!(parse_address(&typo), Err(AddressError::BadChecksum));
        assert_eq!(parse_address("0x12"), Err(AddressError::Invalid));
    }

    #[test]
    fn log_ids_take_at_most_the_extra_parts_asked_for() {
        let hash = format!("{}", B256::repeat_byte(7));
        assert_eq!(
            parse_log_id(&format!("{hash}-3"), 0),
            Some((B256::repeat_byte(7), 3, vec![]))
        );
        assert_eq!(parse_log_id(&format!("{hash}-3-9"), 1).unwrap().2, vec![9]);
        assert!(parse_log_id(&format!("{hash}-3-9"), 0).is_none());
        assert!(parse_log_id(&format!("{hash}-x"), 1).is_none());
        assert!(parse_log_id(&format!("{hash}-{}", u64::MAX), 1).is_none());
    }
}
