//! Batched posts: from a `BatchAnchored` log to delivered messages.
//!
//! A batch anchor is stored like any row, then checked here: the manifest
//! block is fetched and re-hashed, its posts' leaves must rebuild the
//! anchored root and count, and then each post stands alone. It is delivered
//! only when its signature recovers to its `from`, `from` had a registered
//! key by the anchoring block, its deadline is not before that block's
//! timestamp, and its (from, nonce) was never delivered before. A post to a
//! channel also needs its sender to be a member just before the anchor (as
//! the indexed membership events say); a token-gated channel takes only
//! direct posts, whose balance the contract checks. Every other
//! post is recorded invalid with its reason; one bad post never holds back
//! the rest. A manifest no store has (or whose bytes do not hash to the
//! anchor) is recorded `missing` and tried again on its own [`Backoff`]
//! schedule; one that can never match (bad format, root or count) is
//! `rejected`.
//!
//! `anchorBatch` is permissionless, so anyone can anchor manifests that
//! exist nowhere. The check therefore runs in its own task, beside
//! ingestion: confirmations never wait on the block store. Lookups are
//! local to the node's own store (never a network search), and a forged
//! manifest costs its signature checks once and at most
//! [`INVALID_POSTS_KEPT`](crate::store::INVALID_POSTS_KEPT) rows.
//!
//! Valid posts then follow the same path as direct posts: they take the
//! batch's chain status, are confirmed and pushed with it, and a reorg
//! rolls them back or retracts them with it.
//!
//! Signatures are recovered on every core (rayon): recovery is the costly
//! step, and a batch holds thousands of posts.

use std::{collections::HashSet, sync::Arc, time::Duration};

use alloy::{primitives::B256, sol_types::Eip712Domain};
use cairn_contracts::{
    eip712::{is_channel, Separator},
    manifest::{self, SignedPost},
};
use cairn_proto::ids::lowercase;
use rayon::prelude::*;

use tokio::sync::Notify;

use crate::{
    block::cid_for_digest,
    content::{classify, BlockSource},
    ingest::ChainSource,
    retry::{now_ms, Backoff},
    store::{
        BatchOutcome, BatchTask, ChannelPosters, ContentStatus, InvalidPost, NewMessage,
        Resolution, Store,
    },
    IndexerError,
};

/// Pause after a failed round: 0.4 s doubling to 6.4 s.
const FAILURE_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(400),
    cap: Duration::from_millis(6_400),
};

/// Batches checked per round.
const ROUND: u32 = 64;

/// A post's verdict before the store lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Signature and deadline hold; registration and nonce still to check.
    Plausible,
    /// As `Plausible`, but signed by this device key, which must also be
    /// authorized for `from` at the anchor (docs/SIGNERS.md).
    Delegated(alloy::primitives::Address),
    /// Invalid for this stable reason.
    Invalid(&'static str),
}

/// The pure part of a batch check: decode, rebuild the root, verify every
/// signature (in parallel) and every deadline. `Err` is why the whole
/// manifest is rejected.
fn check_manifest(
    anchor_root: B256,
    anchor_count: u32,
    block_time: u64,
    bytes: &[u8],
    domain: &Eip712Domain,
) -> Result<Vec<(SignedPost, Verdict)>, String> {
    let posts = manifest::decode(bytes).map_err(|e| e.to_string())?;
    if posts.len() != anchor_count as usize {
        return Err(format!(
            "the manifest lists {} posts but the anchor says {anchor_count}",
            posts.len()
        ));
    }
    let separator = Separator::from(domain);
    let checked: Vec<(B256, Verdict)> = posts
        .par_iter()
        .map(|p| match p.signer(separator) {
            Err(_) => (p.signing_hash(separator), Verdict::Invalid("bad_signature")),
            // The store keeps nonces as signed 64-bit integers.
            Ok((hash, _)) if i64::try_from(p.post.nonce).is_err() => {
                (hash, Verdict::Invalid("nonce_out_of_range"))
            }
            Ok((hash, _)) if p.post.deadline < block_time => (hash, Verdict::Invalid("expired")),
            Ok((hash, signer)) if signer == p.post.from => (hash, Verdict::Plausible),
            Ok((hash, signer)) => (hash, Verdict::Delegated(signer)),
        })
        .collect();
    let root = manifest::root(checked.iter().map(|(h, _)| *h)).expect("count checked non-zero");
    if root != anchor_root {
        return Err(format!(
            "the manifest's posts hash to root {root}, not the anchored {anchor_root}"
        ));
    }
    Ok(posts
        .into_iter()
        .zip(checked)
        .map(|(p, (_, v))| (p, v))
        .collect())
}

/// Turns each post signed by a device key into `Plausible` when the chain's
/// signer events say the key signed for its `from` at the anchor, or into
/// `Invalid` with the reason. One `eth_getLogs` per 128 distinct pairs.
async fn judge_signers(
    source: &ChainSource,
    mut checked: Vec<(SignedPost, Verdict)>,
    at: cairn_contracts::signers::Place,
    block_time: u64,
) -> Result<Vec<(SignedPost, Verdict)>, IndexerError> {
    let pairs: Vec<_> = checked
        .iter()
        .filter_map(|(p, v)| match v {
            Verdict::Delegated(key) => Some((p.post.from, *key)),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if pairs.is_empty() {
        return Ok(checked);
    }
    let events = source.signer_events(&pairs, at.0).await?;
    for (p, verdict) in &mut checked {
        if let Verdict::Delegated(key) = *verdict {
            let history = events.get(&(p.post.from, key)).map_or(&[][..], |e| e);
            *verdict = match cairn_contracts::signers::authorized_at(history, at, block_time) {
                Ok(()) => Verdict::Plausible,
                Err(refusal) => Verdict::Invalid(refusal.code()),
            };
        }
    }
    Ok(checked)
}

/// What [`audit_manifest`] found: posts whose signature and deadline hold
/// (registration and nonce are checked against the store afterwards), and
/// posts invalid on their face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestAudit {
    /// Signature and deadline hold.
    pub plausible: usize,
    /// Invalid on their face.
    pub invalid: usize,
}

/// The pure, CPU-bound part of a batch check, for benchmarks: decode,
/// recover every signature, rebuild the root. `Err` is why the whole
/// manifest would be rejected.
pub fn audit_manifest(
    anchor_root: B256,
    anchor_count: u32,
    block_time: u64,
    bytes: &[u8],
    domain: &Eip712Domain,
) -> Result<ManifestAudit, String> {
    let checked = check_manifest(anchor_root, anchor_count, block_time, bytes, domain)?;
    let plausible = checked
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Plausible | Verdict::Delegated(_)))
        .count();
    Ok(ManifestAudit {
        plausible,
        invalid: checked.len() - plausible,
    })
}

/// For each channel the batch posts to, who of its senders may post there as
/// of the anchor: members of a members-only channel. A token-gated channel
/// takes direct posts only, which the contract checks against the balance.
async fn channel_posters(
    store: &Arc<dyn Store>,
    checked: &[(SignedPost, Verdict)],
    anchor: &crate::store::NewBatch,
) -> Result<std::collections::HashMap<String, ChannelPosters>, IndexerError> {
    let mut senders: std::collections::HashMap<String, HashSet<String>> = Default::default();
    for (p, _) in checked
        .iter()
        .filter(|(p, v)| *v == Verdict::Plausible && is_channel(p.post.to))
    {
        senders
            .entry(p.post.to.to_string())
            .or_default()
            .insert(lowercase(p.post.from));
    }
    let mut out = std::collections::HashMap::new();
    for (channel, senders) in senders {
        let senders: Vec<String> = senders.into_iter().collect();
        let posters = store
            .channel_posters(&channel, &senders, anchor.block_number, anchor.log_index)
            .await?;
        out.insert(channel, posters);
    }
    Ok(out)
}

/// Checks batch manifests beside ingestion.
#[derive(Debug)]
pub struct Resolver {
    /// The indexer's store.
    pub store: Arc<dyn Store>,
    /// Where manifests are fetched (locally).
    pub blocks: Arc<dyn BlockSource>,
    /// For block timestamps the log did not carry.
    pub source: ChainSource,
    /// The contract's EIP-712 domain.
    pub domain: Eip712Domain,
    /// Retry schedule of missing manifests.
    pub missing: Backoff,
    /// Told when posts of a confirmed batch were pushed.
    pub fanout: Arc<crate::fanout::Fanout>,
    /// Woken by ingestion when new anchors arrive.
    pub wake: Arc<Notify>,
    /// The longest wait between rounds.
    pub interval: Duration,
}

impl Resolver {
    /// Runs until `shutdown` resolves; failures are logged and retried.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            let pause = match self.round().await {
                Ok(n) if n == ROUND as usize => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    self.interval
                }
                Err(err) => {
                    failures += 1;
                    tracing::error!(%err, "batch check failed; retrying");
                    FAILURE_BACKOFF.delay(failures - 1)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Checks one round of due batches and records each outcome; returns
    /// how many it took.
    pub async fn round(&self) -> Result<usize, IndexerError> {
        let tasks = self.store.batch_tasks(ROUND, now_ms()).await?;
        let taken = tasks.len();
        let mut delivered = false;
        for task in tasks {
            let mut outcome =
                check(&self.store, &self.blocks, &self.source, &self.domain, &task).await?;
            if outcome.resolution == Resolution::Missing {
                outcome.retry_at = self.missing.next_at(now_ms(), task.attempts);
            }
            tracing::info!(
                batch = task.anchor.batch_id,
                block = task.anchor.block_number,
                resolution = outcome.resolution.as_str(),
                delivered = outcome.messages.len(),
                invalid = outcome.invalid.len(),
                reason = outcome.reason.as_deref().unwrap_or(""),
                "batch checked"
            );
            metrics::counter!("cairn_indexer_batches_total", "resolution" => outcome.resolution.as_str())
                .increment(1);
            metrics::counter!("cairn_indexer_batched_posts_total", "result" => "delivered")
                .increment(outcome.messages.len() as u64);
            metrics::counter!("cairn_indexer_batched_posts_total", "result" => "invalid")
                .increment(outcome.invalid.len() as u64);
            delivered |= !outcome.messages.is_empty();
            self.store.resolve_batch(task.row, &outcome).await?;
        }
        if delivered {
            self.fanout.wake();
        }
        Ok(taken)
    }
}

async fn check(
    store: &Arc<dyn Store>,
    blocks: &Arc<dyn BlockSource>,
    source: &ChainSource,
    domain: &Eip712Domain,
    task: &BatchTask,
) -> Result<BatchOutcome, IndexerError> {
    let a = &task.anchor;
    let outcome = |resolution, reason: String| BatchOutcome {
        resolution,
        reason: Some(reason),
        messages: Vec::new(),
        invalid: Vec::new(),
        retry_at: 0,
    };
    let (Ok(digest), Ok(root)) = (a.manifest_digest.parse::<B256>(), a.root.parse::<B256>()) else {
        return Ok(outcome(
            Resolution::Rejected,
            "stored anchor does not parse".into(),
        ));
    };
    let bytes = match blocks.fetch(digest).await {
        Ok(found) => match classify(digest, found.as_deref()) {
            ContentStatus::Verified => found.expect("verified bytes exist"),
            ContentStatus::Tampered => {
                return Ok(outcome(
                    Resolution::Missing,
                    "the store returned other bytes than the manifest digest names".into(),
                ))
            }
            _ => {
                return Ok(outcome(
                    Resolution::Missing,
                    format!("manifest block {} not found", cid_for_digest(digest)),
                ))
            }
        },
        Err(err) => {
            return Ok(outcome(
                Resolution::Missing,
                format!("block store unavailable: {err}"),
            ))
        }
    };
    let block_time = match a.block_time {
        Some(t) => t,
        None => {
            let hash = a.block_hash.parse().unwrap_or_default();
            source.block_time(hash).await?
        }
    };
    let (count, domain_owned) = (a.count, domain.clone());
    let checked = tokio::task::spawn_blocking(move || {
        check_manifest(root, count, block_time, &bytes, &domain_owned)
    })
    .await
    .expect("the manifest check does not panic");
    let checked = match checked {
        Ok(c) => c,
        Err(reason) => return Ok(outcome(Resolution::Rejected, reason)),
    };
    let checked = judge_signers(source, checked, (a.block_number, a.log_index), block_time).await?;

    let senders: Vec<String> = checked
        .iter()
        .map(|(p, _)| lowercase(p.post.from))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let registered = store.registered(&senders, a.block_number).await?;
    let pairs: Vec<(String, u64)> = checked
        .iter()
        .filter(|(_, v)| *v == Verdict::Plausible)
        .map(|(p, _)| (lowercase(p.post.from), p.post.nonce))
        .collect();
    let mut used = store.used_nonces(&pairs).await?;
    let channels = channel_posters(store, &checked, a).await?;

    let mut result = BatchOutcome {
        resolution: Resolution::Delivered,
        reason: None,
        messages: Vec::new(),
        invalid: Vec::new(),
        retry_at: 0,
    };
    for (item, (p, verdict)) in checked.into_iter().enumerate() {
        let from = lowercase(p.post.from);
        let reason = match verdict {
            Verdict::Invalid(reason) => Some(reason),
            // `judge_signers` judged every device key; never deliver one unjudged.
            Verdict::Delegated(_) => Some("signer_not_authorized"),
            Verdict::Plausible if !registered.contains(&from) => Some("sender_not_registered"),
            Verdict::Plausible if is_channel(p.post.to) => match channels
                .get(&p.post.to.to_string())
            {
                Some(ChannelPosters::Members(members)) if members.contains(&from) => None,
                Some(ChannelPosters::Members(_)) => Some("not_a_member"),
                Some(ChannelPosters::Gated) => Some("gated_channel_takes_direct_posts"),
                Some(ChannelPosters::Unknown) | None => Some("unknown_channel"),
            }
            .or_else(|| (!used.insert((from.clone(), p.post.nonce))).then_some("nonce_replayed")),
            // `insert` is false for a nonce used before, or earlier in this batch.
            Verdict::Plausible if !used.insert((from.clone(), p.post.nonce)) => {
                Some("nonce_replayed")
            }
            Verdict::Plausible => None,
        };
        match reason {
            Some(reason) => result.invalid.push(InvalidPost {
                item: item as u32,
                from,
                to: p.post.to.to_string(),
                digest: p.post.digest.to_string(),
                nonce: p.post.nonce,
                reason: reason.into(),
            }),
            None => result.messages.push(NewMessage {
                block_number: a.block_number,
                block_hash: a.block_hash.clone(),
                log_index: a.log_index,
                item: Some(item as u32),
                nonce: Some(p.post.nonce),
                tx_hash: a.tx_hash.clone(),
                sender: from,
                recipient: p.post.to.to_string(),
                digest: p.post.digest.to_string(),
                sequence: a.batch_id,
                cid: cid_for_digest(p.post.digest),
            }),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::Address,
        signers::{local::PrivateKeySigner, SignerSync},
        sol_types::SolStruct,
    };
    use cairn_contracts::eip712::{domain, Post};

    use super::*;

    fn signed(
        signer: &PrivateKeySigner,
        nonce: u64,
        deadline: u64,
        d: &Eip712Domain,
    ) -> SignedPost {
        let post = Post {
            from: signer.address(),
            to: B256::repeat_byte(9),
            digest: B256::repeat_byte(nonce as u8),
            nonce,
            deadline,
        };
        let signature = Some(signer.sign_hash_sync(&post.eip712_signing_hash(d)).unwrap());
        SignedPost { post, signature }
    }

    fn root_of(posts: &[SignedPost], d: &Eip712Domain) -> B256 {
        manifest::root(posts.iter().map(|p| p.signing_hash(d))).unwrap()
    }

    #[test]
    fn judges_each_post_alone() {
        let d = domain(31337, Address::repeat_byte(1));
        let (alice, mallory) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        // Signed by Mallory's key for Alice: a device key whose
        // authorization `judge_signers` still has to find on chain.
        let mut by_other_key = signed(&mallory, 2, 100, &d);
        by_other_key.post.from = alice.address();
        by_other_key.signature = Some(
            mallory
                .sign_hash_sync(&by_other_key.signing_hash(&d))
                .unwrap(),
        );
        let mut unsigned = signed(&alice, 4, 100, &d);
        unsigned.signature = None;
        let posts = vec![
            signed(&alice, 1, 100, &d),
            by_other_key,
            signed(&alice, 3, 49, &d),
            unsigned,
        ];
        let bytes = manifest::encode(&posts).unwrap();
        let verdicts: Vec<_> = check_manifest(root_of(&posts, &d), 4, 50, &bytes, &d)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Plausible,
                Verdict::Delegated(mallory.address()),
                Verdict::Invalid("expired"),
                Verdict::Invalid("bad_signature")
            ]
        );
    }

    #[test]
    fn rejects_a_manifest_that_does_not_match_its_anchor() {
        let d = domain(31337, Address::repeat_byte(1));
        let alice = PrivateKeySigner::random();
        let posts = vec![signed(&alice, 1, 100, &d), signed(&alice, 2, 100, &d)];
        let bytes = manifest::encode(&posts).unwrap();
        let root = root_of(&posts, &d);
        assert!(check_manifest(root, 2, 0, &bytes, &d).is_ok());
        assert!(check_manifest(root, 3, 0, &bytes, &d)
            .unwrap_err()
            .contains("lists 2 posts"));
        assert!(check_manifest(B256::ZERO, 2, 0, &bytes, &d)
            .unwrap_err()
            .contains("root"));
        assert!(check_manifest(root, 2, 0, b"garbage", &d).is_err());
        // The same posts under another contract's domain hash to another root.
        let other = domain(31337, Address::repeat_byte(2));
        assert!(check_manifest(root, 2, 0, &bytes, &other).is_err());
    }
}
