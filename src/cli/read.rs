//! `cairn read`: fetch, verify and decrypt one message.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::args::{print, spinner, GlobalArgs};
use cairn::store::cid;

/// Arguments of `cairn read`.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// The envelope block's CID (as `cairn send` printed it).
    #[arg(long, value_parser = parse_cid)]
    cid: cid::Cid,
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
        let received = messenger.read(&self.cid).await;
        bar.finish_and_clear();
        let received = received?;
        let (header, body) = (&received.opened.header, &received.opened.body);
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
        print(
            global.json,
            json!({
                "from": header.sender, "to": header.recipient, "timestamp": header.timestamp,
                "text": body.text, "kind": format!("{:?}", body.kind),
                "attachments": body.attachments.iter().map(|a| json!({"name": a.name, "size": a.data.len()})).collect::<Vec<_>>(),
                "tx": received.anchor.inclusion.tx, "block": received.anchor.inclusion.block,
            }),
            || {
                let files: String = body
                    .attachments
                    .iter()
                    .map(|a| format!("\nattachment {} ({} bytes)", a.name, a.data.len()))
                    .collect();
                format!(
                    "from  {}\nat    {} (unix)\nblock {} tx {}\n\n{}{files}",
                    header.sender,
                    header.timestamp,
                    received.anchor.inclusion.block,
                    received.anchor.inclusion.tx,
                    body.text
                )
            },
        );
        Ok(())
    }
}
