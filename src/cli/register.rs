//! `cairn register`: publish or rotate the messaging key on chain.

use clap::Args;
use serde_json::json;

use super::args::{print, spinner, GlobalArgs};

/// Arguments of `cairn register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {}

impl RegisterArgs {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let key = global.messaging_key(&wallet).await?.public_key();
        let chain = global.chain(true).await?;
        if let Some(current) = chain.key_of(wallet.address()).await? {
            if current.key == key {
                print(
                    global.json,
                    json!({"public": key.to_string(), "version": current.version, "unchanged": true}),
                    || {
                        format!(
                            "key {key} is already registered (version {})",
                            current.version
                        )
                    },
                );
                return Ok(());
            }
        }
        let bar = spinner(global.json, "registering key");
        let (registered, inclusion) = chain.register_key(&key).await?;
        bar.finish_and_clear();
        print(
            global.json,
            json!({
                "public": key.to_string(), "version": registered.version,
                "tx": inclusion.tx, "block": inclusion.block, "gasUsed": inclusion.gas_used,
            }),
            || {
                format!(
                    "registered {key} (version {})\ntx    {}\nblock {}",
                    registered.version, inclusion.tx, inclusion.block
                )
            },
        );
        Ok(())
    }
}
