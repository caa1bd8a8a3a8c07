//! Turning an indexed message into something to show, shared by `inbox`,
//! `sent` and `watch`: checked against the chain first, then decrypted.

use serde_json::{json, Value};

use super::terminal;
use cairn_indexer::store::ConsentState;

use cairn::{
    consent::ConsentMemory,
    messenger::Messenger,
    read_api::{ContentStatus, Message},
    store::cid,
    verify::{Claim, Verifier},
};

/// A message as the CLI shows it: decrypted, or the reason it is not.
pub(crate) struct Shown {
    /// The sender the chain proved, if it did.
    pub(crate) from: Option<alloy::primitives::Address>,
    pub(crate) json: Value,
    pub(crate) line: String,
}

impl Shown {
    /// Whether the chain-proven sender is one `memory` (this machine's own
    /// consent list) blocks: such a message is not shown, whatever the
    /// node lists or pushes.
    pub(crate) fn blocked_by(&self, memory: &ConsentMemory) -> bool {
        self.from
            .is_some_and(|from| memory.state(from) == Some(ConsentState::Block))
    }
}

/// Checks `m` against the chain with `verifier`, then decrypts it. A
/// message the chain does not confirm is never shown as from its claimed
/// sender, and its text is not shown at all.
pub(crate) async fn show(messenger: &Messenger, verifier: &Verifier, m: &Message) -> Shown {
    let place = match m.item {
        Some(item) => format!("batch {} #{item} block {}", m.sequence, m.block),
        None => format!("#{} block {}", m.sequence, m.block),
    };
    let base = json!({"id": m.id, "block": m.block, "sequence": m.sequence,
        "item": m.item, "nonce": m.nonce.map(|n| n.to_string()),
        "cid": m.cid, "status": m.status, "verification": m.verification, "cursor": m.cursor});
    let verified = match Claim::of(m) {
        Ok(claim) => verifier.verify(&claim).await.map(|()| claim),
        Err(e) => Err(e),
    };
    let claim = match verified {
        Ok(claim) => claim,
        Err(e) => {
            let (label, reason) = if e.is_refuted() {
                (
                    "FORGED OR REORGED",
                    format!("the chain contradicts the indexer: {e}"),
                )
            } else {
                ("UNVERIFIED", e.to_string())
            };
            return Shown {
                from: None,
                line: format!(
                    "{place}: [{label}: {}; claimed sender {}, text not shown]",
                    terminal::inline(&reason),
                    m.from
                ),
                json: merge(
                    base,
                    json!({"verified": false, "claimedFrom": m.from, "error": reason}),
                ),
            };
        }
    };
    let result = match m.verification {
        ContentStatus::Tampered => {
            Err("TAMPERED: the stored block does not match its anchor; not decrypted".to_string())
        }
        _ => decrypt(messenger, m, &claim).await,
    };
    let base = merge(base, json!({"from": claim.from, "verified": true}));
    let header = format!("{place} from {}", claim.from);
    match result {
        Ok((text, reply_to)) => Shown {
            from: Some(claim.from),
            line: terminal::framed(&header, &text),
            json: merge(base, json!({"text": text, "replyTo": reply_to})),
        },
        Err(reason) => Shown {
            from: Some(claim.from),
            line: format!("{header}: [{}]", terminal::inline(&reason)),
            json: merge(base, json!({"error": reason})),
        },
    }
}

/// Opens `m`'s block, whose sender and recipient the chain has confirmed:
/// its text, and the digest of the message it answers.
async fn decrypt(
    messenger: &Messenger,
    m: &Message,
    claim: &Claim,
) -> Result<(String, Option<alloy::primitives::B256>), String> {
    let cid = cid::parse(&m.cid).map_err(|e| e.to_string())?;
    if cid::digest_of(&cid).ok() != Some(claim.digest) {
        return Err("the indexer's CID does not name the anchored digest".into());
    }
    // A channel id, not a left-padded address: sealed under the epoch key.
    if cairn_contracts::eip712::is_channel(claim.to) {
        let opened = messenger
            .open_channel_message(claim.digest, claim.from, claim.to)
            .await
            .map_err(|e| e.to_string())?;
        return Ok((opened.body.text, opened.header.reply_to));
    }
    let opened = messenger
        .open_anchored(&cid, claim.from, claim.to)
        .await
        .map_err(|e| e.to_string())?;
    Ok((opened.body.text, opened.header.reply_to))
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
