//! A governance bot on `cairn-client`: it follows an OpenZeppelin Governor
//! and posts each proposal, vote and execution to a Cairn channel, sealed
//! for the channel's members, through a gateway that pays the gas.
//!
//! It resumes where it stopped and never posts an event twice: its cursor
//! is kept in a file, and each post's nonce is derived from the event's
//! transaction and log index. Readers deliver one post per (sender, nonce),
//! so a post re-sent after a crash is refused, not shown again.
//!
//! ```sh
//! CAIRN_BOT_KEY=0x... cairn-governance-bot --rpc http://127.0.0.1:8545 \
//!   --contract 0xCairn --governor 0xGovernor --channel 0xChannel \
//!   --gateway http://127.0.0.1:8080 --kubo http://127.0.0.1:5001 --state bot.json
//! ```

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    primitives::{keccak256, Address, B256},
    providers::Provider,
    rpc::types::{Filter, Log},
    signers::local::PrivateKeySigner,
    sol,
    sol_types::SolEvent,
};
use anyhow::Context;
use cairn_client::{
    chain::CairnClient,
    crypto::wallet::derive_with_signer,
    envelope::Body,
    gateway::{
        client::{sign_post, GatewayClient},
        delivery::{Delivery, DeliveryError, Until},
        PostRequest,
    },
    messenger::Messenger,
    store::{cid::block_digest, KuboStore},
};
use clap::Parser;
use serde::{Deserialize, Serialize};

sol! {
    event ProposalCreated(uint256 proposalId, address proposer, address[] targets, uint256[] values,
        string[] signatures, bytes[] calldatas, uint256 voteStart, uint256 voteEnd, string description);
    event VoteCast(address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason);
    event ProposalExecuted(uint256 proposalId);
}

/// Follows a Governor and posts what happens to a Cairn channel.
#[derive(Parser)]
struct Args {
    /// The chain's JSON-RPC endpoint.
    #[arg(long)]
    rpc: String,
    /// The Cairn contract.
    #[arg(long)]
    contract: Address,
    /// The OpenZeppelin Governor to follow.
    #[arg(long)]
    governor: Address,
    /// The channel to post to; the bot's wallet must be a member.
    #[arg(long)]
    channel: B256,
    /// The gateway that anchors the posts.
    #[arg(long)]
    gateway: String,
    /// Kubo's RPC API, for the channel's key bundles.
    #[arg(long)]
    kubo: String,
    /// Where the bot keeps its cursor.
    #[arg(long)]
    state: PathBuf,
    /// The first block to follow from, on the first run.
    #[arg(long, default_value_t = 0)]
    from_block: u64,
    /// Blocks an event must be under before it is posted (a reorg may drop it until then).
    #[arg(long, default_value_t = 2)]
    confirmations: u64,
    /// Post what is there up to the head, then exit.
    #[arg(long)]
    once: bool,
}

/// The bot's cursor: the next block to read.
#[derive(Serialize, Deserialize)]
struct Cursor {
    next_block: u64,
}

impl Cursor {
    fn load(path: &PathBuf, from_block: u64) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).context("reading the bot's state")?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                next_block: from_block,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Written to a new file and renamed over the old one: a crash leaves one or the other.
    fn save(&self, path: &PathBuf) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        Ok(std::fs::rename(tmp, path)?)
    }
}

/// The summary the channel reads, or `None` for a log that is none of the three.
fn summary(log: &Log) -> Option<String> {
    // A proposal id is a 256-bit hash: its first 8 digits name it.
    let short = |id: alloy::primitives::U256| format!("#{:.8}", id.to_string());
    if let Ok(e) = log.log_decode::<ProposalCreated>() {
        let e = e.inner.data;
        let title = e.description.lines().next().unwrap_or_default();
        return Some(format!(
            "Proposal {} opened by {}: {title}. Voting runs from block {} to {}.",
            short(e.proposalId),
            e.proposer,
            e.voteStart,
            e.voteEnd
        ));
    }
    if let Ok(e) = log.log_decode::<VoteCast>() {
        let e = e.inner.data;
        let side = ["Against", "For", "Abstain"]
            .get(e.support as usize)
            .unwrap_or(&"?");
        let reason = if e.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", e.reason)
        };
        return Some(format!(
            "{} voted {side} on proposal {} with {} votes{reason}",
            e.voter,
            short(e.proposalId),
            e.weight
        ));
    }
    if let Ok(e) = log.log_decode::<ProposalExecuted>() {
        return Some(format!(
            "Proposal {} was executed.",
            short(e.inner.data.proposalId)
        ));
    }
    None
}

/// The post's nonce, from the event's id: the same event always gets the
/// same nonce, below 2^53 so that any JSON reader reads it exactly.
fn nonce_of(log: &Log) -> u64 {
    let id = keccak256(
        [
            log.transaction_hash.unwrap_or_default().as_slice(),
            &log.log_index.unwrap_or_default().to_be_bytes(),
        ]
        .concat(),
    );
    u64::from_be_bytes(id[..8].try_into().unwrap()) >> 11
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wallet: PrivateKeySigner = std::env::var("CAIRN_BOT_KEY")
        .context("set CAIRN_BOT_KEY to the bot's private key")?
        .parse()?;
    let chain = CairnClient::connect(&args.rpc, args.contract, None).await?;
    let key = derive_with_signer(&wallet).await?;
    let messenger = Messenger::new(
        chain.clone(),
        Arc::new(KuboStore::new(&args.kubo)),
        wallet.address(),
        key,
    );
    let gateways = vec![GatewayClient::new(&args.gateway)];
    let domain = chain.domain().await?;
    let mut cursor = Cursor::load(&args.state, args.from_block)?;
    let events = [
        ProposalCreated::SIGNATURE_HASH,
        VoteCast::SIGNATURE_HASH,
        ProposalExecuted::SIGNATURE_HASH,
    ];
    loop {
        let head = chain
            .provider()
            .get_block_number()
            .await?
            .saturating_sub(args.confirmations);
        if head >= cursor.next_block {
            let to = head.min(cursor.next_block + 1_999);
            let filter = Filter::new()
                .address(args.governor)
                .event_signature(events.to_vec())
                .from_block(cursor.next_block)
                .to_block(to);
            for log in chain.provider().get_logs(&filter).await? {
                let Some(text) = summary(&log) else { continue };
                let envelope = messenger
                    .seal_for_channel(args.channel, &Body::text(text.clone()), &|_| {})
                    .await?;
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs()
                    + 3600;
                let signed = sign_post(
                    &wallet,
                    &domain,
                    args.channel,
                    block_digest(&envelope),
                    nonce_of(&log),
                    deadline,
                )
                .await?;
                let id = signed.signing_hash(&domain);
                let delivery = Delivery::new(
                    gateways.clone(),
                    PostRequest::new(&signed, Some(&envelope)),
                    id,
                );
                match delivery
                    .run(Until::Accepted, Duration::from_secs(60), &|_| {})
                    .await
                {
                    Ok(_) => eprintln!("posted {id}: {text}"),
                    // Posted before a restart, under this same nonce.
                    Err(DeliveryError::Refused { code, .. }) if code == "nonce_used" => {
                        eprintln!("already posted: {text}")
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            cursor.next_block = to + 1;
            cursor.save(&args.state)?;
            continue;
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
