//! Anchor transactions signed ahead of sending, for the gateway's batcher.
//!
//! [`CairnClient::anchor_batch`](super::CairnClient::anchor_batch) signs and
//! sends in one step, which cannot survive a crash between the two: the
//! process would not know whether its batch went out. The [`Relayer`] splits
//! them. It signs an `anchorBatch` transaction with an explicit nonce and
//! returns the raw bytes and hash, which the gateway stores *before* the
//! first broadcast. After any crash or RPC outage it re-broadcasts exactly
//! those bytes: a transaction with one nonce can be mined once, so a batch is
//! never anchored twice.

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, B256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};

use super::{Cairn, ChainError};

/// A signed transaction, ready to (re)broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// Its hash.
    pub hash: B256,
    /// EIP-2718 encoded bytes.
    pub raw: Vec<u8>,
    /// The fees it offers.
    pub fees: Fees,
}

/// EIP-1559 fees, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee: u128,
    /// `maxPriorityFeePerGas`.
    pub priority: u128,
}

impl Fees {
    /// These fees raised by a quarter: enough for a node to accept a
    /// replacement with the same nonce (most ask for 10% more).
    pub fn bumped(self) -> Self {
        Self {
            max_fee: self.max_fee + self.max_fee / 4 + 1,
            priority: self.priority + self.priority / 4 + 1,
        }
    }

    /// The larger of each fee.
    pub fn max(self, other: Self) -> Self {
        Self {
            max_fee: self.max_fee.max(other.max_fee),
            priority: self.priority.max(other.priority),
        }
    }
}

/// What a broadcast found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// The node accepted it, or already had it.
    Accepted,
    /// The nonce is already used: by this transaction (look for its
    /// receipt) or, if it has none, by another one.
    NonceUsed,
}

/// Signs and sends `anchorBatch` transactions from one relayer key.
///
/// The key must belong to one gateway only: the gateway hands out its
/// nonces from its own outbox.
#[derive(Debug, Clone)]
pub struct Relayer {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    contract: Address,
    chain_id: u64,
}

impl Relayer {
    /// Connects to `rpc_url` for `contract`, signing with `signer`.
    pub async fn connect(
        rpc_url: &str,
        contract: Address,
        signer: PrivateKeySigner,
    ) -> Result<Self, ChainError> {
        let client = cairn_contracts::rpc::client(rpc_url)
            .await
            .map_err(ChainError::from_transport)?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(client)
            .erased();
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(ChainError::from_transport)?;
        Ok(Self {
            address: signer.address(),
            wallet: EthereumWallet::from(signer),
            provider,
            contract,
            chain_id,
        })
    }

    /// The relayer's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The next nonce the chain expects from the relayer (mined transactions only).
    pub async fn mined_nonce(&self) -> Result<u64, ChainError> {
        self.provider
            .get_transaction_count(self.address)
            .latest()
            .await
            .map_err(ChainError::from_transport)
    }

    /// Signs `anchorBatch(root, manifest_digest, count)` with `nonce`. Gas is
    /// estimated with a 25% margin (a revert shows up here, before any
    /// nonce is spent), fees from the node's EIP-1559 estimate, and at least
    /// `floor` (to replace a transaction stuck with lower fees).
    pub async fn sign_anchor(
        &self,
        root: B256,
        manifest_digest: B256,
        count: u32,
        nonce: u64,
        floor: Fees,
    ) -> Result<SignedTx, ChainError> {
        let input = Cairn::anchorBatchCall {
            root,
            manifestDigest: manifest_digest,
            count,
        }
        .abi_encode();
        let request = TransactionRequest::default()
            .with_from(self.address)
            .with_to(self.contract)
            .with_input(Bytes::from(input));
        let gas = self
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(ChainError::from_transport)?;
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(ChainError::from_transport)?;
        let fees = Fees {
            max_fee: fees.max_fee_per_gas,
            priority: fees.max_priority_fee_per_gas,
        }
        .max(floor);
        let request = request
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas + gas / 4)
            .with_max_fee_per_gas(fees.max_fee)
            .with_max_priority_fee_per_gas(fees.priority.min(fees.max_fee));
        let envelope = request
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Contract(format!("signing the anchor: {e}")))?;
        Ok(SignedTx {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718(),
            fees,
        })
    }

    /// Sends `raw`. Sending the same bytes again is harmless.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<Broadcast, ChainError> {
        match self.provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(Broadcast::Accepted),
            Err(err) => {
                let text = err.to_string().to_lowercase();
                if text.contains("already known") || text.contains("already imported") {
                    Ok(Broadcast::Accepted)
                } else if text.contains("nonce too low") || text.contains("nonce is too low") {
                    Ok(Broadcast::NonceUsed)
                } else {
                    Err(ChainError::from_transport(err))
                }
            }
        }
    }

    /// The receipt of `hash`, once mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, ChainError> {
        self.provider
            .get_transaction_receipt(hash)
            .await
            .map_err(ChainError::from_transport)
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(ChainError::from_transport)
    }
}
