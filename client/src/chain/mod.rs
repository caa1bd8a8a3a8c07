//! The alloy client for the Cairn contract.
//!
//! Bindings come from `cairn-contracts` (generated from the committed
//! artifact). Every failure surfaces as a [`ChainError`]: reverts are decoded
//! into the contract's custom errors, RPC failures keep their transport error
//! and say whether a retry may help.
//!
//! Nonces: the provider asks the node for the pending nonce before each
//! transaction (alloy's simple nonce manager, not its caching default), and
//! [`CairnClient`] waits for each receipt before returning. So a call that
//! reverts during gas estimation leaves no gap, a process never reuses a
//! nonce, and a restart never skips one.

mod channels;
mod error;
mod posters;
mod registry;
mod relay;
mod send;
mod signers;

use std::time::Duration;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Signature, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionReceipt},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
pub use cairn_contracts::Cairn;
pub use channels::{ChannelAction, ChannelChanged, ChannelState, Gate};
pub use error::{ChainError, Revert};
pub use posters::{ChannelPosters, Refusal, CAN_POST_GAS};
pub use registry::KeyRegistry;
pub use relay::{Broadcast, Fees, Relayer, SignedTx};
pub use signers::{
    sign_signer_authorization, sign_signer_revocation, SignerAuthorization, SignerRevocation,
};

use crate::crypto::PublicKey;

/// How long to wait for a transaction to be mined before giving up.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// A messaging key as the registry holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisteredKey {
    /// The x25519 public key.
    pub key: PublicKey,
    /// 1 for the first registration, bumped by each rotation.
    pub version: u64,
}

/// Where a transaction landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    /// The transaction hash.
    pub tx: B256,
    /// The block number.
    pub block: u64,
    /// The block hash.
    pub block_hash: B256,
    /// Gas used by the transaction.
    pub gas_used: u64,
}

/// A `Posted` event as found on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedLog {
    /// The decoded event.
    pub event: Cairn::Posted,
    /// The transaction and block that hold it.
    pub inclusion: Inclusion,
    /// The log's index within its block.
    pub log_index: u64,
}

/// A connection to one deployed Cairn contract.
#[derive(Debug, Clone)]
pub struct CairnClient {
    provider: DynProvider,
    contract: Cairn::CairnInstance<DynProvider>,
    signer: Option<(Address, EthereumWallet)>,
    /// Held while a transaction is prepared and broadcast: this client's
    /// transactions share one nonce sequence, but wait for their blocks
    /// side by side.
    broadcasting: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The same, across processes that sign with this key.
    shared_turn: Option<std::sync::Arc<dyn SharedTurn>>,
}

/// Turns to prepare and broadcast, taken with other processes that sign
/// with the same key (gateways sharing a registrar key): without them two
/// would read the same pending nonce and send two transactions under it.
#[async_trait::async_trait]
pub trait SharedTurn: Send + Sync + std::fmt::Debug {
    /// Waits for this process's turn, which lasts until the returned guard
    /// is dropped.
    async fn take(&self) -> Result<Box<dyn std::any::Any + Send>, ChainError>;
}

impl CairnClient {
    /// Connects to `rpc_url` (http or ws) and checks that `contract` has code.
    /// With a `signer`, the client can send transactions.
    pub async fn connect(
        rpc_url: &str,
        contract: Address,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self, ChainError> {
        let sender = signer
            .as_ref()
            .map(|s| (s.address(), EthereumWallet::from(s.clone())));
        let provider = connect_provider(rpc_url, signer).await?;
        let code = provider
            .get_code_at(contract)
            .await
            .map_err(ChainError::from_transport)?;
        if code.is_empty() {
            return Err(ChainError::NotDeployed(contract));
        }
        // Some other contract would answer every call with bytes that do
        // not decode ("buffer overrun"): say what is wrong instead.
        let domain = Cairn::new(contract, provider.clone())
            .eip712Domain()
            .call()
            .await;
        match domain {
            Ok(d) if d.name == "Cairn" && d.verifyingContract == contract => {}
            Ok(d) => {
                return Err(ChainError::NotCairn {
                    contract,
                    reason: format!("its EIP-712 domain is {:?}", d.name),
                })
            }
            Err(alloy::contract::Error::TransportError(
                e @ alloy::transports::RpcError::Transport(_),
            )) => return Err(ChainError::Rpc(e)),
            Err(_) => {
                return Err(ChainError::NotCairn {
                    contract,
                    reason: "it does not answer eip712Domain()".into(),
                })
            }
        }
        Ok(Self {
            contract: Cairn::new(contract, provider.clone()),
            provider,
            signer: sender,
            broadcasting: Default::default(),
            shared_turn: None,
        })
    }

    /// This client, taking `turns` with the other processes that sign with
    /// its key before each transaction it prepares and broadcasts.
    pub fn with_shared_turn(mut self, turns: std::sync::Arc<dyn SharedTurn>) -> Self {
        self.shared_turn = Some(turns);
        self
    }

    /// Deploys a new Cairn contract from the committed artifact's bytecode.
    pub async fn deploy(
        rpc_url: &str,
        signer: PrivateKeySigner,
    ) -> Result<(Address, Inclusion), ChainError> {
        let (from, wallet) = (signer.address(), EthereumWallet::from(signer.clone()));
        let provider = connect_provider(rpc_url, Some(signer)).await?;
        let code = Cairn::deploy_builder(&provider).calldata().clone();
        let receipt =
            send::send_once(&provider, &wallet, from, None, code, RECEIPT_TIMEOUT).await?;
        let inclusion = inclusion_of(&receipt)?;
        let address = receipt.contract_address.ok_or(ChainError::MissingEvent {
            tx: inclusion.tx,
            event: "contract creation",
        })?;
        Ok((address, inclusion))
    }

    /// The contract address.
    pub fn address(&self) -> Address {
        *self.contract.address()
    }

    /// The underlying provider, for reads this client does not wrap.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The registered key of `owner`, or `None` if it never registered.
    pub async fn key_of(&self, owner: Address) -> Result<Option<RegisteredKey>, ChainError> {
        use backon::Retryable;
        // A read: asking again after a blip is harmless, and beats failing a send.
        let call = || async {
            let key = self.contract.keyOf(owner).call().await;
            key.map_err(ChainError::from_contract)
        };
        let key = call
            .retry(send::transient_retries())
            .when(ChainError::is_transient)
            .await?;
        Ok((key.version != 0).then(|| RegisteredKey {
            key: PublicKey::from(key.pubkey),
            version: key.version,
        }))
    }

    /// Publishes or rotates the signer's messaging key.
    pub async fn register_key(
        &self,
        key: &PublicKey,
    ) -> Result<(RegisteredKey, Inclusion), ChainError> {
        let receipt = self
            .send(self.contract.registerKey(key.to_b256()).calldata().clone())
            .await?;
        registration_of(&receipt)
    }

    /// Anchors `digest` as a post from the signer to `to`.
    pub async fn post(&self, to: B256, digest: B256) -> Result<PostedLog, ChainError> {
        let receipt = self
            .send(self.contract.post(to, digest).calldata().clone())
            .await?;
        let inclusion = inclusion_of(&receipt)?;
        let found = decode_event::<Cairn::Posted>(&receipt, inclusion.tx, "Posted")?;
        Ok(PostedLog {
            event: found.event,
            inclusion,
            log_index: found.log_index,
        })
    }

    /// The contract's EIP-712 domain, for signing posts and registrations.
    pub async fn domain(&self) -> Result<alloy::sol_types::Eip712Domain, ChainError> {
        let chain_id = self
            .provider
            .get_chain_id()
            .await
            .map_err(ChainError::from_transport)?;
        Ok(cairn_contracts::eip712::domain(chain_id, self.address()))
    }

    /// The nonce `owner`'s next signed key registration must carry.
    pub async fn registration_nonce(&self, owner: Address) -> Result<U256, ChainError> {
        self.contract
            .registrationNonces(owner)
            .call()
            .await
            .map_err(ChainError::from_contract)
    }

    /// Submits `owner`'s signed key registration, paying the gas as relayer.
    pub async fn register_key_by_sig(
        &self,
        owner: Address,
        key: &PublicKey,
        deadline: U256,
        signature: &Signature,
    ) -> Result<(RegisteredKey, Inclusion), ChainError> {
        let call = self.contract.registerKeyBySig(
            owner,
            key.to_b256(),
            deadline,
            signature.as_bytes().into(),
        );
        let receipt = self.send(call.calldata().clone()).await?;
        registration_of(&receipt)
    }

    /// Runs [`register_key_by_sig`](Self::register_key_by_sig) without
    /// sending it: `Ok` when the contract would take it now, a decoded
    /// [`ChainError::Reverted`] when not. Costs one `eth_call`, no gas.
    pub async fn simulate_register_key_by_sig(
        &self,
        owner: Address,
        key: &PublicKey,
        deadline: U256,
        signature: &Signature,
    ) -> Result<(), ChainError> {
        let call = self.contract.registerKeyBySig(
            owner,
            key.to_b256(),
            deadline,
            signature.as_bytes().into(),
        );
        let call = match &self.signer {
            Some((from, _)) => call.from(*from),
            None => call,
        };
        call.call()
            .await
            .map(drop)
            .map_err(ChainError::from_contract)
    }

    /// Anchors a batch: its Merkle root, its manifest block's digest and its size.
    pub async fn anchor_batch(
        &self,
        root: B256,
        manifest_digest: B256,
        count: u32,
    ) -> Result<(Cairn::BatchAnchored, Inclusion), ChainError> {
        let receipt = self
            .send(
                self.contract
                    .anchorBatch(root, manifest_digest, count)
                    .calldata()
                    .clone(),
            )
            .await?;
        let inclusion = inclusion_of(&receipt)?;
        let event = decode_event::<Cairn::BatchAnchored>(&receipt, inclusion.tx, "BatchAnchored")?;
        Ok((event.event, inclusion))
    }

    /// Every `Posted` event that anchors `digest`, oldest first.
    pub async fn posts_with_digest(&self, digest: B256) -> Result<Vec<PostedLog>, ChainError> {
        let filter = Filter::new()
            .address(self.address())
            .event_signature(Cairn::Posted::SIGNATURE_HASH)
            .topic3(digest)
            .from_block(0);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(ChainError::from_transport)?;
        logs.into_iter()
            .map(|log| {
                let tx = log.transaction_hash.unwrap_or_default();
                let inclusion = Inclusion {
                    tx,
                    block: log.block_number.unwrap_or_default(),
                    block_hash: log.block_hash.unwrap_or_default(),
                    gas_used: 0,
                };
                let log_index = log.log_index.unwrap_or_default();
                let event =
                    log.log_decode::<Cairn::Posted>()
                        .map_err(|_| ChainError::MissingEvent {
                            tx,
                            event: "Posted",
                        })?;
                Ok(PostedLog {
                    event: event.inner.data,
                    inclusion,
                    log_index,
                })
            })
            .collect()
    }

    /// Sends `input` to the contract from the signer, once (see `send.rs`).
    async fn send(
        &self,
        input: alloy::primitives::Bytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let (from, wallet) = self.signer.as_ref().ok_or(ChainError::MissingSigner)?;
        let sent = {
            let _turn = self.broadcasting.lock().await;
            let _shared = match &self.shared_turn {
                Some(turns) => Some(turns.take().await?),
                None => None,
            };
            send::broadcast_new(&self.provider, wallet, *from, Some(self.address()), input).await?
        };
        send::await_receipt(&self.provider, &sent, RECEIPT_TIMEOUT).await
    }
}

/// A provider for `rpc_url` (http or ws), able to sign when given a wallet.
async fn connect_provider(
    rpc_url: &str,
    signer: Option<PrivateKeySigner>,
) -> Result<DynProvider, ChainError> {
    // alloy's recommended fillers cache nonces: a nonce handed out to a call
    // whose gas estimation then reverts is never used, and every later
    // transaction waits forever behind the gap. Asking the node for the
    // pending nonce each time cannot drift.
    let builder = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id();
    let client = cairn_contracts::rpc::client(rpc_url)
        .await
        .map_err(ChainError::from_transport)?;
    let provider = match signer {
        Some(signer) => builder
            .wallet(EthereumWallet::from(signer))
            .connect_client(client)
            .erased(),
        None => builder.connect_client(client).erased(),
    };
    Ok(provider)
}

/// Sends `call`, waits for its receipt and fails unless it succeeded.
struct FoundEvent<E> {
    event: E,
    log_index: u64,
}

fn decode_event<E: SolEvent>(
    receipt: &TransactionReceipt,
    tx: B256,
    name: &'static str,
) -> Result<FoundEvent<E>, ChainError> {
    receipt
        .logs()
        .iter()
        .find_map(|log| {
            let decoded = log.log_decode::<E>().ok()?;
            Some(FoundEvent {
                event: decoded.inner.data,
                log_index: log.log_index.unwrap_or_default(),
            })
        })
        .ok_or(ChainError::MissingEvent { tx, event: name })
}

/// The key a successful registration transaction published.
fn registration_of(receipt: &TransactionReceipt) -> Result<(RegisteredKey, Inclusion), ChainError> {
    let inclusion = inclusion_of(receipt)?;
    let event = decode_event::<Cairn::KeyRegistered>(receipt, inclusion.tx, "KeyRegistered")?;
    let key = RegisteredKey {
        key: PublicKey::from(event.event.pubkey),
        version: event.event.version,
    };
    Ok((key, inclusion))
}

fn inclusion_of(receipt: &TransactionReceipt) -> Result<Inclusion, ChainError> {
    let tx = receipt.transaction_hash;
    Ok(Inclusion {
        tx,
        block: receipt.block_number.ok_or(ChainError::MissingEvent {
            tx,
            event: "block number",
        })?,
        block_hash: receipt.block_hash.ok_or(ChainError::MissingEvent {
            tx,
            event: "block hash",
        })?,
        gas_used: receipt.gas_used,
    })
}

/// Signs a key registration for `key` as `signer`, to be submitted by a
/// relayer with [`CairnClient::register_key_by_sig`].
pub async fn sign_key_registration<S: alloy::signers::Signer + Sync>(
    signer: &S,
    domain: &alloy::sol_types::Eip712Domain,
    key: &PublicKey,
    nonce: U256,
    deadline: U256,
) -> Result<Signature, ChainError> {
    use alloy::sol_types::SolStruct;
    let registration = cairn_contracts::eip712::RegisterKey {
        owner: signer.address(),
        pubkey: key.to_b256(),
        nonce,
        deadline,
    };
    signer
        .sign_hash(&registration.eip712_signing_hash(domain))
        .await
        .map_err(|e| ChainError::Contract(format!("signing the registration: {e}")))
}
