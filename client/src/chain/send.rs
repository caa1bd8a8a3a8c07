//! Sending a transaction so that a blip cannot anchor a message twice, or
//! abandon it.
//!
//! The transaction is prepared (gas estimated, where a revert shows up
//! before anything is sent; pending nonce; EIP-1559 fees) and signed once.
//! From then on only those bytes travel: a broadcast that failed, or whose
//! answer was lost, is repeated with the same bytes, and one nonce can be
//! mined only once. Transient failures (connection loss, 429, timeouts) are
//! retried with backoff while preparing, broadcasting and waiting; a revert
//! or a refusal is not.

use std::time::{Duration, Instant};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
};

use backon::{ExponentialBuilder, Retryable};

use super::ChainError;

/// Retries of a transient failure while preparing or broadcasting: five,
/// 0.25 s doubling to 4 s apart.
pub(super) fn transient_retries() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_max_times(5)
}

fn log_retry(what: &'static str) -> impl FnMut(&ChainError, Duration) {
    move |err, after| tracing::warn!(%err, what, ?after, "chain call failed; retrying")
}

/// Sends a call of `input` to `to` (or a deployment of `input` when `to` is
/// `None`) from `from`, and waits up to `timeout` for a successful receipt.
pub(super) async fn send_once(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    to: Option<Address>,
    input: Bytes,
    timeout: Duration,
) -> Result<TransactionReceipt, ChainError> {
    let sent = broadcast_new(provider, wallet, from, to, input).await?;
    await_receipt(provider, &sent, timeout).await
}

/// A transaction signed and broadcast: its hash, and its bytes to repeat.
#[derive(Debug)]
pub(super) struct Sent {
    hash: alloy::primitives::TxHash,
    raw: Vec<u8>,
}

/// Prepares, signs and broadcasts a call of `input` to `to` (a deployment
/// when `None`) from `from`. Once it returns, the node's pending nonce
/// counts the transaction, so the next one of `from` may be prepared while
/// this one waits for its block ([`await_receipt`]).
pub(super) async fn broadcast_new(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    to: Option<Address>,
    input: Bytes,
) -> Result<Sent, ChainError> {
    let request = match to {
        Some(to) => TransactionRequest::default().with_to(to).with_input(input),
        None => TransactionRequest::default().with_deploy_code(input),
    }
    .with_from(from);
    let prepare = || {
        let (request, provider) = (request.clone(), provider.clone());
        async move {
            // A revert shows up here, decoded, and costs no nonce.
            let gas = provider.estimate_gas(request.clone()).await.map_err(|e| {
                ChainError::from_contract(alloy::contract::Error::TransportError(e))
            })?;
            let nonce = provider
                .get_transaction_count(from)
                .pending()
                .await
                .map_err(ChainError::from_transport)?;
            let fees = provider
                .estimate_eip1559_fees()
                .await
                .map_err(ChainError::from_transport)?;
            let chain_id = provider
                .get_chain_id()
                .await
                .map_err(ChainError::from_transport)?;
            Ok(request
                .with_nonce(nonce)
                .with_chain_id(chain_id)
                .with_gas_limit(gas + gas / 4)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas))
        }
    };
    let signed = prepare
        .retry(transient_retries())
        .when(ChainError::is_transient)
        .notify(log_retry("preparing the transaction"))
        .await?
        .build(wallet)
        .await
        .map_err(|e| ChainError::Contract(format!("signing: {e}")))?;
    let sent = Sent {
        hash: *signed.tx_hash(),
        raw: alloy::eips::Encodable2718::encoded_2718(&signed),
    };
    (|| broadcast(provider, &sent.raw))
        .retry(transient_retries())
        .when(ChainError::is_transient)
        .notify(log_retry("broadcasting the transaction"))
        .await?;
    Ok(sent)
}

/// Sends signed bytes; a node that has them already is not an error.
async fn broadcast(provider: &DynProvider, raw: &[u8]) -> Result<(), ChainError> {
    match provider.send_raw_transaction(raw).await {
        Ok(_) => Ok(()),
        Err(err) => {
            let text = err.to_string().to_lowercase();
            // Our earlier broadcast got through after all, or is mined.
            if text.contains("already known")
                || text.contains("already imported")
                || text.contains("nonce too low")
            {
                Ok(())
            } else {
                Err(ChainError::from_transport(err))
            }
        }
    }
}

/// Waits up to `timeout` for `sent`'s successful receipt, broadcasting its
/// bytes again now and then for a node that lost them (a restart).
pub(super) async fn await_receipt(
    provider: &DynProvider,
    sent: &Sent,
    timeout: Duration,
) -> Result<TransactionReceipt, ChainError> {
    let hash = sent.hash;
    let started = Instant::now();
    let mut last_broadcast = Instant::now();
    loop {
        match provider.get_transaction_receipt(hash).await {
            Ok(Some(receipt)) if receipt.status() => return Ok(receipt),
            Ok(Some(receipt)) => {
                return Err(ChainError::TxFailed {
                    tx: receipt.transaction_hash,
                })
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, %hash, "receipt unavailable; asking again"),
        }
        if started.elapsed() > timeout {
            return Err(ChainError::NotMined(format!(
                "{hash} has no receipt after {timeout:?}"
            )));
        }
        if last_broadcast.elapsed() > Duration::from_secs(10) {
            last_broadcast = Instant::now();
            let _ = broadcast(provider, &sent.raw).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
