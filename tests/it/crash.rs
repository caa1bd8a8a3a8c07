//! Crash safety: SIGKILL a real `cairn serve` at several points of a
//! 5,000-event backfill and restart it each time. The final rows equal the
//! chain's logs one for one, and every message was pushed exactly once.

use std::{collections::BTreeMap, process::Stdio, time::Duration};

use alloy::{
    primitives::{Address, B256},
    sol_types::SolEvent,
};
use cairn::chain::{Cairn, CairnClient};
use cairn_indexer::store::{Store, StreamCursor};
use serde_json::json;

use crate::harness::{
    free_port, mine, post_many, rpc_u64, signer, Anvil, Database, DEPLOYER_KEY, SENDER,
};

const EVENTS: usize = 5_000;
const PER_BLOCK: usize = 20;
const RECIPIENTS: usize = 10;

fn recipient(i: usize) -> B256 {
    Address::with_last_byte(0x10 + (i % RECIPIENTS) as u8).into_word()
}

fn serve(
    anvil: &Anvil,
    contract: Address,
    db_url: &str,
    data_dir: &std::path::Path,
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "serve",
            "--max-range",
            "2",
            "--reorg-window",
            "8",
            "--poll-interval-ms",
            "20",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--database-url")
        .arg(db_url)
        .env("CAIRN_RPC_URL", &anvil.url)
        .env("CAIRN_CONTRACT", contract.to_string())
        .env("CAIRN_DATA_DIR", data_dir)
        .env("CAIRN_STORE", "embedded")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn serve starts")
}

async fn checkpoint(store: &dyn Store) -> u64 {
    store.checkpoint().await.unwrap().map_or(0, |c| c.number)
}

async fn crash_and_resume(postgres: bool) {
    let anvil = Anvil::start().await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    post_many(&anvil.url, contract, EVENTS, PER_BLOCK, RECIPIENTS).await;
    mine(&anvil.url, 2).await;
    let head = rpc_u64(&anvil.url, "eth_blockNumber", json!([])).await;

    let db = Database::start(postgres).await;
    let data_dir = tempfile::tempdir().unwrap();
    // Opening creates and migrates the database; `serve` finds it ready.
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();

    // Kill at 20%, 40%, 60% and 80% of the way, each time mid-backfill.
    let mut killed_at = Vec::new();
    for fraction in [0.2, 0.4, 0.6, 0.8] {
        let target = (head as f64 * fraction) as u64;
        let mut child = serve(&anvil, contract, &db.url(), data_dir.path());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while checkpoint(store.as_ref()).await < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "backfill stalled below {target}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed_at.push(checkpoint(store.as_ref()).await);
    }
    assert!(
        killed_at.windows(2).all(|w| w[0] < w[1]) && *killed_at.last().unwrap() < head,
        "kills landed mid-backfill: {killed_at:?}"
    );

    let mut child = serve(&anvil, contract, &db.url(), data_dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while checkpoint(store.as_ref()).await < head {
        assert!(tokio::time::Instant::now() < deadline, "did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Rows equal the chain's logs, one for one.
    let provider = alloy::providers::ProviderBuilder::new()
        .connect(&anvil.url)
        .await
        .unwrap();
    let filter = alloy::rpc::types::Filter::new()
        .address(contract)
        .event_signature(Cairn::Posted::SIGNATURE_HASH)
        .from_block(0);
    let logs = alloy::providers::Provider::get_logs(&provider, &filter)
        .await
        .unwrap();
    assert_eq!(logs.len(), EVENTS);
    let chain: Vec<(String, u64, String)> = logs
        .iter()
        .map(|l| {
            let e = l.log_decode::<Cairn::Posted>().unwrap().inner.data;
            (
                l.block_hash.unwrap().to_string(),
                l.log_index.unwrap(),
                e.digest.to_string(),
            )
        })
        .collect();
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .sent(&SENDER.to_lowercase(), after.into(), 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(cairn_indexer::store::ListCursor::decode(&last.cursor).unwrap());
        rows.extend(
            page.into_iter()
                .map(|m| (m.block_hash, m.log_index, m.digest)),
        );
    }
    assert_eq!(rows, chain, "indexed rows must equal the chain's logs");

    // Every message was pushed exactly once: one event per row, per recipient.
    let mut pushed: BTreeMap<String, usize> = BTreeMap::new();
    for r in 0..RECIPIENTS {
        let events = store
            .events_after(&recipient(r).to_string(), StreamCursor(0), 10_000)
            .await
            .unwrap();
        for e in events {
            *pushed.entry(e.message.id).or_default() += 1;
        }
    }
    assert_eq!(pushed.len(), EVENTS);
    assert!(pushed.values().all(|&n| n == 1));
}

#[tokio::test]
async fn sigkill_during_backfill_loses_and_doubles_nothing_sqlite() {
    crash_and_resume(false).await;
}

#[tokio::test]
async fn sigkill_during_backfill_loses_and_doubles_nothing_postgres() {
    crash_and_resume(true).await;
}
