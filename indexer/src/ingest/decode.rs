//! Contract logs to rows.

use alloy::{primitives::B256, rpc::types::Log, sol_types::SolEvent};
use cairn_contracts::Cairn;
use cairn_proto::ids::lowercase;

use crate::{
    block::cid_for_digest,
    store::{ChannelChange, NewBatch, NewChannelEvent, NewKey, NewMessage},
};

/// The rows one set of logs yields.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub(super) messages: Vec<NewMessage>,
    pub(super) keys: Vec<NewKey>,
    pub(super) batches: Vec<NewBatch>,
    pub(super) channel_events: Vec<NewChannelEvent>,
}

/// Decodes the contract's logs. Logs the node marks removed are skipped, and
/// so are repeats of a (block hash, log index) already seen: some providers
/// return duplicates, and one INSERT may not name a row twice.
pub(super) fn decode_logs(logs: &[Log]) -> Decoded {
    let Decoded {
        mut messages,
        mut keys,
        mut batches,
        mut channel_events,
    } = Decoded::default();
    let mut seen = std::collections::HashSet::new();
    for log in logs.iter().filter(|l| !l.removed) {
        let (Some(block_number), Some(block_hash), Some(log_index), Some(tx)) = (
            log.block_number,
            log.block_hash,
            log.log_index,
            log.transaction_hash,
        ) else {
            tracing::warn!(?log, "log without block coordinates (pending?); skipped");
            continue;
        };
        if !seen.insert((block_hash, log_index)) {
            continue;
        }
        let (block_hash, tx_hash) = (block_hash.to_string(), tx.to_string());
        match log.topic0() {
            Some(&Cairn::Posted::SIGNATURE_HASH) => match log.log_decode::<Cairn::Posted>() {
                Ok(e) => {
                    let e = e.inner.data;
                    messages.push(NewMessage {
                        block_number,
                        block_hash,
                        log_index,
                        item: None,
                        nonce: None,
                        tx_hash,
                        sender: lowercase(e.from),
                        recipient: e.to.to_string(),
                        digest: e.digest.to_string(),
                        sequence: e.sequence,
                        cid: cid_for_digest(e.digest),
                    });
                }
                Err(err) => {
                    tracing::warn!(%err, block_number, log_index, "undecodable Posted log; skipped")
                }
            },
            Some(&Cairn::KeyRegistered::SIGNATURE_HASH) => {
                match log.log_decode::<Cairn::KeyRegistered>() {
                    Ok(e) => {
                        let e = e.inner.data;
                        keys.push(NewKey {
                            block_number,
                            block_hash,
                            log_index,
                            tx_hash,
                            owner: lowercase(e.owner),
                            pubkey: e.pubkey.to_string(),
                            version: e.version,
                        });
                    }
                    Err(err) => {
                        tracing::warn!(%err, block_number, log_index, "undecodable KeyRegistered log; skipped")
                    }
                }
            }
            Some(&Cairn::BatchAnchored::SIGNATURE_HASH) => {
                match log.log_decode::<Cairn::BatchAnchored>() {
                    Ok(e) => {
                        let e = e.inner.data;
                        batches.push(NewBatch {
                            block_number,
                            block_hash,
                            log_index,
                            tx_hash,
                            block_time: log.block_timestamp,
                            relayer: lowercase(e.relayer),
                            root: e.root.to_string(),
                            manifest_digest: e.manifestDigest.to_string(),
                            count: e.count,
                            batch_id: e.batchId,
                        });
                    }
                    Err(err) => {
                        tracing::warn!(%err, block_number, log_index, "undecodable BatchAnchored log; skipped")
                    }
                }
            }
            Some(topic) => {
                if let Some((channel, change)) = channel_change(topic, log) {
                    channel_events.push(NewChannelEvent {
                        block_number,
                        block_hash,
                        log_index,
                        channel: channel.to_string(),
                        change,
                    });
                }
            }
            None => {}
        }
    }
    Decoded {
        messages,
        keys,
        batches,
        channel_events,
    }
}

/// A channel event's channel and what it says; `None` for other logs, and
/// for undecodable ones (logged).
fn channel_change(topic: &B256, log: &Log) -> Option<(B256, ChannelChange)> {
    let lower = |a: &[alloy::primitives::Address]| -> Vec<String> {
        a.iter().map(|a| lowercase(*a)).collect()
    };
    let decoded = match *topic {
        Cairn::ChannelCreated::SIGNATURE_HASH => {
            log.log_decode::<Cairn::ChannelCreated>().map(|e| {
                let e = e.inner.data;
                (
                    e.channel,
                    ChannelChange::Created {
                        name: e.name,
                        creator: lowercase(e.creator),
                        gate: e.gate,
                        token: lowercase(e.token),
                        min_balance: e.minBalance.to_string(),
                    },
                )
            })
        }
        Cairn::MembersChanged::SIGNATURE_HASH => {
            log.log_decode::<Cairn::MembersChanged>().map(|e| {
                let e = e.inner.data;
                (
                    e.channel,
                    ChannelChange::Members {
                        epoch: e.epoch,
                        added: lower(&e.added),
                        removed: lower(&e.removed),
                    },
                )
            })
        }
        Cairn::AdminsChanged::SIGNATURE_HASH => log.log_decode::<Cairn::AdminsChanged>().map(|e| {
            let e = e.inner.data;
            (
                e.channel,
                ChannelChange::Admins {
                    added: lower(&e.added),
                    removed: lower(&e.removed),
                },
            )
        }),
        Cairn::EpochKeyPublished::SIGNATURE_HASH => {
            log.log_decode::<Cairn::EpochKeyPublished>().map(|e| {
                let e = e.inner.data;
                (
                    e.channel,
                    ChannelChange::Key {
                        epoch: e.epoch,
                        bundle: e.bundleDigest.to_string(),
                    },
                )
            })
        }
        _ => return None,
    };
    decoded
        .inspect_err(|err| tracing::warn!(%err, ?log, "undecodable channel log; skipped"))
        .ok()
}
