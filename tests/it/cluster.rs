//! The cluster suite (`make faults` runs it after the fault suite): the
//! scaled-out layout on one machine. Three `cairn serve` nodes on one
//! PostgreSQL database, two gateways on one PostgreSQL outbox, blocks on two
//! Kubo nodes joined by IPFS Cluster, and real Anvil (a block a second).
//! Ten clients send (five directly on chain, five through the gateways,
//! each request to the next gateway) and stream their inboxes, each from a
//! different node, while the node that holds the ingest lease is SIGKILLed
//! ten times, the gateway that holds the batcher lease ten times (both
//! started again, as a supervisor would), and one Kubo node once, for good.
//!
//! A stream whose node dies reconnects to the next node with its cursor.
//! Afterwards every accepted post must be anchored once, indexed once and
//! pushed once to its stream, in order; every envelope and manifest must
//! still be readable; the relayer's nonces must run without a gap, one per
//! anchored batch; and each gateway must prove a post of every batch, which
//! the suite checks against the chain. Each takeover of a lease is timed, from the SIGKILL to
//! another process's `/healthz` saying it holds it.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256};
use cairn::{
    gateway::{client::GatewayClient, outbox},
    store::cid,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::Value;

use crate::{
    faults::{
        anchored, await_delivery, direct_senders, fund_direct_senders, health_client, indexed,
        indexer_args, replay, seed_and_logs, send_until, stream_client, Ledger, Proc, Replayed,
        CLIENTS, DIRECT,
    },
    gateway_stack::{Chain, RELAYER_KEY},
    harness::{free_port, rpc_u64, Anvil, BlockCluster, Kubo, Postgres},
};

const NODES: usize = 3;
const GATEWAYS: usize = 2;
const KILLS: usize = 10;

/// Which of `procs` says `role` under `key` on its `/healthz`, if one does.
async fn holder(procs: &[Proc], key: &str, role: &str) -> Option<usize> {
    for (i, proc) in procs.iter().enumerate() {
        if proc.child.is_none() {
            continue;
        }
        let Ok(response) = health_client().get(&proc.health).send().await else {
            continue;
        };
        let Ok(health) = response.json::<Value>().await else {
            continue;
        };
        if health[key] == role {
            return Some(i);
        }
    }
    None
}

/// SIGKILLs the process that holds a lease (`/healthz` says `role` under
/// `key`) [`KILLS`] times, each after 2–4 s, timing how long until another
/// says it, and starts each again after up to 0.8 s.
async fn kill_the_holder(
    procs: &mut [Proc],
    (key, role): (&str, &str),
    seed: u64,
    started: Instant,
) -> Vec<Duration> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut takeovers = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(2_000..4_000))).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let leader = loop {
            if let Some(leader) = holder(procs, key, role).await {
                break leader;
            }
            assert!(Instant::now() < deadline, "nobody says {key}: {role}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        procs[leader].kill();
        let killed = Instant::now();
        let successor = loop {
            if let Some(successor) = holder(procs, key, role).await {
                break successor;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "nobody took over {key}: {role} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = killed.elapsed();
        eprintln!(
            "cluster: {:.0} s: killed the {role} process {leader}; {successor} took over in {:.0} ms",
            started.elapsed().as_secs_f64(),
            ms(took)
        );
        takeovers.push(took);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(50..800))).await;
        procs[leader].start().await;
    }
    takeovers.sort();
    takeovers
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute long: `make faults` runs it, and `make test` runs `make faults`"]
async fn cluster_survives_its_lease_holders_and_a_kubo_node_dying() {
    let (seed, logs) = seed_and_logs("cluster");
    let dir = tempfile::tempdir().unwrap();

    let anvil = Anvil::start_on(free_port(), &[]).await;
    let mut chain = Chain::start_with(CLIENTS, anvil, 1, Kubo::start().await).await;
    let mut blocks = BlockCluster::start(2).await;
    let store_url = blocks.store_url();
    // Direct senders store through the cluster, and the checks read from it.
    chain.store = std::sync::Arc::new(cairn::store::KuboStore::new(&store_url));
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
            ("CAIRN_KUBO_URL".to_string(), store_url.clone()),
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
                indexer_args("serve", port, &index_url),
                env(&name),
                logs.join(format!("{name}.log")),
            )
        })
        .collect();
    let gateway_ports: Vec<u16> = (0..GATEWAYS).map(|_| free_port()).collect();
    let mut gateways: Vec<Proc> = gateway_ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let name = format!("gateway-{i}");
            let mut gateway_env = env(&name);
            gateway_env.push(("CAIRN_RELAYER_KEY".to_string(), RELAYER_KEY.to_string()));
            gateway_env.push(("CAIRN_GATEWAY_DATABASE_URL".to_string(), outbox_url.clone()));
            Proc::new(
                "gateway",
                *port,
                [
                    "gateway",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--max-batch-age-ms",
                    "500",
                ]
                .map(String::from)
                .to_vec(),
                gateway_env,
                logs.join(format!("{name}.log")),
            )
        })
        .collect();
    for node in &mut nodes {
        node.start().await;
    }
    for gateway in &mut gateways {
        gateway.start().await;
    }
    let apis: Vec<String> = nodes
        .iter()
        .map(|n| n.health.trim_end_matches("/healthz").to_string())
        .collect();

    // The clients.
    let gateway_clients: Vec<GatewayClient> = gateway_ports
        .iter()
        .map(|port| GatewayClient::new(&format!("http://127.0.0.1:{port}")))
        .collect();
    let messengers = direct_senders(&chain, &chain.url).await;
    let ledger = Ledger::new();
    let (stop_sending, stop_streams) = (AtomicBool::new(false), AtomicBool::new(false));
    let addresses: Vec<Address> = chain.users.iter().map(|u| u.address()).collect();
    let started = Instant::now();
    let (ingest_takeovers, batcher_takeovers) = {
        let (users, domain) = (&chain.users, &chain.domain);
        let senders = send_until(
            messengers,
            &gateway_clients,
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
        let kubo_dies = async {
            tokio::time::sleep(Duration::from_secs(12)).await;
            blocks.kubos[0].kill();
            eprintln!(
                "cluster: {:.0} s: killed Kubo node 0 for good",
                started.elapsed().as_secs_f64()
            );
        };
        let chaos = async {
            let takeovers = tokio::join!(
                kill_the_holder(&mut nodes, ("role", "ingesting"), seed, started),
                kill_the_holder(&mut gateways, ("batcher", "batching"), seed ^ 1, started),
                kubo_dies,
            );
            stop_sending.store(true, Ordering::Relaxed);
            (takeovers.0, takeovers.1)
        };
        let drain = async {
            // The senders finish first: a send in flight when the faults
            // stop may be accepted later, and must be waited for too.
            let ((), takeovers) = tokio::join!(senders, chaos);
            let within = Duration::from_secs(180);
            await_delivery(&ledger, &addresses, &index_url, within, "cluster").await;
            stop_streams.store(true, Ordering::Relaxed);
            takeovers
        };
        tokio::join!(streams, drain).1
    };

    let accepted = ledger.accepted.lock().unwrap().clone();
    let pushed = ledger.pushed.lock().unwrap().clone();
    let on_chain = anchored(&chain).await;
    let index_store = cairn_indexer::store::open(&index_url).await.unwrap();
    let (mut lost, mut duplicated, mut reordered) = (0, 0, 0);
    for (r, who) in addresses.iter().enumerate() {
        let in_index = indexed(index_store.as_ref(), *who).await;
        let Replayed {
            net,
            reordered: out_of_order,
            redelivered,
            ..
        } = replay(&pushed[r]);
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
    println!(
        "cluster: {} posts accepted ({} direct clients, {} batched through {GATEWAYS} gateways), {lost} lost, {duplicated} duplicated, {reordered} reordered; {} stream (re)connections",
        accepted.len(),
        DIRECT,
        CLIENTS - DIRECT,
        ledger.connects.lock().unwrap(),
    );
    for (what, takeovers) in [
        ("ingest", &ingest_takeovers),
        ("batcher", &batcher_takeovers),
    ] {
        println!(
            "cluster: {KILLS} SIGKILLs of the {what} lease holder; taken over in median {:.0} ms, max {:.0} ms",
            ms(takeovers[takeovers.len() / 2]),
            ms(*takeovers.last().unwrap())
        );
    }

    // Every block is still readable, with one Kubo node dead: every
    // envelope (every manifest was read by `anchored` above).
    let mut unreadable = 0;
    for a in &accepted {
        if let Err(err) = chain.store.get(&cid::cid_for_digest(a.digest)).await {
            unreadable += 1;
            eprintln!("cluster: envelope {} unreadable: {err}", a.digest);
        }
    }
    println!(
        "cluster: {} envelopes read back, {unreadable} unreadable, with Kubo node 0 dead",
        accepted.len()
    );

    // The relayer's nonces: one per anchored batch, from 0, no gap and no
    // batch left behind (the gateways may still be confirming the last).
    let outbox = outbox::open(&outbox_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(outbox
        .batches(outbox::BatchState::Sealed)
        .await
        .unwrap()
        .is_empty()
        && outbox
            .batches(outbox::BatchState::Sent)
            .await
            .unwrap()
            .is_empty())
    {
        assert!(Instant::now() < deadline, "batches left unanchored");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut nonces: Vec<u64> = outbox
        .batches(outbox::BatchState::Anchored)
        .await
        .unwrap()
        .iter()
        .map(|b| b.tx.expect("an anchored batch has its transaction").0)
        .collect();
    nonces.sort();
    let relayer = crate::harness::signer(RELAYER_KEY).address();
    let mined = rpc_u64(
        &chain.url,
        "eth_getTransactionCount",
        serde_json::json!([relayer, "latest"]),
    )
    .await;
    println!(
        "cluster: {} batches anchored with relayer nonces 0..{}; the chain counts {mined}",
        nonces.len(),
        nonces.len()
    );
    assert_eq!(nonces, (0..mined).collect::<Vec<_>>(), "relayer nonces");

    // Every gateway proves any batched post, whichever gateway batched it:
    // the first post of every anchored batch, checked against the chain.
    let batches = outbox.batches(outbox::BatchState::Anchored).await.unwrap();
    for batch in &batches {
        let post = &outbox.batch_posts(batch.id).await.unwrap()[0];
        let id = post.signing_hash(&chain.domain);
        for gateway in &gateway_clients {
            let proof = gateway.proof(id).await.unwrap();
            cairn::gateway::client::verify_proof(&chain.client, id, &proof)
                .await
                .unwrap_or_else(|e| panic!("batch {}: {e}", batch.id));
        }
    }
    println!(
        "cluster: each of the {GATEWAYS} gateways proved a post of each of the {} batches, checked against the chain",
        batches.len()
    );
    assert_eq!(unreadable, 0);
    assert_eq!(
        (lost, duplicated, reordered),
        (0, 0, 0),
        "logs in {}",
        logs.display()
    );
    assert_eq!(
        (ingest_takeovers.len(), batcher_takeovers.len()),
        (KILLS, KILLS)
    );
    assert!(
        accepted.len() >= 200,
        "too few posts to mean anything: {}",
        accepted.len()
    );
    // Streams moved between nodes: at least one reconnection per kill.
    assert!(*ledger.connects.lock().unwrap() >= CLIENTS + KILLS);
}
