//! Read-path benchmark on real Anvil, SQLite and PostgreSQL. Run with
//! `make bench-read-path` (or `cargo bench --bench read_path` after `make
//! tools`); figures go in docs/BENCHMARKS.md. Scenarios (all by default;
//! `CAIRN_BENCH_ONLY=scale|subscribers|latency` runs one, and
//! `CAIRN_BENCH_STORES=sqlite` or `postgresql` runs the scale and
//! subscribers scenarios on one store, and `CAIRN_BENCH_NODE_ARGS` adds flags to its node):
//!
//! - **scale**: `CAIRN_BENCH_ROWS` posts (default 100,000; the note's
//!   figures use 1,000,000), `CAIRN_BENCH_PER_BLOCK` to a block (default
//!   2,000), a fifth of them to one
//!   recipient. A fresh `cairn serve` (the release binary, default flags)
//!   indexes them from block 0 on each store. Reported: backfill time, peak
//!   RSS and CPU of the node, the longest ingestion commit, the SQLite WAL
//!   left behind; then first-page and deep-page latency over HTTP (a page
//!   of 50 after 100,000 rows, or half the recipient's rows when fewer),
//!   and how many of 1,000 back-to-back requests the default rate limit
//!   refused.
//! - **subscribers**: `CAIRN_BENCH_SUBSCRIBERS` WebSocket streams (default
//!   1,000; the note's use 10,000), one per address, on a `cairn serve`
//!   following Anvil by `newHeads`. For each of `CAIRN_BENCH_FRAMES` posts
//!   per block (default `10,500`), `CAIRN_BENCH_BLOCKS` blocks (default 30)
//!   each carry that many posts to as many subscribers. As on any chain
//!   with a block time, the posts' block and the next one are indexed
//!   before the confirming block (K = 2) is mined; the delay runs from the
//!   return of that `evm_mine` to each frame's arrival. Also reported: the node's CPU per block of posts and
//!   its RSS with every stream open. With `CAIRN_BENCH_NODES=3` the
//!   PostgreSQL run starts three nodes on one database and spreads the
//!   streams over them (CPU and RSS are then the nodes' sum).
//! - **latency**: `CAIRN_BENCH_SAMPLES` (default 200) posts one at a time to
//!   one stream, with head polling (250 ms) and with a head subscription.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/harness.rs"]
mod harness;
mod speed;

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{keccak256, Address},
    sol_types::SolCall,
};
use cairn::{
    chain::{Cairn, CairnClient},
    read_api::StreamEvent,
};
use cairn_indexer::IndexerConfig;
use futures::StreamExt;
use harness::{
    free_port, indexing_node, metric, mine, post_json, rpc, rpc_u64, signer, Anvil, Database,
    DEPLOYER_KEY, SENDER,
};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

async fn head(url: &str) -> u64 {
    rpc_u64(url, "eth_blockNumber", json!([])).await
}

/// `p`-th percentile of sorted `delays`, in milliseconds.
fn pct(delays: &[Duration], p: f64) -> f64 {
    let i = ((delays.len() as f64 * p).ceil() as usize).clamp(1, delays.len()) - 1;
    delays[i].as_secs_f64() * 1e3
}

/// Whether `CAIRN_BENCH_STORES` (empty: both) names this store.
fn runs_on(postgres: bool) -> bool {
    let stores = std::env::var("CAIRN_BENCH_STORES").unwrap_or_default();
    stores.is_empty() || stores.contains(store_name(postgres).to_lowercase().as_str())
}

fn store_name(postgres: bool) -> &'static str {
    if postgres {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// Anvil with room for 2,000 posts (about 60 M gas) in a block.
async fn roomy_anvil() -> Anvil {
    Anvil::start_on(free_port(), &["--gas-limit", "1000000000"]).await
}

/// Sends posts `range` of [`SENDER`] (nonce = post number) in one JSON-RPC
/// batch, to `to(i)`, then mines them into one block.
async fn post_block(
    http: &reqwest::Client,
    url: &str,
    contract: Address,
    range: std::ops::Range<usize>,
    to: impl Fn(usize) -> Address,
) {
    let calls: Vec<Value> = range
        .map(|i| {
            let input = Cairn::postCall {
                to: to(i).into_word(),
                digest: keccak256(i.to_be_bytes()),
            }
            .abi_encode();
            let tx = json!({"from": SENDER, "to": contract, "data": format!("0x{}", hex::encode(input)),
                "gas": "0x30000", "nonce": format!("0x{i:x}")});
            json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction", "params": [tx]})
        })
        .collect();
    let replies = post_json(http, url, &Value::Array(calls)).await;
    if let Some(failed) = replies
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r.get("error").is_some())
    {
        panic!("a post was refused: {failed}");
    }
    rpc(url, "evm_mine", json!([])).await;
}

/// `cairn serve`, the release binary, as its own process: its memory and
/// CPU are its own.
struct Served {
    child: tokio::process::Child,
    api: String,
    /// The status listener (`/metrics`).
    status: String,
    dir: tempfile::TempDir,
}

impl Served {
    async fn start(anvil: &Anvil, contract: Address, database: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (port, status_port) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{status_port}")])
            .args(["--database-url", database])
            .args(args)
            .env("CAIRN_DATA_DIR", dir.path())
            .env("CAIRN_RPC_URL", &anvil.url)
            .env("CAIRN_CONTRACT", contract.to_string())
            .env("CAIRN_STORE", "embedded")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("cairn serve starts");
        let api = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{api}/healthz")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cairn serve did not start; see its log"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = format!("http://127.0.0.1:{status_port}");
        Self {
            child,
            api,
            status,
            dir,
        }
    }

    fn proc(&self, file: &str) -> String {
        let pid = self.child.id().expect("still running");
        std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap()
    }

    /// Peak resident memory so far, in MiB (VmHWM).
    fn peak_rss_mib(&self) -> f64 {
        self.status_kib("VmHWM:") / 1024.0
    }

    /// Resident memory now, in MiB (VmRSS).
    fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS:") / 1024.0
    }

    fn status_kib(&self, field: &str) -> f64 {
        self.proc("status")
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    }

    /// User and system CPU time so far, in seconds.
    fn cpu_secs(&self) -> f64 {
        let stat = self.proc("stat");
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th of the whole line, in clock ticks (100 a second).
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    async fn indexed(&self) -> Option<u64> {
        let health: Value = reqwest::get(format!("{}/healthz", self.api))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        health["indexed"].as_u64()
    }

    /// The longest ingestion commit in the metrics' window, in ms.
    async fn longest_commit_ms(&self) -> f64 {
        metric(&self.status, "cairn_indexer_commit_seconds{quantile=\"1\"}")
            .await
            .map_or(0.0, |s| s * 1e3)
    }

    /// Statements the node logged as slower than 250 ms.
    fn slow_statements(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("serve.log"))
            .unwrap_or_default()
            .matches("slow statement")
            .count()
    }
}

/// The size of the WAL of the SQLite database at `url`, if it has one.
fn wal_mib(url: &str) -> Option<f64> {
    let path = url.strip_prefix("sqlite://")?;
    let wal = PathBuf::from(format!("{path}-wal"));
    std::fs::metadata(wal)
        .ok()
        .map(|m| m.len() as f64 / (1 << 20) as f64)
}

/// The recipient of every fifth post in the scale scenario.
fn scale_recipient(i: usize) -> Address {
    Address::with_last_byte(0x10 + (i % 5) as u8)
}

async fn scale(rows: usize, per_block: usize) {
    let anvil = roomy_anvil().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    rpc(&anvil.url, "evm_setAutomine", json!([false])).await;
    let started = Instant::now();
    for first in (0..rows).step_by(per_block) {
        post_block(
            &http,
            &anvil.url,
            contract,
            first..(first + per_block).min(rows),
            scale_recipient,
        )
        .await;
    }
    rpc(&anvil.url, "evm_setAutomine", json!([true])).await;
    mine(&anvil.url, 2).await;
    let target = head(&anvil.url).await;
    println!(
        "scale: anchored {rows} posts in {} blocks in {:.1} s",
        rows.div_ceil(per_block),
        started.elapsed().as_secs_f64()
    );
    for postgres in [false, true] {
        if !runs_on(postgres) {
            continue;
        }
        let db = Database::start(postgres).await;
        let started = Instant::now();
        let extra = std::env::var("CAIRN_BENCH_NODE_ARGS").unwrap_or_default();
        let mut args = vec!["--start-block", "0"];
        args.extend(extra.split_whitespace());
        let node = Served::start(&anvil, contract, &db.url(), &args).await;
        // Start-up (the process, its migrations, the first `/healthz`) is
        // reported apart from the backfill that follows it.
        let up = started.elapsed();
        let mut longest_commit: f64 = 0.0;
        // Progress is polled every 20 ms, so that a 2 s backfill is timed
        // to 1%; the metrics page, which costs more, every tenth poll.
        let mut polls = 0u32;
        while node.indexed().await.is_none_or(|i| i < target) {
            if polls % 10 == 0 {
                longest_commit = longest_commit.max(node.longest_commit_ms().await);
            }
            polls += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let backfill = started.elapsed();
        longest_commit = longest_commit.max(node.longest_commit_ms().await);
        let (rss, cpu) = (node.peak_rss_mib(), node.cpu_secs());
        let wal = wal_mib(&db.url()).map_or(String::new(), |w| format!(", SQLite WAL {w:.1} MiB"));
        println!(
            "scale {}: backfill {rows} rows {:.2} s ({:.0} rows/s) from the node's start, of which start-up {:.2} s; peak RSS {rss:.0} MiB, CPU {cpu:.1} s, longest commit {longest_commit:.0} ms, statements over 250 ms: {}{wal}",
            store_name(postgres),
            backfill.as_secs_f64(),
            rows as f64 / backfill.as_secs_f64(),
            up.as_secs_f64(),
            node.slow_statements(),
        );
        // One figure per line, for `make bench-compare METRIC=...`.
        println!(
            "| {} backfill rows per second | {:.0} |",
            store_name(postgres),
            rows as f64 / backfill.as_secs_f64()
        );
        println!(
            "| {} backfill rows per second after start-up | {:.0} |",
            store_name(postgres),
            rows as f64 / (backfill - up).as_secs_f64()
        );
        pages(&node, postgres, rows / 5).await;
        println!(
            "scale {}: peak RSS after the page queries {:.0} MiB",
            store_name(postgres),
            node.peak_rss_mib()
        );
    }
}

/// Sequential requests on one keep-alive client: the latencies, and how
/// many were refused with 429. The client runs alone on a thread with a
/// single-threaded runtime, so that the figures hold the node's time and not
/// hand-offs between the benchmark's own threads.
async fn timed_gets(url: &str, n: usize) -> (Vec<Duration>, usize) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let http = reqwest::Client::new();
            // Opens the connection, so every timed request reuses it.
            http.get(&url).send().await.ok();
            let mut delays = Vec::with_capacity(n);
            let mut refused = 0;
            for _ in 0..n {
                let started = Instant::now();
                let response = http.get(&url).send().await.unwrap();
                let status = response.status();
                let _ = response.bytes().await.unwrap();
                delays.push(started.elapsed());
                if status == 429 {
                    refused += 1;
                } else {
                    assert!(status.is_success(), "{url}: {status}");
                }
            }
            delays.sort();
            (delays, refused)
        })
    })
    .await
    .unwrap()
}

async fn pages(node: &Served, postgres: bool, rows_for_one: usize) {
    let http = reqwest::Client::new();
    let inbox = format!("{}/v1/inbox/{}", node.api, scale_recipient(0));
    // The round trip without the store: what the machine adds to every page.
    let (floor, _) = timed_gets(&format!("{}/healthz", node.api), 1_000).await;
    println!(
        "scale {}: /healthz p50 {:.2} ms p99 {:.2} ms",
        store_name(postgres),
        pct(&floor, 0.5),
        pct(&floor, 0.99)
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (first, refused) = timed_gets(&format!("{inbox}?limit=50"), 1_000).await;
    // The rate limit's bucket refills between phases, as between a user's pages.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let depth = 100_000.min(rows_for_one / 2);
    let mut cursor = String::new();
    let mut seen = 0;
    while seen < depth {
        let limit = 500.min(depth - seen);
        let url = match seen {
            0 => format!("{inbox}?limit={limit}"),
            _ => format!("{inbox}?limit={limit}&after={cursor}"),
        };
        let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        seen += page["messages"].as_array().unwrap().len();
        cursor = page["next"].as_str().unwrap().to_string();
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (deep, deep_refused) = timed_gets(&format!("{inbox}?limit=50&after={cursor}"), 1_000).await;
    println!(
        "scale {}: first page p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms; page after {depth} rows p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms; 429s in 2 x 1,000 sequential requests: {}",
        store_name(postgres),
        pct(&first, 0.5),
        pct(&first, 0.9),
        pct(&first, 0.99),
        pct(&first, 1.0),
        pct(&deep, 0.5),
        pct(&deep, 0.9),
        pct(&deep, 0.99),
        pct(&deep, 1.0),
        refused + deep_refused
    );
}

/// Subscriber `i`'s address.
fn subscriber(i: usize) -> Address {
    Address::left_padding_from(&(0xca1e_0000_0000u64 + i as u64).to_be_bytes())
}

/// Opens `n` streams, one per subscriber address, spread over `apis` in
/// turn; each reports the digest of every frame it receives, with its
/// arrival time.
async fn open_streams(
    apis: &[String],
    n: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, Instant)> {
    let (arrivals, receiver) = tokio::sync::mpsc::unbounded_channel();
    let bases: Vec<String> = apis.iter().map(|a| a.replacen("http", "ws", 1)).collect();
    futures::stream::iter(0..n)
        .map(|i| {
            let url = format!(
                "{}/v1/stream?address={}",
                bases[i % bases.len()],
                subscriber(i)
            );
            let arrivals = arrivals.clone();
            async move {
                let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                tokio::spawn(async move {
                    while let Some(Ok(frame)) = socket.next().await {
                        let arrived = Instant::now();
                        if let WsMessage::Text(text) = frame {
                            let value: Value = serde_json::from_str(&text).unwrap();
                            if let Some(digest) = value["message"]["digest"].as_str() {
                                let _ = arrivals.send((digest.to_string(), arrived));
                            }
                        }
                    }
                });
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    receiver
}

async fn subscribers(n: usize, frames: &[usize], blocks: usize, pg_nodes: usize) {
    let anvil = roomy_anvil().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let ws = anvil.url.replacen("http", "ws", 1);
    let mut next_post = 0usize;
    for postgres in [false, true] {
        if !runs_on(postgres) {
            continue;
        }
        let db = Database::start(postgres).await;
        let start = head(&anvil.url).await.to_string();
        // One client machine opens every stream: lift the per-IP caps a
        // load test from one address would hit. Every other flag is a default.
        let connections = (n + 1_000).to_string();
        let args = [
            "--start-block",
            &start,
            "--ws-url",
            &ws,
            "--max-connections",
            &connections,
            "--max-connections-per-ip",
            &connections,
            "--rate-per-ip",
            "1000000",
            "--burst-per-ip",
            "1000000",
        ];
        // Several nodes share a PostgreSQL database; the first one started
        // takes the ingest lease, and the streams are spread over all.
        let count = if postgres { pg_nodes.max(1) } else { 1 };
        let mut nodes = Vec::new();
        for _ in 0..count {
            nodes.push(Served::start(&anvil, contract, &db.url(), &args).await);
        }
        let ingesting = &nodes[0];
        let apis: Vec<String> = nodes.iter().map(|n| n.api.clone()).collect();
        let opened = Instant::now();
        let mut arrivals = open_streams(&apis, n).await;
        let rss_open: f64 = nodes.iter().map(Served::rss_mib).sum();
        let open_secs = opened.elapsed().as_secs_f64();
        let cpu = || nodes.iter().map(Served::cpu_secs).sum::<f64>();
        let where_ = format!(
            "{}{}",
            store_name(postgres),
            if count > 1 {
                format!(", {count} nodes")
            } else {
                String::new()
            }
        );
        rpc(&anvil.url, "evm_setAutomine", json!([false])).await;
        for &per_block in frames {
            let mut delays = Vec::with_capacity(blocks * per_block);
            let cpu_before = cpu();
            for _ in 0..blocks {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let posts = next_post..next_post + per_block;
                next_post += per_block;
                let expected: HashMap<String, ()> = posts
                    .clone()
                    .map(|i| (keccak256(i.to_be_bytes()).to_string(), ()))
                    .collect();
                post_block(&http, &anvil.url, contract, posts, |i| subscriber(i % n)).await;
                rpc(&anvil.url, "evm_mine", json!([])).await;
                // As on a chain with a block time: the posts' block and the
                // next are indexed (pending) before the confirming block.
                let pending = head(&anvil.url).await;
                while ingesting.indexed().await.is_none_or(|i| i < pending) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                rpc(&anvil.url, "evm_mine", json!([])).await; // the confirming block (K = 2)
                let confirmed = Instant::now();
                let mut waiting = expected.len();
                while waiting > 0 {
                    let (digest, arrived) =
                        tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
                            .await
                            .expect("every frame arrives")
                            .unwrap();
                    if expected.contains_key(&digest) {
                        waiting -= 1;
                        delays.push(arrived.saturating_duration_since(confirmed));
                    }
                }
            }
            let cpu = (cpu() - cpu_before) / blocks as f64;
            delays.sort();
            println!(
                "subscribers {where_} {n} streams, {per_block} frames/block, {blocks} blocks: block -> frame p50 {:.1} ms p99 {:.1} ms max {:.1} ms; CPU per block of posts {:.1} ms",
                pct(&delays, 0.5),
                pct(&delays, 0.99),
                delays.last().unwrap().as_secs_f64() * 1e3,
                cpu * 1e3
            );
        }
        rpc(&anvil.url, "evm_setAutomine", json!([true])).await;
        println!(
            "subscribers {where_} {n} streams: opened in {open_secs:.1} s, node RSS {rss_open:.0} MiB with all open (all nodes), peak {:.0} MiB (the ingesting node)",
            ingesting.peak_rss_mib()
        );
        drop(arrivals);
    }
}

/// Push latency of one stream, one post at a time.
async fn latency(anvil: &Anvil, contract: Address, samples: usize, subscribe: bool) {
    let db = Database::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let ws_url = subscribe.then(|| anvil.url.replacen("http", "ws", 1));
    let indexer = IndexerConfig {
        start_block: head(&anvil.url).await,
        ws_url,
        ..IndexerConfig::new(anvil.url.clone(), contract)
    };
    let node = indexing_node(indexer, &db, dir.path()).await;
    let recipient = Address::with_last_byte(0xee);
    let url = format!("ws://{}/v1/stream?address={recipient}", node.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            if let WsMessage::Text(text) = frame {
                if let Ok(event) = serde_json::from_str::<StreamEvent>(&text) {
                    let _ = tx.send((event.message.sequence, Instant::now()));
                }
            }
        }
    });
    let nonce = rpc_u64(
        &anvil.url,
        "eth_getTransactionCount",
        json!([SENDER, "latest"]),
    )
    .await;
    rpc(&anvil.url, "evm_setAutomine", json!([false])).await;
    let mut delays = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        // Start each sample at a different phase of the indexer's poll cycle.
        tokio::time::sleep(Duration::from_millis(300 + (i * 37) % 250)).await;
        let input = Cairn::postCall {
            to: recipient.into_word(),
            digest: keccak256(i.to_be_bytes()),
        }
        .abi_encode();
        let tx = json!({"from": SENDER, "to": contract, "data": format!("0x{}", hex::encode(input)), "gas": "0x30000", "nonce": format!("0x{:x}", nonce + i)});
        rpc(&anvil.url, "eth_sendTransaction", json!([tx])).await;
        rpc(&anvil.url, "evm_mine", json!([])).await;
        mine(&anvil.url, 1).await;
        rpc(&anvil.url, "evm_mine", json!([])).await; // the confirming block (K = 2)
        let confirmed = Instant::now();
        let (_, arrived) = tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
            .await
            .unwrap()
            .unwrap();
        delays.push(arrived.saturating_duration_since(confirmed));
    }
    rpc(&anvil.url, "evm_setAutomine", json!([true])).await;
    delays.sort();
    let pct = |p: f64| delays[((delays.len() as f64 * p).ceil() as usize).min(delays.len()) - 1];
    let mode = if subscribe {
        "ws subscription"
    } else {
        "http polling 250 ms"
    };
    println!(
        "latency confirming block -> frame ({mode}, {samples} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        delays.last().unwrap().as_secs_f64() * 1e3
    );
    node.shutdown().await.unwrap();
}

#[tokio::main]
async fn main() {
    speed::report();
    let only = std::env::var("CAIRN_BENCH_ONLY").ok();
    let runs = |scenario: &str| only.as_deref().is_none_or(|o| o == scenario);
    if runs("scale") {
        scale(
            env_usize("CAIRN_BENCH_ROWS", 100_000),
            env_usize("CAIRN_BENCH_PER_BLOCK", 2_000),
        )
        .await;
    }
    if runs("subscribers") {
        subscribers(
            env_usize("CAIRN_BENCH_SUBSCRIBERS", 1_000),
            &env_list("CAIRN_BENCH_FRAMES", &[10, 500]),
            env_usize("CAIRN_BENCH_BLOCKS", 30),
            env_usize("CAIRN_BENCH_NODES", 1),
        )
        .await;
    }
    if runs("latency") {
        let samples = env_usize("CAIRN_BENCH_SAMPLES", 200);
        let anvil = Anvil::start().await;
        let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
            .await
            .unwrap();
        latency(&anvil, contract, samples, false).await;
        latency(&anvil, contract, samples, true).await;
    }
}
