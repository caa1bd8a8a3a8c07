//! `cairn allow`, `cairn block` and `cairn consent`: sign consent entries
//! with your wallet, publish them to the node, and export the list.

use alloy::{
    primitives::Address,
    signers::{local::PrivateKeySigner, Signer},
};
use clap::Args;

use super::args::{print, GlobalArgs};
use cairn::{
    consent::{signing_hash, ConsentRequest},
    read_api::{ReadApi, ReadApiError},
};
use cairn_indexer::store::ConsentState;

/// Arguments of `cairn allow` and `cairn block`.
#[derive(Debug, Args)]
pub(crate) struct ConsentArgs {
    /// The wallet addresses.
    #[arg(required = true)]
    peers: Vec<Address>,
}

impl ConsentArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, state: ConsentState) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let domain = global.chain(false).await?.domain().await?;
        let api = ReadApi::new(&global.api_url);
        let issued_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        for peer in self.peers {
            let hash = signing_hash(wallet.address(), peer, state, issued_at, &domain);
            let signature = wallet.sign_hash(&hash).await?;
            let entry = ConsentRequest {
                owner: wallet.address(),
                peer,
                state,
                issued_at,
                signature: format!("0x{}", alloy::hex::encode(signature.as_bytes())),
            };
            api.put_consent(&entry).await?;
            print(
                global.json,
                serde_json::json!({"peer": peer.to_string(), "state": state.as_str(), "issuedAt": issued_at}),
                || match state {
                    ConsentState::Allow => {
                        format!("allowed {peer}: their messages go to your inbox")
                    }
                    ConsentState::Block => {
                        format!("blocked {peer}: their messages are never pushed to you")
                    }
                },
            );
        }
        Ok(())
    }
}

/// Arguments of `cairn consent`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {}

impl ExportArgs {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let mut api = ReadApi::new(&global.api_url);
        if !sign_in(global, &mut api, &wallet).await? {
            anyhow::bail!(
                "{} offers no sign-in, so it keeps no consent lists",
                global.api_url
            );
        }
        println!("{}", serde_json::to_string_pretty(&api.consent().await?)?);
        Ok(())
    }
}

/// Signs `api` in as `wallet`. Returns false when the node has no sign-in
/// (it runs without the read API's accounts), so callers can go on anonymously.
pub(crate) async fn sign_in(
    global: &GlobalArgs,
    api: &mut ReadApi,
    wallet: &PrivateKeySigner,
) -> anyhow::Result<bool> {
    let chain_id = global
        .chain(false)
        .await?
        .domain()
        .await?
        .chain_id
        .map_or(0, |c| c.to::<u64>());
    match api.sign_in(wallet, chain_id).await {
        Ok(()) => Ok(true),
        Err(ReadApiError::Api { status: 404, .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
