//! `cairn allow`, `cairn block` and `cairn consent`: sign consent entries
//! with your wallet, publish them to the node, and export the list.

use alloy::{
    primitives::Address,
    signers::{local::PrivateKeySigner, Signer},
};
use clap::Args;

use super::args::{print, GlobalArgs};
use anyhow::Context;
use cairn::{
    consent::{signed_by, signing_hash, ConsentRequest},
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
        let mut memory = global.consent_memory(&domain, wallet.address())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        for peer in self.peers {
            // Later than anything said of this peer before, or the node
            // (and this machine) would keep the earlier entry.
            let issued_at = memory.next_issued_at(peer, now);
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
            memory.keep(entry);
            memory.save()?;
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
        let domain = global.chain(false).await?.domain().await?;
        if !sign_in(&mut api, &wallet, &domain).await? {
            anyhow::bail!(
                "{} offers no sign-in, so it keeps no consent lists",
                global.api_url
            );
        }
        let mut export = api.consent().await?;
        let mut memory = global.consent_memory(&domain, wallet.address())?;
        let served: Vec<ConsentRequest> =
            serde_json::from_value(export["entries"].take()).context("the node's consent list")?;
        for entry in served.iter().filter(|e| signed_by(e, &domain)) {
            memory.keep(entry.clone());
        }
        memory.save()?;
        // What the node left out or served older than this machine has
        // seen: the newer entry stands, and the user is told.
        for kept in memory.entries() {
            let same = |e: &&ConsentRequest| e.peer == kept.peer && e.issued_at == kept.issued_at;
            if !served.iter().any(|e| same(&e)) {
                eprintln!(
                    "warning: {} did not serve your newest entry for {} ({} at {}); this machine's copy is exported",
                    global.api_url,
                    kept.peer,
                    kept.state.as_str(),
                    kept.issued_at
                );
            }
        }
        export["entries"] = serde_json::to_value(memory.entries().collect::<Vec<_>>())?;
        println!("{}", serde_json::to_string_pretty(&export)?);
        Ok(())
    }
}

/// Signs `api` in as `wallet`, on the chain `domain` names. Returns false
/// when the node has no sign-in (it runs without the read API's accounts),
/// so callers can go on anonymously.
pub(crate) async fn sign_in(
    api: &mut ReadApi,
    wallet: &PrivateKeySigner,
    domain: &alloy::sol_types::Eip712Domain,
) -> anyhow::Result<bool> {
    let chain_id = domain.chain_id.map_or(0, |c| c.to::<u64>());
    match api.sign_in(wallet, chain_id).await {
        Ok(()) => Ok(true),
        Err(ReadApiError::Api { status: 404, .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
