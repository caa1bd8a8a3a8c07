//! The channel flows of a [`Messenger`]: rotate a channel's key (an admin),
//! post to a channel, and open a channel's messages (a member).
//!
//! Everything a member needs is checked against the chain: the epoch and
//! the key bundle's root digest come from the contract and its logs, and
//! every block is re-hashed. A channel whose current epoch has no bundle
//! says so; nothing is ever sent in the clear.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy::primitives::{Address, B256};
use bytes::Bytes;
use zeroize::Zeroizing;

use super::bundle::{self, BundleError};
use crate::{
    envelope::{self, Body, Header, OpenedChannel},
    messenger::{unix_now, Messenger, SendStep, Sent},
    store::cid,
    Error, Result,
};

/// Why a channel flow cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// No channel has this id.
    #[error("no channel {0} on this contract")]
    Unknown(B256),
    /// The key bundle is missing, malformed, or not for this reader.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// No admin has published the key of this epoch yet.
    #[error("channel {channel} has no key for epoch {epoch} yet: an admin must run `cairn channel rotate {channel}`; nothing was sent")]
    NoKey {
        /// The channel.
        channel: B256,
        /// The epoch without a bundle.
        epoch: u64,
    },
    /// The wallet may not post to the channel now.
    #[error("{account} may not post to channel {channel}: not a member, or too little of its gate token")]
    NotAllowed {
        /// The channel.
        channel: B256,
        /// The wallet.
        account: Address,
    },
    /// The message names another channel or sender than its anchor.
    #[error("the envelope claims {claimed}, the chain says {anchored}")]
    Mismatch {
        /// What the envelope says.
        claimed: String,
        /// What the chain says.
        anchored: String,
    },
}

/// What a rotation published.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The epoch whose key was published.
    pub epoch: u64,
    /// The root block's digest, as anchored.
    pub root: B256,
    /// The members the bundle holds a key for.
    pub members: usize,
    /// Members with no registered messaging key: they cannot read this
    /// epoch. Once they register, rotate again.
    pub without_key: Vec<Address>,
    /// Members whose registered key is weak (a low-order point): left out,
    /// as nothing can be wrapped for it. Once they register a real key,
    /// rotate again.
    pub weak_key: Vec<Address>,
    /// Whether the rotation started a new epoch, because the current one
    /// had its key already (an epoch has one bundle).
    pub new_epoch: bool,
    /// Root and parts, in bytes.
    pub size: usize,
    /// Its transaction's gas.
    pub gas_used: u64,
}

/// Epoch keys this messenger unwrapped, by the bundle root they came from:
/// a channel's posts of one epoch need the bundle fetched and opened once.
/// Keyed by the anchored root, so a bundle an admin publishes again for the
/// same epoch is fetched anew.
#[derive(Clone, Default)]
pub(crate) struct EpochKeys(Arc<Mutex<HashMap<B256, Zeroizing<[u8; 32]>>>>);

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.0.lock().map_or(0, |k| k.len());
        write!(f, "EpochKeys({cached} cached)")
    }
}

impl Messenger {
    /// The channel's state on chain, or `Unknown`.
    async fn channel_state(&self, channel: B256) -> Result<crate::chain::ChannelState> {
        Ok(self
            .chain()
            .channel(channel)
            .await?
            .ok_or(ChannelError::Unknown(channel))?)
    }

    /// Publishes a fresh random key for the channel's current epoch,
    /// wrapped for every current member's registered key. Admins only. An
    /// epoch has one key bundle (the contract refuses a second, which would
    /// strand the epoch's earlier posts), so when the current epoch has one
    /// already, this starts a new epoch first.
    pub async fn rotate_channel(&self, channel: B256) -> Result<Rotation> {
        let mut state = self.channel_state(channel).await?;
        let new_epoch = self
            .chain()
            .epoch_bundle(channel, state.epoch)
            .await?
            .is_some();
        if new_epoch {
            state.epoch = self.chain().new_epoch(channel).await?.0;
        }
        let members = self.chain().members(channel).await?;
        let mut keyed = Vec::with_capacity(members.len());
        let mut without_key = Vec::new();
        for member in members {
            match self.chain().key_of(member).await? {
                Some(key) => keyed.push((member, key.key)),
                None => without_key.push(member),
            }
        }
        let mut epoch_key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, epoch_key.as_mut());
        let built =
            bundle::build(channel, state.epoch, &epoch_key, &keyed).map_err(ChannelError::from)?;
        let mut size = built.root.len();
        for part in &built.parts {
            size += part.len();
            self.put(Bytes::from(part.clone())).await?;
        }
        let root = self.put(Bytes::from(built.root)).await?;
        let root = cid::digest_of(&root)?;
        let inclusion = self
            .chain()
            .publish_epoch_key(channel, state.epoch, root)
            .await?;
        Ok(Rotation {
            epoch: state.epoch,
            root,
            members: keyed.len() - built.weak.len(),
            without_key,
            weak_key: built.weak,
            new_epoch,
            size,
            gas_used: inclusion.gas_used,
        })
    }

    /// The key of `epoch`, unwrapped from its anchored bundle with this
    /// wallet's messaging key (or an earlier one).
    pub async fn epoch_key(&self, channel: B256, epoch: u64) -> Result<Zeroizing<[u8; 32]>> {
        let root_digest = self
            .chain()
            .epoch_bundle(channel, epoch)
            .await?
            .ok_or(ChannelError::NoKey { channel, epoch })?;
        if let Some(key) = self
            .epoch_keys()
            .0
            .lock()
            .expect("not poisoned")
            .get(&root_digest)
        {
            return Ok(key.clone());
        }
        let root = bundle::parse_root(&self.block(root_digest).await?, channel, epoch)
            .map_err(ChannelError::from)?;
        let me = self.wallet();
        let part_digest = root
            .part_for(me)
            .ok_or(ChannelError::Bundle(BundleError::NotAMember(me)))?;
        let part = self.block(part_digest).await?;
        let mut last = BundleError::NotAMember(me);
        for key in self.keys() {
            match bundle::open_part(&part, channel, epoch, me, key) {
                Ok(epoch_key) => {
                    self.epoch_keys()
                        .0
                        .lock()
                        .expect("not poisoned")
                        .insert(root_digest, epoch_key.clone());
                    return Ok(epoch_key);
                }
                Err(e) => last = e,
            }
        }
        Err(ChannelError::Bundle(last).into())
    }

    /// Seals `body` under the channel's current epoch key, stores it and
    /// anchors it with a direct post (which the contract accepts from
    /// members only).
    pub async fn post_to_channel(
        &self,
        channel: B256,
        body: &Body,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Sent> {
        let bytes = self.seal_for_channel(channel, body, progress).await?;
        self.store_and_anchor(channel, bytes, progress).await
    }

    /// Seals `body` under the channel's current epoch key, after checking
    /// that this wallet may post there now; stores and anchors nothing (a
    /// gateway can, for a signed post).
    pub async fn seal_for_channel(
        &self,
        channel: B256,
        body: &Body,
        progress: &(dyn Fn(SendStep) + Sync),
    ) -> Result<Bytes> {
        progress(SendStep::ResolvingKey);
        let state = self.channel_state(channel).await?;
        let me = self.wallet();
        if !self.chain().can_post(channel, me).await? {
            return Err(ChannelError::NotAllowed {
                channel,
                account: me,
            }
            .into());
        }
        let key = self.epoch_key(channel, state.epoch).await?;
        progress(SendStep::Sealing);
        let header = Header {
            sender: me,
            recipient: channel,
            timestamp: unix_now(),
            reply_to: None,
        };
        Ok(Bytes::from(envelope::seal_channel(
            &header,
            state.epoch,
            &key,
            body,
        )?))
    }

    /// Fetches and opens the channel message with `digest`, which the chain
    /// (or an indexer, checked against it) says `from` posted to `channel`.
    pub async fn open_channel_message(
        &self,
        digest: B256,
        from: Address,
        channel: B256,
    ) -> Result<OpenedChannel> {
        let bytes = self.block(digest).await?;
        let (header, epoch) = envelope::peek_channel(&bytes)?;
        if header.recipient != channel || header.sender != from {
            return Err(ChannelError::Mismatch {
                claimed: format!("{} in {}", header.sender, header.recipient),
                anchored: format!("{from} in {channel}"),
            }
            .into());
        }
        let key = self.epoch_key(channel, epoch).await?;
        Ok(envelope::open_channel(&bytes, &key)?)
    }
}

impl From<ChannelError> for Error {
    fn from(e: ChannelError) -> Self {
        Error::Channel(e)
    }
}
