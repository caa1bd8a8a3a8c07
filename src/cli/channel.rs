//! `cairn channel …`: create DAO channels, change their members (each change
//! rotates the key), and post and read end-to-end encrypted group messages.

use alloy::primitives::{Address, B256, U256};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{
    args::{print, spinner, GlobalArgs},
    decrypt::show,
    send::{step_message, ViaGateway},
    watch::WatchArgs,
};
use cairn::{
    chain::Gate,
    channel::Rotation,
    envelope::Body,
    messenger::{Messenger, SendStep},
    read_api::ReadApi,
};

/// The channel commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ChannelCommand {
    /// Create a channel (you are its admin unless --admin names others), and publish its first key.
    Create(CreateArgs),
    /// Add members (admins only); the key rotates, so they read from now on.
    Add(ChangeArgs),
    /// Remove members (admins only); the key rotates, so they cannot read what follows.
    Remove(ChangeArgs),
    /// Publish a fresh key for the channel's current epoch (admins only).
    Rotate(ChannelArg),
    /// Encrypt a message for the channel's members and anchor it.
    Post(PostArgs),
    /// List a channel's messages, check each against the chain, decrypt what you may read.
    Read(ReadArgs),
    /// The channels you are a member of, from the chain.
    List,
    /// Decrypt a channel's messages live as they are confirmed, resuming after drops.
    Watch(WatchChannel),
}

/// A channel, and how to watch it.
#[derive(Debug, Args)]
pub(crate) struct WatchChannel {
    /// The channel id.
    channel: B256,
    #[command(flatten)]
    watch: WatchArgs,
}

/// `--name`, members, admins and an optional token gate.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The channel's name (1 to 64 bytes).
    #[arg(long)]
    name: String,
    /// A member (repeat); you are not a member unless you name yourself.
    #[arg(long = "member")]
    members: Vec<Address>,
    /// An admin (repeat); default: you.
    #[arg(long = "admin")]
    admins: Vec<Address>,
    /// Only members holding at least --min of this ERC-20 token may post.
    #[arg(long, conflicts_with = "erc721", requires = "min")]
    erc20: Option<Address>,
    /// Only members holding at least --min of this ERC-721 token may post.
    #[arg(long, requires = "min")]
    erc721: Option<Address>,
    /// The least balance of the gate token.
    #[arg(long)]
    min: Option<U256>,
}

/// A channel and the members to add or remove.
#[derive(Debug, Args)]
pub(crate) struct ChangeArgs {
    /// The channel id.
    channel: B256,
    /// The wallets.
    #[arg(required = true)]
    members: Vec<Address>,
}

/// A channel.
#[derive(Debug, Args)]
pub(crate) struct ChannelArg {
    /// The channel id.
    channel: B256,
}

/// A channel and what to say.
#[derive(Debug, Args)]
pub(crate) struct PostArgs {
    /// The channel id.
    channel: B256,
    /// The text.
    #[arg(long)]
    message: String,
    #[command(flatten)]
    gateway: ViaGateway,
}

/// A channel and a page.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// The channel id.
    channel: B256,
    /// Start after this cursor.
    #[arg(long)]
    after: Option<String>,
    /// How many messages at most.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
}

impl ChannelCommand {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        if let Self::Watch(w) = self {
            return w.watch.watch(global, Some(w.channel)).await;
        }
        let messenger = global.messenger(true).await?;
        match self {
            Self::Create(args) => args.run(global, &messenger).await,
            Self::Add(args) => args.run(global, &messenger, true).await,
            Self::Remove(args) => args.run(global, &messenger, false).await,
            Self::Rotate(ChannelArg { channel }) => {
                let bar = spinner(global.json, "publishing the key");
                let rotation = messenger.rotate_channel(channel).await;
                bar.finish_and_clear();
                report(global, channel, &rotation?);
                Ok(())
            }
            Self::Post(args) => {
                let bar = spinner(global.json, "posting");
                let progress = |step: SendStep| bar.set_message(step_message(step));
                if !args.gateway.via_gateway.is_empty() {
                    let body = Body::text(args.message.clone());
                    let envelope = messenger
                        .seal_for_channel(args.channel, &body, &progress)
                        .await?;
                    return args
                        .gateway
                        .submit(global, &messenger, &bar, args.channel, &envelope)
                        .await;
                }
                let sent = messenger
                    .post_to_channel(args.channel, &Body::text(args.message), &progress)
                    .await;
                bar.finish_and_clear();
                let sent = sent?;
                print(
                    global.json,
                    json!({"channel": args.channel, "cid": sent.cid.to_string(), "digest": sent.digest,
                        "tx": sent.anchor.inclusion.tx, "block": sent.anchor.inclusion.block,
                        "gasUsed": sent.anchor.inclusion.gas_used}),
                    || {
                        format!(
                            "posted to {}\ncid {}\ntx  {}",
                            args.channel, sent.cid, sent.anchor.inclusion.tx
                        )
                    },
                );
                Ok(())
            }
            Self::Read(args) => args.run(global, &messenger).await,
            Self::Watch(_) => unreachable!("handled above"),
            Self::List => {
                let me = messenger.wallet();
                let mut rows = Vec::new();
                for (channel, name) in messenger.chain().channels_with(me).await? {
                    let state = messenger.chain().channel(channel).await?;
                    rows.push(json!({"channel": channel, "name": name,
                        "epoch": state.as_ref().map(|s| s.epoch), "members": state.map(|s| s.members)}));
                }
                if global.json {
                    println!("{}", json!({ "channels": rows }));
                } else if rows.is_empty() {
                    println!("no channels");
                } else {
                    for r in rows {
                        println!(
                            "{} {} (epoch {}, {} members)",
                            r["channel"].as_str().unwrap_or_default(),
                            // Chosen by the channel's creator.
                            super::terminal::inline(r["name"].as_str().unwrap_or_default()),
                            r["epoch"],
                            r["members"]
                        );
                    }
                }
                Ok(())
            }
        }
    }
}

impl CreateArgs {
    async fn run(self, global: &GlobalArgs, messenger: &Messenger) -> anyhow::Result<()> {
        let admins = match self.admins.is_empty() {
            true => vec![messenger.wallet()],
            false => self.admins.clone(),
        };
        let min = self.min.unwrap_or_default();
        let gate = match (self.erc20, self.erc721) {
            (Some(token), _) => Gate::Erc20 { token, min },
            (_, Some(token)) => Gate::Erc721 { token, min },
            _ => Gate::MembersOnly,
        };
        let bar = spinner(global.json, "creating the channel");
        let (channel, inclusion) = messenger
            .chain()
            .create_channel(&self.name, &admins, &self.members, gate)
            .await?;
        let rotation = match admins.contains(&messenger.wallet()) {
            true => {
                bar.set_message("publishing its first key");
                Some(messenger.rotate_channel(channel).await?)
            }
            false => None,
        };
        bar.finish_and_clear();
        let mut answer = json!({"channel": channel, "tx": inclusion.tx, "gasUsed": inclusion.gas_used,
            "epoch": rotation.as_ref().map(|r| r.epoch), "bundle": rotation.as_ref().map(|r| r.root)});
        if let Some(r) = &rotation {
            let key = rotation_json(channel, r);
            for field in ["members", "withoutKey", "weakKey"] {
                answer[field] = key[field].clone();
            }
        }
        print(global.json, answer, || {
            match &rotation {
            Some(r) => format!(
                "created channel {channel} ({})\n{}",
                self.name,
                rotation_text(channel, r)
            ),
            None => format!("created channel {channel} ({}); an admin must run `cairn channel rotate {channel}` before anyone can post", self.name),
        }
        });
        Ok(())
    }
}

impl ChangeArgs {
    async fn run(
        self,
        global: &GlobalArgs,
        messenger: &Messenger,
        add: bool,
    ) -> anyhow::Result<()> {
        let bar = spinner(global.json, "changing the members");
        let (added, removed) = match add {
            true => (self.members.as_slice(), &[][..]),
            false => (&[][..], self.members.as_slice()),
        };
        let (epoch, inclusion) = messenger
            .chain()
            .change_members(self.channel, added, removed)
            .await?;
        bar.set_message("rotating the key");
        let rotation = messenger.rotate_channel(self.channel).await;
        bar.finish_and_clear();
        let rotation = rotation.map_err(|e| {
            anyhow::anyhow!("the members changed (epoch {epoch}), but the new key was not published: {e}; run `cairn channel rotate {}`", self.channel)
        })?;
        if !global.json {
            eprintln!(
                "members changed in tx {} (gas {})",
                inclusion.tx, inclusion.gas_used
            );
        }
        report(global, self.channel, &rotation);
        Ok(())
    }
}

impl ReadArgs {
    async fn run(self, global: &GlobalArgs, messenger: &Messenger) -> anyhow::Result<()> {
        let verifier = global.verifier(messenger.chain()).await?;
        let api = ReadApi::new(&global.api_url);
        let page = api
            .channel(self.channel, self.after.as_deref(), self.limit)
            .await?;
        let mut shown = Vec::with_capacity(page.messages.len());
        for m in &page.messages {
            shown.push(show(messenger, &verifier, m).await);
        }
        if global.json {
            let messages: Vec<_> = shown.into_iter().map(|s| s.json).collect();
            println!(
                "{}",
                json!({"messages": messages, "next": page.next, "more": page.more})
            );
        } else {
            for s in &shown {
                println!("{}", s.line);
            }
            if shown.is_empty() {
                println!("no messages");
            }
        }
        Ok(())
    }
}

fn report(global: &GlobalArgs, channel: B256, r: &Rotation) {
    print(global.json, rotation_json(channel, r), || {
        rotation_text(channel, r)
    });
}

/// A rotation as JSON: what was published, and who was left out.
fn rotation_json(channel: B256, r: &Rotation) -> serde_json::Value {
    json!({"channel": channel, "epoch": r.epoch, "newEpoch": r.new_epoch, "bundle": r.root,
        "members": r.members, "withoutKey": r.without_key, "weakKey": r.weak_key,
        "bundleBytes": r.size, "gasUsed": r.gas_used})
}

/// A rotation for people, with a warning per kind of member left out.
fn rotation_text(channel: B256, r: &Rotation) -> String {
    let mut text = String::new();
    if r.new_epoch {
        text.push_str(&format!(
            "epoch {} had its key already: started epoch {}\n",
            r.epoch - 1,
            r.epoch
        ));
    }
    text.push_str(&format!(
        "epoch {} key published for {} members ({} bytes, gas {})",
        r.epoch, r.members, r.size, r.gas_used
    ));
    let left_out = [
        (&r.without_key, "have no registered key"),
        (&r.weak_key, "registered a weak key (a low-order point)"),
    ];
    for (who, why) in left_out {
        if !who.is_empty() {
            let list: Vec<String> = who.iter().map(|a| a.to_string()).collect();
            text.push_str(&format!(
                "\nwarning: {} {why}, so they cannot read this epoch: {}\n  once they register a key, run `cairn channel rotate {channel}`",
                list.len(),
                list.join(", ")
            ));
        }
    }
    text
}
