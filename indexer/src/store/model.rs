//! What the store holds and returns. Hex fields are lowercase `0x` strings,
//! exactly as stored, so the API serves them without conversion.

use serde::{Deserialize, Serialize};

/// Where a row stands relative to the chain head.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::Enum,
)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// Fewer than K blocks sit on top of it; a reorg may still remove it.
    Pending,
    /// K or more blocks sit on top of it; it has been pushed.
    Confirmed,
    /// It was confirmed, then a reorg deeper than K removed it.
    Retracted,
}

/// What the content check found for a message's block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::Enum,
)]
#[serde(rename_all = "lowercase")]
pub enum ContentStatus {
    /// Not checked yet.
    Unchecked,
    /// The block was found and its bytes hash to the anchored digest.
    Verified,
    /// No store had the block (checked again later).
    Missing,
    /// The block's bytes do not hash to the anchored digest. Never show it as valid.
    Tampered,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub(crate) fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
text_enum!(RowStatus { Pending => "pending", Confirmed => "confirmed", Retracted => "retracted" });
text_enum!(ContentStatus { Unchecked => "unchecked", Verified => "verified", Missing => "missing", Tampered => "tampered" });

/// An anchored message as the API serves it.
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
#[graphql(rename_fields = "camelCase")]
pub struct Message {
    /// Stable id: `<block hash>-<log index>`.
    pub id: String,
    /// The posting wallet (the event's `from`).
    pub from: String,
    /// The recipient as bytes32 (an address left-padded, or a channel id).
    pub to: String,
    /// The envelope block's CID, rebuilt from the digest.
    pub cid: String,
    /// sha2-256 of the envelope block, as anchored.
    pub digest: String,
    /// Block number.
    pub block: u64,
    /// Block hash.
    pub block_hash: String,
    /// Transaction hash.
    pub tx: String,
    /// Log index within the block.
    pub log_index: u64,
    /// The contract's post sequence number.
    pub sequence: u64,
    /// Pending, confirmed or retracted.
    pub status: RowStatus,
    /// Result of the content check.
    pub verification: ContentStatus,
    /// Pass as `after` to list what comes after this message.
    pub cursor: String,
}

/// A registered messaging key.
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
#[graphql(rename_fields = "camelCase")]
pub struct KeyRecord {
    /// The wallet.
    pub address: String,
    /// The x25519 public key.
    pub pubkey: String,
    /// 1 for the first registration, bumped by each rotation.
    pub version: u64,
    /// Block of the registration.
    pub block: u64,
    /// Transaction of the registration.
    pub tx: String,
    /// Pending or confirmed.
    pub status: RowStatus,
}

/// Kinds of stream event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::Enum,
)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A message was confirmed.
    Message,
    /// A confirmed message was removed by a reorg deeper than K.
    Retracted,
}

text_enum!(EventKind { Message => "message", Retracted => "retracted" });

/// One pushed event.
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
pub struct StreamEvent {
    /// `message` or `retracted`.
    #[serde(rename = "type")]
    #[graphql(name = "type")]
    pub kind: EventKind,
    /// Resume after this event by passing it as `after`.
    pub cursor: String,
    /// The message concerned.
    pub message: Message,
    #[serde(skip)]
    #[graphql(skip)]
    pub(crate) seq: u64,
}

impl StreamEvent {
    /// The event's position in the stream.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// A `Posted` log, decoded, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Log index.
    pub log_index: u64,
    /// Transaction hash.
    pub tx_hash: String,
    /// Event `from`.
    pub sender: String,
    /// Event `to`.
    pub recipient: String,
    /// Event `digest`.
    pub digest: String,
    /// Event `sequence`.
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
    /// Blocks to record in the reorg window.
    pub blocks: Vec<crate::ingest::BlockRef>,
    /// The new checkpoint; it only moves forward.
    pub checkpoint: Option<crate::ingest::BlockRef>,
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
}
