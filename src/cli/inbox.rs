//! `cairn inbox`: list and decrypt the messages the indexer holds for you.

use alloy::primitives::Address;
use clap::Args;

use super::{args::GlobalArgs, decrypt::show};
use cairn::read_api::ReadApi;

/// Arguments of `cairn inbox`.
#[derive(Debug, Args)]
pub(crate) struct InboxArgs {
    /// Whose inbox (default: your wallet's). Only your own key can decrypt.
    #[arg(long)]
    address: Option<Address>,
    /// Start after this cursor (from an earlier listing).
    #[arg(long)]
    after: Option<String>,
    /// How many messages at most.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
}

impl InboxArgs {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let address = self.address.unwrap_or(wallet.address());
        let messenger = global.messenger(false).await?;
        let page = ReadApi::new(&global.api_url)
            .inbox(address, self.after.as_deref(), self.limit)
            .await?;
        let mut shown = Vec::with_capacity(page.messages.len());
        for m in &page.messages {
            shown.push(show(&messenger, m).await);
        }
        if global.json {
            let messages: Vec<_> = shown.into_iter().map(|s| s.json).collect();
            println!(
                "{}",
                serde_json::json!({"messages": messages, "next": page.next, "more": page.more})
            );
        } else {
            for s in &shown {
                println!("{}", s.line);
            }
            if shown.is_empty() {
                println!("no messages");
            }
            if page.more {
                println!(
                    "more: cairn inbox --after {}",
                    page.next.unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}
