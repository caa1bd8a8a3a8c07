//! The cluster suite (`make faults` runs it after the fault suite): three
//! `cairn serve` nodes on one PostgreSQL database, real Anvil (a block a
//! second), Kubo and a batching gateway, and ten clients that send (five
//! directly on chain, five through the gateway) and stream their inboxes,
//! each from a different node, while the node that holds the ingest lease
//! is SIGKILLed ten times (and started again, as a supervisor would).
//!
//! A stream whose node dies reconnects to the next node with its cursor.
//! Afterwards every accepted post must be anchored once, indexed once and
//! pushed once to its stream, in order; and each takeover of the lease is
//! timed, from the SIGKILL to another node's `/healthz` saying `ingesting`.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256};
use cairn::gateway::client::GatewayClient;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::Value;

use crate::{
    faults::{
        anchored, await_delivery, direct_senders, fund_direct_senders, health_client, indexed,
        replay, seed_and_logs, send_until, stream_client, Ledger, Proc, CLIENTS, DIRECT, K,
    },
    gateway_stack::{Chain, RELAYER_KEY},
    harness::{free_port, Anvil, Kubo, Postgres},
};

const NODES: usize = 3;
const KILLS: usize = 10;

/// Which node says it holds the ingest lease, if one does.
async fn ingesting(nodes: &[Proc]) -> Option<usize> {
    for (i, node) in nodes.iter().enumerate() {
        if node.child.is_none() {
            continue;
        }
        let Ok(response) = health_client().get(&node.health).send().await else {
            continue;
        };
        let Ok(health) = response.json::<Value>().await else {
            continue;
        };
        if health["role"] == "ingesting" {
            return Some(i);
        }
    }
    None
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute long: `make faults` runs it, and `make test` runs `make faults`"]
async fn cluster_survives_the_ingesting_node_dying() {
    let (seed, logs) = seed_and_logs("cluster");
    let dir = tempfile::tempdir().unwrap();

    let anvil = Anvil::start_on(free_port(), &[]).await;
    let chain = Chain::start_with(CLIENTS, anvil, 1, Kubo::start().await).await;
    fund_direct_senders(&chain).await;
    let postgres = Postgres::start().await;
    let index_url = postgres.database("cluster").await;
    let outbox_url = postgres.database("cluster_outbox").await;

    let env = |name: &str| {
        vec![
            ("CAIRN_RPC_URL".to_string(), chain.url.clone()),
            ("CAIRN_CONTRACT".to_string(), chain.contract.to_string()),
            (
                "CAIRN_DATA_DIR".to_string(),
                dir.path().join(name).display().to_string(),
            ),
            ("CAIRN_STORE".to_string(), "kubo".to_string()),
            ("CAIRN_KUBO_URL".to_string(), chain.kubo.api_url.clone()),
            ("CAIRN_LOG_JSON".to_string(), "0".to_string()),
        ]
    };
    let mut nodes: Vec<Proc> = (0..NODES)
        .map(|i| {
            let port = free_port();
            let name = format!("serve-{i}");
            Proc::new(
                "serve",
                port,
                [
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--database-url",
                    &index_url,
                    "--confirmations",
                    &K.to_string(),
                    "--poll-interval-ms",
                    "100",
                    "--start-block",
                    "0",
                ]
                .map(String::from)
                .to_vec(),
                env(&name),
                logs.join(format!("{name}.log")),
            )
        })
        .collect();
    let gateway_port = free_port();
    let mut gateway_env = env("gateway");
    gateway_env.push(("CAIRN_RELAYER_KEY".to_string(), RELAYER_KEY.to_string()));
    gateway_env.push(("CAIRN_GATEWAY_DATABASE_URL".to_string(), outbox_url));
    let mut gateway = Proc::new(
        "gateway",
        gateway_port,
        [
            "gateway",
            "--listen",
            &format!("127.0.0.1:{gateway_port}"),
            "--max-batch-age-ms",
            "500",
        ]
        .map(String::from)
        .to_vec(),
        gateway_env,
        logs.join("gateway.log"),
    );
    for node in &mut nodes {
        node.start().await;
    }
    gateway.start().await;
    let apis: Vec<String> = nodes
        .iter()
        .map(|n| n.health.trim_end_matches("/healthz").to_string())
        .collect();

    // The clients.
    let gateway_client = GatewayClient::new(&format!("http://127.0.0.1:{gateway_port}"));
    let messengers = direct_senders(&chain, &chain.url).await;
    let ledger = Ledger::new();
    let (stop_sending, stop_streams) = (AtomicBool::new(false), AtomicBool::new(false));
    let addresses: Vec<Address> = chain.users.iter().map(|u| u.address()).collect();
    let mut takeovers = Vec::new();
    let started = Instant::now();
    {
        let (users, domain) = (&chain.users, &chain.domain);
        let senders = send_until(
            messengers,
            &gateway_client,
            users,
            domain,
            &ledger,
            &stop_sending,
        );
        // Client i starts on node i mod 3 and moves to the next on a drop.
        let streams = futures::future::join_all((0..CLIENTS).map(|i| {
            let mut order = apis.clone();
            order.rotate_left(i % NODES);
            let (ledger, stop, who) = (&ledger, &stop_streams, addresses[i]);
            async move { stream_client(i, &order, who, ledger, stop).await }
        }));
        let chaos = async {
            let mut rng = StdRng::seed_from_u64(seed);
            for _ in 0..KILLS {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(2_000..4_000))).await;
                let deadline = Instant::now() + Duration::from_secs(30);
                let leader = loop {
                    if let Some(leader) = ingesting(&nodes).await {
                        break leader;
                    }
                    assert!(Instant::now() < deadline, "no node took the ingest lease");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                nodes[leader].kill();
                let killed = Instant::now();
                let successor = loop {
                    if let Some(successor) = ingesting(&nodes).await {
                        break successor;
                    }
                    assert!(
                        killed.elapsed() < Duration::from_secs(30),
                        "no node took over the ingest lease within 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                let took = killed.elapsed();
                eprintln!(
                    "cluster: {:.0} s: killed serve-{leader}; serve-{successor} took over in {:.0} ms",
                    started.elapsed().as_secs_f64(),
                    ms(took)
                );
                takeovers.push(took);
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..800))).await;
                nodes[leader].start().await;
            }
            stop_sending.store(true, Ordering::Relaxed);
        };
        let drain = async {
            chaos.await;
            let within = Duration::from_secs(180);
            await_delivery(&ledger, &addresses, &index_url, within, "cluster").await;
            stop_streams.store(true, Ordering::Relaxed);
        };
        tokio::join!(senders, streams, drain);
    }

    let accepted = ledger.accepted.lock().unwrap().clone();
    let pushed = ledger.pushed.lock().unwrap().clone();
    let on_chain = anchored(&chain).await;
    let index_store = cairn_indexer::store::open(&index_url).await.unwrap();
    let (mut lost, mut duplicated, mut reordered) = (0, 0, 0);
    for (r, who) in addresses.iter().enumerate() {
        let in_index = indexed(index_store.as_ref(), *who).await;
        let (net, out_of_order, redelivered) = replay(&pushed[r]);
        reordered += out_of_order;
        duplicated += redelivered;
        let count = |m: &HashMap<B256, usize>, d: &B256| m.get(d).copied().unwrap_or(0);
        for a in accepted.iter().filter(|a| a.to == r) {
            let counts = [
                count(&on_chain, &a.digest),
                count(&in_index, &a.digest),
                usize::try_from(net.get(&a.digest).copied().unwrap_or(0)).unwrap_or(0),
            ];
            if counts.contains(&0) {
                lost += 1;
                eprintln!("cluster: lost {} on stream {r}: {counts:?}", a.digest);
            }
            if counts.iter().any(|&c| c > 1) {
                duplicated += 1;
                eprintln!("cluster: duplicated {} on stream {r}: {counts:?}", a.digest);
            }
        }
    }
    takeovers.sort();
    println!(
        "cluster: {} posts accepted ({} direct clients, {} batched), {lost} lost, {duplicated} duplicated, {reordered} reordered; {} stream (re)connections",
        accepted.len(),
        DIRECT,
        CLIENTS - DIRECT,
        ledger.connects.lock().unwrap(),
    );
    println!(
        "cluster: {KILLS} SIGKILLs of the ingesting node; lease taken over in median {:.0} ms, max {:.0} ms",
        ms(takeovers[takeovers.len() / 2]),
        ms(*takeovers.last().unwrap())
    );
    assert_eq!(
        (lost, duplicated, reordered),
        (0, 0, 0),
        "logs in {}",
        logs.display()
    );
    assert_eq!(takeovers.len(), KILLS);
    assert!(
        accepted.len() >= 200,
        "too few posts to mean anything: {}",
        accepted.len()
    );
    // Streams moved between nodes: at least one reconnection per kill.
    assert!(*ledger.connects.lock().unwrap() >= CLIENTS + KILLS);
}
