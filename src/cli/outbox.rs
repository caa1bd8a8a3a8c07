//! The CLI's outbox: each signed post `send --via-gateway` hands to a
//! gateway is kept in `<data-dir>/outbox/<id>.json` until it is settled
//! (anchored, or accepted under `--no-wait`, refused or expired). One left
//! undecided (the gateways did not answer in time) is sent again, the same
//! signed post, by `cairn outbox`: never a new nonce, so never a duplicate.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use alloy::primitives::B256;
use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::args::{print, spinner, GlobalArgs};
use cairn::gateway::{
    client::GatewayClient,
    delivery::{Delivered, Delivery, DeliveryError, Step, Until},
    submit::PostRequest,
};

/// A post kept until it is settled.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeptPost {
    /// Its id (the EIP-712 signing hash).
    pub(crate) id: B256,
    /// The gateways it may go through.
    pub(crate) gateways: Vec<String>,
    /// The signed post, envelope inline.
    pub(crate) post: PostRequest,
}

fn dir(global: &GlobalArgs) -> PathBuf {
    global.data_dir.join("outbox")
}

fn path_of(global: &GlobalArgs, id: B256) -> PathBuf {
    dir(global).join(format!("{id}.json"))
}

impl KeptPost {
    /// Writes it, whole or not at all (a temporary file renamed into place).
    pub(crate) fn keep(&self, global: &GlobalArgs) -> anyhow::Result<()> {
        global.ensure_data_dir()?;
        let dir = dir(global);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = path_of(global, self.id);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("keeping the signed post in {}", path.display()))
    }

    /// Forgets it: it is settled.
    pub(crate) fn forget(global: &GlobalArgs, id: B256) {
        let _ = std::fs::remove_file(path_of(global, id));
    }

    fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))
    }

    /// Delivers it until `until` or `limit`, showing progress on `bar` (and
    /// as lines on stderr when it is no terminal, with --json too, so that a
    /// script's log shows why it waits; stdout keeps only the answer). Forgets it once settled either way.
    pub(crate) async fn deliver(
        &self,
        global: &GlobalArgs,
        bar: &ProgressBar,
        until: Until,
        limit: Duration,
    ) -> Result<Delivered, DeliveryError> {
        let gateways = self
            .gateways
            .iter()
            .map(|g| GatewayClient::new(g))
            .collect();
        let delivery = Delivery::new(gateways, self.post.clone(), self.id);
        let plain = !std::io::stderr().is_terminal();
        let said = Mutex::new(String::new());
        let progress = |step: Step| {
            let text = match step {
                Step::Submitting {
                    gateway,
                    attempt: 1,
                } => format!("submitting to {gateway}"),
                Step::Submitting { gateway, attempt } => {
                    format!("submitting the same signed post to {gateway} (attempt {attempt})")
                }
                Step::Status(status) => format!("post {} is {status:?}", self.id).to_lowercase(),
                Step::Waiting { reason, after } => format!(
                    "no gateway could say where post {} stands ({reason}); asking again in {:.1} s",
                    self.id,
                    after.as_secs_f64()
                ),
            };
            let mut said = said.lock().expect("progress lock");
            if *said != text {
                if plain {
                    eprintln!("{text}");
                }
                bar.set_message(text.clone());
                *said = text;
            }
        };
        let outcome = delivery.run(until, limit, &progress).await;
        if !matches!(outcome, Err(DeliveryError::Undecided { .. })) {
            Self::forget(global, self.id);
        }
        outcome
    }
}

/// Arguments of `cairn outbox`.
#[derive(Debug, Args)]
pub(crate) struct OutboxArgs {
    /// Seconds to spend on each post before leaving it for the next run.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
    /// Only list what is kept; send nothing.
    #[arg(long)]
    list: bool,
}

impl OutboxArgs {
    pub(super) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        let mut kept = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir(global)) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") {
                    kept.push(KeptPost::load(&path)?);
                }
            }
        }
        kept.sort_by_key(|k| k.post.nonce);
        let mut rows = Vec::new();
        for post in &kept {
            let state = if self.list {
                "kept".to_string()
            } else {
                let bar = spinner(global.json, "sending");
                let outcome = post
                    .deliver(
                        global,
                        &bar,
                        Until::Accepted,
                        Duration::from_secs(self.wait_secs),
                    )
                    .await;
                bar.finish_and_clear();
                match outcome {
                    Ok(Delivered::Accepted) => "accepted".into(),
                    Ok(Delivered::Anchored(_)) => "anchored".into(),
                    Err(e @ DeliveryError::Undecided { .. }) => format!("kept: {e}"),
                    Err(e) => format!("failed: {e}"),
                }
            };
            rows.push(
                json!({"id": post.id, "to": post.post.to, "deadline": post.post.deadline,
                "gateways": post.gateways, "state": state}),
            );
        }
        print(global.json, json!(rows), || {
            if rows.is_empty() {
                return "the outbox is empty: every post was settled".into();
            }
            rows.iter()
                .map(|r| {
                    format!(
                        "{}  {}",
                        r["id"].as_str().unwrap_or(""),
                        r["state"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        Ok(())
    }
}
