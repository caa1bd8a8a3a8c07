//! `cairn inbox`, `cairn requests` and `cairn sent`: list the messages the
//! indexer holds to or from you, check each against the chain, and decrypt
//! them. For your own inbox the CLI signs in with your wallet, so the node
//! applies your consent: `inbox` lists the senders you allowed, `requests`
//! the ones you have not decided on, and blocked senders are in neither.
//! Whatever a node lists, senders this machine's own consent list blocks
//! are not shown (`cairn::consent::memory`).

use alloy::primitives::Address;
use clap::Args;

use super::{args::GlobalArgs, consent::sign_in, decrypt::show};
use cairn::read_api::{ReadApi, View};

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mailbox {
    /// Messages to the address.
    Inbox,
    /// Messages to the address from senders its owner has not decided on.
    Requests,
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
        let mut api = ReadApi::new(&global.api_url);
        let after = self.after.as_deref();
        // Your own inbox or requests: signed in, and filtered by this
        // machine's consent list too, both on the chain's domain.
        let own = address == wallet.address();
        let domain = match mailbox != Mailbox::Sent && own {
            true => Some(messenger.chain().domain().await?),
            false => None,
        };
        let signed_in = match &domain {
            Some(domain) => sign_in(&mut api, &wallet, domain).await?,
            None => false,
        };
        let page = match mailbox {
            Mailbox::Inbox if signed_in => {
                api.folder(address, View::Inbox, after, self.limit).await?
            }
            Mailbox::Inbox => api.inbox(address, after, self.limit).await?,
            Mailbox::Requests if signed_in => {
                api.folder(address, View::Requests, after, self.limit)
                    .await?
            }
            Mailbox::Requests => anyhow::bail!(match own {
                true => format!(
                    "{} offers no sign-in, so it keeps no consent: use cairn inbox",
                    global.api_url
                ),
                false => "requests are your own: only your wallet can list them".to_string(),
            }),
            Mailbox::Sent => api.sent(address, after, self.limit).await?,
        };
        // This machine's own consent list: senders it blocks stay hidden
        // even when a node (lying, or without your session) lists them.
        let memory = match &domain {
            Some(domain) => Some(global.consent_memory(domain, address)?),
            None => None,
        };
        let mut shown = Vec::with_capacity(page.messages.len());
        for m in &page.messages {
            shown.push(show(&messenger, &verifier, m).await);
        }
        let listed = shown.len();
        shown.retain(|s| !memory.as_ref().is_some_and(|memory| s.blocked_by(memory)));
        let hidden = listed - shown.len();
        if global.json {
            let messages: Vec<_> = shown.into_iter().map(|s| s.json).collect();
            println!(
                "{}",
                serde_json::json!({"messages": messages, "next": page.next, "more": page.more, "hiddenBlocked": hidden})
            );
        } else {
            for s in &shown {
                println!("{}", s.line);
            }
            if hidden > 0 {
                println!("{hidden} message(s) from senders you blocked not shown");
            }
            if shown.is_empty() && hidden == 0 {
                println!("no messages");
            }
            if page.more {
                let command = match mailbox {
                    Mailbox::Inbox => "inbox",
                    Mailbox::Requests => "requests",
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
