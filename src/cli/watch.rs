//! `cairn watch`: decrypt messages live as they are confirmed.
//!
//! Follows `/v1/stream` and remembers the last cursor in
//! `<data-dir>/cursors/<address>`, so a dropped connection or a restart
//! resumes exactly where it stopped: nothing missed, nothing twice. It
//! signs in with your wallet when the node offers sign-in, so senders you
//! blocked are never pushed, and it refuses a stream that the node served
//! as anonymous all the same; when the session ends (logout, expiry) the
//! node closes the stream and `watch` signs in again. Whatever a node
//! pushes, senders this machine's own consent list blocks are not shown
//! (a `hidden` line in `--json`). `cairn channel
//! watch` follows a channel the same way, with its own cursor file.

use std::{path::PathBuf, time::Duration};

use alloy::primitives::{Address, B256};
use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as WsMessage};

use super::{args::GlobalArgs, consent::sign_in, decrypt::show};
use cairn::read_api::{EventKind, ReadApi, StreamEvent};

/// Arguments of `cairn watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Resume after this cursor instead of the saved one.
    #[arg(long)]
    after: Option<String>,
    /// Stop after this many events, hidden ones included (for scripts and tests).
    #[arg(long)]
    count: Option<u64>,
    /// Reconnect when nothing (not even a heartbeat) arrives for this many seconds.
    #[arg(long, default_value_t = 45)]
    idle_timeout_secs: u64,
}

impl WatchArgs {
    /// Watches your inbox.
    pub(crate) async fn run(self, global: &GlobalArgs) -> anyhow::Result<()> {
        self.watch(global, None).await
    }

    /// Watches your inbox, or `channel`'s messages (`cairn channel watch`).
    pub(crate) async fn watch(
        self,
        global: &GlobalArgs,
        channel: Option<B256>,
    ) -> anyhow::Result<()> {
        let address = global.wallet()?.address();
        let messenger = global.messenger(false).await?;
        let verifier = global.verifier(messenger.chain()).await?;
        let wallet = global.wallet()?;
        let mut api = ReadApi::new(&global.api_url);
        // Your inbox (not a channel): signed in on the chain's domain, and
        // senders this machine's own consent list blocks are never shown,
        // even when a node (lying, or anonymous) pushes them.
        let inbox = match channel {
            Some(_) => None,
            None => {
                let domain = messenger.chain().domain().await?;
                let memory = global.consent_memory(&domain, address)?;
                Some((domain, memory))
            }
        };
        let cursor_file = match channel {
            Some(channel) => global
                .data_dir
                .join("cursors")
                .join(format!("channel-{channel:#x}")),
            None => cursor_path(global, address),
        };
        let mut cursor = match self.after.clone() {
            Some(c) => Some(c),
            None => std::fs::read_to_string(&cursor_file)
                .ok()
                .map(|s| s.trim().to_string()),
        };
        let mut received = 0u64;
        let mut backoff = Duration::from_millis(250);
        // Connections in a row served as anonymous although signed in.
        let mut anonymous_streams = 0;
        loop {
            let url = match channel {
                Some(channel) => api.channel_stream_url(channel, cursor.as_deref()),
                None => api.stream_url(address, cursor.as_deref()),
            };
            // Signed in (afresh on each connection, as sessions are short),
            // the stream never pushes senders you blocked.
            let mut request = url.into_client_request()?;
            let mut signed_in = false;
            // A channel's stream is the same for every reader.
            if let Some((domain, _)) = &inbox {
                match sign_in(&mut api, &wallet, domain).await {
                    Ok(true) => {
                        if let Some(cookie) = api.session_cookie() {
                            request.headers_mut().insert("cookie", cookie.parse()?);
                            signed_in = true;
                        }
                    }
                    // The node offers no sign-in: its stream is the chain's.
                    Ok(false) => {}
                    // Never fall back to an anonymous stream: it would push
                    // the senders you blocked. A refusal is final.
                    Err(err) if is_refusal(&err) => {
                        anyhow::bail!("{} refused to sign you in: {err}", global.api_url)
                    }
                    Err(err) => {
                        eprintln!("sign-in failed ({err}); retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        continue;
                    }
                }
            }
            let socket = match tokio_tungstenite::connect_async(request).await {
                Ok((socket, response)) => {
                    // Signed in, the stream must be ours: served anonymously
                    // (a node that does not know the session), it would push
                    // the senders we blocked. Sign in again once; then stop.
                    let viewer = response
                        .headers()
                        .get(cairn_indexer::api::VIEWER_HEADER)
                        .and_then(|v| v.to_str().ok());
                    if signed_in && viewer != Some("owner") {
                        anonymous_streams += 1;
                        if anonymous_streams >= 2 {
                            anyhow::bail!(
                                "{} served your stream as anonymous although you signed in: it would push senders you blocked, so cairn watch stops",
                                global.api_url
                            );
                        }
                        eprintln!("the stream did not know your session; signing in again");
                        continue;
                    }
                    anonymous_streams = 0;
                    backoff = Duration::from_millis(250);
                    // stderr, so JSON output on stdout stays clean.
                    eprintln!(
                        "watching {address} (resume cursor: {})",
                        cursor.as_deref().unwrap_or("now")
                    );
                    socket
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(response))
                    if response.status().is_client_error()
                        && !matches!(response.status().as_u16(), 408 | 429) =>
                {
                    // The server refused this request itself (a bad cursor or
                    // address): asking again cannot help.
                    let body: serde_json::Value = response
                        .body()
                        .as_deref()
                        .and_then(|b| serde_json::from_slice(b).ok())
                        .unwrap_or_default();
                    anyhow::bail!(
                        "the stream refused the request ({} {}): {}",
                        response.status().as_u16(),
                        body["code"].as_str().unwrap_or("error"),
                        body["message"].as_str().unwrap_or("no reason given")
                    );
                }
                Err(err) => {
                    eprintln!("stream unavailable ({err}); retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let (_, mut incoming) = socket.split();
            loop {
                let frame = match tokio::time::timeout(
                    Duration::from_secs(self.idle_timeout_secs),
                    incoming.next(),
                )
                .await
                {
                    Ok(Some(Ok(frame))) => frame,
                    Ok(Some(Err(err))) => {
                        eprintln!("stream dropped ({err}); reconnecting");
                        break;
                    }
                    Ok(None) => {
                        eprintln!("stream closed; reconnecting");
                        break;
                    }
                    Err(_) => {
                        eprintln!("stream idle for {}s; reconnecting", self.idle_timeout_secs);
                        break;
                    }
                };
                let WsMessage::Text(text) = frame else {
                    continue;
                };
                let value: serde_json::Value =
                    serde_json::from_str(&text).context("stream sent invalid JSON")?;
                // The first frame (a heartbeat) names where this connection
                // starts: with no cursor yet, resume from there, so a drop
                // before the first message loses nothing confirmed meanwhile.
                if value["type"] == "heartbeat" && cursor.is_none() {
                    if let Some(start) = value["cursor"].as_str() {
                        cursor = Some(start.to_string());
                        save_cursor(&cursor_file, start)?;
                    }
                }
                // Heartbeats, and presence from wallets you allowed (shown by
                // the web client): nothing to print here.
                if value["type"] != "message" && value["type"] != "retracted" {
                    continue;
                }
                let event: StreamEvent =
                    serde_json::from_value(value).context("stream sent an unknown frame")?;
                match event.kind {
                    EventKind::Message => {
                        let shown = show(&messenger, &verifier, &event.message).await;
                        if inbox.as_ref().is_some_and(|(_, m)| shown.blocked_by(m)) {
                            if global.json {
                                println!(
                                    "{}",
                                    serde_json::json!({"type": "hidden", "cursor": event.cursor, "reason": "blocked"})
                                );
                            } else {
                                eprintln!("a message from a sender you blocked, not shown");
                            }
                        } else if global.json {
                            println!(
                                "{}",
                                serde_json::json!({"type": "message", "cursor": event.cursor, "message": shown.json})
                            );
                        } else {
                            println!("{}", shown.line);
                        }
                    }
                    EventKind::Retracted => {
                        if global.json {
                            println!(
                                "{}",
                                serde_json::json!({"type": "retracted", "cursor": event.cursor, "id": event.message.id})
                            );
                        } else {
                            println!(
                                "retracted by a reorg: #{} ({})",
                                event.message.sequence, event.message.id
                            );
                        }
                    }
                }
                cursor = Some(event.cursor.clone());
                save_cursor(&cursor_file, &event.cursor)?;
                received += 1;
                if self.count.is_some_and(|n| received >= n) {
                    return Ok(());
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Whether a sign-in failed because the node said no (a 4xx other than a
/// timeout or a rate limit), not because it could not answer now.
fn is_refusal(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<cairn::read_api::ReadApiError>(),
        Some(cairn::read_api::ReadApiError::Api { status, .. })
            if (400..500).contains(status) && !matches!(status, 408 | 429)
    )
}

fn cursor_path(global: &GlobalArgs, address: Address) -> PathBuf {
    global
        .data_dir
        .join("cursors")
        .join(format!("{address:#x}"))
}

fn save_cursor(path: &PathBuf, cursor: &str) -> anyhow::Result<()> {
    let dir = path.parent().expect("cursor path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, cursor)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("saving cursor to {}", path.display()))
}
