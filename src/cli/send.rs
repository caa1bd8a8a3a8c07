//! `cairn send`: encrypt, store and anchor one message, directly or through
//! a gateway that batches it (`--via-gateway`).

use std::path::PathBuf;

use alloy::primitives::{Address, B256};
use clap::Args;
use indicatif::ProgressBar;
use serde_json::json;

use super::{
    args::{print, read_file, spinner, GlobalArgs},
    outbox::KeptPost,
};
use cairn::{
    envelope::{Attachment, Body},
    gateway::{
        client::{fresh_nonce, sign_post, sign_post_for},
        delivery::{Delivered, DeliveryError, Until},
        proofs::ProofStatus,
        submit::PostRequest,
    },
    messenger::{Messenger, SendStep},
    store::cid,
};
use std::time::Duration;

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
    /// Answer the message with this digest (as `inbox --json` lists it);
    /// the reader's client shows the answered message above this one.
    #[arg(long, value_name = "DIGEST")]
    reply_to: Option<B256>,
    #[command(flatten)]
    gateway: ViaGateway,
}

/// `--via-gateway` and its options, shared by `cairn send` and `cairn channel post`.
#[derive(Debug, Args)]
pub(crate) struct ViaGateway {
    /// Sign the post and hand it to this gateway to anchor in a batch, instead
    /// of paying for a transaction yourself (e.g. http://127.0.0.1:8080).
    /// Give several (repeated, or separated by commas) gateways of one outbox:
    /// when one does not answer, the same signed post goes to the next.
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    pub(crate) via_gateway: Vec<String>,
    /// With --via-gateway: seconds the gateway has to anchor the post.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(90..=30 * 86_400))]
    deadline_secs: u64,
    /// With --via-gateway: return once a gateway holds the post, without
    /// waiting for the anchor.
    #[arg(long)]
    no_wait: bool,
    /// With --via-gateway: seconds to wait for the anchor (or, with
    /// --no-wait, for a gateway to take the post). A post not settled by
    /// then is kept for `cairn outbox`, and the command exits with 75.
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
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
        if !self.gateway.via_gateway.is_empty() {
            let messenger = global.messenger(false).await?;
            let bar = spinner(global.json, "sending");
            let progress = |step: SendStep| bar.set_message(step_message(step));
            let envelope = messenger
                .seal_reply(self.to, &body, self.reply_to, &progress)
                .await?;
            return self
                .gateway
                .submit(global, &messenger, &bar, self.to.into_word(), &envelope)
                .await;
        }
        let messenger = global.messenger(true).await?;
        let bar = spinner(global.json, "sending");
        let progress = |step: SendStep| bar.set_message(step_message(step));
        let sent = messenger
            .send_reply(self.to, &body, self.reply_to, &progress)
            .await;
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

pub(super) fn step_message(step: SendStep) -> &'static str {
    match step {
        SendStep::ResolvingKey => "looking up the recipient's key",
        SendStep::Sealing => "encrypting",
        SendStep::Storing => "storing the envelope",
        SendStep::Anchoring => "anchoring on chain",
    }
}

impl ViaGateway {
    /// Signs a post of `envelope` (sealed here) to `to`, keeps it in the
    /// outbox, and delivers it through the gateways until it is anchored
    /// (accepted, with --no-wait). Reports a failure only when the post was
    /// refused or expired; a post left undecided exits with 75 and stays in
    /// the outbox (`cairn outbox` sends it again).
    pub(crate) async fn submit(
        &self,
        global: &GlobalArgs,
        messenger: &Messenger,
        bar: &ProgressBar,
        to: B256,
        envelope: &[u8],
    ) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let digest = cid::block_digest(envelope);
        bar.set_message("signing the post");
        let domain = messenger.chain().domain().await?;
        let deadline = unix_now() + self.deadline_secs;
        // This device's key signs for the wallet when `cairn signer new` made one.
        let signed = match global.device_signer(wallet.address())? {
            Some(key) => {
                sign_post_for(
                    &key,
                    wallet.address(),
                    &domain,
                    to,
                    digest,
                    fresh_nonce(),
                    deadline,
                )
                .await?
            }
            None => sign_post(&wallet, &domain, to, digest, fresh_nonce(), deadline).await?,
        };
        let kept = KeptPost {
            id: signed.signing_hash(&domain),
            gateways: self.via_gateway.clone(),
            post: PostRequest::new(&signed, Some(envelope)),
        };
        kept.keep(global)?;
        let id = kept.id;
        let until = if self.no_wait {
            Until::Accepted
        } else {
            Until::Anchored
        };
        let delivered = kept
            .deliver(global, bar, until, Duration::from_secs(self.wait_secs))
            .await;
        bar.finish_and_clear();
        let delivered = delivered.map_err(|e| match e {
            DeliveryError::Undecided { .. } => anyhow::Error::new(e)
                .context("the post is kept in the outbox: `cairn outbox` sends it again"),
            e => e.into(),
        });
        let proof = match delivered? {
            Delivered::Anchored(proof) => Some(proof),
            Delivered::Accepted => None,
        };
        let url = &self.via_gateway[0];
        let cid = cid::cid_for_digest(digest);
        print(
            global.json,
            json!({
                "id": id, "cid": cid.to_string(), "digest": digest, "size": envelope.len(),
                "nonce": signed.post.nonce, "deadline": deadline,
                "status": proof.as_ref().map_or(ProofStatus::Queued, |p| p.status),
                "tx": proof.as_ref().and_then(|p| p.tx), "block": proof.as_ref().and_then(|p| p.block),
                "root": proof.as_ref().and_then(|p| p.root),
            }),
            || {
                let mut text = format!(
                    "sent {} bytes to {to} via {url}\nid       {id}\ncid      {cid}",
                    envelope.len(),
                );
                match &proof {
                    Some(p) => text.push_str(&format!(
                        "\nbatch    {} ({} posts)\ntx       {}\nblock    {}\ncheck it: cairn proof {id} --gateway {url}",
                        p.root.unwrap_or_default(),
                        p.count.unwrap_or_default(),
                        p.tx.unwrap_or_default(),
                        p.block.unwrap_or_default()
                    )),
                    None => text.push_str("\nstatus   accepted; not anchored yet"),
                }
                text
            },
        );
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
