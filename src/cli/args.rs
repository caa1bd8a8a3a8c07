//! Arguments shared by several subcommands, and how they resolve to clients.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use std::io::IsTerminal;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use cairn::{
    chain::CairnClient,
    crypto::{keystore, wallet, KeyError, SecretKey},
    messenger::Messenger,
    store::{BlobStore, EmbeddedStore, KuboStore},
};

/// Settings every command shares.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Where keystores, the embedded block store and the deployment file live.
    #[arg(long, env = "CAIRN_DATA_DIR", global = true, default_value_os_t = default_data_dir())]
    pub(crate) data_dir: PathBuf,
    /// JSON-RPC endpoint of the chain (http or ws).
    #[arg(
        long,
        env = "CAIRN_RPC_URL",
        global = true,
        default_value = "http://127.0.0.1:8545"
    )]
    pub(crate) rpc_url: String,
    /// Cairn contract address. Defaults to the one in <data-dir>/deployment.json.
    #[arg(long, env = "CAIRN_CONTRACT", global = true)]
    pub(crate) contract: Option<Address>,
    /// Wallet private key (hex). Never printed or logged. Prefer --private-key-file or
    /// the environment: a flag's value is visible to other users in the process list.
    #[arg(long, env = "CAIRN_PRIVATE_KEY", global = true, hide_env_values = true)]
    pub(crate) private_key: Option<String>,
    /// A file holding the wallet private key (hex). Without a key, a terminal is asked.
    #[arg(
        long,
        env = "CAIRN_PRIVATE_KEY_FILE",
        global = true,
        conflicts_with = "private_key"
    )]
    pub(crate) private_key_file: Option<PathBuf>,
    /// A file holding the keystore passphrase. Without it, a terminal is asked.
    #[arg(long, env = "CAIRN_KEYSTORE_PASSWORD_FILE", global = true)]
    pub(crate) keystore_password_file: Option<PathBuf>,
    /// Base URL of the read API (`cairn serve`), for inbox and watch.
    #[arg(
        long,
        env = "CAIRN_API_URL",
        global = true,
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) api_url: String,
    /// Where envelope blocks are stored and read.
    #[arg(long, env = "CAIRN_STORE", global = true, value_enum, default_value_t = StoreKind::Embedded)]
    pub(crate) store: StoreKind,
    /// Kubo RPC endpoint, with --store kubo; several (e.g. IPFS Cluster proxies) separated by
    /// commas: writes go to all, reads try each in turn.
    #[arg(
        long,
        env = "CAIRN_KUBO_URL",
        global = true,
        default_value = "http://127.0.0.1:5001"
    )]
    pub(crate) kubo_url: String,
    /// Where the messaging key comes from.
    #[arg(long, env = "CAIRN_KEY_SOURCE", global = true, value_enum, default_value_t = KeySource::Auto)]
    pub(crate) key_source: KeySource,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log as JSON lines (for log shippers).
    #[arg(long, env = "CAIRN_LOG_JSON", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) log_json: bool,
}

/// Block store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreKind {
    /// On-disk store in <data-dir>/store.
    Embedded,
    /// Kubo daemons (or IPFS Cluster proxies) at --kubo-url.
    Kubo,
}

/// Messaging key sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeySource {
    /// The keystore if one exists for this wallet, else derived from the wallet.
    Auto,
    /// The 0600 keystore in <data-dir>/keys (see `cairn key new`).
    Keystore,
    /// Derived from the wallet's signature (see `cairn key derive`).
    Wallet,
}

/// What `anvil-scripts/deploy.sh` writes to <data-dir>/deployment.json.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployment {
    /// The chain the contract lives on.
    pub(crate) chain_id: u64,
    /// The contract address.
    pub(crate) contract: Address,
    /// The block it was deployed in; indexers start there.
    pub(crate) deploy_block: u64,
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cairn")
}

impl GlobalArgs {
    /// The wallet, or a clear error naming the flag to set.
    pub(crate) fn wallet(&self) -> anyhow::Result<PrivateKeySigner> {
        let raw = match (&self.private_key, &self.private_key_file) {
            (Some(raw), _) => zeroize::Zeroizing::new(raw.clone()),
            (None, Some(path)) => zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the private key from {}", path.display()))?,
            ),
            (None, None) if std::io::stdin().is_terminal() => zeroize::Zeroizing::new(
                rpassword::prompt_password("wallet private key (hex): ")
                    .context("reading the private key from the terminal")?,
            ),
            (None, None) => bail!(
                "this command needs a wallet: pass --private-key-file, set CAIRN_PRIVATE_KEY, or run it on a terminal to be asked"
            ),
        };
        // The parse error could echo the secret; replace it with a fixed message.
        raw.trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("the private key is not a valid 32-byte hex private key"))
    }

    /// The keystore passphrase: from --keystore-password-file, or asked on a
    /// terminal (twice when `confirm`, for a new keystore).
    pub(crate) fn passphrase(&self, path: &Path, confirm: bool) -> Result<String, KeyError> {
        if let Some(file) = &self.keystore_password_file {
            let text = std::fs::read_to_string(file).map_err(|source| KeyError::Io {
                path: file.clone(),
                source,
            })?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_string());
        }
        if !std::io::stdin().is_terminal() {
            return Err(KeyError::NoPassphrase(path.to_path_buf()));
        }
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt).map_err(|source| KeyError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let first = ask(&format!("passphrase for {}: ", path.display()))?;
        if confirm && ask("again: ")? != first {
            return Err(KeyError::MalformedKeystore {
                path: path.to_path_buf(),
                reason: "the two passphrases differ".into(),
            });
        }
        Ok(first)
    }

    /// The contract address from the flag or the deployment file.
    pub(crate) fn contract(&self) -> anyhow::Result<Address> {
        match self.contract {
            Some(address) => Ok(address),
            None => self
                .deployment()
                .map(|d| d.contract)
                .context("no --contract given"),
        }
    }

    /// The deployment file <data-dir>/deployment.json.
    pub(crate) fn deployment(&self) -> anyhow::Result<Deployment> {
        let path = self.data_dir.join("deployment.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} cannot be read; deploy with `make dev` or pass --contract",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid deployment file", path.display()))
    }

    /// A chain client, with the wallet when `signing` is set.
    pub(crate) async fn chain(&self, signing: bool) -> anyhow::Result<CairnClient> {
        let signer = if signing { Some(self.wallet()?) } else { None };
        let contract = self.contract()?;
        CairnClient::connect(&self.rpc_url, contract, signer)
            .await
            .with_context(|| format!("connecting to {} at {}", contract, self.rpc_url))
    }

    /// The configured block store.
    pub(crate) fn blob_store(&self) -> anyhow::Result<Arc<dyn BlobStore>> {
        Ok(match self.store {
            StoreKind::Embedded => Arc::new(EmbeddedStore::open(self.data_dir.join("store"))?),
            StoreKind::Kubo => Arc::new(KuboStore::new(&self.kubo_url)),
        })
    }

    /// The wallet's [`Messenger`]; `signing` when it will send transactions.
    pub(crate) async fn messenger(&self, signing: bool) -> anyhow::Result<Messenger> {
        let wallet = self.wallet()?;
        let key = self.messaging_key(&wallet).await?;
        // A keystore made by `key new` replaces the wallet-derived key; the
        // derived one still opens what was sealed for it before. (Without a
        // keystore, the key in use is the derived one already.)
        let mut old_keys = Vec::new();
        if self.keystore_in_use(wallet.address()).is_some() {
            let derived = wallet::derive_with_signer(&wallet).await?;
            if derived.public_key() != key.public_key() {
                old_keys.push(derived);
            }
        }
        Ok(Messenger::new(
            self.chain(signing).await?,
            self.blob_store()?,
            wallet.address(),
            key,
        )
        .with_old_keys(old_keys))
    }

    /// A [`Verifier`](cairn::verify::Verifier) reading the chain through
    /// `chain` (the messenger's connection) and the configured store,
    /// remembering verified messages in the data dir.
    pub(crate) async fn verifier(
        &self,
        chain: &CairnClient,
    ) -> anyhow::Result<cairn::verify::Verifier> {
        let contract = self.contract()?;
        self.ensure_data_dir()?;
        let cache = self.data_dir.join(format!(
            "verified-{}.txt",
            contract.to_string().to_lowercase()
        ));
        Ok(cairn::verify::Verifier::new(chain.clone(), self.blob_store()?, Some(cache)).await?)
    }

    /// The consent list this machine keeps for `owner` on `domain`'s chain
    /// and contract: the newest signed entry seen per peer, which no node
    /// can move back (`cairn_client::consent`).
    pub(crate) fn consent_memory(
        &self,
        domain: &alloy::sol_types::Eip712Domain,
        owner: Address,
    ) -> anyhow::Result<cairn::consent::ConsentMemory> {
        self.ensure_data_dir()?;
        let chain_id = domain.chain_id.map_or(0, |c| c.to::<u64>());
        let contract = domain.verifying_contract.unwrap_or_default();
        let path = self.data_dir.join("consent").join(format!(
            "{chain_id}-{}-{}.json",
            contract.to_string().to_lowercase(),
            owner.to_string().to_lowercase()
        ));
        Ok(cairn::consent::ConsentMemory::open(path, owner)?)
    }

    /// Creates the data directory, readable by its owner only (0700): it
    /// holds keystores and databases.
    pub(crate) fn ensure_data_dir(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.data_dir)
            .and_then(|()| {
                std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
            })
            .with_context(|| format!("creating {}", self.data_dir.display()))
    }

    /// The keystore path for `address`.
    pub(crate) fn keystore_path(&self, address: Address) -> PathBuf {
        keystore::default_path(&self.data_dir, address)
    }

    /// This device's signer for `wallet`, when `cairn signer new` made one.
    pub(crate) fn device_signer(
        &self,
        wallet: Address,
    ) -> anyhow::Result<Option<PrivateKeySigner>> {
        let path = keystore::signer_path(&self.data_dir, wallet);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = zeroize::Zeroizing::new(keystore::load_bytes(&path, || {
            self.passphrase(&path, false)
        })?);
        let key = PrivateKeySigner::from_slice(bytes.as_slice())
            .with_context(|| format!("{} holds no secp256k1 key", path.display()))?;
        Ok(Some(key))
    }

    /// The wallet's messaging key, from the configured source.
    pub(crate) async fn messaging_key(
        &self,
        wallet: &PrivateKeySigner,
    ) -> anyhow::Result<SecretKey> {
        match self.keystore_in_use(wallet.address()) {
            Some(path) => Ok(keystore::load(&path, || self.passphrase(&path, false))?),
            None => Ok(wallet::derive_with_signer(wallet).await?),
        }
    }

    /// The keystore the messaging key comes from, if it comes from one.
    fn keystore_in_use(&self, address: Address) -> Option<PathBuf> {
        let path = self.keystore_path(address);
        match self.key_source {
            KeySource::Keystore => Some(path),
            KeySource::Auto if path.exists() => Some(path),
            KeySource::Auto | KeySource::Wallet => None,
        }
    }
}

/// A spinner on stderr for work that may take over a second. Hidden when
/// stderr is not a terminal or output is JSON, so scripts see clean output.
pub(crate) fn spinner(json: bool, message: &str) -> ProgressBar {
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("static template"),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A secret kept in a file (a database URL with its password, a key): the
/// file must be readable by its owner alone, as ssh demands of keys, and
/// its text is trimmed. Unlike a flag's value, a file's content is not in
/// the process list for every user to read.
pub(crate) fn secret_file(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    keystore::check_mode(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the secret in {}", path.display()))?;
    Ok(zeroize::Zeroizing::new(text.trim().to_string()))
}

/// The database URL of `--<flag>` or of `--<flag>-file`; `None` without either.
pub(crate) fn url_or_file(
    url: &Option<String>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    match (url, file) {
        (Some(url), _) => Ok(Some(url.clone())),
        (None, Some(path)) => Ok(Some(secret_file(path)?.to_string())),
        (None, None) => Ok(None),
    }
}

/// A private key (hex) given as `--<what>`, or from `--<what>-file`: a
/// file with the hex key, or an encrypted keystore (JSON, as `cairn key
/// new` and other Ethereum tools write), opened with the passphrase of
/// --keystore-password-file.
pub(crate) fn key_or_file(
    global: &GlobalArgs,
    what: &str,
    raw: &Option<String>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<PrivateKeySigner>> {
    let parse = |hex: &str| {
        // The parse error could echo the secret; replace it with a fixed message.
        hex.trim()
            .parse::<PrivateKeySigner>()
            .map_err(|_| anyhow::anyhow!("--{what} is not a valid 32-byte hex private key"))
    };
    let path = match (raw, file) {
        (Some(raw), _) => return parse(raw).map(Some),
        (None, Some(path)) => path,
        (None, None) => return Ok(None),
    };
    let text = secret_file(path)?;
    if text.starts_with('{') {
        let secret = keystore::load_bytes(path, || global.passphrase(path, false))?;
        let key = PrivateKeySigner::from_bytes(&secret.into())
            .map_err(|_| anyhow::anyhow!("{} holds no valid private key", path.display()))?;
        return Ok(Some(key));
    }
    parse(&text)
        .map(Some)
        .with_context(|| format!("in {}", path.display()))
}

/// Reads a file that must exist, naming it in the error.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Prints `value` as JSON or `text()` as plain text.
pub(crate) fn print(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}
