//! What the read API lists: messages, keys, stream events and consent
//! states, as the indexer serves them and clients read them. Hex fields are
//! lowercase `0x` strings, exactly as stored.
//!
//! Both sides share these types, so a client never needs the indexer to
//! read a listing. The `schema` feature adds the OpenAPI and GraphQL
//! derives the server needs; clients leave it off.

use serde::{Deserialize, Serialize};

/// Where a row stands relative to the chain head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, async_graphql::Enum))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, async_graphql::Enum))]
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

            /// The value whose stored text is `s`.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
text_enum!(RowStatus { Pending => "pending", Confirmed => "confirmed", Retracted => "retracted" });
text_enum!(ContentStatus { Unchecked => "unchecked", Verified => "verified", Missing => "missing", Tampered => "tampered" });

/// An anchored message as the API serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, async_graphql::SimpleObject)
)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", graphql(rename_fields = "camelCase", complex))]
pub struct Message {
    /// Stable id: `<block hash>-<log index>` for a direct post,
    /// `<block hash>-<log index>-<item>` for a batched one.
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
    /// The contract's post sequence number; for a batched post, the batch id.
    pub sequence: u64,
    /// For a batched post: its index in the batch manifest.
    pub item: Option<u64>,
    /// For a batched post: the nonce its sender signed. GraphQL serves it
    /// as a string: it may exceed GraphQL's 32-bit `Int`.
    #[cfg_attr(feature = "schema", graphql(skip))]
    pub nonce: Option<u64>,
    /// Pending, confirmed or retracted.
    pub status: RowStatus,
    /// Result of the content check.
    pub verification: ContentStatus,
    /// Pass as `after` to list what comes after this message.
    pub cursor: String,
}

#[cfg(feature = "schema")]
#[async_graphql::ComplexObject]
impl Message {
    /// For a batched post: the nonce its sender signed, in decimal (a
    /// 64-bit number does not fit GraphQL's `Int`).
    async fn nonce(&self) -> Option<String> {
        self.nonce.map(|n| n.to_string())
    }
}

/// A registered messaging key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, async_graphql::SimpleObject)
)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", graphql(rename_fields = "camelCase"))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, async_graphql::Enum))]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A message was confirmed.
    Message,
    /// A confirmed message was removed by a reorg deeper than K.
    Retracted,
}

text_enum!(EventKind { Message => "message", Retracted => "retracted" });

/// One pushed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, async_graphql::SimpleObject)
)]
#[serde(rename_all = "camelCase")]
pub struct StreamEvent {
    /// `message` or `retracted`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "schema", graphql(name = "type"))]
    pub kind: EventKind,
    /// Resume after this event by passing it as `after`.
    pub cursor: String,
    /// The message concerned.
    pub message: Message,
    #[serde(skip)]
    /// The event's position in the stream; not sent over the wire.
    #[cfg_attr(feature = "schema", graphql(skip))]
    pub seq: u64,
}

impl StreamEvent {
    /// The event's position in the stream.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// What a user said of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, async_graphql::Enum))]
#[serde(rename_all = "lowercase")]
pub enum ConsentState {
    /// Messages from the peer go to the inbox, and the peer may see the
    /// user's presence.
    Allow,
    /// Messages from the peer are never pushed to the user, nor listed.
    Block,
}
text_enum!(ConsentState { Allow => "allow", Block => "block" });

impl ConsentState {
    /// The number the EIP-712 `Consent` struct carries: 1 allow, 2 block.
    pub fn code(self) -> u8 {
        match self {
            Self::Allow => 1,
            Self::Block => 2,
        }
    }

    /// The state an EIP-712 `Consent` code names.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Allow),
            2 => Some(Self::Block),
            _ => None,
        }
    }
}

/// One page of messages.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema, async_graphql::SimpleObject)
)]
pub struct Page {
    /// The messages, oldest first (newest first with `order=newest` or
    /// `before`).
    pub messages: Vec<Message>,
    /// Pass as `after` (or, newest first, as `before`) for the next page:
    /// the last message's cursor, or the cursor given when the page is
    /// empty.
    pub next: Option<String>,
    /// Whether the page was full, so more may follow.
    pub more: bool,
}
