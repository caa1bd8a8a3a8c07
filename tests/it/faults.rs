//! The fault suite (`make faults`, part of `make test`): real Anvil, Kubo
//! and PostgreSQL, three Cairn processes, and ten clients that send (five
//! directly on chain, five through the batching gateway) and stream their
//! inboxes, while everything around them fails:
//!
//! - 20 SIGKILLs each of `cairn serve` (indexer on SQLite, read API and the
//!   streams), `cairn gateway` (outbox on PostgreSQL) and `cairn index` (a
//!   separate indexer on PostgreSQL), each at a random moment;
//! - restarts of Kubo, of PostgreSQL and of Anvil (`--state`);
//! - reorgs of depth K − 1, K and K + 1, whose transactions come back in
//!   other blocks, as a real network's mempool returns them;
//! - an RPC provider (a proxy every process and client goes through) that
//!   lags behind the head, answers 429 and 502, stalls, caps `eth_getLogs`
//!   and serves every log twice.
//!
//! Then the faults stop and, once everything has caught up, it prints a
//! table: per stream, the posts accepted (a direct send returned its
//! receipt, the gateway answered 202), anchored on the final chain, indexed
//! by each indexer and pushed, and the lost, duplicated and reordered ones,
//! which must all be 0. `docs/RELIABILITY.md` records a run.
//!
//! It takes a few minutes, so `cargo test` skips it; `make faults` runs it
//! with `CAIRN_FAULTS_SEED` to replay a schedule.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{Eip712Domain, SolEvent},
};
use cairn::{
    chain::{Cairn, CairnClient},
    envelope::Body,
    gateway::client::GatewayClient,
    messenger::Messenger,
    store::cid,
};
use cairn_indexer::store::{ListCursor, Store, StreamCursor};
use futures::StreamExt;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::{
    gateway_stack::{anchored_batch_posts, outgoing, Chain, User, RELAYER_KEY},
    harness::{free_port, repo_root, rpc, rpc_u64, Anvil, Kubo, Postgres},
    rpc_proxy::{Fault, RpcProxy},
};

/// Confirmations (K) of both indexers.
pub(crate) const K: u64 = 2;
pub(crate) const CLIENTS: usize = 10;
/// Clients `0..DIRECT` post on chain themselves; the rest go through the gateway.
pub(crate) const DIRECT: usize = 5;
const KILLS: usize = 20;

/// A Cairn process under test: restarted when it dies, killed on purpose.
pub(crate) struct Proc {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where `/healthz` answers.
    pub(crate) health: String,
    log: PathBuf,
    pub(crate) child: Option<std::process::Child>,
    kills: usize,
    /// Times it exited by itself (then it is started again, as a supervisor would).
    exits: usize,
}

impl Proc {
    /// A process not started yet, answering `/healthz` on `port`.
    pub(crate) fn new(
        name: &'static str,
        port: u16,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self {
            name,
            args,
            env,
            health: format!("http://127.0.0.1:{port}/healthz"),
            log,
            child: None,
            kills: 0,
            exits: 0,
        }
    }

    pub(crate) fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("CAIRN_PRIVATE_KEY")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cairn starts");
        self.child = Some(child);
    }

    /// Starts it and waits until `/healthz` answers (any status), starting
    /// it again whenever it exits by itself before that.
    pub(crate) async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running already", self.name);
        let started = Instant::now();
        self.spawn();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.exits += 1;
                eprintln!(
                    "faults: {} exited by itself ({status}); starting it again",
                    self.name
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.spawn();
            } else if health_client().get(&self.health).send().await.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{} never came up; see {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            self.kills += 1;
        }
    }

    /// Kills the running process `KILLS` times, each after a random 1–4 s
    /// up, and leaves it running.
    async fn kill_repeatedly(&mut self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..KILLS {
            let (up, down) = (rng.gen_range(1_000..4_000), rng.gen_range(50..800));
            tokio::time::sleep(Duration::from_millis(up)).await;
            self.kill();
            tokio::time::sleep(Duration::from_millis(down)).await;
            self.start().await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// For `/healthz`: a process that takes a connection and never answers
/// must not hang the suite.
pub(crate) fn health_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// What a client was told about one message it sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    pub(crate) to: usize,
    pub(crate) digest: B256,
}

/// One frame a stream client received.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    retracted: bool,
    id: String,
    digest: B256,
    /// (block, log index, item): chain order.
    position: (u64, u64, u64),
    /// A post of a batch: it may be pushed late, behind later blocks.
    batched: bool,
    seq: u64,
}

/// What the clients saw, shared by their tasks.
#[derive(Default)]
pub(crate) struct Ledger {
    pub(crate) accepted: Mutex<Vec<Accepted>>,
    /// Sends that failed; they may still land (the client cannot know).
    refused: Mutex<Vec<String>>,
    pub(crate) pushed: Mutex<Vec<Vec<Pushed>>>,
    /// Stream (re)connections made.
    pub(crate) connects: Mutex<usize>,
}

impl Ledger {
    /// An empty ledger for [`CLIENTS`] streams.
    pub(crate) fn new() -> Self {
        let ledger = Self::default();
        *ledger.pushed.lock().unwrap() = vec![Vec::new(); CLIENTS];
        ledger
    }

    /// Records what a client was told about `what`, posts to `to`.
    fn record<E: std::fmt::Display>(&self, what: String, to: usize, told: Result<Vec<B256>, E>) {
        match told {
            Ok(digests) => {
                let accepted = digests.into_iter().map(|digest| Accepted { to, digest });
                self.accepted.lock().unwrap().extend(accepted)
            }
            Err(e) => self.refused.lock().unwrap().push(format!("{what}: {e}")),
        }
    }
}

/// The schedule's seed (`CAIRN_FAULTS_SEED`, or a random one, printed so
/// that a run can be replayed) and an emptied `target/<suite>` for logs.
pub(crate) fn seed_and_logs(suite: &str) -> (u64, PathBuf) {
    let seed = std::env::var("CAIRN_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("{suite}: seed {seed} (CAIRN_FAULTS_SEED={seed} replays this schedule)");
    let logs = repo_root().join("target").join(suite);
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    (seed, logs)
}

/// The arguments of an indexing process (`cairn serve` or `cairn index`)
/// on `port`: K confirmations, a 100 ms poll, from block 0.
pub(crate) fn indexer_args(command: &str, port: u16, database: &str) -> Vec<String> {
    [
        command,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database-url",
        database,
        "--confirmations",
        &K.to_string(),
        "--poll-interval-ms",
        "100",
        "--start-block",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

/// Gives the [`DIRECT`] senders ETH for their own transactions.
pub(crate) async fn fund_direct_senders(chain: &Chain) {
    for user in &chain.users[..DIRECT] {
        let wei = U256::from(10u64).pow(U256::from(20u64));
        rpc(&chain.url, "anvil_setBalance", json!([user.address(), wei])).await;
    }
}

/// A messenger for each of the first [`DIRECT`] users, sending through
/// `rpc_url` and storing blocks in the chain's Kubo.
pub(crate) async fn direct_senders(chain: &Chain, rpc_url: &str) -> Vec<Messenger> {
    let store = chain.store.clone();
    let mut messengers = Vec::new();
    for user in &chain.users[..DIRECT] {
        let client = CairnClient::connect(rpc_url, chain.contract, Some(user.wallet.clone()))
            .await
            .unwrap();
        messengers.push(Messenger::new(
            client,
            store.clone(),
            user.address(),
            user.key.clone(),
        ));
    }
    messengers
}

/// Runs the [`DIRECT`] direct clients (one per messenger) and the batched
/// ones through `gateways` until `stop`.
pub(crate) async fn send_until(
    messengers: Vec<Messenger>,
    gateways: &[GatewayClient],
    users: &[User],
    domain: &Eip712Domain,
    ledger: &Ledger,
    stop: &AtomicBool,
) {
    let direct = messengers
        .into_iter()
        .enumerate()
        .map(|(i, m)| direct_client(i, m, users, ledger, stop));
    let batched =
        (DIRECT..CLIENTS).map(|i| batched_client(i, gateways, users, domain, ledger, stop));
    tokio::join!(
        futures::future::join_all(direct),
        futures::future::join_all(batched)
    );
}

/// Sends directly on chain (store the block, post the digest) until `stop`.
async fn direct_client(
    i: usize,
    messenger: Messenger,
    users: &[User],
    ledger: &Ledger,
    stop: &AtomicBool,
) {
    let to = (i + 1) % CLIENTS;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = Body::text(format!("direct {i}#{n}"));
        let outcome = messenger.send(users[to].address(), &body, &|_| {}).await;
        let outcome = outcome.map(|sent| vec![sent.digest]);
        ledger.record(format!("direct {i}#{n}"), to, outcome);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Signs posts and submits them, two per request, until `stop`: client `i`
/// starts with gateway `i` of `gateways` and each request goes to the next.
/// A request that fails for a transient reason (the gateway is down, busy
/// or cannot reach a dependency) is sent again as it was, to the next
/// gateway: any gateway of an outbox takes the same signed post twice as once.
async fn batched_client(
    i: usize,
    gateways: &[GatewayClient],
    users: &[User],
    domain: &Eip712Domain,
    ledger: &Ledger,
    stop: &AtomicBool,
) {
    let to = (i + 1) % CLIENTS;
    let (mut nonce, mut turn) = (0, i);
    while !stop.load(Ordering::Relaxed) {
        let mut posts = Vec::new();
        for _ in 0..2 {
            nonce += 1;
            let text = format!("batched {i}#{nonce}");
            posts.push(outgoing(users, domain, i, to, nonce, &text).await);
        }
        let requests: Vec<_> = posts.iter().map(|p| p.request()).collect();
        let started = Instant::now();
        let outcome = loop {
            let gateway = &gateways[turn % gateways.len()];
            turn += 1;
            match gateway.submit(requests.clone()).await {
                Err(e) if e.is_transient() && started.elapsed() < Duration::from_secs(120) => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                outcome => break outcome,
            }
        };
        let digests = posts.iter().map(|p| cid::block_digest(&p.envelope));
        let outcome = outcome.map(|_| digests.collect());
        ledger.record(format!("batched {i}#{nonce}"), to, outcome);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Streams user `i`'s inbox from the first of `apis`, from the stream's
/// beginning, until `stop`. After every drop it reconnects with the last
/// cursor, to the next of `apis` (a node of the same database, or the same
/// node again when there is one).
///
/// It starts from cursor 0, not from "now" (what a connection without a
/// cursor gets): a client whose first connection drops before its first
/// event would otherwise come back with no cursor, start from a later "now",
/// and never see what was confirmed in between. That is how two runs of this
/// suite lost pushes.
pub(crate) async fn stream_client(
    i: usize,
    apis: &[String],
    who: Address,
    ledger: &Ledger,
    stop: &AtomicBool,
) {
    let mut node = 0;
    let mut cursor = Some(StreamCursor(0).encode());
    while !stop.load(Ordering::Relaxed) {
        let base = apis[node % apis.len()].replacen("http", "ws", 1);
        node += 1;
        let url = match &cursor {
            Some(c) => format!("{base}/v1/stream?address={who}&after={c}"),
            None => format!("{base}/v1/stream?address={who}"),
        };
        let connect = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url),
        );
        let Ok(Ok((mut socket, _))) = connect.await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        *ledger.connects.lock().unwrap() += 1;
        while !stop.load(Ordering::Relaxed) {
            let frame = match tokio::time::timeout(Duration::from_millis(500), socket.next()).await
            {
                Err(_) => continue,
                Ok(Some(Ok(frame))) => frame,
                Ok(_) => break,
            };
            let WsMessage::Text(text) = frame else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "heartbeat" {
                continue;
            }
            let event: cairn_indexer::store::StreamEvent = serde_json::from_value(value).unwrap();
            let m = &event.message;
            ledger.pushed.lock().unwrap()[i].push(Pushed {
                retracted: event.kind == cairn::read_api::EventKind::Retracted,
                id: m.id.clone(),
                digest: m.digest.parse().unwrap(),
                position: (m.block, m.log_index, m.item.unwrap_or(0)),
                batched: m.item.is_some(),
                seq: StreamCursor::decode(&event.cursor).unwrap().0,
            });
            cursor = Some(event.cursor);
        }
        let _ = socket.close(None).await;
    }
}

/// Replaces the newest `depth` blocks with as many others holding the same
/// transactions (shifted one block later where there is room) plus a
/// transfer that makes each new block differ, as a reorg on a real network
/// does: what the old branch held comes back from the mempool.
async fn reorg(anvil: &str, contract: Address, depth: u64, indexers: &[String]) {
    // Mining stops, and the indexers get time to read the head, so that
    // the reorg replaces what they hold (confirmed, when deeper than K)
    // rather than what they have not read yet. The deepest replaced block
    // must hold posts, or there is nothing to retract: wait for one that does.
    let mut head;
    let mut tries = 0;
    loop {
        rpc(anvil, "evm_setIntervalMining", json!([0])).await;
        head = rpc_u64(anvil, "eth_blockNumber", json!([])).await;
        await_indexed(indexers, head).await;
        let deepest = format!("0x{:x}", head + 1 - depth);
        let filter = json!([{"address": contract, "fromBlock": deepest, "toBlock": deepest}]);
        let logs = rpc(anvil, "eth_getLogs", filter).await;
        tries += 1;
        if !logs.as_array().unwrap().is_empty() || tries == 20 {
            break;
        }
        rpc(anvil, "evm_setIntervalMining", json!([1])).await;
        tokio::time::sleep(Duration::from_millis(1_200)).await;
    }
    let mut moved = Vec::new();
    for (offset, number) in (head + 1 - depth..=head).enumerate() {
        let block = rpc(
            anvil,
            "eth_getBlockByNumber",
            json!([format!("0x{number:x}"), false]),
        )
        .await;
        for hash in block["transactions"].as_array().unwrap() {
            let raw = rpc(anvil, "eth_getRawTransactionByHash", json!([hash])).await;
            let to = (offset as u64 + 1).min(depth - 1);
            moved.push(json!([raw, to]));
        }
    }
    let marker = json!([{"from": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "to": Address::from(rand::random::<[u8; 20]>()), "value": "0x1"}, 0]);
    let mut txs = vec![marker];
    txs.extend(moved);
    rpc(anvil, "anvil_reorg", json!([depth, txs])).await;
    rpc(anvil, "evm_setIntervalMining", json!([1])).await;
}

/// Waits (15 s at most: one may be down, or its RPC failing) until every
/// indexer's `/healthz` says it has ingested `head`.
async fn await_indexed(indexers: &[String], head: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for health in indexers {
        while Instant::now() < deadline {
            let indexed = match health_client().get(health).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|h| h["indexed"].as_u64()),
                Err(_) => None,
            };
            if indexed.is_some_and(|i| i >= head) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until every accepted post has been pushed to its recipient's
/// stream and is in the index at `index_url`, or `within` passed (then it
/// says how many are missing, as `suite`); then three seconds more, so that
/// a stray duplicate would show.
pub(crate) async fn await_delivery(
    ledger: &Ledger,
    addresses: &[Address],
    index_url: &str,
    within: Duration,
    suite: &str,
) {
    let index = cairn_indexer::store::open(index_url).await.unwrap();
    let deadline = Instant::now() + within;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let accepted = ledger.accepted.lock().unwrap().clone();
        let mut missing = 0;
        for (r, who) in addresses.iter().enumerate() {
            let net = replay(&ledger.pushed.lock().unwrap()[r]).net;
            let in_index = indexed(index.as_ref(), *who).await;
            missing += accepted
                .iter()
                .filter(|a| a.to == r)
                .filter(|a| {
                    net.get(&a.digest).copied().unwrap_or(0) < 1
                        || !in_index.contains_key(&a.digest)
                })
                .count();
        }
        if missing == 0 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("{suite}: {missing} accepted posts still missing after {within:?}");
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Counts per digest of every post on the final chain: `Posted` logs, and
/// the posts of every `BatchAnchored` manifest.
pub(crate) async fn anchored(chain: &Chain) -> HashMap<B256, usize> {
    let provider = chain.client.provider();
    let mut counts = HashMap::new();
    let direct = Filter::new()
        .address(chain.contract)
        .event_signature(Cairn::Posted::SIGNATURE_HASH)
        .from_block(0);
    for log in provider.get_logs(&direct).await.unwrap() {
        let posted = log.log_decode::<Cairn::Posted>().unwrap().inner.data;
        *counts.entry(posted.digest).or_default() += 1;
    }
    for post in anchored_batch_posts(chain).await {
        *counts.entry(post.post.digest).or_default() += 1;
    }
    counts
}

/// Confirmed messages per digest in `user`'s inbox, read from `store`.
pub(crate) async fn indexed(store: &dyn Store, user: Address) -> HashMap<B256, usize> {
    let mut counts = HashMap::new();
    let mut after = None;
    loop {
        let recipient = user.into_word().to_string();
        let page = store.inbox(&recipient, after.into(), 500).await.unwrap();
        let Some(last) = page.last() else {
            return counts;
        };
        after = Some(ListCursor {
            block: last.block,
            log_index: last.log_index,
            item: last.item,
        });
        for m in page.iter().filter(|m| m.status.as_str() == "confirmed") {
            *counts.entry(m.digest.parse().unwrap()).or_default() += 1;
        }
    }
}

/// One stream's line of the table.
#[derive(Debug, Default)]
struct Row {
    accepted: usize,
    anchored: usize,
    indexed_serve: usize,
    indexed_index: usize,
    pushed: usize,
    retracted: usize,
    lost: usize,
    duplicated: usize,
    reordered: usize,
}

/// What one stream's frames add up to.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    /// Net deliveries per digest (pushes less retractions).
    pub(crate) net: HashMap<B256, i64>,
    /// Frames out of order: a seq lower than the one before, or a direct
    /// post behind the chain position of the frame before it.
    pub(crate) reordered: usize,
    /// Frames pushed again: a seq seen before, or a message pushed twice
    /// with no retraction between.
    pub(crate) redelivered: usize,
    /// Batched posts pushed behind a later block. Not an error: a batch's
    /// posts are pushed when its manifest is checked, and confirmations
    /// never wait on the block store (docs/INDEXER.md), so a manifest that
    /// reached the node late (a restart, a slow Kubo) is pushed after every
    /// cursor handed out before it, as docs/API.md promises.
    pub(crate) late: usize,
    /// Each reordered or redelivered frame, in words, for a failure to say.
    pub(crate) anomalies: Vec<String>,
}

/// Replays one stream's frames in the order they came.
pub(crate) fn replay(frames: &[Pushed]) -> Replayed {
    let mut out = Replayed::default();
    let mut seen_seq = HashSet::new();
    let mut last: Option<&Pushed> = None;
    let mut live: HashSet<&str> = HashSet::new();
    for (i, f) in frames.iter().enumerate() {
        if !seen_seq.insert(f.seq) {
            out.redelivered += 1;
            out.anomalies
                .push(format!("frame {i} repeats seq {}: {f:?}", f.seq));
            continue;
        }
        if f.retracted {
            // Re-ingestion restarts below the retracted block.
            live.remove(f.id.as_str());
            *out.net.entry(f.digest).or_default() -= 1;
            last = None;
            continue;
        }
        match last.filter(|l| f.position <= l.position) {
            Some(_) if f.batched => out.late += 1,
            Some(l) => {
                out.reordered += 1;
                out.anomalies
                    .push(format!("frame {i} {f:?} came after {l:?}"));
                last = Some(f);
            }
            None => last = Some(f),
        }
        if !live.insert(&f.id) {
            out.redelivered += 1;
            out.anomalies
                .push(format!("frame {i} delivers {} again, unretracted", f.id));
        }
        *out.net.entry(f.digest).or_default() += 1;
    }
    for (i, w) in frames.windows(2).enumerate() {
        if w[1].seq < w[0].seq {
            out.reordered += 1;
            let (seq, before) = (w[1].seq, w[0].seq);
            out.anomalies
                .push(format!("frame {} has seq {seq} after {before}", i + 1));
        }
    }
    out
}

fn table(rows: &[Row], direct: usize) -> String {
    let mut out = String::from(
        "| stream | its sender | accepted | anchored | indexed (serve) | indexed (index) | pushed | retracted | lost | duplicated | reordered |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut total = Row::default();
    for (i, r) in rows.iter().enumerate() {
        let kind = if (i + CLIENTS - 1) % CLIENTS < direct {
            "direct"
        } else {
            "batched"
        };
        out += &format!(
            "| {i} | {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.accepted,
            r.anchored,
            r.indexed_serve,
            r.indexed_index,
            r.pushed,
            r.retracted,
            r.lost,
            r.duplicated,
            r.reordered
        );
        total.accepted += r.accepted;
        total.anchored += r.anchored;
        total.indexed_serve += r.indexed_serve;
        total.indexed_index += r.indexed_index;
        total.pushed += r.pushed;
        total.retracted += r.retracted;
        total.lost += r.lost;
        total.duplicated += r.duplicated;
        total.reordered += r.reordered;
    }
    let t = total;
    out += &format!(
        "| all | | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        t.accepted,
        t.anchored,
        t.indexed_serve,
        t.indexed_index,
        t.pushed,
        t.retracted,
        t.lost,
        t.duplicated,
        t.reordered
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: `make faults` runs it, and `make test` runs `make faults`"]
async fn faults() {
    let (seed, logs) = seed_and_logs("faults");
    let dir = tempfile::tempdir().unwrap();

    // The chain, onboarded users (direct senders get ETH), Kubo, PostgreSQL.
    let state = dir.path().join("anvil-state.json");
    let state = state.to_str().unwrap().to_string();
    let anvil_port = free_port();
    let anvil = Anvil::start_on(anvil_port, &["--state", &state]).await;
    let mut chain = Chain::start_with(CLIENTS, anvil, 1, Kubo::start().await).await;
    let anvil_url = chain.url.clone();
    fund_direct_senders(&chain).await;
    let mut postgres = Postgres::start().await;
    let outbox_url = postgres.database("outbox").await;
    let index_url = postgres.database("indexer").await;
    let proxy = RpcProxy::start(&anvil_url).await;

    // The three processes, all through the proxy.
    let env = |store: &Path| {
        vec![
            ("CAIRN_RPC_URL".to_string(), proxy.url.clone()),
            ("CAIRN_CONTRACT".to_string(), chain.contract.to_string()),
            ("CAIRN_DATA_DIR".to_string(), store.display().to_string()),
            ("CAIRN_STORE".to_string(), "kubo".to_string()),
            ("CAIRN_KUBO_URL".to_string(), chain.kubo.api_url.clone()),
            ("CAIRN_LOG_JSON".to_string(), "0".to_string()),
        ]
    };
    let process = |name: &'static str, port: u16, args: Vec<String>, env| {
        Proc::new(name, port, args, env, logs.join(format!("{name}.log")))
    };
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (serve_port, gateway_port, index_port) = (free_port(), free_port(), free_port());
    let serve_db = format!("sqlite://{}", dir.path().join("serve.db").display());
    // Both indexers follow the chain alike; each has its own database.
    let serve_args = indexer_args("serve", serve_port, &serve_db);
    let mut serve = process(
        "serve",
        serve_port,
        serve_args,
        env(&dir.path().join("serve")),
    );
    let mut gateway_env = env(&dir.path().join("gateway"));
    gateway_env.push(("CAIRN_RELAYER_KEY".to_string(), RELAYER_KEY.to_string()));
    gateway_env.push(("CAIRN_GATEWAY_DATABASE_URL".to_string(), outbox_url.clone()));
    let mut gateway = process(
        "gateway",
        gateway_port,
        strings(&[
            "gateway",
            "--listen",
            &format!("127.0.0.1:{gateway_port}"),
            "--max-batch-age-ms",
            "500",
            "--rebroadcast-after-secs",
            "3",
        ]),
        gateway_env,
    );
    let index_args = indexer_args("index", index_port, &index_url);
    let mut index = process(
        "index",
        index_port,
        index_args,
        env(&dir.path().join("index")),
    );
    serve.start().await;
    gateway.start().await;
    index.start().await;

    // The clients.
    let serve_apis = [format!("http://127.0.0.1:{serve_port}")];
    let gateway_client = GatewayClient::new(&format!("http://127.0.0.1:{gateway_port}"));
    let messengers = direct_senders(&chain, &proxy.url).await;
    let ledger = Ledger::new();
    let (stop_sending, stop_streams) = (AtomicBool::new(false), AtomicBool::new(false));
    let addresses: Vec<Address> = chain.users.iter().map(|u| u.address()).collect();
    let contract = chain.contract;
    let indexers = [serve.health.clone(), index.health.clone()];
    let started = Instant::now();
    let mut infra_log = Vec::new();
    let mut faults_served = Vec::new();

    {
        let Chain {
            anvil,
            kubo,
            users,
            domain,
            ..
        } = &mut chain;
        let (users, domain) = (&*users, &*domain);
        let senders = send_until(
            messengers,
            std::slice::from_ref(&gateway_client),
            users,
            domain,
            &ledger,
            &stop_sending,
        );
        let streams = futures::future::join_all(
            (0..CLIENTS)
                .map(|i| stream_client(i, &serve_apis, addresses[i], &ledger, &stop_streams)),
        );
        // Kubo, PostgreSQL and Anvil restarts and reorgs, one at a time.
        let infra = async {
            let mut rng = StdRng::seed_from_u64(seed ^ 0x1f);
            let mut depths = vec![K - 1, K, K + 1, K - 1, K, K + 1];
            let mut steps = vec!["kubo", "postgres", "anvil"];
            steps.extend(std::iter::repeat_n("reorg", depths.len()));
            for i in (1..steps.len()).rev() {
                steps.swap(i, rng.gen_range(0..=i));
            }
            for step in steps {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(4_000..8_000))).await;
                let at = started.elapsed().as_secs();
                eprintln!("faults: {at} s: {step}");
                match step {
                    "kubo" => kubo.restart().await,
                    "postgres" => postgres.restart().await,
                    "anvil" => {
                        anvil.take().unwrap().stop().await;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let flags = ["--state", state.as_str(), "--block-time", "1"];
                        *anvil = Some(Anvil::start_on(anvil_port, &flags).await);
                    }
                    _ => {
                        let depth = depths.pop().unwrap();
                        reorg(&anvil_url, contract, depth, &indexers).await;
                        infra_log.push(format!("{at} s: reorg of depth {depth}"));
                        continue;
                    }
                }
                infra_log.push(format!("{at} s: {step} restarted"));
            }
        };
        // Provider faults, each for a few seconds, with healthy gaps between.
        let rpc_faults = async {
            let mut rng = StdRng::seed_from_u64(seed ^ 0x2f);
            let all = [
                Fault::Lag(3),
                Fault::RateLimited,
                Fault::BadGateway,
                Fault::Stall,
                Fault::CapLogs(3),
                Fault::DoubleLogs,
            ];
            while started.elapsed() < Duration::from_secs(70) {
                for fault in all {
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(2_000..5_000))).await;
                    proxy.set_fault(fault);
                    let lasts = match fault {
                        Fault::Stall => 2_000,
                        _ => rng.gen_range(2_000..5_000),
                    };
                    tokio::time::sleep(Duration::from_millis(lasts)).await;
                    proxy.set_fault(Fault::None);
                    faults_served.push(fault);
                }
            }
        };
        let chaos = async {
            tokio::join!(
                serve.kill_repeatedly(seed ^ 1),
                gateway.kill_repeatedly(seed ^ 2),
                index.kill_repeatedly(seed ^ 3),
                infra,
                rpc_faults,
            );
            stop_sending.store(true, Ordering::Relaxed);
        };
        let drain = async {
            // Wait for the senders to finish (a send in flight when the
            // faults stop may be accepted seconds later), then for every
            // accepted post to be pushed to its stream and indexed by the
            // separate indexer. Waiting from the end of the faults instead
            // let a run end while the last direct posts, accepted after an
            // Anvil restart, were still pending.
            tokio::join!(senders, chaos);
            let within = Duration::from_secs(300);
            await_delivery(&ledger, &addresses, &index_url, within, "faults").await;
            stop_streams.store(true, Ordering::Relaxed);
        };
        tokio::join!(streams, drain);
    }
    let elapsed = started.elapsed();

    // The table.
    let accepted = ledger.accepted.lock().unwrap().clone();
    let refused = ledger.refused.lock().unwrap().clone();
    let pushed = ledger.pushed.lock().unwrap().clone();
    let on_chain = anchored(&chain).await;
    let serve_store = cairn_indexer::store::open(&serve_db).await.unwrap();
    let index_store = cairn_indexer::store::open(&index_url).await.unwrap();
    let all_accepted: HashSet<B256> = accepted.iter().map(|a| a.digest).collect();
    assert_eq!(
        all_accepted.len(),
        accepted.len(),
        "every accepted post is distinct"
    );
    let mut rows = Vec::new();
    let mut unexpected = 0;
    // What went wrong, in words, for the failure message: a run that fails
    // on a shared machine must say what it saw.
    let mut problems = Vec::new();
    let mut late = 0;
    for (r, who) in addresses.iter().enumerate() {
        let mine: Vec<B256> = accepted
            .iter()
            .filter(|a| a.to == r)
            .map(|a| a.digest)
            .collect();
        let in_serve = indexed(serve_store.as_ref(), *who).await;
        let in_index = indexed(index_store.as_ref(), *who).await;
        let Replayed {
            net,
            reordered,
            redelivered,
            late: late_here,
            anomalies,
        } = replay(&pushed[r]);
        late += late_here;
        let count = |m: &HashMap<B256, usize>, d: &B256| m.get(d).copied().unwrap_or(0);
        let mut row = Row {
            accepted: mine.len(),
            reordered,
            duplicated: redelivered,
            retracted: pushed[r].iter().filter(|f| f.retracted).count(),
            ..Row::default()
        };
        for d in &mine {
            let net = net.get(d).copied().unwrap_or(0);
            let counts = [
                count(&on_chain, d),
                count(&in_serve, d),
                count(&in_index, d),
            ];
            row.anchored += usize::from(counts[0] >= 1);
            row.indexed_serve += usize::from(counts[1] >= 1);
            row.indexed_index += usize::from(counts[2] >= 1);
            row.pushed += usize::from(net >= 1);
            if counts.contains(&0) || net < 1 {
                row.lost += 1;
                let frames: Vec<_> = pushed[r].iter().filter(|f| f.digest == *d).collect();
                let rows = serve_store
                    .inbox(&who.into_word().to_string(), None.into(), 10_000)
                    .await
                    .unwrap();
                let rows: Vec<_> = rows
                    .iter()
                    .filter(|m| m.digest.parse::<B256>().ok() == Some(*d))
                    .map(|m| (&m.id, m.status.as_str()))
                    .collect();
                problems.push(format!("lost {d} on stream {r}: counts (chain, serve, index) {counts:?}, net pushes {net}, frames {frames:?}, serve rows {rows:?}"));
            }
            if counts.iter().any(|&c| c > 1) || net > 1 {
                row.duplicated += 1;
                problems.push(format!(
                    "duplicated {d} on stream {r}: counts (chain, serve, index) {counts:?}, net pushes {net}"
                ));
            }
        }
        if !anomalies.is_empty() {
            let first = &anomalies[..anomalies.len().min(5)];
            problems.push(format!("stream {r}: {first:?}"));
        }
        // Pushed but never accepted: a refused send may land after all (its
        // client cannot know), but only once.
        unexpected += net
            .iter()
            .filter(|(d, &n)| n > 1 && !all_accepted.contains(*d))
            .count();
        rows.push(row);
    }
    let report = table(&rows, DIRECT);
    let kills: BTreeMap<&str, (usize, usize)> = [
        ("cairn serve", (serve.kills, serve.exits)),
        ("cairn gateway", (gateway.kills, gateway.exits)),
        ("cairn index", (index.kills, index.exits)),
    ]
    .into();
    println!("\n{report}");
    println!(
        "faults injected over {:.0} s (seed {seed}):",
        elapsed.as_secs_f64()
    );
    for (name, (k, e)) in &kills {
        println!("- {name}: {k} SIGKILLs, {e} exits by itself (restarted)");
    }
    for line in &infra_log {
        println!("- {line}");
    }
    println!("- RPC faults: {faults_served:?}");
    println!(
        "- stream (re)connections: {}; sends refused to the client: {}",
        ledger.connects.lock().unwrap(),
        refused.len()
    );
    println!("- batched posts pushed after a later block (a manifest that reached the node late; allowed): {late}");
    for r in refused.iter().take(5) {
        println!("  refused: {r}");
    }
    std::fs::write(logs.join("table.md"), &report).unwrap();

    let total: usize = rows
        .iter()
        .map(|r| r.lost + r.duplicated + r.reordered)
        .sum();
    for problem in &problems {
        eprintln!("faults: {problem}");
    }
    assert_eq!(
        total,
        0,
        "lost, duplicated or reordered posts (seed {seed}); logs in {}:\n{}",
        logs.display(),
        problems
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        unexpected, 0,
        "posts pushed more than once that no client accepted"
    );
    assert!(kills.values().all(|(k, _)| *k == KILLS));
    assert!(
        accepted.len() >= 500,
        "too few posts to mean anything: {}",
        accepted.len()
    );
    assert!(
        infra_log.iter().filter(|l| l.contains("reorg")).count() == 6 && infra_log.len() == 9,
        "{infra_log:?}"
    );
}

#[test]
fn a_late_batch_is_allowed_and_a_direct_post_behind_is_reordered() {
    let frame = |seq: u64, block: u64, batched: bool| Pushed {
        retracted: false,
        id: format!("m{seq}"),
        digest: B256::with_last_byte(seq as u8),
        position: (block, 0, u64::from(batched)),
        batched,
        seq,
    };
    let late = [frame(1, 5, false), frame(2, 3, true), frame(3, 6, false)];
    let seen = replay(&late);
    assert_eq!((seen.late, seen.reordered, seen.redelivered), (1, 0, 0));
    assert!(seen.anomalies.is_empty());
    let behind = [frame(1, 5, false), frame(2, 4, false), frame(3, 6, false)];
    let seen = replay(&behind);
    assert_eq!((seen.late, seen.reordered), (0, 1));
    assert_eq!(seen.anomalies.len(), 1);
    let again = [frame(1, 5, false), frame(1, 5, false)];
    assert_eq!(replay(&again).redelivered, 1);
}
