//! Whose signature a sign-in carries: an externally owned account's
//! (recovered), or a contract wallet's (ERC-1271 `isValidSignature`, asked
//! at one pinned block), as DAO multisigs such as Safe sign.

use alloy::{
    eips::BlockId,
    primitives::{eip191_hash_message, Address, Bytes, FixedBytes, Signature},
    providers::{DynProvider, Provider},
};

alloy::sol! {
    #[sol(rpc)]
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// ERC-1271's "valid" answer: `isValidSignature.selector`.
pub const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// How a signature was found valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// Recovered from an ECDSA signature.
    Account,
    /// A contract wallet said yes at this block.
    Contract {
        /// The block the wallet was asked at.
        block: u64,
    },
}

/// Why a signature is not `address`'s.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Neither recovered to the address nor accepted by a wallet contract there.
    #[error("the signature is not {0}'s")]
    NotSigner(Address),
    /// The chain could not be asked about a contract wallet.
    #[error("the chain cannot be read to check a contract wallet: {0}")]
    Chain(String),
}

/// Checks that `signature` over the EIP-191 `message` is `address`'s.
pub async fn check(
    provider: &DynProvider,
    address: Address,
    message: &str,
    signature: &[u8],
) -> Result<Signer, SignatureError> {
    if let Ok(sig) = Signature::try_from(signature) {
        if sig.recover_address_from_msg(message).ok() == Some(address) {
            return Ok(Signer::Account);
        }
    }
    let chain = |e: &dyn std::fmt::Display| SignatureError::Chain(e.to_string());
    // Pin one block, so the code and the answer come from the same state.
    let block = provider.get_block_number().await.map_err(|e| chain(&e))?;
    let code = provider
        .get_code_at(address)
        .block_id(BlockId::number(block))
        .await
        .map_err(|e| chain(&e))?;
    if code.is_empty() {
        return Err(SignatureError::NotSigner(address));
    }
    let wallet = IERC1271::new(address, provider);
    let answer = wallet
        .isValidSignature(
            eip191_hash_message(message),
            Bytes::copy_from_slice(signature),
        )
        .block(BlockId::number(block))
        .call()
        .await;
    match answer {
        Ok(magic) if magic == FixedBytes(ERC1271_MAGIC) => Ok(Signer::Contract { block }),
        // A revert or any other answer is a no.
        _ => Err(SignatureError::NotSigner(address)),
    }
}
