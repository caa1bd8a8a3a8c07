//! `cairn key`: create, derive or show the messaging key.

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use super::args::{print, GlobalArgs};
use cairn::crypto::{keystore, wallet, SecretKey};

/// Messaging key commands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a random key into a new encrypted keystore (Web3 Secret Storage, 0600; never overwrites one).
    New,
    /// Derive the key from your wallet's signature; nothing is written.
    Derive,
    /// Show the key in use and the one registered on chain.
    Show,
}

impl KeyCommand {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let wallet = global.wallet()?;
        match self {
            Self::New => {
                let path = global.keystore_path(wallet.address());
                let secret = SecretKey::generate(&mut rand::rngs::OsRng);
                let passphrase = zeroize::Zeroizing::new(global.passphrase(&path, true)?);
                keystore::create(&path, &secret, &passphrase)?;
                print(
                    global.json,
                    json!({"public": secret.public_key().to_string(), "keystore": path}),
                    || {
                        format!(
                            "created {}\npublic key {}",
                            path.display(),
                            secret.public_key()
                        )
                    },
                );
            }
            Self::Derive => {
                let secret = wallet::derive_with_signer(&wallet).await?;
                print(
                    global.json,
                    json!({"public": secret.public_key().to_string()}),
                    || {
                        format!(
                            "derived public key {} (same on every device with this wallet)",
                            secret.public_key()
                        )
                    },
                );
            }
            Self::Show => {
                let local = global.messaging_key(&wallet).await?.public_key();
                let chain = global.chain(false).await?;
                let registered = chain
                    .key_of(wallet.address())
                    .await
                    .context("reading the key registry")?;
                let in_sync = registered.map(|r| r.key) == Some(local);
                print(
                    global.json,
                    json!({
                        "address": wallet.address(),
                        "local": local.to_string(),
                        "registered": registered.map(|r| r.key.to_string()),
                        "version": registered.map(|r| r.version),
                        "inSync": in_sync,
                    }),
                    || {
                        let chain_line = match registered {
                            Some(r) => format!("registered {} (version {})", r.key, r.version),
                            None => "registered none (run `cairn register`)".into(),
                        };
                        let warn = if registered.is_some() && !in_sync {
                            "\nwarning: the registered key differs from your local key; run `cairn register` to rotate"
                        } else {
                            ""
                        };
                        format!(
                            "address    {}\nlocal      {local}\n{chain_line}{warn}",
                            wallet.address()
                        )
                    },
                );
            }
        }
        Ok(())
    }
}
