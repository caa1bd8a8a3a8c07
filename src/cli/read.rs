//! `cairn read`: fetch, verify and decrypt one message.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::{
    args::{print, spinner, GlobalArgs},
    terminal,
};
use cairn::store::cid;

/// Arguments of `cairn read`.
#[derive(Debug, Args)]
#[group(id = "which", required = true, multiple = false)]
pub(crate) struct ReadArgs {
    /// The envelope block's CID (as `cairn send` printed it), for a direct post.
    #[arg(long, value_parser = parse_cid, group = "which")]
    cid: Option<cid::Cid>,
    /// A message id (`<block hash>-<log index>[-<item>]`, as `inbox` lists it), direct or batched.
    #[arg(long, group = "which")]
    id: Option<String>,
    /// Save attachments into this directory.
    #[arg(long)]
    save_to: Option<PathBuf>,
}

fn parse_cid(s: &str) -> Result<cid::Cid, String> {
    cid::parse(s).map_err(|e| e.to_string())
}

impl ReadArgs {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let messenger = global.messenger(false).await?;
        let bar = spinner(global.json, "fetching and verifying");
        let read = match (&self.cid, &self.id) {
            (Some(cid), _) => messenger
                .read(cid)
                .await
                .map_err(anyhow::Error::from)
                .map(|r| {
                    let (tx, block) = (r.anchor.inclusion.tx.to_string(), r.anchor.inclusion.block);
                    (
                        r.opened,
                        format!("block {block} tx {tx}"),
                        json!({"tx": tx, "block": block}),
                    )
                }),
            (None, Some(id)) => read_by_id(global, &messenger, id).await,
            (None, None) => unreachable!("clap requires --cid or --id"),
        };
        bar.finish_and_clear();
        let (opened, place, anchor) = read?;
        let (header, body) = (&opened.header, &opened.body);
        if let Some(dir) = &self.save_to {
            for a in &body.attachments {
                // Only the final path component: a sender cannot write outside `dir`.
                let name = std::path::Path::new(&a.name)
                    .file_name()
                    .context("attachment has no file name")?;
                std::fs::write(dir.join(name), &a.data)
                    .with_context(|| format!("saving {}", a.name))?;
            }
        }
        let mut out = json!({
            "from": header.sender, "to": header.recipient, "timestamp": header.timestamp,
            "replyTo": header.reply_to,
            "text": body.text, "kind": format!("{:?}", body.kind),
            "attachments": body.attachments.iter().map(|a| json!({"name": a.name, "size": a.data.len()})).collect::<Vec<_>>(),
        });
        if let (Some(out), serde_json::Value::Object(anchor)) = (out.as_object_mut(), anchor) {
            out.extend(anchor);
        }
        print(global.json, out, || {
            let files: String = body
                .attachments
                .iter()
                .map(|a| {
                    let name = terminal::inline(&a.name);
                    format!("\nattachment {name} ({} bytes)", a.data.len())
                })
                .collect();
            let text = terminal::framed("text", &body.text);
            format!(
                "from  {}\nat    {} (unix)\n{place}\n\n{text}{files}",
                header.sender, header.timestamp
            )
        });
        Ok(())
    }
}

/// A message by id, direct or batched: the chain says who sent what (no
/// indexer involved), and the envelope must agree.
async fn read_by_id(
    global: &GlobalArgs,
    messenger: &cairn::messenger::Messenger,
    id: &str,
) -> anyhow::Result<(cairn::envelope::Opened, String, serde_json::Value)> {
    let claim = global
        .verifier(messenger.chain())
        .await?
        .resolve(id)
        .await?;
    let opened = messenger
        .open_anchored(&cid::cid_for_digest(claim.digest), claim.from, claim.to)
        .await?;
    let place = match claim.nonce {
        Some(nonce) => format!("batched post {id} (nonce {nonce})"),
        None => format!("direct post {id}"),
    };
    Ok((opened, place, json!({"id": id})))
}
