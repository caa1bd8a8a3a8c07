//! Turning an indexed message into something to show, shared by `inbox` and `watch`.

use alloy::primitives::{Address, B256};
use serde_json::{json, Value};

use cairn::{
    messenger::Messenger,
    read_api::{ContentStatus, Message},
    store::cid,
};

/// A message as the CLI shows it: decrypted, or the reason it is not.
pub(crate) struct Shown {
    pub(crate) json: Value,
    pub(crate) line: String,
}

/// Decrypts `m` unless the indexer found its block tampered or missing.
pub(crate) async fn show(messenger: &Messenger, m: &Message) -> Shown {
    let header = match m.item {
        Some(item) => format!(
            "batch {} #{item} block {} from {}",
            m.sequence, m.block, m.from
        ),
        None => format!("#{} block {} from {}", m.sequence, m.block, m.from),
    };
    let result = match m.verification {
        ContentStatus::Tampered => {
            Err("TAMPERED: the stored block does not match its anchor; not decrypted".to_string())
        }
        _ => decrypt(messenger, m).await,
    };
    let base = json!({"id": m.id, "from": m.from, "block": m.block, "sequence": m.sequence,
        "item": m.item, "nonce": m.nonce,
        "cid": m.cid, "status": m.status, "verification": m.verification, "cursor": m.cursor});
    match result {
        Ok(text) => Shown {
            line: format!("{header}: {text}"),
            json: merge(base, json!({"text": text})),
        },
        Err(reason) => Shown {
            line: format!("{header}: [{reason}]"),
            json: merge(base, json!({"error": reason})),
        },
    }
}

async fn decrypt(messenger: &Messenger, m: &Message) -> Result<String, String> {
    let cid = cid::parse(&m.cid).map_err(|e| e.to_string())?;
    let from: Address = m
        .from
        .parse()
        .map_err(|_| format!("bad sender {}", m.from))?;
    let to: B256 =
        m.to.parse()
            .map_err(|_| format!("bad recipient {}", m.to))?;
    let opened = messenger
        .open_anchored(&cid, from, to)
        .await
        .map_err(|e| e.to_string())?;
    Ok(opened.body.text)
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
