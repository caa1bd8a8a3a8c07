//! Device signers on chain: authorizing and revoking a key that signs for
//! a wallet, and reading a pair's history to judge a post it signed
//! (docs/SIGNERS.md).

use alloy::{
    primitives::{Address, Signature, B256, U256},
    providers::Provider,
    signers::Signer,
    sol_types::{Eip712Domain, SolStruct},
};
use cairn_contracts::{
    eip712::{AuthorizeSigner, RevokeSigner},
    signers::{decode_signer_log, signer_filter, Place, SignerEvent},
};

use super::{inclusion_of, CairnClient, ChainError, Inclusion};

/// A wallet's signed authorization of a device key, for a relayer to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerAuthorization {
    /// The wallet.
    pub owner: Address,
    /// The device key's address.
    pub signer: Address,
    /// Unix seconds until which the key signs for the wallet.
    pub expiry: u64,
    /// The x25519 key to publish with it, or zero for none.
    pub messaging_key: B256,
    /// Unix seconds after which the request is void.
    pub deadline: u64,
    /// The wallet's EIP-712 signature.
    pub signature: Signature,
}

/// A signed revocation, by the wallet or by the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerRevocation {
    /// The wallet.
    pub owner: Address,
    /// The device key's address.
    pub signer: Address,
    /// Unix seconds after which the request is void.
    pub deadline: u64,
    /// The EIP-712 signature of the wallet or of the key.
    pub signature: Signature,
}

impl CairnClient {
    /// The nonce the wallet's next signed signer change must carry.
    pub async fn signer_nonce(&self, owner: Address) -> Result<U256, ChainError> {
        self.contract
            .signerNonces(owner)
            .call()
            .await
            .map_err(ChainError::from_contract)
    }

    /// Until when `signer` signs for `owner` now: zero for never or revoked.
    pub async fn signer_expiry(&self, owner: Address, signer: Address) -> Result<u64, ChainError> {
        self.contract
            .signerExpiry(owner, signer)
            .call()
            .await
            .map_err(ChainError::from_contract)
    }

    /// The chain's signer events of the pair, up to block `to_block`.
    pub async fn signer_history(
        &self,
        owner: Address,
        signer: Address,
        to_block: u64,
    ) -> Result<Vec<(Place, SignerEvent)>, ChainError> {
        let filter = signer_filter(self.address(), &[owner], &[signer], to_block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(ChainError::from_transport)?;
        Ok(logs
            .iter()
            .filter_map(decode_signer_log)
            .filter(|(pair, _, _)| *pair == (owner, signer))
            .map(|(_, place, event)| (place, event))
            .collect())
    }

    /// Authorizes `signer` for this client's own wallet, by transaction.
    pub async fn authorize_signer(
        &self,
        signer: Address,
        expiry: u64,
    ) -> Result<Inclusion, ChainError> {
        let call = self.contract.authorizeSigner(signer, expiry);
        inclusion_of(&self.send(call.calldata().clone()).await?)
    }

    /// Revokes one of this client's wallet's signers, by transaction.
    pub async fn revoke_signer(&self, signer: Address) -> Result<Inclusion, ChainError> {
        let call = self.contract.revokeSigner(signer);
        inclusion_of(&self.send(call.calldata().clone()).await?)
    }

    /// Submits a signed authorization as relayer; with `dry_run`, only asks
    /// whether the contract would take it now (one `eth_call`, no gas).
    pub async fn authorize_signer_by_sig(
        &self,
        a: &SignerAuthorization,
        dry_run: bool,
    ) -> Result<Option<Inclusion>, ChainError> {
        let call = self.contract.authorizeSignerBySig(
            a.owner,
            a.signer,
            a.expiry,
            a.messaging_key,
            U256::from(a.deadline),
            a.signature.as_bytes().into(),
        );
        self.submit_or_simulate(call, dry_run)
            .await?
            .map(|r| inclusion_of(&r))
            .transpose()
    }

    /// Submits a signed revocation as relayer; `dry_run` as above.
    pub async fn revoke_signer_by_sig(
        &self,
        r: &SignerRevocation,
        dry_run: bool,
    ) -> Result<Option<Inclusion>, ChainError> {
        let call = self.contract.revokeSignerBySig(
            r.owner,
            r.signer,
            U256::from(r.deadline),
            r.signature.as_bytes().into(),
        );
        self.submit_or_simulate(call, dry_run)
            .await?
            .map(|r| inclusion_of(&r))
            .transpose()
    }

    /// Sends `call` as relayer and returns its receipt, or with `dry_run`
    /// only asks whether the contract would take it now (`None`).
    pub(super) async fn submit_or_simulate<C: alloy::sol_types::SolCall + Send + Sync>(
        &self,
        call: alloy::contract::SolCallBuilder<&alloy::providers::DynProvider, C>,
        dry_run: bool,
    ) -> Result<Option<alloy::rpc::types::TransactionReceipt>, ChainError> {
        if !dry_run {
            return self.send(call.calldata().clone()).await.map(Some);
        }
        let call = match &self.signer {
            Some((from, _)) => call.from(*from),
            None => call,
        };
        call.call().await.map_err(ChainError::from_contract)?;
        Ok(None)
    }
}

/// Signs, as the wallet `wallet`, the authorization of device key `signer`.
pub async fn sign_signer_authorization<S: Signer + Sync>(
    wallet: &S,
    domain: &Eip712Domain,
    signer: Address,
    expiry: u64,
    messaging_key: B256,
    nonce: U256,
    deadline: u64,
) -> Result<SignerAuthorization, ChainError> {
    let typed = AuthorizeSigner {
        owner: wallet.address(),
        signer,
        expiry,
        messagingKey: messaging_key,
        nonce,
        deadline: U256::from(deadline),
    };
    let signature = wallet
        .sign_hash(&typed.eip712_signing_hash(domain))
        .await
        .map_err(|e| ChainError::Contract(format!("signing the authorization: {e}")))?;
    Ok(SignerAuthorization {
        owner: typed.owner,
        signer,
        expiry,
        messaging_key,
        deadline,
        signature,
    })
}

/// Signs, as `by` (the wallet or the key itself), the revocation of
/// `signer` of `owner`.
pub async fn sign_signer_revocation<S: Signer + Sync>(
    by: &S,
    domain: &Eip712Domain,
    owner: Address,
    signer: Address,
    nonce: U256,
    deadline: u64,
) -> Result<SignerRevocation, ChainError> {
    let typed = RevokeSigner {
        owner,
        signer,
        nonce,
        deadline: U256::from(deadline),
    };
    let signature = by
        .sign_hash(&typed.eip712_signing_hash(domain))
        .await
        .map_err(|e| ChainError::Contract(format!("signing the revocation: {e}")))?;
    Ok(SignerRevocation {
        owner,
        signer,
        deadline,
        signature,
    })
}

impl From<&SignerAuthorization> for cairn_proto::gateway::SignerRequest {
    fn from(a: &SignerAuthorization) -> Self {
        Self {
            owner: a.owner,
            signer: a.signer,
            expiry: a.expiry,
            messaging_key: a.messaging_key,
            deadline: a.deadline,
            signature: a.signature.as_bytes().to_vec().into(),
        }
    }
}

impl From<&SignerRevocation> for cairn_proto::gateway::RevocationRequest {
    fn from(r: &SignerRevocation) -> Self {
        Self {
            owner: r.owner,
            signer: r.signer,
            deadline: r.deadline,
            signature: r.signature.as_bytes().to_vec().into(),
        }
    }
}
