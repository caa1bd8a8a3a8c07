//! A client of a gateway, and the check of its proofs against the chain.
//!
//! [`verify_proof`] trusts nothing the gateway said: it recomputes the post
//! id under the caller's own EIP-712 domain (its chain id and contract, not
//! the proof's), recovers the signer, rebuilds the Merkle root from the
//! proof, and finds that root in a `BatchAnchored` log of the named
//! transaction, read from the caller's own RPC endpoint, in a block that is
//! still canonical.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    signers::Signer,
    sol_types::{Eip712Domain, SolEvent, SolStruct},
};
use backon::{ExponentialBuilder, Retryable};
use cairn_contracts::{
    eip712::Post,
    manifest::SignedPost,
    merkle::{leaf_hash, verify},
};
use serde::de::DeserializeOwned;

use super::{Accepted, PostRequest, Proof, ProofStatus, Submission};
use crate::chain::{Cairn, CairnClient, ChainError};

/// Errors talking to a gateway.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The gateway could not be reached.
    #[error("gateway at {url} is unreachable: {}", causes(source))]
    Unreachable {
        /// The gateway URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The gateway answered with an error.
    #[error("gateway refused ({status} {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// What it said.
        message: String,
    },
    /// The post was not anchored in time.
    #[error("post {id} is still {status:?} after {waited:?}")]
    NotAnchored {
        /// The post id.
        id: B256,
        /// Its last status.
        status: ProofStatus,
        /// How long we waited.
        waited: Duration,
    },
    /// Signing failed.
    #[error("signing the post: {0}")]
    Signing(String),
}

impl ClientError {
    /// Whether the same request may succeed later: the gateway was
    /// unreachable, timed out, was rate limiting or failing (5xx). A TLS
    /// certificate this machine does not trust is no passing trouble.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { source, .. } => !tls_rejected(source),
            Self::Refused { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }
}

/// `error` and its causes, each said once (reqwest's own message names
/// none: "error sending request" hides "invalid peer certificate").
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let cause = e.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
        next = e.source();
    }
    text
}

/// Whether `error` comes from a TLS handshake that failed (an untrusted or
/// wrong certificate), which sending again will not mend.
pub fn tls_rejected(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(mut e) = next {
        // io::Error hides its inner error from `source` (and may wrap
        // another io::Error): look inside.
        while let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            e = inner;
        }
        if e.is::<rustls::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A client of one gateway.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    base: String,
    http: reqwest::Client,
}

impl GatewayClient {
    /// A client for the gateway at `base_url`, e.g. `http://127.0.0.1:8080`.
    pub fn new(base_url: &str) -> Self {
        let http = crate::roots::trust_local_roots(reqwest::Client::builder())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client with static settings builds");
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(unreachable);
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(ClientError::Refused {
            status: status.as_u16(),
            code: body["code"].as_str().unwrap_or("unknown").to_string(),
            message: body["message"].as_str().unwrap_or("").to_string(),
        })
    }

    /// The gateway's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Submits one post, once. Whether it arrived when this fails is for
    /// [`super::delivery::Delivery`] to find out, by its id.
    pub async fn submit_once(&self, post: &PostRequest) -> Result<B256, ClientError> {
        let request = self.http.post(format!("{}/v1/posts", self.base)).json(post);
        let mut ids = self.answer::<Accepted>(request).await?.ids;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Submits posts, all or none; returns their ids. A submission that may
    /// not have arrived (the gateway unreachable, 408, 429 or 5xx) is sent
    /// again, the same signed posts: the gateway accepts a post it already
    /// holds unchanged, so nothing is anchored twice.
    pub async fn submit(&self, posts: Vec<PostRequest>) -> Result<Vec<B256>, ClientError> {
        let body = match posts.len() {
            1 => Submission::One(posts.into_iter().next().expect("one post")),
            _ => Submission::Many { posts },
        };
        let submit = || {
            let request = self
                .http
                .post(format!("{}/v1/posts", self.base))
                .json(&body);
            async move { self.answer::<Accepted>(request).await }
        };
        let accepted = submit
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(250))
                    .with_max_delay(Duration::from_secs(8))
                    .with_max_times(6),
            )
            .when(ClientError::is_transient)
            .notify(|e, delay| tracing::warn!(error = %e, ?delay, "submission failed; sending it again"))
            .await?;
        Ok(accepted.ids)
    }

    /// Asks the gateway to pay for `owner`'s signed key registration.
    pub async fn register(
        &self,
        request: &super::RegistrationRequest,
    ) -> Result<super::Registered, ClientError> {
        self.answer(
            self.http
                .post(format!("{}/v1/registrations", self.base))
                .json(request),
        )
        .await
    }

    /// Asks the gateway to pay for a wallet's signed authorization of a
    /// device key.
    pub async fn authorize_signer(
        &self,
        request: &super::SignerRequest,
    ) -> Result<super::SignerChanged, ClientError> {
        self.answer(
            self.http
                .post(format!("{}/v1/signers", self.base))
                .json(request),
        )
        .await
    }

    /// Asks the gateway to pay for a signed revocation of a device key.
    pub async fn revoke_signer(
        &self,
        request: &super::RevocationRequest,
    ) -> Result<super::SignerChanged, ClientError> {
        self.answer(
            self.http
                .post(format!("{}/v1/signers/revoke", self.base))
                .json(request),
        )
        .await
    }

    /// The gateway's proof for post `id`.
    pub async fn proof(&self, id: B256) -> Result<Proof, ClientError> {
        self.answer(self.http.get(format!("{}/v1/proofs/{id}", self.base)))
            .await
    }

    /// Polls the proof of `id` until it is `anchored` (or, with
    /// `mined_is_enough`, mined), calling `progress` with each status. A
    /// rate-limited poll (429) is retried after a pause.
    pub async fn wait(
        &self,
        id: B256,
        timeout: Duration,
        mined_is_enough: bool,
        progress: &(dyn Fn(ProofStatus) + Sync),
    ) -> Result<Proof, ClientError> {
        let started = std::time::Instant::now();
        loop {
            let proof = match self.proof(id).await {
                // Rate limited: back off and ask again, within the timeout.
                Err(ClientError::Refused { status: 429, .. }) if started.elapsed() < timeout => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                other => other?,
            };
            progress(proof.status);
            let done = match proof.status {
                ProofStatus::Anchored => true,
                ProofStatus::Mined => mined_is_enough,
                _ => false,
            };
            if done || proof.status == ProofStatus::Expired || started.elapsed() >= timeout {
                if done {
                    return Ok(proof);
                }
                return Err(ClientError::NotAnchored {
                    id,
                    status: proof.status,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Signs a post from `signer` itself under `domain`.
pub async fn sign_post<S: Signer + Sync>(
    signer: &S,
    domain: &Eip712Domain,
    to: B256,
    digest: B256,
    nonce: u64,
    deadline: u64,
) -> Result<SignedPost, ClientError> {
    sign_post_for(
        signer,
        signer.address(),
        domain,
        to,
        digest,
        nonce,
        deadline,
    )
    .await
}

/// Signs a post from `from` with `signer`: the wallet itself, or a device
/// key authorized for it (docs/SIGNERS.md).
pub async fn sign_post_for<S: Signer + Sync>(
    signer: &S,
    from: alloy::primitives::Address,
    domain: &Eip712Domain,
    to: B256,
    digest: B256,
    nonce: u64,
    deadline: u64,
) -> Result<SignedPost, ClientError> {
    let post = Post {
        from,
        to,
        digest,
        nonce,
        deadline,
    };
    let signature = signer
        .sign_hash(&post.eip712_signing_hash(domain))
        .await
        .map_err(|e| ClientError::Signing(e.to_string()))?;
    Ok(SignedPost {
        post,
        signature: Some(signature),
    })
}

/// A fresh nonce: microseconds since the epoch. Strictly increasing for one
/// sender on one device without any state, and below 2^53, so JSON clients
/// in any language read it exactly.
pub fn fresh_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

/// Why a proof does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The gateway has not anchored it yet.
    #[error("the post is {0:?}, not anchored yet")]
    NotAnchored(ProofStatus),
    /// The post does not hash to the id asked about (under our domain).
    #[error("the post hashes to {actual}, not {expected}, under this chain's Cairn domain")]
    WrongId {
        /// The id asked about.
        expected: B256,
        /// What the post hashes to.
        actual: B256,
    },
    /// The signature is not from the post's sender.
    #[error("the signature is not from {0}")]
    BadSignature(Address),
    /// The Merkle proof does not rebuild the claimed root.
    #[error("the inclusion proof does not rebuild root {0}")]
    BadInclusion(B256),
    /// The transaction is unknown, failed, or anchors no such batch.
    #[error("transaction {tx}: {reason}")]
    NotOnChain {
        /// The transaction.
        tx: B256,
        /// What is wrong.
        reason: String,
    },
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A proof that held against the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The post id.
    pub id: B256,
    /// The sender, whose signature was checked.
    pub from: Address,
    /// The batch root found on chain.
    pub root: B256,
    /// The leaf index and batch size.
    pub index: u32,
    /// Posts in the batch.
    pub count: u32,
    /// The anchoring transaction.
    pub tx: B256,
    /// Its block.
    pub block: u64,
    /// Blocks from the anchor's block to the head, inclusive.
    pub confirmations: u64,
    /// The manifest's digest as anchored.
    pub manifest_digest: B256,
}

/// Checks `proof` for post `id` against the chain behind `chain`, trusting
/// nothing the gateway said.
pub async fn verify_proof(
    chain: &CairnClient,
    id: B256,
    proof: &Proof,
) -> Result<Verified, ProofError> {
    let (Some(root), Some(index), Some(count), Some(tx)) =
        (proof.root, proof.index, proof.count, proof.tx)
    else {
        return Err(ProofError::NotAnchored(proof.status));
    };
    let domain = chain.domain().await?;
    let p = &proof.post;
    let signed = p.signed();
    let actual = signed.signing_hash(&domain);
    if actual != id {
        return Err(ProofError::WrongId {
            expected: id,
            actual,
        });
    }
    signed
        .verify(&domain)
        .map_err(|_| ProofError::BadSignature(p.from))?;
    if !verify(
        leaf_hash(id),
        index as usize,
        count as usize,
        &proof.proof,
        root,
    ) {
        return Err(ProofError::BadInclusion(root));
    }
    let provider = chain.provider();
    let not_on_chain = |reason: String| ProofError::NotOnChain { tx, reason };
    let receipt = provider
        .get_transaction_receipt(tx)
        .await
        .map_err(ChainError::from_transport)?
        .ok_or_else(|| not_on_chain("not mined on this chain".into()))?;
    if !receipt.status() {
        return Err(not_on_chain("it reverted".into()));
    }
    let anchored = receipt
        .logs()
        .iter()
        .filter(|l| l.address() == chain.address())
        .filter(|l| l.topic0() == Some(&Cairn::BatchAnchored::SIGNATURE_HASH))
        .filter_map(|l| l.log_decode::<Cairn::BatchAnchored>().ok())
        .map(|l| l.inner.data)
        .find(|e| e.root == root && e.count == count)
        .ok_or_else(|| {
            not_on_chain(format!(
                "no BatchAnchored log of {} with root {root} and {count} posts",
                chain.address()
            ))
        })?;
    let (Some(block), Some(block_hash)) = (receipt.block_number, receipt.block_hash) else {
        return Err(not_on_chain("the receipt names no block".into()));
    };
    let canonical = provider
        .get_block_by_number(block.into())
        .await
        .map_err(ChainError::from_transport)?
        .map(|b| b.header.hash);
    if canonical != Some(block_hash) {
        return Err(not_on_chain(format!(
            "its block {block} is no longer canonical"
        )));
    }
    let head = provider
        .get_block_number()
        .await
        .map_err(ChainError::from_transport)?;
    Ok(Verified {
        id,
        from: p.from,
        root,
        index,
        count,
        tx,
        block,
        confirmations: head.saturating_sub(block) + 1,
        manifest_digest: anchored.manifestDigest,
    })
}
