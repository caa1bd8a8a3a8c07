//! `cairn send`: encrypt, store and anchor one message.

use std::path::PathBuf;

use alloy::primitives::Address;
use clap::Args;
use serde_json::json;

use super::args::{print, read_file, spinner, GlobalArgs};
use cairn::{
    envelope::{Attachment, Body},
    messenger::SendStep,
};

/// Arguments of `cairn send`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("content").required(true).args(["message", "file"])))]
pub(crate) struct SendArgs {
    /// The recipient's wallet address.
    #[arg(long)]
    to: Address,
    /// The message text.
    #[arg(long)]
    message: Option<String>,
    /// Send a file (at most about 1 MiB) as an attachment.
    #[arg(long)]
    file: Option<PathBuf>,
}

impl SendArgs {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let body = match (&self.message, &self.file) {
            (Some(text), _) => Body::text(text.clone()),
            (None, Some(path)) => {
                let data = read_file(path)?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Body {
                    attachments: vec![Attachment {
                        name: name.clone(),
                        data,
                    }],
                    ..Body::text(name)
                }
            }
            (None, None) => unreachable!("clap requires --message or --file"),
        };
        let messenger = global.messenger(true).await?;
        let bar = spinner(global.json, "sending");
        let progress = |step: SendStep| {
            bar.set_message(match step {
                SendStep::ResolvingKey => "looking up the recipient's key",
                SendStep::Sealing => "encrypting",
                SendStep::Storing => "storing the envelope",
                SendStep::Anchoring => "anchoring on chain",
            })
        };
        let sent = messenger.send(self.to, &body, &progress).await;
        bar.finish_and_clear();
        let sent = sent?;
        let anchor = &sent.anchor;
        print(
            global.json,
            json!({
                "cid": sent.cid.to_string(), "digest": sent.digest, "size": sent.size,
                "tx": anchor.inclusion.tx, "block": anchor.inclusion.block,
                "sequence": anchor.event.sequence, "gasUsed": anchor.inclusion.gas_used,
            }),
            || {
                format!(
                    "sent {} bytes to {}\ncid      {}\ntx       {}\nblock    {}\nsequence {}",
                    sent.size,
                    self.to,
                    sent.cid,
                    anchor.inclusion.tx,
                    anchor.inclusion.block,
                    anchor.event.sequence
                )
            },
        );
        Ok(())
    }
}
