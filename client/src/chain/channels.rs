//! Channels on chain: create them, change their members and admins, publish
//! epoch key bundles, and read their state from the contract and its logs
//! (never from an indexer, so a client can check what a node says).

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use std::collections::BTreeSet;

use cairn_contracts::Cairn;

use super::{decode_event, inclusion_of, CairnClient, ChainError, Inclusion};

/// Who may post to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Members.
    MembersOnly,
    /// Members holding at least `min` of an ERC-20 `token`.
    Erc20 {
        /// The token.
        token: Address,
        /// The least balance.
        min: U256,
    },
    /// Members holding at least `min` of an ERC-721 `token`.
    Erc721 {
        /// The token.
        token: Address,
        /// The least balance.
        min: U256,
    },
}

impl Gate {
    fn abi(self) -> (u8, Address, U256) {
        match self {
            Self::MembersOnly => (0, Address::ZERO, U256::ZERO),
            Self::Erc20 { token, min } => (1, token, min),
            Self::Erc721 { token, min } => (2, token, min),
        }
    }

    fn from_abi(kind: u8, token: Address, min: U256) -> Self {
        match kind {
            1 => Self::Erc20 { token, min },
            2 => Self::Erc721 { token, min },
            _ => Self::MembersOnly,
        }
    }
}

/// A channel's state as the contract holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    /// Who created it.
    pub creator: Address,
    /// The current key epoch.
    pub epoch: u64,
    /// How many members.
    pub members: u32,
    /// How many admins.
    pub admins: u32,
    /// Who may post.
    pub gate: Gate,
}

impl CairnClient {
    /// Creates a channel; returns its id.
    pub async fn create_channel(
        &self,
        name: &str,
        admins: &[Address],
        members: &[Address],
        gate: Gate,
    ) -> Result<(B256, Inclusion), ChainError> {
        let (kind, token, min) = gate.abi();
        let call = self.contract.createChannel(
            name.to_string(),
            admins.to_vec(),
            members.to_vec(),
            kind,
            token,
            min,
        );
        let receipt = self.send(call.calldata().clone()).await?;
        let inclusion = inclusion_of(&receipt)?;
        let created =
            decode_event::<Cairn::ChannelCreated>(&receipt, inclusion.tx, "ChannelCreated")?;
        Ok((created.event.channel, inclusion))
    }

    /// Adds and removes members in one change; returns the new epoch.
    pub async fn change_members(
        &self,
        channel: B256,
        added: &[Address],
        removed: &[Address],
    ) -> Result<(u64, Inclusion), ChainError> {
        let call = self
            .contract
            .changeMembers(channel, added.to_vec(), removed.to_vec());
        self.send_members_change(call.calldata().clone()).await
    }

    /// Starts a new key epoch with the same members (admins only); returns
    /// it. Its key is published with [`publish_epoch_key`](Self::publish_epoch_key).
    pub async fn new_epoch(&self, channel: B256) -> Result<(u64, Inclusion), ChainError> {
        let call = self.contract.newEpoch(channel);
        self.send_members_change(call.calldata().clone()).await
    }

    /// Sends a call that changes members; returns the epoch it started.
    async fn send_members_change(&self, input: Bytes) -> Result<(u64, Inclusion), ChainError> {
        let receipt = self.send(input).await?;
        let inclusion = inclusion_of(&receipt)?;
        let changed =
            decode_event::<Cairn::MembersChanged>(&receipt, inclusion.tx, "MembersChanged")?;
        Ok((changed.event.epoch, inclusion))
    }

    /// Submits a membership change signed by `admin` (an account's signature,
    /// or one its ERC-1271 wallet approves); any wallet may pay for it.
    pub async fn change_members_by_sig(
        &self,
        channel: B256,
        added: &[Address],
        removed: &[Address],
        admin: Address,
        deadline: u64,
        signature: Bytes,
    ) -> Result<(u64, Inclusion), ChainError> {
        let call = self.contract.changeMembersBySig(
            channel,
            added.to_vec(),
            removed.to_vec(),
            admin,
            U256::from(deadline),
            signature,
        );
        self.send_members_change(call.calldata().clone()).await
    }

    /// The nonce `admin`'s next signed membership change must carry.
    pub async fn admin_nonce(&self, admin: Address) -> Result<U256, ChainError> {
        self.contract
            .adminNonces(admin)
            .call()
            .await
            .map_err(ChainError::from_contract)
    }

    /// The EIP-712 digest of a membership change for `admin` to sign, at
    /// its current nonce; the contract computes the same (`hashChangeMembers`).
    pub async fn change_members_hash(
        &self,
        channel: B256,
        added: &[Address],
        removed: &[Address],
        admin: Address,
        deadline: u64,
    ) -> Result<B256, ChainError> {
        use alloy::sol_types::SolStruct;
        let change = cairn_contracts::eip712::ChangeMembers {
            channel,
            added: added.to_vec(),
            removed: removed.to_vec(),
            nonce: self.admin_nonce(admin).await?,
            deadline: U256::from(deadline),
        };
        Ok(change.eip712_signing_hash(&self.domain().await?))
    }

    /// Anchors the key bundle (its root block's digest) of the current epoch.
    pub async fn publish_epoch_key(
        &self,
        channel: B256,
        epoch: u64,
        bundle: B256,
    ) -> Result<Inclusion, ChainError> {
        let call = self.contract.publishEpochKey(channel, epoch, bundle);
        let receipt = self.send(call.calldata().clone()).await?;
        inclusion_of(&receipt)
    }

    /// The channel's state, or `None` when no channel has this id.
    pub async fn channel(&self, channel: B256) -> Result<Option<ChannelState>, ChainError> {
        let c = self
            .contract
            .channelOf(channel)
            .call()
            .await
            .map_err(ChainError::from_contract)?;
        Ok((c.epoch != 0).then(|| ChannelState {
            creator: c.creator,
            epoch: c.epoch,
            members: c.members,
            admins: c.admins,
            gate: Gate::from_abi(c.gate, c.token, c.minBalance),
        }))
    }

    /// Whether `account` may post to `channel` now.
    pub async fn can_post(&self, channel: B256, account: Address) -> Result<bool, ChainError> {
        self.contract
            .canPost(channel, account)
            .call()
            .await
            .map_err(ChainError::from_contract)
    }

    /// [`can_post`](Self::can_post) under a gas limit: `false` when the
    /// check runs out of gas (a token-gated channel's token is any code).
    pub async fn can_post_within(
        &self,
        channel: B256,
        account: Address,
        gas: u64,
    ) -> Result<bool, ChainError> {
        match self
            .contract
            .canPost(channel, account)
            .gas(gas)
            .call()
            .await
        {
            Ok(may) => Ok(may),
            Err(err) => match ChainError::from_contract(err) {
                ChainError::Reverted(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// The channel's members now, replayed from its `MembersChanged` logs.
    pub async fn members(&self, channel: B256) -> Result<Vec<Address>, ChainError> {
        let logs = self
            .logs(
                self.filter(Cairn::MembersChanged::SIGNATURE_HASH)
                    .topic1(channel),
            )
            .await?;
        let members = replay_members(&logs)?
            .pop()
            .map(|(_, m)| m)
            .unwrap_or_default();
        Ok(members.into_iter().collect())
    }

    /// The channel's members just before the log at (`block`, `log_index`),
    /// replayed from its `MembersChanged` logs up to there: who could post
    /// to it by a batch anchored at that place.
    pub async fn members_before(
        &self,
        channel: B256,
        block: u64,
        log_index: u64,
    ) -> Result<BTreeSet<Address>, ChainError> {
        let logs = self
            .logs(
                self.filter(Cairn::MembersChanged::SIGNATURE_HASH)
                    .topic1(channel)
                    .to_block(block),
            )
            .await?;
        let before: Vec<_> = logs
            .into_iter()
            .filter(|l| {
                (
                    l.block_number.unwrap_or(u64::MAX),
                    l.log_index.unwrap_or(u64::MAX),
                ) < (block, log_index)
            })
            .collect();
        Ok(replay_members(&before)?
            .pop()
            .map(|(_, m)| m)
            .unwrap_or_default())
    }

    /// The key bundle root anchored for `epoch`, if an admin published one
    /// (the contract takes one per epoch).
    pub async fn epoch_bundle(
        &self,
        channel: B256,
        epoch: u64,
    ) -> Result<Option<B256>, ChainError> {
        let filter = self
            .filter(Cairn::EpochKeyPublished::SIGNATURE_HASH)
            .topic1(channel)
            .topic2(B256::from(U256::from(epoch)));
        // The contract takes one bundle per epoch.
        self.logs(filter)
            .await?
            .first()
            .map(|log| {
                log.log_decode::<Cairn::EpochKeyPublished>()
                    .map(|l| l.inner.data.bundleDigest)
                    .map_err(|e| ChainError::Contract(e.to_string()))
            })
            .transpose()
    }

    /// The channels `account` is a member of now, with their names, in the
    /// order they first added it; from one scan of `MembersChanged` logs.
    pub async fn channels_with(&self, account: Address) -> Result<Vec<(B256, String)>, ChainError> {
        let logs = self
            .logs(self.filter(Cairn::MembersChanged::SIGNATURE_HASH))
            .await?;
        let members = replay_members(&logs)?;
        let mut named = Vec::new();
        for (id, _) in members.iter().filter(|(_, m)| m.contains(&account)) {
            named.push((*id, self.channel_name(*id).await?));
        }
        Ok(named)
    }

    /// The name a channel was created with.
    pub async fn channel_name(&self, channel: B256) -> Result<String, ChainError> {
        let logs = self
            .logs(
                self.filter(Cairn::ChannelCreated::SIGNATURE_HASH)
                    .topic1(channel),
            )
            .await?;
        let first = logs
            .first()
            .ok_or(ChainError::Contract(format!("no channel {channel}")))?;
        Ok(first
            .log_decode::<Cairn::ChannelCreated>()
            .map_err(|e| ChainError::Contract(e.to_string()))?
            .inner
            .data
            .name)
    }

    /// This contract's logs of one event, from the first block.
    fn filter(&self, signature: B256) -> Filter {
        Filter::new()
            .address(self.address())
            .event_signature(signature)
            .from_block(0)
    }

    async fn logs(&self, filter: Filter) -> Result<Vec<alloy::rpc::types::Log>, ChainError> {
        self.provider
            .get_logs(&filter)
            .await
            .map_err(ChainError::from_transport)
    }
}

/// Each channel's members after `logs` (`MembersChanged`, in chain order),
/// in the order the channels first appear.
fn replay_members(
    logs: &[alloy::rpc::types::Log],
) -> Result<Vec<(B256, BTreeSet<Address>)>, ChainError> {
    let mut channels: Vec<(B256, BTreeSet<Address>)> = Vec::new();
    let mut at = std::collections::HashMap::new();
    for log in logs {
        let changed = log
            .log_decode::<Cairn::MembersChanged>()
            .map_err(|e| ChainError::Contract(e.to_string()))?
            .inner
            .data;
        let i = *at.entry(changed.channel).or_insert_with(|| {
            channels.push((changed.channel, BTreeSet::new()));
            channels.len() - 1
        });
        let members = &mut channels[i].1;
        for removed in &changed.removed {
            members.remove(removed);
        }
        members.extend(changed.added);
    }
    Ok(channels)
}

/// A channel change an admin, or a device key of the admin's, signed for a
/// relayer to send (docs/SIGNERS.md): no wallet prompt, no ETH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelAction {
    /// A members-only channel with its signer as the only admin and a member.
    Create {
        /// The new channel's name.
        name: String,
        /// Its members besides the creator.
        members: Vec<Address>,
    },
    /// Members added and removed, bumping the epoch once.
    ChangeMembers {
        /// The channel.
        channel: B256,
        /// Added members.
        added: Vec<Address>,
        /// Removed members.
        removed: Vec<Address>,
    },
    /// A new key epoch with the same members.
    NewEpoch {
        /// The channel.
        channel: B256,
    },
    /// The key bundle of the current epoch.
    PublishEpochKey {
        /// The channel.
        channel: B256,
        /// The current epoch.
        epoch: u64,
        /// sha2-256 of the bundle's first block.
        bundle_digest: B256,
    },
}

/// What a relayed channel change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelChanged {
    /// Where it was mined.
    pub inclusion: Inclusion,
    /// The channel (new for `Create`).
    pub channel: B256,
}

impl CairnClient {
    /// Sends `action`, signed by `admin` (or its device key) until
    /// `deadline`, as relayer; with `dry_run` only asks whether the contract
    /// would take it now (`None`, one `eth_call`, no gas).
    pub async fn relay_channel_action(
        &self,
        admin: Address,
        action: &ChannelAction,
        deadline: u64,
        signature: &[u8],
        dry_run: bool,
    ) -> Result<Option<ChannelChanged>, ChainError> {
        let (deadline, sig) = (U256::from(deadline), Bytes::copy_from_slice(signature));
        let c = &self.contract;
        let (receipt, channel) = match action {
            ChannelAction::Create { name, members } => {
                let call =
                    c.createChannelBySig(admin, name.clone(), members.clone(), deadline, sig);
                (self.submit_or_simulate(call, dry_run).await?, None)
            }
            ChannelAction::ChangeMembers {
                channel,
                added,
                removed,
            } => {
                let call = c.changeMembersBySig(
                    *channel,
                    added.clone(),
                    removed.clone(),
                    admin,
                    deadline,
                    sig,
                );
                (
                    self.submit_or_simulate(call, dry_run).await?,
                    Some(*channel),
                )
            }
            ChannelAction::NewEpoch { channel } => {
                let call = c.newEpochBySig(admin, *channel, deadline, sig);
                (
                    self.submit_or_simulate(call, dry_run).await?,
                    Some(*channel),
                )
            }
            ChannelAction::PublishEpochKey {
                channel,
                epoch,
                bundle_digest,
            } => {
                let call =
                    c.publishEpochKeyBySig(admin, *channel, *epoch, *bundle_digest, deadline, sig);
                (
                    self.submit_or_simulate(call, dry_run).await?,
                    Some(*channel),
                )
            }
        };
        let Some(receipt) = receipt else {
            return Ok(None);
        };
        let inclusion = inclusion_of(&receipt)?;
        let channel = match channel {
            Some(channel) => channel,
            None => {
                decode_event::<Cairn::ChannelCreated>(&receipt, inclusion.tx, "ChannelCreated")?
                    .event
                    .channel
            }
        };
        Ok(Some(ChannelChanged { inclusion, channel }))
    }
}
