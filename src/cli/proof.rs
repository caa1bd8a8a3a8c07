//! `cairn proof`: check a batched post's inclusion against the chain.

use alloy::primitives::B256;
use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::args::{print, spinner, GlobalArgs};
use cairn::gateway::client::{verify_proof, GatewayClient};

/// Arguments of `cairn proof`.
#[derive(Debug, Args)]
pub(crate) struct ProofArgs {
    /// The post id the gateway returned (its EIP-712 signing hash).
    id: B256,
    /// The gateway to ask for the proof. Only the proof comes from it: every
    /// check runs against the chain at --rpc-url and the contract at --contract.
    #[arg(
        long,
        env = "CAIRN_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    gateway: String,
}

impl ProofArgs {
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let bar = spinner(global.json, "fetching the proof");
        let proof = GatewayClient::new(&self.gateway).proof(self.id).await;
        bar.set_message("checking it against the chain");
        let chain = global.chain(false).await;
        let verified = match (proof, chain) {
            (Ok(proof), Ok(chain)) => verify_proof(&chain, self.id, &proof)
                .await
                .with_context(|| format!("post {} is NOT proven", self.id)),
            (Err(e), _) => Err(e.into()),
            (_, Err(e)) => Err(e),
        };
        bar.finish_and_clear();
        let v = verified?;
        print(
            global.json,
            json!({
                "id": v.id, "verified": true, "from": v.from, "root": v.root, "index": v.index,
                "count": v.count, "tx": v.tx, "block": v.block, "confirmations": v.confirmations,
                "manifestDigest": v.manifest_digest,
            }),
            || {
                format!(
                    "verified: post {} from {}\nleaf {} of {} under root {}\nanchored by tx {} in block {} ({} confirmations)",
                    v.id, v.from, v.index, v.count, v.root, v.tx, v.block, v.confirmations
                )
            },
        );
        Ok(())
    }
}
