//! The gateway under faults: a real `cairn gateway` SIGKILLed while its
//! outbox holds unanchored posts, Anvil stopped in the middle of a batch,
//! an anchor transaction that reverts, and one stuck below a risen base fee. Every accepted post is anchored
//! exactly once, and nothing accepted is lost.

use std::{process::Stdio, time::Duration};

use alloy::primitives::B256;
use cairn::gateway::{
    client::GatewayClient,
    outbox::{self, BatchState},
    GatewayConfig,
};
use serde_json::json;

use crate::{
    gateway_stack::{
        anchored_posts, await_anchored, interval_mining, outbox_db, Chain, RELAYER_KEY,
    },
    harness::{free_port, rpc, Anvil, Database},
};

/// A real `cairn gateway` process on `port`.
fn gateway_process(
    chain: &Chain,
    port: u16,
    outbox_url: &str,
    data_dir: &std::path::Path,
    max_age_ms: u64,
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "gateway",
            "--max-batch",
            "64",
            "--anchor-confirmations",
            "1",
        ])
        .args(["--rebroadcast-after-secs", "2", "--max-batch-age-ms"])
        .arg(max_age_ms.to_string())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("CAIRN_RPC_URL", &chain.url)
        .env("CAIRN_CONTRACT", chain.contract.to_string())
        .env("CAIRN_RELAYER_KEY", RELAYER_KEY)
        .env("CAIRN_GATEWAY_DATABASE_URL", outbox_url)
        .env("CAIRN_DATA_DIR", data_dir)
        .env("CAIRN_STORE", "kubo")
        .env("CAIRN_KUBO_URL", &chain.kubo.api_url)
        .env_remove("CAIRN_PRIVATE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn gateway starts")
}

async fn await_healthy(api: &str) {
    for _ in 0..300 {
        if reqwest::get(format!("{api}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gateway at {api} never became healthy");
}

/// Submits `per_user` posts from each user to the next, nonces from `first`.
async fn submit_round(chain: &Chain, api: &str, first: u64, per_user: u64) -> Vec<B256> {
    let gateway = GatewayClient::new(api);
    let users = chain.users.len();
    let mut ids = Vec::new();
    for s in 0..users {
        let mut posts = Vec::new();
        for n in first..first + per_user {
            let text = format!("{s} says {n}");
            posts.push(chain.outgoing(s, (s + 1) % users, n, &text).await.request());
        }
        ids.extend(gateway.submit(posts).await.unwrap());
    }
    ids
}

/// Every id anchored exactly once, and nothing else anchored.
async fn assert_anchored_once(chain: &Chain, ids: &[B256]) {
    let counts = anchored_posts(chain).await;
    for id in ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "post {id} anchored {:?} times",
            counts.get(id)
        );
    }
    assert_eq!(counts.len(), ids.len(), "only accepted posts are anchored");
}

#[tokio::test]
async fn a_killed_gateway_anchors_every_accepted_post_exactly_once() {
    let chain = Chain::start(3, Anvil::start().await, 1).await;
    let data_dir = tempfile::tempdir().unwrap();
    let (_db, outbox_url) = outbox_db(false).await;
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let mut accepted = Vec::new();
    let mut unanchored_at_kill = Vec::new();
    // Kill right after accepting, mid-batching and mid-anchoring.
    for (round, kill_after_ms) in [0u64, 300, 900, 1600].into_iter().enumerate() {
        let mut child = gateway_process(&chain, port, &outbox_url, data_dir.path(), 700);
        await_healthy(&api).await;
        accepted.extend(submit_round(&chain, &api, 1 + round as u64 * 100, 40).await);
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let outbox = outbox::open(&outbox_url).await.unwrap();
        let queued = outbox.queue().await.unwrap().queued;
        let mut in_flight = 0;
        for state in [BatchState::Sealed, BatchState::Sent] {
            in_flight += outbox.batches(state).await.unwrap().len();
        }
        unanchored_at_kill.push((queued, in_flight));
    }
    assert!(
        unanchored_at_kill.iter().any(|(q, b)| q + *b as u64 > 0),
        "some kill hit an outbox with unanchored posts: {unanchored_at_kill:?}"
    );
    assert!(
        unanchored_at_kill[0].0 > 0,
        "the first kill, right after the 202s, left queued posts: {unanchored_at_kill:?}"
    );

    let mut child = gateway_process(&chain, port, &outbox_url, data_dir.path(), 200);
    await_healthy(&api).await;
    await_anchored(&GatewayClient::new(&api), &accepted).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(accepted.len(), 4 * 3 * 40);
    assert_anchored_once(&chain, &accepted).await;
}

#[tokio::test]
async fn stopping_anvil_mid_batch_loses_nothing() {
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("anvil-state.json");
    let state_arg = state_file.to_str().unwrap().to_string();
    let port = free_port();
    let mut chain = Chain::start(3, Anvil::start_on(port, &["--state", &state_arg]).await, 1).await;
    let indexer_db = Database::start(false).await;
    let (_outbox_db, outbox_url) = outbox_db(false).await;
    let node = chain
        .node(
            Some(chain.gateway_config(outbox_url.clone())),
            Some(indexer_db.url()),
        )
        .await;
    let api = format!("http://{}", node.addr);
    let outbox = outbox::open(&outbox_url).await.unwrap();

    let mut accepted = submit_round(&chain, &api, 1, 60).await;
    // Wait for an anchor transaction in flight, then stop the chain under it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while outbox.batches(BatchState::Sent).await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no batch was ever sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    chain.anvil.take().unwrap().stop().await;

    // The gateway keeps accepting while the chain is down.
    accepted.extend(submit_round(&chain, &api, 1000, 30).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let in_flight = outbox.batches(BatchState::Sent).await.unwrap().len()
        + outbox.batches(BatchState::Sealed).await.unwrap().len();
    assert!(
        in_flight > 0,
        "batches wait in the outbox while the chain is down"
    );

    let anvil = Anvil::start_on(port, &["--state", &state_arg]).await;
    interval_mining(&anvil.url, 1).await;
    chain.anvil = Some(anvil);
    await_anchored(&GatewayClient::new(&api), &accepted).await;
    assert_eq!(accepted.len(), 3 * 90);
    assert_anchored_once(&chain, &accepted).await;

    // And the indexer, which saw the chain vanish too, delivers every post.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut delivered = 0;
        for user in &chain.users {
            let url = format!("{api}/v1/inbox/{}?limit=500", user.address());
            let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            delivered += page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["status"] == "confirmed")
                .count();
        }
        if delivered == accepted.len() {
            break;
        }
        assert!(
            delivered <= accepted.len(),
            "delivered {delivered} > accepted"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "only {delivered} delivered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    node.shutdown().await.unwrap();
}

/// An anchor transaction that reverts on chain sends its batch back to be
/// sealed into a new transaction: the posts are anchored once, later.
#[tokio::test]
async fn a_reverted_anchor_is_sent_again_and_nothing_is_lost() {
    let chain = Chain::start(2, Anvil::start().await, 0).await;
    // Mine by hand from here, so the anchor waits in the mempool.
    rpc(&chain.url, "evm_setAutomine", json!([false])).await;
    let (_db, outbox_url) = outbox_db(false).await;
    let node = chain
        .node(Some(chain.gateway_config(outbox_url.clone())), None)
        .await;
    let api = format!("http://{}", node.addr);
    let outbox = outbox::open(&outbox_url).await.unwrap();
    let accepted = submit_round(&chain, &api, 1, 10).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while outbox.batches(BatchState::Sent).await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no batch was sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_tx = outbox.batches(BatchState::Sent).await.unwrap()[0]
        .tx
        .unwrap()
        .1;

    // The contract now reverts everything; the pending anchor is mined and fails.
    let code = rpc(&chain.url, "eth_getCode", json!([chain.contract, "latest"])).await;
    rpc(
        &chain.url,
        "anvil_setCode",
        json!([chain.contract, "0x60006000fd"]),
    )
    .await;
    rpc(&chain.url, "evm_mine", json!([])).await;
    let receipt = rpc(&chain.url, "eth_getTransactionReceipt", json!([first_tx])).await;
    assert_eq!(
        receipt["status"], "0x0",
        "the first anchor reverted: {receipt}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !outbox.batches(BatchState::Sealed).await.unwrap().is_empty(),
        "the reverted batch is sealed again"
    );

    // Restore the contract and keep mining: the batch goes out again, once.
    rpc(&chain.url, "anvil_setCode", json!([chain.contract, code])).await;
    interval_mining(&chain.url, 1).await;
    let proofs = await_anchored(&GatewayClient::new(&api), &accepted).await;
    assert!(proofs.iter().all(|p| p.tx != Some(first_tx)));
    assert_anchored_once(&chain, &accepted).await;
    node.shutdown().await.unwrap();
}

/// An anchor stuck below a risen base fee is replaced by one with the same
/// nonce and higher fees; the batch is anchored once.
#[tokio::test]
async fn a_stuck_anchor_is_replaced_with_higher_fees() {
    let chain = Chain::start(2, Anvil::start().await, 0).await;
    rpc(&chain.url, "evm_setAutomine", json!([false])).await;
    let (_db, outbox_url) = outbox_db(false).await;
    let config = GatewayConfig {
        fee_bump_after: Duration::from_secs(2),
        rebroadcast_after: Duration::from_secs(1),
        ..chain.gateway_config(outbox_url.clone())
    };
    let node = chain.node(Some(config), None).await;
    let api = format!("http://{}", node.addr);
    let outbox = outbox::open(&outbox_url).await.unwrap();
    let accepted = submit_round(&chain, &api, 1, 5).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let batch = loop {
        if let Some(b) = outbox.batches(BatchState::Sent).await.unwrap().pop() {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "no batch was sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (nonce, first_hash) = batch.tx.unwrap();

    // The base fee jumps a thousandfold: the anchor no longer fits a block.
    rpc(
        &chain.url,
        "anvil_setNextBlockBaseFeePerGas",
        json!(["0xe8d4a51000"]),
    )
    .await;
    rpc(&chain.url, "evm_mine", json!([])).await;
    let receipt = rpc(&chain.url, "eth_getTransactionReceipt", json!([first_hash])).await;
    assert!(receipt.is_null(), "the first anchor is stuck: {receipt}");

    interval_mining(&chain.url, 1).await;
    let proofs = await_anchored(&GatewayClient::new(&api), &accepted).await;
    let txs = outbox.batch_txs(batch.id, nonce).await.unwrap();
    assert!(
        txs.len() >= 2,
        "a replacement was signed: {} transaction(s)",
        txs.len()
    );
    assert!(txs[1].0.fees.max_fee > txs[0].0.fees.max_fee);
    assert!(
        proofs.iter().all(|p| p.tx != Some(first_hash)),
        "a replacement was mined"
    );
    let first_receipt = rpc(&chain.url, "eth_getTransactionReceipt", json!([first_hash])).await;
    assert!(
        first_receipt.is_null(),
        "the replaced anchor is never mined"
    );
    assert_anchored_once(&chain, &accepted).await;
    node.shutdown().await.unwrap();
}

/// A post for the outbox alone (it does not check signatures; the gateway
/// does before it stores one).
fn outbox_post(
    sender: &alloy::signers::local::PrivateKeySigner,
    nonce: u64,
    text: &str,
) -> outbox::NewPost {
    use alloy::signers::SignerSync;
    let post = cairn_contracts::eip712::Post {
        from: sender.address(),
        to: B256::repeat_byte(7),
        digest: alloy::primitives::keccak256(text),
        nonce,
        deadline: u64::MAX >> 2,
    };
    let id = alloy::primitives::keccak256(format!("{}:{nonce}:{text}", sender.address()));
    outbox::NewPost {
        id,
        signature: sender.sign_hash_sync(&id).unwrap(),
        post,
    }
}

/// `accept` alone, with no `known` before it, still stores a request all or
/// nothing: a post whose (sender, nonce) a stored post holds is reported by
/// index and nothing of the request is stored; a post stored already is
/// accepted again without change.
async fn accept_reports_conflicts_by_itself(postgres: bool) {
    let (_db, url) = outbox_db(postgres).await;
    let outbox = outbox::open(&url).await.unwrap();
    let sender = alloy::signers::local::PrivateKeySigner::random();
    let first = outbox_post(&sender, 1, "first");
    assert!(outbox
        .accept(std::slice::from_ref(&first), 1)
        .await
        .unwrap()
        .is_empty());
    let request = [
        outbox_post(&sender, 2, "new"),
        outbox_post(&sender, 1, "another post for nonce 1"),
        outbox_post(&sender, 3, "new too"),
    ];
    assert_eq!(outbox.accept(&request, 2).await.unwrap(), vec![1]);
    assert_eq!(
        outbox.queue().await.unwrap().queued,
        1,
        "nothing of it stored"
    );
    let again = [first, outbox_post(&sender, 2, "new")];
    assert!(outbox.accept(&again, 3).await.unwrap().is_empty());
    assert_eq!(outbox.queue().await.unwrap().queued, 2);
}

#[tokio::test]
async fn accept_reports_conflicts_by_itself_sqlite() {
    accept_reports_conflicts_by_itself(false).await;
}

#[tokio::test]
async fn accept_reports_conflicts_by_itself_postgres() {
    accept_reports_conflicts_by_itself(true).await;
}

/// Two gateways on one PostgreSQL outbox: both accept, one batches, and
/// the one that lost the batcher lease can no longer seal or sign; two
/// posts racing for one (sender, nonce) through different gateways end as
/// one stored post and one conflict, never as an error.
#[tokio::test]
async fn gateways_share_a_postgres_outbox_and_one_batches() {
    let (_db, url) = outbox_db(true).await;
    let (a, b) = (
        outbox::open(&url).await.unwrap(),
        outbox::open(&url).await.unwrap(),
    );
    let seal = |_: &[B256], _: &[cairn_contracts::manifest::SignedPost]| {
        (B256::repeat_byte(1), B256::ZERO)
    };

    let lease = a.try_batcher_lease("a").await.unwrap().expect("free lease");
    assert_eq!(lease.generation, 1);
    assert!(
        b.try_batcher_lease("b").await.unwrap().is_none(),
        "a holds it"
    );

    // Races for the same nonces through both gateways.
    let sender = alloy::signers::local::PrivateKeySigner::random();
    let races = (0..20u64).map(|n| {
        let (a, b, sender) = (a.clone(), b.clone(), sender.clone());
        async move {
            let (x, y) = (
                [outbox_post(&sender, n, "x")],
                [outbox_post(&sender, n, "y")],
            );
            let (ax, by) = tokio::join!(a.accept(&x, 1), b.accept(&y, 1));
            (ax.unwrap(), by.unwrap())
        }
    });
    for (n, (ax, by)) in futures::future::join_all(races)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            ax.len() + by.len(),
            1,
            "nonce {n}: exactly one of the two is a conflict ({ax:?}, {by:?})"
        );
    }
    assert_eq!(a.queue().await.unwrap().queued, 20);

    let sealed = a.seal(8, 0, 2, &seal).await.unwrap().expect("a batch");
    assert_eq!(sealed.count, 8);

    // a's lock connection goes (its process died, or its network): b takes
    // over, and a's writes are fenced off from then on.
    drop(lease);
    let lease_b = loop {
        if let Some(lease) = b.try_batcher_lease("b").await.unwrap() {
            break lease;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(lease_b.generation, 2);
    let fenced = a.seal(8, 0, 3, &seal).await;
    assert!(
        matches!(fenced, Err(outbox::OutboxError::LeaseLost)),
        "{fenced:?}"
    );
    assert!(matches!(
        a.reseal(sealed.id).await,
        Err(outbox::OutboxError::LeaseLost)
    ));
    let next = b
        .seal(8, 0, 3, &seal)
        .await
        .unwrap()
        .expect("b seals the rest");
    assert_eq!((next.count, a.queue().await.unwrap().queued), (8, 4));
    // Accepting is not fenced: every gateway takes posts.
    a.accept(&[outbox_post(&sender, 99, "z")], 4).await.unwrap();
    assert_eq!(b.queue().await.unwrap().queued, 5);
}

/// The batching gateway hears of posts another gateway accepts: with polls
/// an hour apart and no batch age, a full batch that the standby gateway
/// accepted is sealed and anchored only if its notice wakes the batcher.
#[tokio::test]
async fn the_batching_gateway_wakes_for_posts_another_gateway_accepts() {
    let chain = Chain::start(2, Anvil::start().await, 0).await;
    let (_db, url) = outbox_db(true).await;
    let config = || GatewayConfig {
        max_batch: 4,
        max_age: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(3600),
        ..chain.gateway_config(url.clone())
    };
    let role = |node: &cairn::server::Node| {
        let health = format!("http://{}/healthz", node.addr);
        async move { crate::gateway_stack::get_json(&health).await.1["batcher"].clone() }
    };
    let batching = chain.node(Some(config()), None).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while role(&batching).await != "batching" {
        assert!(
            std::time::Instant::now() < deadline,
            "the first gateway never batched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let standby = chain.node(Some(config()), None).await;
    // Its first ask for the lease has been answered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(role(&standby).await, "standby");

    let mut posts = Vec::new();
    for n in 1..=4 {
        posts.push(
            chain
                .outgoing(0, 1, n, &format!("via the standby {n}"))
                .await
                .request(),
        );
    }
    let standby_client = GatewayClient::new(&format!("http://{}", standby.addr));
    let ids = standby_client.submit(posts).await.unwrap();
    // Mined is enough: the batcher, asleep again, confirms only at its next poll.
    for id in &ids {
        standby_client
            .wait(*id, Duration::from_secs(30), true, &|_| {})
            .await
            .expect("the batching gateway heard of the standby's posts");
    }
    assert_anchored_once(&chain, &ids).await;
}

/// The posts table's sequential and index scans, once PostgreSQL's
/// statistics have taken in every scan made so far: a backend reports its
/// counts when it has been idle for up to ten seconds, so this waits until
/// they held still for longer than that, and moved past `after` scans.
async fn posts_scans(pool: &sqlx::PgPool, after: i64) -> (i64, i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut seen = (-1, -1);
    let mut since = std::time::Instant::now();
    loop {
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(pool)
            .await
            .unwrap();
        let now: (i64, i64) = sqlx::query_as(
            "SELECT seq_scan, COALESCE(idx_scan, 0) FROM pg_stat_user_tables \
             WHERE schemaname = 'cairn_gateway' AND relname = 'posts'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if now != seen {
            (seen, since) = (now, std::time::Instant::now());
        } else if now.0 + now.1 > after && since.elapsed() > Duration::from_secs(12) {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PostgreSQL's scan counts of posts did not settle past {after} in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The nonce check of every accepted request stays an index lookup as the
/// outbox grows. PostgreSQL caches a generic plan per connection after a
/// statement's fifth run; one planned while the table was empty scanned the
/// whole table ever after, and acceptance fell by half within a minute
/// until a vacuum made it plan again (docs/BENCHMARKS.md). The check is now
/// planned with its values each time.
#[tokio::test]
async fn the_postgres_nonce_check_stays_an_index_lookup_as_the_outbox_grows() {
    let (_db, url) = outbox_db(true).await;
    let outbox = outbox::open(&url).await.unwrap();
    let sender = alloy::signers::local::PrivateKeySigner::random();
    let batch: Vec<_> = (0..512u64)
        .map(|n| outbox_post(&sender, 1_000_000 + n, "new"))
        .collect();
    // While the table is empty, the check runs often enough on each of the
    // pool's connections for PostgreSQL to settle on a cached plan.
    for _ in 0..40 {
        outbox.known(&batch).await.unwrap();
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO cairn_gateway.posts \
           (post_id, sender, recipient, digest, nonce, deadline, signature, accepted_at, state) \
         SELECT 'p' || n, '0x' || lpad(to_hex(n % 16), 40, '0'), 'r', 'd', n, 4000000000, '\\x00', 0, 'queued' \
         FROM generate_series(1, 200000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (seq, idx) = posts_scans(&pool, 0).await;
    let known = outbox.known(&batch).await.unwrap();
    assert!(known.held.is_empty() && known.conflicts.is_empty());
    let (seq_after, idx_after) = posts_scans(&pool, seq + idx).await;
    assert_eq!(
        seq_after,
        seq,
        "the nonce check scanned the whole posts table ({} index scans)",
        idx_after - idx
    );
}
