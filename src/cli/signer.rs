//! `cairn signer`: a device key that signs batched posts for the wallet
//! (docs/SIGNERS.md). It is kept in an encrypted keystore beside the
//! messaging key; `send --via-gateway` and `channel post --via-gateway`
//! sign with it when there is one.

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{print, spinner, GlobalArgs};
use cairn::{
    chain::{sign_signer_authorization, sign_signer_revocation},
    crypto::keystore,
    gateway::{
        client::GatewayClient,
        registrations::{RevocationRequest, SignerRequest},
    },
};

/// Device signer commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SignerCommand {
    /// Make a new device key, keep it in an encrypted keystore, and authorize it on chain.
    New(NewArgs),
    /// Revoke this device's key on chain, for good, and set its keystore aside.
    Revoke(ViaArgs),
    /// Show this device's key and what the chain says of it.
    Show,
}

/// Where a signer change is sent.
#[derive(Debug, Args)]
pub(crate) struct ViaArgs {
    /// Sign the change and let this gateway pay the gas (no ETH needed);
    /// otherwise the wallet sends a transaction.
    #[arg(long, value_name = "URL")]
    via_gateway: Option<String>,
}

/// Arguments of `cairn signer new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Days the key signs for the wallet.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..=3650))]
    days: u64,
    #[command(flatten)]
    via: ViaArgs,
}

/// Seconds a signed signer change stays valid for the gateway.
const REQUEST_TTL: u64 = 600;

impl SignerCommand {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        let path = keystore::signer_path(&global.data_dir, wallet.address());
        match self {
            Self::New(args) => {
                let key = PrivateKeySigner::random();
                let passphrase = zeroize::Zeroizing::new(global.passphrase(&path, true)?);
                keystore::create_bytes(&path, &key.to_bytes().0, &passphrase)?;
                let expiry = unix_now() + args.days * 86_400;
                let bar = spinner(global.json, "authorizing the device key");
                let chain = global.chain(args.via.via_gateway.is_none()).await?;
                let block = match &args.via.via_gateway {
                    None => chain.authorize_signer(key.address(), expiry).await?.block,
                    Some(url) => {
                        let domain = chain.domain().await?;
                        let nonce = chain.signer_nonce(wallet.address()).await?;
                        let a = sign_signer_authorization(
                            &wallet,
                            &domain,
                            key.address(),
                            expiry,
                            B256::ZERO,
                            nonce,
                            unix_now() + REQUEST_TTL,
                        )
                        .await?;
                        GatewayClient::new(url)
                            .authorize_signer(&SignerRequest::from(&a))
                            .await?
                            .block
                    }
                };
                bar.finish_and_clear();
                print(
                    global.json,
                    json!({"signer": key.address(), "expiry": expiry, "block": block, "keystore": path}),
                    || {
                        format!(
                            "device key {} signs for {} until {expiry} (from block {block})\nkept in {}",
                            key.address(),
                            wallet.address(),
                            path.display()
                        )
                    },
                );
            }
            Self::Revoke(via) => {
                let key = global
                    .device_signer(wallet.address())?
                    .context("this device has no signer (run `cairn signer new`)")?;
                let bar = spinner(global.json, "revoking the device key");
                let chain = global.chain(via.via_gateway.is_none()).await?;
                let block = match &via.via_gateway {
                    None => chain.revoke_signer(key.address()).await?.block,
                    Some(url) => {
                        // The key revokes itself: no wallet signature needed.
                        let domain = chain.domain().await?;
                        let nonce = chain.signer_nonce(wallet.address()).await?;
                        let r = sign_signer_revocation(
                            &key,
                            &domain,
                            wallet.address(),
                            key.address(),
                            nonce,
                            unix_now() + REQUEST_TTL,
                        )
                        .await?;
                        GatewayClient::new(url)
                            .revoke_signer(&RevocationRequest::from(&r))
                            .await?
                            .block
                    }
                };
                let aside = path.with_extension("revoked");
                std::fs::rename(&path, &aside)
                    .with_context(|| format!("setting {} aside", path.display()))?;
                bar.finish_and_clear();
                print(
                    global.json,
                    json!({"signer": key.address(), "revokedAt": block, "keystore": aside}),
                    || {
                        format!(
                            "device key {} revoked from block {block}; its keystore is now {}",
                            key.address(),
                            aside.display()
                        )
                    },
                );
            }
            Self::Show => {
                let key = global.device_signer(wallet.address())?;
                let chain = global.chain(false).await?;
                let expiry = match &key {
                    Some(k) => Some(chain.signer_expiry(wallet.address(), k.address()).await?),
                    None => None,
                };
                print(
                    global.json,
                    json!({"wallet": wallet.address(), "signer": key.as_ref().map(|k| k.address()),
                        "expiry": expiry, "active": expiry.is_some_and(|e| e > unix_now())}),
                    || match (&key, expiry) {
                        (None, _) => "no device signer (run `cairn signer new`)".into(),
                        (Some(k), Some(e)) if e > unix_now() => {
                            format!("device key {} signs until {e}", k.address())
                        }
                        (Some(k), _) => format!(
                            "device key {} does not sign: revoked, expired or never authorized",
                            k.address()
                        ),
                    },
                );
            }
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
