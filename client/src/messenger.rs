//! The send and read flows, shared by the CLI and the tests.
//!
//! Sending checks the recipient's registered key *before* anything is stored
//! or anchored, so a message nobody can read never reaches IPFS or the chain.
//! Reading trusts nothing it fetched: the block is re-hashed against its CID,
//! the envelope is authenticated by opening it, and the envelope's claimed
//! sender and recipient must match the on-chain `Posted` event.

use std::{sync::Arc, time::SystemTime};

use alloy::primitives::{Address, B256};
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;

use crate::{
    chain::{CairnClient, PostedLog},
    crypto::SecretKey,
    envelope::{self, Body, Header, Opened},
    store::{cid, BlobStore, Cid},
    Error, Result,
};

/// A step of [`Messenger::send`], reported to a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStep {
    /// Looking up the recipient's key.
    ResolvingKey,
    /// Encrypting on this device.
    Sealing,
    /// Writing the envelope block.
    Storing,
    /// Waiting for the anchoring transaction.
    Anchoring,
}

/// A message that was stored and anchored.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The envelope block's CID.
    pub cid: Cid,
    /// Its sha2-256 digest, as anchored.
    pub digest: B256,
    /// The envelope size in bytes.
    pub size: usize,
    /// The `Posted` event.
    pub anchor: PostedLog,
}

/// A message that was fetched, verified and opened.
#[derive(Debug, Clone)]
pub struct Received {
    /// The opened envelope.
    pub opened: Opened,
    /// The on-chain anchor whose sender and recipient match the envelope.
    pub anchor: PostedLog,
}

/// One wallet's view of Cairn: its chain client, its store and its key.
#[derive(Debug, Clone)]
pub struct Messenger {
    chain: CairnClient,
    store: Arc<dyn BlobStore>,
    wallet: Address,
    key: SecretKey,
    /// Keys this wallet used before, tried when `key` is not a reader.
    old_keys: Vec<SecretKey>,
    /// Channel epoch keys already unwrapped.
    epoch_keys: crate::channel::EpochKeys,
}

impl Messenger {
    /// A messenger for `wallet`, reading with `key`.
    pub fn new(
        chain: CairnClient,
        store: Arc<dyn BlobStore>,
        wallet: Address,
        key: SecretKey,
    ) -> Self {
        Self {
            chain,
            store,
            wallet,
            key,
            old_keys: Vec::new(),
            epoch_keys: Default::default(),
        }
    }

    /// Also reads with `keys`, the wallet's earlier messaging keys, so
    /// messages sealed before a rotation stay readable.
    pub fn with_old_keys(mut self, keys: Vec<SecretKey>) -> Self {
        self.old_keys = keys;
        self
    }

    /// Opens `bytes` with the current key, or an earlier one it was sealed for.
    fn open(&self, bytes: &[u8]) -> Result<envelope::Opened> {
        let mut keys = vec![self.key.clone()];
        keys.extend(self.old_keys.iter().cloned());
        Ok(envelope::open_with_any(bytes, &keys)?)
    }

    /// The chain client.
    pub fn chain(&self) -> &CairnClient {
        &self.chain
    }

    /// Seals `body` for `to` and the sender, after checking that `to` has a
    /// registered key; stores and anchors nothing.
    pub async fn seal(
        &self,
        to: Address,
        body: &Body,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Bytes> {
        self.seal_reply(to, body, None, progress).await
    }

    /// As [`seal`](Self::seal), answering the message whose digest is
    /// `reply_to`. The envelope's header carries it, inside the AAD, so a
    /// reader knows the thread from the sender, not from any node.
    pub async fn seal_reply(
        &self,
        to: Address,
        body: &Body,
        reply_to: Option<B256>,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Bytes> {
        progress(SendStep::ResolvingKey);
        let recipient = self
            .chain
            .key_of(to)
            .await?
            .ok_or(Error::RecipientNotRegistered(to))?;
        progress(SendStep::Sealing);
        let header = Header {
            reply_to,
            ..Header::direct(self.wallet, to, unix_now())
        };
        let bytes = envelope::seal(&header, body, &[recipient.key, self.key.public_key()])?;
        Ok(Bytes::from(bytes))
    }

    /// Seals `body` for `to` and the sender, stores it and anchors its digest.
    pub async fn send(
        &self,
        to: Address,
        body: &Body,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Sent> {
        self.send_reply(to, body, None, progress).await
    }

    /// As [`send`](Self::send), answering the message whose digest is `reply_to`.
    pub async fn send_reply(
        &self,
        to: Address,
        body: &Body,
        reply_to: Option<B256>,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Sent> {
        let bytes = self.seal_reply(to, body, reply_to, progress).await?;
        self.store_and_anchor(to.into_word(), bytes, progress).await
    }

    /// Stores an envelope and anchors its digest as a post to `to`.
    pub(crate) async fn store_and_anchor(
        &self,
        to: B256,
        bytes: Bytes,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Sent> {
        let size = bytes.len();
        progress(SendStep::Storing);
        let cid = self.put(bytes).await?;
        let digest = cid::digest_of(&cid)?;
        progress(SendStep::Anchoring);
        let anchor = self.chain.post(to, digest).await?;
        Ok(Sent {
            cid,
            digest,
            size,
            anchor,
        })
    }

    /// Stores one block. Storing is idempotent (the block is named by its
    /// hash): a blip of the store is retried (five times, 0.25 s doubling to
    /// 4 s apart) rather than abandoning the message.
    pub(crate) async fn put(&self, bytes: Bytes) -> Result<Cid> {
        Ok((|| self.store.put(bytes.clone()))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(std::time::Duration::from_millis(250))
                    .with_max_delay(std::time::Duration::from_secs(4))
                    .with_max_times(5),
            )
            .when(crate::store::StoreError::is_transient)
            .notify(
                |e, after| tracing::warn!(error = %e, ?after, "block store unavailable; retrying"),
            )
            .await?)
    }

    /// Fetches (and re-hashes) the block with `digest`.
    pub(crate) async fn block(&self, digest: B256) -> Result<Bytes> {
        Ok(self.store.get(&cid::cid_for_digest(digest)).await?)
    }

    /// Channel epoch keys already unwrapped, shared by clones.
    pub(crate) fn epoch_keys(&self) -> &crate::channel::EpochKeys {
        &self.epoch_keys
    }

    /// The wallet this messenger writes as.
    pub fn wallet(&self) -> Address {
        self.wallet
    }

    /// The current messaging key and the earlier ones, newest first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.key).chain(&self.old_keys)
    }

    /// Fetches, verifies and opens the message in block `cid`, and checks it
    /// against its on-chain anchor.
    pub async fn read(&self, cid: &Cid) -> Result<Received> {
        let digest = cid::digest_of(cid)?;
        let bytes = self.store.get(cid).await?;
        let opened = self.open(&bytes)?;
        let anchors = self.chain.posts_with_digest(digest).await?;
        let anchor = matching_anchor(&opened.header, anchors)?;
        Ok(Received { opened, anchor })
    }

    /// Fetches, verifies and opens block `cid`, which an indexer reports as
    /// posted by `from` to `to`; the envelope must claim the same.
    pub async fn open_anchored(&self, cid: &Cid, from: Address, to: B256) -> Result<Opened> {
        let bytes = self.store.get(cid).await?;
        let opened = self.open(&bytes)?;
        if opened.header.sender != from || opened.header.recipient != to {
            return Err(Error::AnchorMismatch(format!(
                "the envelope claims {} to {}, the chain says {from} to {to}",
                opened.header.sender, opened.header.recipient
            )));
        }
        Ok(opened)
    }
}

/// The anchor that agrees with the envelope's authenticated header.
///
/// The envelope AEAD proves the header was sealed together with the body,
/// but anyone may seal a header that names another sender; only the chain's
/// `Posted.from` proves who posted it. An envelope anchored only by others
/// than its claimed sender is a forgery.
fn matching_anchor(header: &Header, anchors: Vec<PostedLog>) -> Result<PostedLog> {
    if anchors.is_empty() {
        return Err(Error::AnchorMismatch(
            "no Posted event anchors this block".into(),
        ));
    }
    let count = anchors.len();
    anchors
        .into_iter()
        .find(|a| a.event.from == header.sender && a.event.to == header.recipient)
        .ok_or_else(|| {
            Error::AnchorMismatch(format!(
                "{count} anchor(s) found, none posted by the claimed sender {} to {}",
                header.sender, header.recipient
            ))
        })
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
