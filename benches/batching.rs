//! Batching benchmark: sustained posts per second end to end, and gas per
//! message. Run with `make bench-batching` (or `cargo bench --bench batching`
//! after `make tools`); figures go in docs/BENCHMARKS.md.
//!
//! Throughput: a real Anvil mining a block every second, a real Kubo, and one
//! node running the gateway (SQLite outbox) and the indexer (SQLite), with
//! their defaults (batches of 4,096 or 2 s, K = 2). `CAIRN_BENCH_CLIENTS`
//! client tasks (default 4) sign posts (EIP-712, secp256k1) from
//! `CAIRN_BENCH_SENDERS` onboarded wallets (default 16), each with a fresh
//! 256-byte envelope block inline, and submit them `CAIRN_BENCH_CHUNK` (default
//! 512) per request for `CAIRN_BENCH_SECS` seconds (default 60). Then the
//! submitting stops and the clock runs until the indexer has confirmed every
//! accepted post. Reported: accepted, anchored and confirmed posts per second,
//! and the CPU time each process used.
//!
//! `CAIRN_BENCH_GATEWAYS=N` measures the scaled-out layout instead: the
//! outbox on a real PostgreSQL, N gateways on it (one batches, all accept),
//! the clients spreading their requests over them in turn, and the indexer
//! in a node of its own. Run it with 1 and with 2 to compare.
//!
//! Gas: one direct `post`, and `anchorBatch` for real manifests of 16, 256 and
//! 4,096 signed posts.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/harness.rs"]
mod harness;
mod speed;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::{Eip712Domain, SolStruct},
};
use cairn::{
    chain::{sign_key_registration, CairnClient},
    crypto::PublicKey,
    gateway::{client::GatewayClient, submit::PostRequest, GatewayConfig},
    server::{Limits, Node, NodeConfig},
    store::{cid, BlobStore, KuboStore},
};
use cairn_contracts::{eip712::Post, manifest::SignedPost};
use cairn_indexer::IndexerConfig;
use harness::{rpc, signer, Anvil, Kubo, Postgres, CAROL_KEY, DEPLOYER_KEY};
use rand::RngCore;
use rayon::prelude::*;
use serde_json::json;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command: state is field 0; utime and stime are 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A sender as the load generator holds it: its wallet, and the same key
/// for libsecp256k1, which signs about twice as fast as k256 (the load
/// generator stands for many users' devices; its CPU is not the system's).
struct Sender {
    wallet: PrivateKeySigner,
    secret: secp256k1::SecretKey,
}

impl Sender {
    fn new(wallet: PrivateKeySigner) -> Self {
        let secret = secp256k1::SecretKey::from_byte_array(wallet.to_bytes().0).unwrap();
        Self { wallet, secret }
    }

    fn address(&self) -> alloy::primitives::Address {
        self.wallet.address()
    }

    fn sign(&self, hash: B256) -> alloy::primitives::Signature {
        let message = secp256k1::Message::from_digest(hash.0);
        let (id, rs) = secp256k1::SECP256K1
            .sign_ecdsa_recoverable(message, &self.secret)
            .serialize_compact();
        alloy::primitives::Signature::new(
            U256::from_be_slice(&rs[..32]),
            U256::from_be_slice(&rs[32..]),
            i32::from(id) == 1,
        )
    }
}

/// `n` posts signed on every core, each with a fresh random envelope.
fn sign_chunk(
    senders: &[Sender],
    domain: &Eip712Domain,
    nonce: &AtomicU64,
    n: usize,
) -> Vec<PostRequest> {
    let first = nonce.fetch_add(n as u64, Ordering::Relaxed);
    let deadline = unix_now() + 3600;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let k = first + i as u64;
            let from = &senders[k as usize % senders.len()];
            let to = senders[(k as usize + 1) % senders.len()].address();
            let mut envelope = vec![0u8; 256];
            rand::thread_rng().fill_bytes(&mut envelope);
            let post = Post {
                from: from.address(),
                to: to.into_word(),
                digest: cid::block_digest(&envelope),
                nonce: k,
                deadline,
            };
            let signature = from.sign(post.eip712_signing_hash(domain));
            PostRequest::new(
                &SignedPost {
                    post,
                    signature: Some(signature),
                },
                Some(&envelope),
            )
        })
        .collect()
}

async fn onboard(chain: &CairnClient, domain: &Eip712Domain, n: usize) -> Vec<Sender> {
    let mut senders = Vec::new();
    for _ in 0..n {
        let wallet = PrivateKeySigner::random();
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let pubkey = PublicKey::from(B256::from(key));
        let deadline = U256::from(4_000_000_000u64);
        let nonce = chain.registration_nonce(wallet.address()).await.unwrap();
        let sig = sign_key_registration(&wallet, domain, &pubkey, nonce, deadline)
            .await
            .unwrap();
        chain
            .register_key_by_sig(wallet.address(), &pubkey, deadline, &sig)
            .await
            .unwrap();
        senders.push(Sender::new(wallet));
    }
    senders
}

async fn gas(
    chain: &CairnClient,
    domain: &Eip712Domain,
    store: &Arc<dyn BlobStore>,
    senders: &[Sender],
) {
    let direct = chain
        .post(senders[0].address().into_word(), B256::repeat_byte(1))
        .await
        .unwrap();
    let direct = chain
        .post(senders[0].address().into_word(), B256::repeat_byte(2))
        .await
        .unwrap()
        .inclusion
        .gas_used
        .min(direct.inclusion.gas_used);
    println!("\ngas per message (Anvil):");
    println!("| posting | gas per transaction | messages | gas per message | vs direct |");
    println!("|---|---|---|---|---|");
    println!("| direct `post` | {direct} | 1 | {direct} | 1 |");
    let nonce = AtomicU64::new(1_000_000_000);
    for n in [16usize, 256, 4096] {
        let posts: Vec<SignedPost> = sign_chunk(senders, domain, &nonce, n)
            .iter()
            .map(|r| r.signed())
            .collect();
        let manifest = cairn_contracts::manifest::encode(&posts).unwrap();
        let size = manifest.len();
        let root =
            cairn_contracts::manifest::root(posts.iter().map(|p| p.signing_hash(domain))).unwrap();
        let digest = cid::block_digest(&manifest);
        store.put(manifest.into()).await.unwrap();
        let (_, inclusion) = chain.anchor_batch(root, digest, n as u32).await.unwrap();
        let per = inclusion.gas_used as f64 / n as f64;
        println!(
            "| batch of {n} (`anchorBatch`, manifest {size} bytes off chain) | {} | {n} | {per:.1} | 1/{:.0} |",
            inclusion.gas_used,
            direct as f64 / per
        );
    }
}

/// The outbox's posts table: live and dead tuples, heap and index sizes,
/// and the autovacuums so far.
async fn outbox_table_stats(pool: &sqlx::PgPool) -> String {
    let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT n_live_tup, n_dead_tup, pg_relation_size(relid), pg_indexes_size(relid), autovacuum_count \
         FROM pg_stat_user_tables WHERE relname = 'posts'",
    )
    .fetch_optional(pool)
    .await
    .unwrap();
    match row {
        Some((live, dead, heap, indexes, vacuums)) => format!(
            "; posts: {live} live, {dead} dead, heap {} MiB, indexes {} MiB, {vacuums} autovacuums",
            heap >> 20,
            indexes >> 20
        ),
        None => "; posts: no statistics".to_string(),
    }
}

#[tokio::main]
async fn main() {
    // Before anything starts: the machine's speed, which the figures are read against.
    let machine = speed::report();
    let secs = env_u64("CAIRN_BENCH_SECS", 60);
    let clients = env_u64("CAIRN_BENCH_CLIENTS", 4);
    let chunk = env_u64("CAIRN_BENCH_CHUNK", 512) as usize;
    let n_senders = env_u64("CAIRN_BENCH_SENDERS", 16) as usize;
    // 0: one node with the gateway and the indexer, on SQLite.
    let n_gateways = env_u64("CAIRN_BENCH_GATEWAYS", 0) as usize;

    let anvil = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let chain = CairnClient::connect(&anvil.url, contract, Some(signer(DEPLOYER_KEY)))
        .await
        .unwrap();
    let domain = chain.domain().await.unwrap();
    let senders = Arc::new(onboard(&chain, &domain, n_senders).await);
    let kubo = Kubo::start().await;
    let store: Arc<dyn BlobStore> = Arc::new(KuboStore::new(&kubo.api_url));
    gas(&chain, &domain, &store, &senders).await;

    // From here on, a block every second.
    rpc(&anvil.url, "evm_setAutomine", json!([false])).await;
    rpc(&anvil.url, "evm_setIntervalMining", json!([1])).await;
    let dir = tempfile::tempdir().unwrap();
    let indexer = IndexerConfig {
        poll_interval: Duration::from_millis(100),
        ..IndexerConfig::new(anvil.url.clone(), contract)
    };
    // One client and 16 senders push far past the per-IP and per-sender
    // quotas meant for a public node: this measures throughput, not them.
    let unlimited = cairn::gateway::quota::Rate {
        per_second: 1_000_000,
        burst: 1_000_000,
    };
    // The load is 16 senders standing for many users: no allowance of
    // theirs may cap it, inline envelopes' upload KiB included (a 120 s
    // run used to fall to 1,024 posts/s once those ran dry).
    let gateway = |database_url: String| GatewayConfig {
        posts_per_ip: unlimited,
        posts_per_sender: unlimited,
        upload_kib_per_sender: unlimited,
        ..GatewayConfig::new(anvil.url.clone(), contract, signer(CAROL_KEY), database_url)
    };
    let postgres = if n_gateways > 0 {
        Some(Postgres::start().await)
    } else {
        None
    };
    let node = Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store: store.clone(),
        indexer: Some((
            indexer,
            format!("sqlite://{}", dir.path().join("indexer.db").display()),
        )),
        gateway: match &postgres {
            None => Some(gateway(format!(
                "sqlite://{}",
                dir.path().join("gateway.db").display()
            ))),
            Some(_) => None,
        },
        limits: Limits::default(),
        stream: Default::default(),
        web: None,
        tls: None,
        auth: None,
    })
    .await
    .unwrap();
    let mut gateways = Vec::new();
    for _ in 0..n_gateways {
        let url = postgres.as_ref().unwrap().url.clone();
        gateways.push(
            Node::start(NodeConfig {
                status_listen: None,
                listen: "127.0.0.1:0".parse().unwrap(),
                store: store.clone(),
                indexer: None,
                gateway: Some(gateway(url)),
                limits: Limits::default(),
                stream: Default::default(),
                web: None,
                tls: None,
                auth: None,
            })
            .await
            .unwrap(),
        );
    }
    let apis: Vec<String> = if gateways.is_empty() {
        vec![format!("http://{}", node.addr)]
    } else {
        gateways
            .iter()
            .map(|g| format!("http://{}", g.addr))
            .collect()
    };
    let indexed = node.indexer_store.clone().unwrap();
    let outbox = node
        .outbox
        .clone()
        .or_else(|| gateways.first().and_then(|g| g.outbox.clone()))
        .unwrap();

    let pids = [
        ("anvil", anvil.pid()),
        ("kubo", kubo.pid()),
        ("cairn (client, gateway, indexer)", std::process::id()),
    ];
    // The gas runs above were indexed too: count from here.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let baseline = indexed.last_event_seq().await.unwrap();
    let confirmed = || async { indexed.last_event_seq().await.unwrap() - baseline };
    let cpu_before: Vec<f64> = pids.iter().map(|(_, p)| cpu_secs(*p)).collect();
    let layout = match n_gateways {
        0 => "one node (gateway and indexer), SQLite outbox".to_string(),
        n => format!("{n} gateway(s) on a PostgreSQL outbox, the indexer in its own node"),
    };
    println!(
        "\nthroughput: {layout}; {clients} clients, {chunk} posts per request, {n_senders} senders, {secs} s, Anvil 1 s blocks"
    );
    let nonce = Arc::new(AtomicU64::new(1));
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients as usize)
        .map(|c| {
            let (senders, domain, nonce, accepted, stop) = (
                senders.clone(),
                domain.clone(),
                nonce.clone(),
                accepted.clone(),
                stop.clone(),
            );
            let gateways: Vec<GatewayClient> = apis.iter().map(|a| GatewayClient::new(a)).collect();
            tokio::spawn(async move {
                // Each request to the next gateway.
                let mut turn = c;
                while !stop.load(Ordering::Relaxed) {
                    let gateway = &gateways[turn % gateways.len()];
                    turn += 1;
                    let (s, d, n) = (senders.clone(), domain.clone(), nonce.clone());
                    let posts = tokio::task::spawn_blocking(move || sign_chunk(&s, &d, &n, chunk))
                        .await
                        .unwrap();
                    match gateway.submit(posts).await {
                        Ok(ids) => {
                            accepted.fetch_add(ids.len() as u64, Ordering::Relaxed);
                        }
                        Err(e) => eprintln!("submit failed: {e}"),
                    }
                }
            })
        })
        .collect();
    // On a PostgreSQL outbox, what grows beside the acceptance rate: the
    // posts table's dead tuples and its indexes (issue 23, section 3).
    let stats_pool = match &postgres {
        Some(pg) => Some(sqlx::PgPool::connect(&pg.url).await.unwrap()),
        None => None,
    };
    let mut last = 0;
    // Posts accepted in each 10 s window: a steady outbox keeps the last
    // near the first (issue 23, section 3).
    let mut windows = Vec::new();
    for second in 1..=secs {
        tokio::time::sleep_until((start + Duration::from_secs(second)).into()).await;
        if second % 10 == 0 {
            let now = accepted.load(Ordering::Relaxed);
            let confirmed = confirmed().await;
            let table = match &stats_pool {
                Some(pool) => outbox_table_stats(pool).await,
                None => String::new(),
            };
            println!(
                "  t={second:>3} s accepted {now:>7} (+{:>6}/s over 10 s), confirmed {confirmed:>7}{table}",
                (now - last) / 10
            );
            windows.push(now - last);
            last = now;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let window = start.elapsed().as_secs_f64();
    let total = accepted.load(Ordering::Relaxed);
    let confirmed_in_window = confirmed().await;
    loop {
        let confirmed = confirmed().await;
        if confirmed >= total {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs * 10 + 300),
            "stalled at {confirmed} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end_to_end = start.elapsed().as_secs_f64();
    let queue = outbox.queue().await.unwrap();
    assert_eq!(queue.queued, 0);
    let cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|((_, p), before)| cpu_secs(*p) - before)
        .collect();
    println!("| measure | value |\n|---|---|");
    println!("| posts accepted in {window:.1} s | {total} |");
    println!("| accepted per second | {:.0} |", total as f64 / window);
    if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
        if windows.len() > 1 && *first > 0 {
            let slowest = windows.iter().min().copied().unwrap_or_default();
            println!(
                "| last 10 s window, % of the first | {:.0} |",
                100.0 * *last as f64 / *first as f64
            );
            println!(
                "| slowest 10 s window, % of the first | {:.0} |",
                100.0 * slowest as f64 / *first as f64
            );
        }
    }
    println!(
        "| confirmed by the indexer within the window | {confirmed_in_window} ({:.0}/s) |",
        confirmed_in_window as f64 / window
    );
    println!("| all {total} confirmed after | {end_to_end:.1} s |");
    println!(
        "| end to end (accepted, anchored, confirmed) per second | {:.0} |",
        total as f64 / end_to_end
    );
    // Each post costs about three ECDSA operations end to end (signed by
    // its client, recovered by the gateway and by the indexer); on every
    // core of this machine at its measured speed, that bounds the figure.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let limit = cores * machine / 3.0;
    println!(
        "| ECDSA limit: {cores:.0} cores x {machine:.0} recoveries/s / 3 per post | {limit:.0} posts/s; this run is {:.0}% of it |",
        100.0 * total as f64 / end_to_end / limit
    );
    println!(
        "\nCPU seconds used over {end_to_end:.1} s (2 cores = {:.0} core-seconds available):",
        2.0 * end_to_end
    );
    for ((name, _), used) in pids.iter().zip(cpu) {
        println!(
            "| {name} | {used:.1} s | {:.0}% of one core |",
            100.0 * used / end_to_end
        );
    }

    // The content check (re-hashing every envelope from Kubo) runs beside
    // delivery, one Kubo call per block: report how far behind it is.
    let unchecked = |limit| {
        let indexed = indexed.clone();
        async move { indexed.content_tasks(limit, 0).await.unwrap().len() }
    };
    let behind = unchecked(1_000_000).await;
    let checked_start = Instant::now();
    while unchecked(1).await > 0 && checked_start.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let left = unchecked(1_000_000).await;
    println!(
        "\ncontent check: {behind} envelopes unchecked when delivery finished; {} checked in the next {:.1} s ({:.0}/s), {left} left",
        behind - left,
        checked_start.elapsed().as_secs_f64(),
        (behind - left) as f64 / checked_start.elapsed().as_secs_f64()
    );
    for gateway in gateways {
        gateway.shutdown().await.unwrap();
    }
    node.shutdown().await.unwrap();
}
