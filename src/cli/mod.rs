//! The `cairn` command line. One file per subcommand; `main.rs` stays thin.
//!
//! Flags are parsed and validated into typed values before any I/O, and every
//! flag that names a secret or an endpoint can also come from the environment.

mod args;
mod channel;
mod consent;
mod decrypt;
mod gateway;
mod http_server;
mod inbox;
mod index;
mod key;
mod outbox;
mod proof;
mod read;
mod register;
mod send;
mod serve;
mod signer;
mod terminal;
mod watch;

use cairn_indexer::store::ConsentState;
use clap::{Parser, Subcommand};

pub(crate) use args::GlobalArgs;

/// End-to-end encrypted messages between wallets, stored on IPFS and anchored on chain.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) cmd: Command,
    /// Settings every command shares.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, derive or show your x25519 messaging key.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Publish (or rotate to) your messaging key in the on-chain registry.
    Register(register::RegisterArgs),
    /// A device key that signs batched posts for your wallet: new, revoke, show.
    #[command(subcommand)]
    Signer(signer::SignerCommand),
    /// Encrypt a message, store it and anchor it on chain.
    Send(send::SendArgs),
    /// Send again the signed posts an earlier `send --via-gateway` left undecided (exit 75).
    Outbox(outbox::OutboxArgs),
    /// Check a batched post's inclusion proof against the chain, trusting no gateway.
    Proof(proof::ProofArgs),
    /// Fetch a message by CID, verify it against the chain and decrypt it.
    Read(read::ReadArgs),
    /// List your inbox (senders you allowed, once signed in), check each message against the chain, decrypt.
    Inbox(inbox::InboxArgs),
    /// List messages from senders you have neither allowed nor blocked yet.
    Requests(inbox::InboxArgs),
    /// Accept messages from these wallets: they go to your inbox, and may see your presence.
    Allow(consent::ConsentArgs),
    /// Never list or push messages from these wallets to you.
    Block(consent::ConsentArgs),
    /// Export your signed consent list (JSON, with every signature).
    Consent(consent::ExportArgs),
    /// List what you sent, checked against the chain and decrypted (you seal for yourself too).
    Sent(inbox::InboxArgs),
    /// Decrypt messages live as they are confirmed, resuming after drops.
    Watch(watch::WatchArgs),
    /// DAO channels: create, add, remove, rotate, post, read, list.
    #[command(subcommand)]
    Channel(channel::ChannelCommand),
    /// Run the indexer, the read API (REST, GraphQL, stream) and the block gateway.
    Serve(Box<serve::ServeArgs>),
    /// Run the indexer alone: keep a database up to date, serve only /healthz and /metrics.
    Index(index::IndexArgs),
    /// Run the relaying gateway: accept signed posts and anchor them in Merkle batches.
    Gateway(Box<gateway::GatewayCmd>),
}

impl Cli {
    /// Runs the parsed command.
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        match self.cmd {
            Command::Key(cmd) => cmd.run(&self.global).await,
            Command::Register(args) => args.run(&self.global).await,
            Command::Signer(cmd) => cmd.run(&self.global).await,
            Command::Send(args) => args.run(&self.global).await,
            Command::Read(args) => args.run(&self.global).await,
            Command::Proof(args) => args.run(&self.global).await,
            Command::Outbox(args) => args.run(&self.global).await,
            Command::Inbox(args) => args.run(&self.global, inbox::Mailbox::Inbox).await,
            Command::Sent(args) => args.run(&self.global, inbox::Mailbox::Sent).await,
            Command::Requests(args) => args.run(&self.global, inbox::Mailbox::Requests).await,
            Command::Allow(args) => args.run(&self.global, ConsentState::Allow).await,
            Command::Block(args) => args.run(&self.global, ConsentState::Block).await,
            Command::Consent(args) => args.run(&self.global).await,
            Command::Watch(args) => args.run(&self.global).await,
            Command::Channel(cmd) => cmd.run(&self.global).await,
            Command::Serve(args) => args.run(&self.global).await,
            Command::Index(args) => args.run(&self.global).await,
            Command::Gateway(args) => args.run(&self.global).await,
        }
    }
}
