//! What the store holds and returns. Hex fields are lowercase `0x` strings,
//! exactly as stored, so the API serves them without conversion.

pub use cairn_proto::listing::{
    ConsentState, ContentStatus, EventKind, KeyRecord, Message, RowStatus, StreamEvent,
};
use serde::{Deserialize, Serialize};

/// A `Posted` log, or a valid post of a batch, decoded, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Log index.
    pub log_index: u64,
    /// The post's index in its batch manifest; `None` for a direct post.
    pub item: Option<u32>,
    /// The signed nonce of a batched post.
    pub nonce: Option<u64>,
    /// Transaction hash.
    pub tx_hash: String,
    /// Event `from`.
    pub sender: String,
    /// Event `to`.
    pub recipient: String,
    /// Event `digest`.
    pub digest: String,
    /// Event `sequence`, or the batch id.
    pub sequence: u64,
    /// CID rebuilt from the digest.
    pub cid: String,
}

/// A `KeyRegistered` log, decoded, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Log index.
    pub log_index: u64,
    /// Transaction hash.
    pub tx_hash: String,
    /// The wallet.
    pub owner: String,
    /// The key.
    pub pubkey: String,
    /// The version.
    pub version: u64,
}

/// Everything one ingestion step writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    /// New messages (duplicates are ignored).
    pub messages: Vec<NewMessage>,
    /// New key registrations (duplicates are ignored).
    pub keys: Vec<NewKey>,
    /// New batch anchors, to resolve after the commit (duplicates are ignored).
    pub batches: Vec<NewBatch>,
    /// New channel events (duplicates are ignored).
    pub channel_events: Vec<NewChannelEvent>,
    /// Blocks to record in the reorg window.
    pub blocks: Vec<crate::block::BlockRef>,
    /// The new checkpoint; it only moves forward.
    pub checkpoint: Option<crate::block::BlockRef>,
    /// Confirm every pending row at or below this block.
    pub confirm_upto: Option<u64>,
    /// Forget window blocks below this number.
    pub prune_below: u64,
}

/// A message whose content still needs checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentTask {
    /// Row id.
    pub row: i64,
    /// The anchored digest.
    pub digest: String,
    /// Checks that found the block missing so far.
    pub attempts: u32,
}

/// One content check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentCheck {
    /// Row id.
    pub row: i64,
    /// What the check found.
    pub status: ContentStatus,
    /// For a missing block: when to look again (unix ms).
    pub retry_at: u64,
}

/// A `BatchAnchored` log, decoded, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Log index.
    pub log_index: u64,
    /// Transaction hash.
    pub tx_hash: String,
    /// The block's timestamp when the node reports it with the log.
    pub block_time: Option<u64>,
    /// Who sent `anchorBatch` (not who wrote the posts).
    pub relayer: String,
    /// The Merkle root over the posts' leaves.
    pub root: String,
    /// sha2-256 of the manifest block.
    pub manifest_digest: String,
    /// How many posts the manifest lists.
    pub count: u32,
    /// The contract's batch counter.
    pub batch_id: u64,
}

/// What the check of a batch's manifest found.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::Enum,
)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Not checked yet.
    Unresolved,
    /// Checked: its valid posts are delivered, its invalid ones recorded.
    Delivered,
    /// No store had the manifest, or had other bytes; tried again later.
    Missing,
    /// The manifest can never match the anchor (format, root or count).
    Rejected,
}
impl Resolution {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unresolved => "unresolved",
            Self::Delivered => "delivered",
            Self::Missing => "missing",
            Self::Rejected => "rejected",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            Self::Unresolved,
            Self::Delivered,
            Self::Missing,
            Self::Rejected,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A stored batch anchor whose manifest still needs checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    /// Row id.
    pub row: i64,
    /// The anchor as decoded.
    pub anchor: NewBatch,
    /// Manifest fetch attempts so far.
    pub attempts: u32,
}

/// A post a batch listed that must not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidPost {
    /// Index in the manifest.
    pub item: u32,
    /// The claimed sender.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The envelope digest.
    pub digest: String,
    /// The signed nonce.
    pub nonce: u64,
    /// Stable reason: `bad_signature`, `sender_not_registered`,
    /// `nonce_replayed`, `nonce_out_of_range`, `expired`; for a channel,
    /// `unknown_channel`, `not_a_member` (at the anchor) or
    /// `gated_channel_takes_direct_posts`.
    pub reason: String,
}

/// The result of checking one batch's manifest, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// What was found.
    pub resolution: Resolution,
    /// Why a batch is missing or rejected.
    pub reason: Option<String>,
    /// Valid posts, delivered with the batch's chain status.
    pub messages: Vec<NewMessage>,
    /// Invalid posts; the store keeps the first
    /// [`INVALID_POSTS_KEPT`](crate::store::INVALID_POSTS_KEPT) and counts the rest.
    pub invalid: Vec<InvalidPost>,
    /// For a missing manifest: when to look again (unix ms).
    pub retry_at: u64,
}

/// A batch anchor as the API serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    /// `<block hash>-<log index>`; its posts are `<id>-<item>`.
    pub id: String,
    /// Who anchored it.
    pub relayer: String,
    /// The Merkle root.
    pub root: String,
    /// sha2-256 of the manifest block.
    pub manifest_digest: String,
    /// The manifest block's CID.
    pub manifest_cid: String,
    /// Posts listed.
    pub count: u32,
    /// The contract's batch counter.
    pub batch_id: u64,
    /// Block number.
    pub block: u64,
    /// Transaction hash.
    pub tx: String,
    /// Pending, confirmed or retracted.
    pub status: RowStatus,
    /// What the manifest check found.
    pub resolution: Resolution,
    /// Why it is missing or rejected.
    pub reason: Option<String>,
    /// Posts delivered.
    pub delivered: u64,
    /// Manifest fetch attempts so far.
    pub attempts: u64,
    /// Posts the manifest listed that are invalid.
    pub invalid_count: u64,
    /// The first of them, with their reasons (at most
    /// [`INVALID_POSTS_KEPT`](crate::store::INVALID_POSTS_KEPT)).
    pub invalid: Vec<InvalidPost>,
}

/// The chain and contract a database indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainIdentity {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Hash of block 0: two chains with one id (two Anvils) differ here.
    pub genesis_hash: String,
    /// The Cairn contract, lowercase hex.
    pub contract: String,
}

impl std::fmt::Display for ChainIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {} (genesis {}), contract {}",
            self.chain_id, self.genesis_hash, self.contract
        )
    }
}

/// One signed consent entry: `owner` says `state` of `peer`, at `issued_at`.
/// The node checks the signature before storing it and keeps it, so an
/// export can be checked by anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentEntry {
    /// Who decided (lowercase address).
    pub owner: String,
    /// About whom (lowercase address).
    pub peer: String,
    /// What was decided.
    pub state: ConsentState,
    /// Unix seconds; a later entry for the same peer replaces an earlier one.
    pub issued_at: u64,
    /// The owner's signature over the EIP-712 `Consent` (hex).
    pub signature: String,
}

/// Which of an inbox's messages a signed-in owner sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// From senders the owner allowed, and from the owner.
    Accepted,
    /// From senders the owner has said nothing of yet.
    Requests,
}

/// What a channel event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelChange {
    /// `ChannelCreated`.
    Created {
        /// The name.
        name: String,
        /// Who created it.
        creator: String,
        /// 0 members only, 1 ERC-20, 2 ERC-721.
        gate: u8,
        /// The gate token (zero address when none).
        token: String,
        /// The least balance, in decimal.
        min_balance: String,
    },
    /// `MembersChanged`: the epoch it started, and who came and went.
    Members {
        /// The new epoch.
        epoch: u64,
        /// Added members.
        added: Vec<String>,
        /// Removed members.
        removed: Vec<String>,
    },
    /// `AdminsChanged`.
    Admins {
        /// Added admins.
        added: Vec<String>,
        /// Removed admins.
        removed: Vec<String>,
    },
    /// `EpochKeyPublished`: the root digest of the epoch's key bundle.
    Key {
        /// The epoch.
        epoch: u64,
        /// The bundle root's sha2-256.
        bundle: String,
    },
}

/// A channel event, decoded, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChannelEvent {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Log index.
    pub log_index: u64,
    /// The channel id (bytes32 hex).
    pub channel: String,
    /// What it says.
    pub change: ChannelChange,
}

/// A channel as the indexer sees it on its chain (pending changes included).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    async_graphql::SimpleObject,
)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRecord {
    /// The channel id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Who created it.
    pub creator: String,
    /// Who may post: `members`, `erc20` or `erc721` (members holding at
    /// least `minBalance` of `token`).
    pub policy: String,
    /// The gate token, if any.
    pub token: Option<String>,
    /// The least balance of the gate token, in decimal.
    pub min_balance: String,
    /// The current key epoch.
    pub epoch: u64,
    /// The root digest of the current epoch's key bundle, once an admin published it.
    pub bundle: Option<String>,
    /// The members, sorted.
    pub members: Vec<String>,
    /// The admins, sorted.
    pub admins: Vec<String>,
    /// The block it was created in.
    pub created_block: u64,
}

/// Who may post a batched post to a channel, as of the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelPosters {
    /// No channel has this id (as of the anchor).
    Unknown,
    /// The channel is token-gated: only direct posts, which the contract
    /// checks against the balance, are accepted.
    Gated,
    /// These of the asked senders were members.
    Members(std::collections::HashSet<String>),
}
