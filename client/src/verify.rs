//! Checking what an indexer says against the chain, through the client's
//! own RPC endpoint.
//!
//! The envelope does not authenticate its sender: anyone can seal a header
//! that names Alice. Only the chain does: a direct post's `Posted.from`, or
//! a batched post's signature, included in the Merkle root of a
//! `BatchAnchored` log. So an indexer, or anything between it and the
//! client, that says "from Alice" is believed only once the client has
//! found, itself:
//!
//! - direct post `<block hash>-<log index>`: the contract's `Posted` log at
//!   that place, in a block that is canonical on the client's chain, with
//!   the claimed sender, recipient and digest;
//! - batched post `<block hash>-<log index>-<item>`: the `BatchAnchored` log
//!   there, its manifest block (re-hashed by the store), whose posts
//!   rebuild the anchored root and count, and whose post `item` has the
//!   claimed sender, recipient, digest and nonce, a signature by that
//!   sender under the client's own EIP-712 domain, and a deadline not
//!   before the block.
//!
//! A batched post to a channel also needs what the indexer needs: a
//! members-only channel (a token-gated one takes direct posts only, whose
//! balance the contract checks), and a sender who was a member just before
//! the anchor, replayed from the chain's own `MembersChanged` logs. A
//! removed member can still seal under an old epoch key and anchor it
//! themselves; a lying indexer could list it as verified.
//!
//! A batched post is delivered once. `anchorBatch` is open to anyone, so
//! the signed posts of a public manifest can be anchored again, in a new
//! batch, until their deadline; a lying indexer would list each copy as a
//! new message. The verifier keeps the first message id it verified for
//! each (sender, nonce) and refuses any other id for the same pair.
//!
//! Anchors and manifests are cached per run, so a page of posts from one
//! batch costs one lookup; verified messages, and the (sender, nonce) pairs
//! delivered, are remembered in a file, so they cost nothing the next time
//! and a replay stays refused.

use std::{
    collections::{HashMap, HashSet},
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{Eip712Domain, SolEvent},
};
use cairn_contracts::{
    eip712::Separator,
    manifest::{self, SignedPost},
};

use crate::{
    chain::{Cairn, CairnClient, ChainError},
    store::{cid, BlobStore, StoreError},
};

/// What an indexer claims about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `<block hash>-<log index>` or `<block hash>-<log index>-<item>`.
    pub id: String,
    /// The claimed sender.
    pub from: Address,
    /// The claimed recipient (bytes32).
    pub to: B256,
    /// The claimed envelope digest.
    pub digest: B256,
    /// The claimed nonce of a batched post.
    pub nonce: Option<u64>,
}

impl Claim {
    /// The claim an indexed message makes.
    pub fn of(m: &crate::read_api::Message) -> Result<Self, VerifyError> {
        let bad = |what: &str| VerifyError::Refuted(format!("the indexer sent a malformed {what}"));
        Ok(Self {
            id: m.id.clone(),
            from: m.from.parse().map_err(|_| bad("sender"))?,
            to: m.to.parse().map_err(|_| bad("recipient"))?,
            digest: m.digest.parse().map_err(|_| bad("digest"))?,
            nonce: m.nonce,
        })
    }

    fn key(&self) -> String {
        format!("{} {} {} {}", self.id, self.digest, self.from, self.to)
    }
}

/// Why a message is not verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain or the manifest contradicts the claim: a lie, or a reorg.
    #[error("{0}")]
    Refuted(String),
    /// The chain could not be asked.
    #[error("cannot check against the chain: {0}")]
    Chain(#[from] ChainError),
    /// The manifest block could not be had (or did not match its digest).
    #[error("cannot check the batch manifest: {0}")]
    Store(#[from] StoreError),
}

impl VerifyError {
    /// Whether the evidence contradicts the claim (as opposed to being out
    /// of reach for now).
    pub fn is_refuted(&self) -> bool {
        matches!(
            self,
            Self::Refuted(_) | Self::Store(StoreError::Tampered { .. })
        )
    }
}

/// What the chain holds at one log position.
#[derive(Debug)]
enum Anchor {
    Direct(Cairn::Posted),
    Batch {
        posts: Vec<SignedPost>,
        block_time: u64,
        /// Where the anchor is: block number and log index.
        at: Place,
    },
}

/// Where a log is: block number and log index.
use cairn_contracts::signers::Place;

/// Who may post to a channel by a batch, as of one anchor.
#[derive(Debug)]
enum Posters {
    NoChannel,
    /// Token-gated: direct posts only.
    Gated,
    /// Its members just before the anchor.
    Members(std::collections::BTreeSet<Address>),
}

/// Verifies claims, caching what it learns.
#[derive(Debug)]
pub struct Verifier {
    chain: CairnClient,
    store: Arc<dyn BlobStore>,
    domain: Eip712Domain,
    anchors: Mutex<HashMap<(B256, u64), Arc<Anchor>>>,
    /// Who could post to a channel by a batch at an anchor (block, log index).
    /// Keyed by the anchor's block hash too: after a reorg, the same
    /// number is another history.
    posters: Mutex<HashMap<(B256, B256, Place), Arc<Posters>>>,
    verified: Mutex<HashSet<String>>,
    /// The message id each (sender, nonce) of a batched post was delivered as.
    delivered: Mutex<HashMap<(Address, u64), String>>,
    cache_file: Option<PathBuf>,
}

/// How a delivered (sender, nonce) is written in the cache file; verified
/// messages' lines start with their id (`0x…`), so the two cannot be taken
/// for each other.
const DELIVERED: &str = "delivered";

/// The cache file's lines: verified message keys, and delivered pairs.
fn read_cache(text: &str) -> (HashSet<String>, HashMap<(Address, u64), String>) {
    let (mut verified, mut delivered) = (HashSet::new(), HashMap::new());
    for line in text.lines() {
        let mut words = line.split(' ');
        if words.next() == Some(DELIVERED) {
            let parsed = (|| {
                let from = words.next()?.parse().ok()?;
                let nonce = words.next()?.parse().ok()?;
                Some(((from, nonce), words.next()?.to_string()))
            })();
            if let Some((pair, id)) = parsed {
                delivered.entry(pair).or_insert(id);
            }
        } else {
            verified.insert(line.to_string());
        }
    }
    (verified, delivered)
}

impl Verifier {
    /// A verifier reading the chain through `chain` and manifests from
    /// `store`, remembering verified messages in `cache_file` if given.
    pub async fn new(
        chain: CairnClient,
        store: Arc<dyn BlobStore>,
        cache_file: Option<PathBuf>,
    ) -> Result<Self, ChainError> {
        let domain = chain.domain().await?;
        let (verified, delivered) = cache_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| read_cache(&text))
            .unwrap_or_default();
        Ok(Self {
            chain,
            store,
            domain,
            anchors: Mutex::default(),
            posters: Mutex::default(),
            verified: Mutex::new(verified),
            delivered: Mutex::new(delivered),
            cache_file,
        })
    }

    /// Checks `claim` against the chain; `Ok` means every part of it holds.
    pub async fn verify(&self, claim: &Claim) -> Result<(), VerifyError> {
        let key = claim.key();
        if self.verified.lock().expect("not poisoned").contains(&key) {
            return Ok(());
        }
        let (block_hash, log_index, item) = parse_id(&claim.id)?;
        let anchor = self.anchor(block_hash, log_index, item.is_some()).await?;
        match (&*anchor, item) {
            (Anchor::Direct(posted), None) => check_direct(claim, posted)?,
            (
                Anchor::Batch {
                    posts,
                    block_time,
                    at,
                },
                Some(item),
            ) => {
                let (post, key) = check_batched(claim, posts, item, *block_time, &self.domain)?;
                if key != post.from {
                    self.check_signer(post.from, key, *at, *block_time).await?;
                }
                if cairn_contracts::eip712::is_channel(post.to) {
                    self.check_channel_poster(post.to, post.from, block_hash, *at)
                        .await?;
                }
                self.deliver_once(post.from, post.nonce, &claim.id)?;
            }
            _ => {
                return Err(VerifyError::Refuted(format!(
                    "{} names the wrong kind of anchor",
                    claim.id
                )))
            }
        }
        self.remember(key);
        Ok(())
    }

    /// Whether device key `key` signed for `from` at `at`, replayed from the
    /// chain's own signer logs (docs/SIGNERS.md).
    async fn check_signer(
        &self,
        from: Address,
        key: Address,
        at: Place,
        block_time: u64,
    ) -> Result<(), VerifyError> {
        let history = self.chain.signer_history(from, key, at.0).await?;
        cairn_contracts::signers::authorized_at(&history, at, block_time).map_err(|refusal| {
            VerifyError::Refuted(format!("signed by {key} for {from}: {refusal}"))
        })
    }

    /// Whether `from` could post to `channel` by a batch anchored at `at` in
    /// block `block_hash`: a members-only channel, of which `from` was a
    /// member just before.
    async fn check_channel_poster(
        &self,
        channel: B256,
        from: Address,
        block_hash: B256,
        at: Place,
    ) -> Result<(), VerifyError> {
        match &*self.channel_posters(channel, block_hash, at).await? {
            Posters::NoChannel => Err(VerifyError::Refuted(format!(
                "no channel {channel} on this chain"
            ))),
            Posters::Gated => Err(VerifyError::Refuted(
                "a token-gated channel takes direct posts only (the contract checks the balance)"
                    .into(),
            )),
            Posters::Members(members) if members.contains(&from) => Ok(()),
            Posters::Members(_) => Err(VerifyError::Refuted(format!(
                "{from} was not a member of the channel when the batch was anchored"
            ))),
        }
    }

    /// Who could post to `channel` by a batch anchored at `at`, asked of
    /// the chain once per anchor: a page of one batch's posts costs one
    /// lookup, not one per post.
    async fn channel_posters(
        &self,
        channel: B256,
        block_hash: B256,
        at: Place,
    ) -> Result<Arc<Posters>, VerifyError> {
        if let Some(known) = self
            .posters
            .lock()
            .expect("not poisoned")
            .get(&(channel, block_hash, at))
        {
            return Ok(known.clone());
        }
        let posters = match self.chain.channel(channel).await? {
            None => Posters::NoChannel,
            Some(state) if state.gate != crate::chain::Gate::MembersOnly => Posters::Gated,
            Some(_) => Posters::Members(self.chain.members_before(channel, at.0, at.1).await?),
        };
        let posters = Arc::new(posters);
        self.posters
            .lock()
            .expect("not poisoned")
            .insert((channel, block_hash, at), posters.clone());
        Ok(posters)
    }

    /// Records that `from`'s post `nonce` is delivered as message `id`, or
    /// refuses it when it already was, as another message.
    fn deliver_once(&self, from: Address, nonce: u64, id: &str) -> Result<(), VerifyError> {
        let mut delivered = self.delivered.lock().expect("not poisoned");
        match delivered.get(&(from, nonce)) {
            Some(first) if first == id => Ok(()),
            Some(first) => Err(VerifyError::Refuted(format!(
                "post {nonce} of {from} was already delivered as {first}: a replay"
            ))),
            None => {
                delivered.insert((from, nonce), id.to_string());
                self.append_to_cache(&format!("{DELIVERED} {from} {nonce} {id}"));
                Ok(())
            }
        }
    }

    /// What the chain itself says message `id` is: its sender, recipient,
    /// digest (and nonce), checked as [`verify`](Self::verify) checks a
    /// claim. No indexer is involved.
    pub async fn resolve(&self, id: &str) -> Result<Claim, VerifyError> {
        let (block_hash, log_index, item) = parse_id(id)?;
        let anchor = self.anchor(block_hash, log_index, item.is_some()).await?;
        let claim = match (&*anchor, item) {
            (Anchor::Direct(posted), None) => Claim {
                id: id.to_string(),
                from: posted.from,
                to: posted.to,
                digest: posted.digest,
                nonce: None,
            },
            (Anchor::Batch { posts, .. }, Some(item)) => {
                let p = usize::try_from(item)
                    .ok()
                    .and_then(|i| posts.get(i))
                    .ok_or_else(|| VerifyError::Refuted(format!("the batch has no post {item}")))?;
                Claim {
                    id: id.to_string(),
                    from: p.post.from,
                    to: p.post.to,
                    digest: p.post.digest,
                    nonce: Some(p.post.nonce),
                }
            }
            _ => {
                return Err(VerifyError::Refuted(format!(
                    "{id} names the wrong kind of anchor"
                )))
            }
        };
        self.verify(&claim).await?;
        Ok(claim)
    }

    fn remember(&self, key: String) {
        self.append_to_cache(&key);
        self.verified.lock().expect("not poisoned").insert(key);
    }

    fn append_to_cache(&self, line: &str) {
        if let Some(path) = &self.cache_file {
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(err) = appended {
                tracing::warn!(%err, path = %path.display(), "cannot remember a verified message");
            }
        }
    }

    async fn anchor(
        &self,
        block_hash: B256,
        log_index: u64,
        batched: bool,
    ) -> Result<Arc<Anchor>, VerifyError> {
        if let Some(found) = self
            .anchors
            .lock()
            .expect("not poisoned")
            .get(&(block_hash, log_index))
        {
            return Ok(found.clone());
        }
        let provider = self.chain.provider();
        let filter = Filter::new()
            .address(self.chain.address())
            .at_block_hash(block_hash);
        let logs = provider
            .get_logs(&filter)
            .await
            .map_err(ChainError::from_transport)?;
        let log = logs
            .into_iter()
            .find(|l| l.log_index == Some(log_index))
            .ok_or_else(|| {
                VerifyError::Refuted(format!(
                    "the contract has no log {log_index} in block {block_hash} on this chain"
                ))
            })?;
        let number = log.block_number.unwrap_or_default();
        let canonical = provider
            .get_block_by_number(number.into())
            .await
            .map_err(ChainError::from_transport)?;
        let header = match canonical {
            Some(b) if b.header.hash == block_hash => b.header,
            _ => {
                return Err(VerifyError::Refuted(format!(
                    "block {block_hash} is not on this chain's canonical chain"
                )))
            }
        };
        let anchor = if batched {
            let event = log
                .log_decode::<Cairn::BatchAnchored>()
                .map_err(|_| VerifyError::Refuted("that log is not a BatchAnchored".into()))?
                .inner
                .data;
            let bytes = self
                .store
                .get(&cid::cid_for_digest(event.manifestDigest))
                .await?;
            let posts = manifest::decode(&bytes)
                .map_err(|e| VerifyError::Refuted(format!("the manifest does not decode: {e}")))?;
            let separator = Separator::from(&self.domain);
            let root = manifest::root(posts.iter().map(|p| p.signing_hash(separator)));
            if posts.len() != event.count as usize || root != Some(event.root) {
                return Err(VerifyError::Refuted(
                    "the manifest does not rebuild the anchored root and count".into(),
                ));
            }
            Anchor::Batch {
                posts,
                block_time: header.timestamp,
                at: (number, log_index),
            }
        } else {
            if log.topic0() != Some(&Cairn::Posted::SIGNATURE_HASH) {
                return Err(VerifyError::Refuted("that log is not a Posted".into()));
            }
            let posted = log
                .log_decode::<Cairn::Posted>()
                .map_err(|_| VerifyError::Refuted("that log is not a Posted".into()))?
                .inner
                .data;
            Anchor::Direct(posted)
        };
        let anchor = Arc::new(anchor);
        self.anchors
            .lock()
            .expect("not poisoned")
            .insert((block_hash, log_index), anchor.clone());
        Ok(anchor)
    }
}

/// `<hash>-<log index>[-<item>]`, parsed as the indexer parses it.
fn parse_id(id: &str) -> Result<(B256, u64, Option<u64>), VerifyError> {
    cairn_proto::ids::parse_log_id(id, 1)
        .map(|(hash, log_index, rest)| (hash, log_index, rest.first().copied()))
        .ok_or_else(|| VerifyError::Refuted(format!("{id:?} is not a message id")))
}

fn check_direct(claim: &Claim, posted: &Cairn::Posted) -> Result<(), VerifyError> {
    if posted.from != claim.from || posted.to != claim.to || posted.digest != claim.digest {
        return Err(VerifyError::Refuted(format!(
            "the chain says {} posted {} to {}, not {} posting {} to {}",
            posted.from, posted.digest, posted.to, claim.from, claim.digest, claim.to
        )));
    }
    Ok(())
}

/// Checks `claim` against post `item` of an anchored batch; returns the
/// post and who signed it (`from`, or a device key still to be judged).
fn check_batched<'a>(
    claim: &Claim,
    posts: &'a [SignedPost],
    item: u64,
    block_time: u64,
    domain: &Eip712Domain,
) -> Result<(&'a cairn_contracts::eip712::Post, Address), VerifyError> {
    let p = usize::try_from(item)
        .ok()
        .and_then(|i| posts.get(i))
        .ok_or_else(|| VerifyError::Refuted(format!("the batch has no post {item}")))?;
    let post = &p.post;
    if post.from != claim.from
        || post.to != claim.to
        || post.digest != claim.digest
        || claim.nonce.is_some_and(|n| n != post.nonce)
    {
        return Err(VerifyError::Refuted(format!(
            "the manifest says post {item} is {} to {} ({}), not what the indexer claims",
            post.from, post.to, post.digest
        )));
    }
    let (_, signer) = p
        .signer(domain)
        .map_err(|_| VerifyError::Refuted(format!("post {item} has a malformed signature")))?;
    if post.deadline < block_time {
        return Err(VerifyError::Refuted(format!(
            "post {item} was anchored after its deadline"
        )));
    }
    Ok((post, signer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_strictly() {
        let h = B256::repeat_byte(1);
        assert_eq!(parse_id(&format!("{h}-3")).unwrap(), (h, 3, None));
        assert_eq!(parse_id(&format!("{h}-3-7")).unwrap(), (h, 3, Some(7)));
        for bad in [
            "",
            "0x12-1",
            &format!("{h}"),
            &format!("{h}-1-2-3"),
            &format!("{h}-x"),
        ] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cache_keeps_verified_keys_and_the_first_delivery_of_each_nonce() {
        let h = B256::repeat_byte(1);
        let a = Address::repeat_byte(0xa);
        let text = format!(
            "{h}-3 0x01 {a} 0x02\n{DELIVERED} {a} 7 {h}-3-0\n{DELIVERED} {a} 7 {h}-9-0\n{DELIVERED} junk\n"
        );
        let (verified, delivered) = read_cache(&text);
        assert_eq!(verified.len(), 1);
        assert!(verified.contains(&format!("{h}-3 0x01 {a} 0x02")));
        assert_eq!(delivered.len(), 1);
        assert_eq!(
            delivered[&(a, 7)],
            format!("{h}-3-0"),
            "the first one stays"
        );
    }

    #[test]
    fn a_direct_claim_must_match_the_log() {
        let posted = Cairn::Posted {
            from: Address::repeat_byte(1),
            to: B256::repeat_byte(2),
            digest: B256::repeat_byte(3),
            sequence: 0,
        };
        let honest = Claim {
            id: String::new(),
            from: posted.from,
            to: posted.to,
            digest: posted.digest,
            nonce: None,
        };
        assert!(check_direct(&honest, &posted).is_ok());
        let lying = Claim {
            from: Address::repeat_byte(9),
            ..honest.clone()
        };
        assert!(check_direct(&lying, &posted).unwrap_err().is_refuted());
        let swapped = Claim {
            digest: B256::repeat_byte(4),
            ..honest
        };
        assert!(check_direct(&swapped, &posted).is_err());
    }
}
