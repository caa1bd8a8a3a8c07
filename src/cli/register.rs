//! `cairn register`: publish or rotate the messaging key on chain.

use clap::Args;
use serde_json::json;

use super::args::{print, spinner, GlobalArgs};

/// Arguments of `cairn register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// Sign the registration and let this gateway pay the gas (for a wallet with no ETH).
    #[arg(long, value_name = "URL")]
    via_gateway: Option<String>,
    /// With --via-gateway: seconds the signature stays valid.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    deadline_secs: u64,
}

impl RegisterArgs {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let key = global.messaging_key(&wallet).await?.public_key();
        let chain = global.chain(self.via_gateway.is_none()).await?;
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
        if let Some(url) = &self.via_gateway {
            return register_via_gateway(global, &chain, &wallet, &key, url, self.deadline_secs)
                .await;
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

/// Signs the registration (EIP-712 `RegisterKey`) and has `url` send it.
async fn register_via_gateway(
    global: &GlobalArgs,
    chain: &cairn::chain::CairnClient,
    wallet: &alloy::signers::local::PrivateKeySigner,
    key: &cairn::crypto::PublicKey,
    url: &str,
    deadline_secs: u64,
) -> anyhow::Result<()> {
    use alloy::primitives::U256;
    let bar = spinner(global.json, "signing the registration");
    let domain = chain.domain().await?;
    let nonce = chain.registration_nonce(wallet.address()).await?;
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + deadline_secs;
    let signature =
        cairn::chain::sign_key_registration(wallet, &domain, key, nonce, U256::from(deadline))
            .await?;
    bar.set_message("waiting for the gateway to register it");
    let registered = cairn::gateway::client::GatewayClient::new(url)
        .register(&cairn::gateway::registrations::RegistrationRequest {
            owner: wallet.address(),
            pubkey: key.to_b256(),
            deadline,
            signature: signature.as_bytes().to_vec().into(),
        })
        .await?;
    bar.finish_and_clear();
    print(
        global.json,
        json!({"public": key.to_string(), "version": registered.version, "tx": registered.tx,
            "block": registered.block, "via": url}),
        || {
            format!(
                "registered {key} (version {}) through {url}, which paid the gas\ntx    {}\nblock {}",
                registered.version, registered.tx, registered.block
            )
        },
    );
    Ok(())
}
