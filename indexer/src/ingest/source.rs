//! The chain as the ingester sees it: heads, block headers and logs, with
//! retries on transient failures and range splitting on refusals.

use std::{future::IntoFuture, ops::RangeInclusive, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
    transports::{http::reqwest, RpcError, TransportError, TransportErrorKind},
};
use backon::{ExponentialBuilder, Retryable};
use cairn_contracts::Cairn;

use super::ranges;
use crate::block::BlockRef;
use crate::{store::ChainIdentity, IndexerError};

/// Read access to one Cairn contract's chain.
#[derive(Debug, Clone)]
pub struct ChainSource {
    provider: DynProvider,
    contract: Address,
    retry: ExponentialBuilder,
    /// The node's HTTP endpoint, for `eth_getLogs` read with a size cap.
    http: Option<(reqwest::Client, reqwest::Url)>,
}

/// Bytes of `eth_getLogs` answer allowed per log of the cap: a `Posted`
/// log is about 750 bytes of JSON, a `BatchAnchored` one about 1 KiB.
const BYTES_PER_LOG: usize = 2048;

/// Signer events by (wallet, key) pair, each at its place.
pub type SignerEvents = std::collections::HashMap<
    (Address, Address),
    Vec<(
        cairn_contracts::signers::Place,
        cairn_contracts::signers::SignerEvent,
    )>,
>;

/// What a capped `eth_getLogs` found.
enum Fetched {
    Logs(Vec<Log>),
    /// The answer was larger than the cap allows; it was not read.
    TooLarge,
}

fn is_transient(e: &TransportError) -> bool {
    match e {
        RpcError::Transport(_) => true,
        RpcError::ErrorResp(payload) => matches!(payload.code, 429 | -32005 | -32603),
        _ => false,
    }
}

impl ChainSource {
    /// Connects to `rpc_url` (http or ws).
    pub async fn connect(rpc_url: &str, contract: Address) -> Result<Self, IndexerError> {
        let client = cairn_contracts::rpc::client(rpc_url)
            .await
            .map_err(IndexerError::Rpc)?;
        let provider = ProviderBuilder::new().connect_client(client).erased();
        let http = match rpc_url.parse::<reqwest::Url>() {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some((
                cairn_contracts::rpc::http_client().map_err(IndexerError::Rpc)?,
                url,
            )),
            _ => None,
        };
        let retry = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(6)
            .with_jitter();
        Ok(Self {
            provider,
            contract,
            retry,
            http,
        })
    }

    /// The provider, for subscriptions.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    async fn call<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, IndexerError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, TransportError>>,
    {
        f.retry(self.retry)
            .when(is_transient)
            .notify(|err, after| tracing::warn!(%err, ?after, what, "RPC call failed; retrying"))
            .await
            .map_err(IndexerError::Rpc)
    }

    /// The latest block number, asked once with a 5 s timeout (no retries):
    /// for the health poll, which must report an outage, not ride it out.
    pub async fn head_once(&self) -> Result<u64, String> {
        match tokio::time::timeout(Duration::from_secs(5), self.provider.get_block_number()).await {
            Ok(Ok(head)) => Ok(head),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("eth_blockNumber timed out after 5 s".into()),
        }
    }

    /// What this source serves: chain id, genesis hash and contract.
    pub async fn identity(&self) -> Result<ChainIdentity, IndexerError> {
        Ok(ChainIdentity {
            chain_id: self.chain_id().await?,
            genesis_hash: self.header(0).await?.hash.to_string(),
            contract: cairn_proto::ids::lowercase(self.contract),
        })
    }

    /// Checks that the contract is a Cairn contract: it has code, and its
    /// EIP-712 domain (EIP-5267) is Cairn's at that address. Without this a
    /// wrong `--contract` indexes nothing without a word.
    pub async fn check_contract(&self) -> Result<(), IndexerError> {
        let not_cairn = |reason: String| IndexerError::NotCairn {
            contract: self.contract,
            reason,
        };
        let code = self
            .call("eth_getCode", || {
                self.provider.get_code_at(self.contract).into_future()
            })
            .await?;
        if code.is_empty() {
            return Err(not_cairn("there is no code at that address".into()));
        }
        let domain = Cairn::new(self.contract, &self.provider)
            .eip712Domain()
            .call()
            .await;
        match domain {
            Ok(d) if d.name == "Cairn" && d.verifyingContract == self.contract => Ok(()),
            Ok(d) => Err(not_cairn(format!("its EIP-712 domain is {:?}", d.name))),
            Err(alloy::contract::Error::TransportError(RpcError::Transport(e))) => {
                Err(IndexerError::Rpc(RpcError::Transport(e)))
            }
            Err(_) => Err(not_cairn("it does not answer eip712Domain()".into())),
        }
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, IndexerError> {
        self.call("eth_blockNumber", || self.provider.get_block_number())
            .await
    }

    /// The canonical block at `number`.
    pub async fn header(&self, number: u64) -> Result<BlockRef, IndexerError> {
        let block = self
            .call("eth_getBlockByNumber", || {
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .into_future()
            })
            .await?
            .ok_or(IndexerError::MissingBlock(number))?;
        Ok(BlockRef {
            number,
            hash: block.header.hash,
            parent_hash: block.header.parent_hash,
        })
    }

    fn filter(&self) -> Filter {
        Filter::new().address(self.contract).event_signature(vec![
            Cairn::Posted::SIGNATURE_HASH,
            Cairn::KeyRegistered::SIGNATURE_HASH,
            Cairn::BatchAnchored::SIGNATURE_HASH,
            Cairn::ChannelCreated::SIGNATURE_HASH,
            Cairn::MembersChanged::SIGNATURE_HASH,
            Cairn::AdminsChanged::SIGNATURE_HASH,
            Cairn::EpochKeyPublished::SIGNATURE_HASH,
        ])
    }

    /// The timestamp of block `hash`: a batched post's deadline is checked against it.
    pub async fn block_time(&self, hash: B256) -> Result<u64, IndexerError> {
        let block = self
            .call("eth_getBlockByHash", || {
                self.provider.get_block_by_hash(hash).into_future()
            })
            .await?
            .ok_or(IndexerError::MissingBlockHash(hash))?;
        Ok(block.header.timestamp)
    }

    /// The chain id, which the EIP-712 domain of batched posts binds.
    pub async fn chain_id(&self) -> Result<u64, IndexerError> {
        self.call("eth_chainId", || self.provider.get_chain_id())
            .await
    }

    /// The contract address.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The contract's logs in block `hash` (EIP-234): they belong to exactly
    /// that block, even if it has just been orphaned.
    pub async fn logs_in_block(&self, hash: B256) -> Result<Vec<Log>, IndexerError> {
        let filter = self.filter().at_block_hash(hash);
        self.call("eth_getLogs", || self.provider.get_logs(&filter))
            .await
    }

    /// The signer events of the pairs `(wallet, key)` up to block
    /// `to_block`, by pair, with their places. Asked in chunks of 128
    /// pairs: a forged manifest of 4,096 posts by as many keys costs 32
    /// calls, not 4,096.
    pub async fn signer_events(
        &self,
        pairs: &[(Address, Address)],
        to_block: u64,
    ) -> Result<SignerEvents, IndexerError> {
        use cairn_contracts::signers::{decode_signer_log, signer_filter};
        let mut out = SignerEvents::new();
        for chunk in pairs.chunks(128) {
            let owners: Vec<Address> = chunk.iter().map(|p| p.0).collect();
            let keys: Vec<Address> = chunk.iter().map(|p| p.1).collect();
            let filter = signer_filter(self.contract, &owners, &keys, to_block);
            let logs = self
                .call("eth_getLogs", || self.provider.get_logs(&filter))
                .await?;
            for (pair, place, event) in logs.iter().filter_map(decode_signer_log) {
                out.entry(pair).or_default().push((place, event));
            }
        }
        Ok(out)
    }

    /// The contract's logs from the start of `range` on, at most `cap` of
    /// them unless a single block holds more: a range that the provider
    /// refuses as too large, whose answer is larger than `cap` logs can be,
    /// or that returns more than `cap` logs, is cut to its lower half and
    /// asked again. Over HTTP the answer is read as it arrives and dropped
    /// once past the size of `cap` logs, so memory stays bounded however
    /// dense the range. Returns the last block covered (at most the end of
    /// `range`) and its logs, in chain order.
    pub async fn logs_from(
        &self,
        range: RangeInclusive<u64>,
        cap: usize,
    ) -> Result<(u64, Vec<Log>), IndexerError> {
        let mut range = range;
        loop {
            let filter = self
                .filter()
                .from_block(*range.start())
                .to_block(*range.end());
            let single = range.start() >= range.end();
            // A single block is read whole, however large.
            let max_bytes = if single {
                usize::MAX
            } else {
                cap.saturating_mul(BYTES_PER_LOG)
            };
            match self.fetch_logs(&filter, max_bytes).await {
                Ok(Fetched::Logs(logs)) if logs.len() <= cap || single => {
                    return Ok((*range.end(), logs))
                }
                Ok(Fetched::Logs(logs)) => {
                    tracing::debug!(
                        ?range,
                        logs = logs.len(),
                        cap,
                        "too many logs; halving the range"
                    );
                }
                Ok(Fetched::TooLarge) => {
                    tracing::debug!(?range, max_bytes, "answer too large; halving the range");
                }
                Err(IndexerError::Rpc(RpcError::ErrorResp(e)))
                    if !single && ranges::is_range_too_large(e.code, &e.message) =>
                {
                    tracing::debug!(?range, "provider refused the range; halving it");
                }
                Err(e) => return Err(e),
            }
            range = ranges::split(&range)
                .expect("a range of several blocks splits")
                .0;
        }
    }

    /// `eth_getLogs` for `filter`, with retries; over HTTP, an answer
    /// longer than `max_bytes` is dropped unread.
    async fn fetch_logs(&self, filter: &Filter, max_bytes: usize) -> Result<Fetched, IndexerError> {
        let Some((client, url)) = &self.http else {
            return self
                .call("eth_getLogs", || self.provider.get_logs(filter))
                .await
                .map(Fetched::Logs);
        };
        self.call("eth_getLogs", || async move {
            let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [filter]});
            let transport = |e: reqwest::Error| TransportErrorKind::custom(e);
            let mut response = client.post(url.clone()).json(&body).send().await.map_err(transport)?;
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(TransportErrorKind::http_error(429, String::new()));
            }
            let mut answer = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if answer.len() + chunk.len() > max_bytes {
                    return Ok(Fetched::TooLarge);
                }
                answer.extend_from_slice(&chunk);
            }
            #[derive(serde::Deserialize)]
            struct Reply {
                result: Option<Vec<Log>>,
                error: Option<alloy::rpc::json_rpc::ErrorPayload>,
            }
            let reply: Reply = serde_json::from_slice(&answer)
                .map_err(|e| TransportErrorKind::custom_str(&format!("eth_getLogs answer: {e}")))?;
            match (reply.result, reply.error) {
                (_, Some(error)) => Err(RpcError::ErrorResp(error)),
                (Some(logs), None) => Ok(Fetched::Logs(logs)),
                (None, None) => Err(TransportErrorKind::custom_str("eth_getLogs answered nothing")),
            }
        })
        .await
    }
}
