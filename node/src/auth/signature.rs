//! Whose signature a sign-in or a consent entry carries: an externally
//! owned account's (recovered), a device key's that the account authorized
//! on the Cairn contract and that signs for it now (docs/SIGNERS.md), a
//! contract wallet's (ERC-1271
//! `isValidSignature`, asked at one pinned block), as DAO multisigs such as
//! Safe sign, or a contract wallet's that is not deployed yet (ERC-6492).
//!
//! ERC-6492 wraps the wallet's signature with the factory call that would
//! deploy it. Checking one means deploying the wallet in a simulation and
//! then asking it, in one `eth_call`: the call runs the EIP's reference
//! `ValidateSigOffchain` contract's constructor, which does both and returns
//! one byte. Its bytecode (`erc6492_validator.hex`) is the EIP's reference
//! code as viem 2.57 ships it (`erc6492SignatureValidatorByteCode`); nothing
//! is deployed, and the node never sends a transaction.

use alloy::{
    eips::BlockId,
    network::TransactionBuilder,
    primitives::{eip191_hash_message, Address, Bytes, FixedBytes, Signature, B256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    sol_types::SolValue,
};

alloy::sol! {
    #[sol(rpc)]
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// ERC-1271's "valid" answer: `isValidSignature.selector`.
pub const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// The suffix that marks an ERC-6492 wrapped signature.
pub const ERC6492_MAGIC: [u8; 32] = [
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
];

/// Creation code of ERC-6492's `ValidateSigOffchain(signer, hash, signature)`.
const VALIDATOR: &str = include_str!("erc6492_validator.hex");

/// How a signature was found valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// Recovered from an ECDSA signature.
    Account,
    /// A device key that signs for the account (`signerExpiry` after the
    /// time of this block).
    Device {
        /// The device key's address.
        key: Address,
        /// The block the contract was asked at.
        block: u64,
    },
    /// A contract wallet said yes at this block.
    Contract {
        /// The block the wallet was asked at.
        block: u64,
    },
    /// A contract wallet not deployed yet said yes, in a simulation that
    /// deployed it on top of this block (ERC-6492).
    Counterfactual {
        /// The block the simulation ran on.
        block: u64,
    },
}

impl Signer {
    /// `account`, `contract` or `counterfactual`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Device { .. } => "device",
            Self::Contract { .. } => "contract",
            Self::Counterfactual { .. } => "counterfactual",
        }
    }
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

/// Checks that `signature` over the EIP-191 `message` is `address`'s, or
/// that of a device key signing for it on the Cairn contract at `contract`.
pub async fn check(
    provider: &DynProvider,
    contract: Address,
    address: Address,
    message: &str,
    signature: &[u8],
) -> Result<Signer, SignatureError> {
    check_hash(
        provider,
        contract,
        address,
        eip191_hash_message(message),
        signature,
    )
    .await
}

fn chain(e: &dyn std::fmt::Display) -> SignatureError {
    SignatureError::Chain(e.to_string())
}

/// Gas an ERC-1271 `isValidSignature` may burn. A Safe's check of a few
/// owners' signatures takes well under 100,000; the wallet's code is
/// anyone's, and without a limit the node's RPC would run it to its cap.
pub const ERC1271_GAS: u64 = 300_000;
/// Gas the ERC-6492 simulation may burn: a wallet's deployment by its
/// factory, then its ERC-1271 check.
pub const ERC6492_GAS: u64 = 1_500_000;

/// Checks that `signature` over `hash` (an EIP-191 or EIP-712 digest) is
/// `address`'s, or a device key's that signs for it (see [`check`]).
pub async fn check_hash(
    provider: &DynProvider,
    contract: Address,
    address: Address,
    hash: B256,
    signature: &[u8],
) -> Result<Signer, SignatureError> {
    if signature.len() > ERC6492_MAGIC.len() && signature.ends_with(&ERC6492_MAGIC) {
        return counterfactual(provider, address, hash, signature).await;
    }
    let recovered = Signature::try_from(signature)
        .ok()
        .and_then(|sig| sig.recover_address_from_prehash(&hash).ok());
    if recovered == Some(address) {
        return Ok(Signer::Account);
    }
    // Pin one block, so the code and the answer come from the same state.
    let block = provider.get_block_number().await.map_err(|e| chain(&e))?;
    if let Some(key) = recovered {
        if device_signs(provider, contract, address, key, block).await? {
            return Ok(Signer::Device { key, block });
        }
    }
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
        .isValidSignature(hash, Bytes::copy_from_slice(signature))
        .block(BlockId::number(block))
        .gas(ERC1271_GAS)
        .call()
        .await;
    match answer {
        Ok(magic) if magic == FixedBytes(ERC1271_MAGIC) => Ok(Signer::Contract { block }),
        // A revert or any other answer is a no.
        _ => Err(SignatureError::NotSigner(address)),
    }
}

/// Whether `key` signs for `address` at `block`: the contract's
/// `signerExpiry` there is not before that block's time.
async fn device_signs(
    provider: &DynProvider,
    contract: Address,
    address: Address,
    key: Address,
    block: u64,
) -> Result<bool, SignatureError> {
    let cairn = cairn_contracts::Cairn::new(contract, provider);
    let expiry = match cairn
        .signerExpiry(address, key)
        .block(BlockId::number(block))
        .call()
        .await
    {
        Ok(expiry) => expiry,
        Err(alloy::contract::Error::TransportError(e)) => return Err(chain(&e)),
        // No Cairn contract there (no code, another ABI): no device signs.
        Err(_) => return Ok(false),
    };
    if expiry == 0 {
        return Ok(false);
    }
    let header = provider
        .get_block_by_number(block.into())
        .await
        .map_err(|e| chain(&e))?
        .ok_or_else(|| chain(&format!("block {block} is gone")))?;
    Ok(expiry >= header.header.timestamp)
}

/// Checks an ERC-6492 wrapped signature by simulating the validator's
/// deployment at a pinned block: it deploys the wallet if it has no code
/// yet, then asks it (or recovers, for an account).
async fn counterfactual(
    provider: &DynProvider,
    address: Address,
    hash: B256,
    signature: &[u8],
) -> Result<Signer, SignatureError> {
    let block = provider.get_block_number().await.map_err(|e| chain(&e))?;
    let mut code = alloy::hex::decode(VALIDATOR.trim()).expect("the vendored validator is hex");
    code.extend((address, hash, Bytes::copy_from_slice(signature)).abi_encode_params());
    let call = TransactionRequest::default()
        .with_deploy_code(code)
        .with_gas_limit(ERC6492_GAS);
    let answer = provider.call(call).block(BlockId::number(block)).await;
    match answer {
        Ok(out) if out.first() == Some(&1) => Ok(Signer::Counterfactual { block }),
        // The validator reverts or says 0 for anything it cannot accept.
        Ok(_) | Err(alloy::transports::RpcError::ErrorResp(_)) => {
            Err(SignatureError::NotSigner(address))
        }
        Err(e) => Err(chain(&e)),
    }
}
