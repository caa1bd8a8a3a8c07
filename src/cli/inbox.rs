//! `cairn inbox` and `cairn sent`: list the messages the indexer holds to
//! or from you, check each against the chain, and decrypt them.

use alloy::primitives::Address;
use clap::Args;

use super::{args::GlobalArgs, decrypt::show};
use cairn::read_api::ReadApi;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mailbox {
    /// Messages to the address.
    Inbox,
    /// Messages from the address.
    Sent,
}

/// Arguments of `cairn inbox` and `cairn sent`.
#[derive(Debug, Args)]
pub(crate) struct InboxArgs {
    /// Whose messages (default: your wallet's). Only your own key can decrypt.
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
    pub(crate) async fn run(self, global: &GlobalArgs, mailbox: Mailbox) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let address = self.address.unwrap_or(wallet.address());
        let messenger = global.messenger(false).await?;
        let verifier = global.verifier(messenger.chain()).await?;
        let api = ReadApi::new(&global.api_url);
        let after = self.after.as_deref();
        let page = match mailbox {
            Mailbox::Inbox => api.inbox(address, after, self.limit).await?,
            Mailbox::Sent => api.sent(address, after, self.limit).await?,
        };
        let mut shown = Vec::with_capacity(page.messages.len());
        for m in &page.messages {
            shown.push(show(&messenger, &verifier, m).await);
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
                let command = match mailbox {
                    Mailbox::Inbox => "inbox",
                    Mailbox::Sent => "sent",
                };
                println!(
                    "more: cairn {command} --after {}",
                    page.next.unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}
