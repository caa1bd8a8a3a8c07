//! One suite for the `Store` contract, run against SQLite and PostgreSQL.

use alloy::primitives::B256;
use cairn_indexer::{
    ingest::BlockRef,
    store::{
        ChannelChange, ChannelPosters, ContentCheck, ContentStatus, EventKind, IngestBatch,
        ListCursor, NewChannelEvent, NewMessage, RowStatus, Seek, Store, StreamCursor,
    },
};

use crate::harness::Database;

const BOB: &str = "0x0000000000000000000000000000000000000000000000000000000000000b0b";

fn block(n: u64, fork: u8) -> BlockRef {
    BlockRef {
        number: n,
        hash: B256::with_last_byte(n as u8) | B256::right_padding_from(&[fork]),
        parent_hash: B256::ZERO,
    }
}

fn message(b: &BlockRef, log_index: u64) -> NewMessage {
    NewMessage {
        block_number: b.number,
        block_hash: b.hash.to_string(),
        log_index,
        item: None,
        nonce: None,
        tx_hash: B256::repeat_byte(1).to_string(),
        sender: "0x00000000000000000000000000000000000a11ce".into(),
        recipient: BOB.into(),
        digest: B256::with_last_byte(log_index as u8 + 10 * b.number as u8).to_string(),
        sequence: b.number * 10 + log_index,
        cid: "bafk".into(),
    }
}

fn batch(blocks: &[BlockRef], confirm_upto: Option<u64>) -> IngestBatch {
    IngestBatch {
        messages: blocks
            .iter()
            .flat_map(|b| [message(b, 0), message(b, 1)])
            .collect(),
        keys: Vec::new(),
        batches: Vec::new(),
        channel_events: Vec::new(),
        blocks: blocks.to_vec(),
        checkpoint: blocks.last().copied(),
        confirm_upto,
        prune_below: 0,
    }
}

async fn statuses(store: &dyn Store) -> Vec<(u64, RowStatus)> {
    store
        .inbox(BOB, Seek::After(None), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.block, m.status))
        .collect()
}

async fn events(store: &dyn Store) -> Vec<(EventKind, u64, u64)> {
    store
        .events_after(BOB, StreamCursor(0), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.message.block, e.message.log_index))
        .collect()
}

async fn contract(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let store = store.as_ref();
    assert_eq!(store.checkpoint().await.unwrap(), None);

    let (b1, b2, b3) = (block(1, 1), block(2, 1), block(3, 1));
    store.apply(&batch(&[b1, b2, b3], Some(1))).await.unwrap();
    assert_eq!(
        store.checkpoint().await.unwrap().map(|c| c.hash),
        Some(b3.hash)
    );
    assert_eq!(
        events(store).await,
        vec![(EventKind::Message, 1, 0), (EventKind::Message, 1, 1)]
    );

    // Replaying the same step doubles nothing.
    store.apply(&batch(&[b1, b2, b3], Some(1))).await.unwrap();
    assert_eq!(statuses(store).await.len(), 6);
    assert_eq!(events(store).await.len(), 2);

    // The checkpoint only moves forward.
    store
        .apply(&IngestBatch {
            checkpoint: Some(b2),
            ..IngestBatch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.checkpoint().await.unwrap().map(|c| c.number), Some(3));

    // Confirmations append events in chain order.
    store
        .apply(&IngestBatch {
            confirm_upto: Some(3),
            ..IngestBatch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        events(store)
            .await
            .iter()
            .map(|e| (e.1, e.2))
            .collect::<Vec<_>>(),
        vec![(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    );

    // Keyset pagination.
    let page = store
        .inbox(
            BOB,
            Seek::After(Some(ListCursor {
                block: 2,
                log_index: 0,
                item: None,
            })),
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|m| (m.block, m.log_index))
            .collect::<Vec<_>>(),
        vec![(2, 1), (3, 0)]
    );

    // A rollback retracts confirmed rows above the fork, with events.
    assert_eq!(store.rollback_to(&b1).await.unwrap(), 4);
    assert_eq!(
        statuses(store).await,
        vec![(1, RowStatus::Confirmed), (1, RowStatus::Confirmed)]
    );
    let all = events(store).await;
    assert_eq!(
        &all[6..],
        &[
            (EventKind::Retracted, 2, 0),
            (EventKind::Retracted, 2, 1),
            (EventKind::Retracted, 3, 0),
            (EventKind::Retracted, 3, 1)
        ]
    );
    assert_eq!(store.checkpoint().await.unwrap().map(|c| c.number), Some(1));
    assert_eq!(
        store
            .window()
            .await
            .unwrap()
            .iter()
            .map(|b| b.number)
            .collect::<Vec<_>>(),
        vec![1]
    );
    let gone = store
        .message(&b2.hash.to_string(), 0, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.status, RowStatus::Retracted);

    // The old fork comes back (A -> B -> A): its rows revive and are pushed again.
    store.apply(&batch(&[b2], Some(2))).await.unwrap();
    assert_eq!(statuses(store).await.len(), 4);
    assert_eq!(
        events(store).await.last(),
        Some(&(EventKind::Message, 2, 1))
    );

    // Pending rows above a fork are deleted, never pushed.
    let b3b = block(3, 2);
    store.apply(&batch(&[b3b], None)).await.unwrap();
    store.rollback_to(&b2).await.unwrap();
    assert!(store
        .message(&b3b.hash.to_string(), 0, None)
        .await
        .unwrap()
        .is_none());

    // Content tasks: a missing block waits for its retry time, and retries
    // take turns by due time, so old missing rows cannot starve the rest.
    let check = |row, status, retry_at| ContentCheck {
        row,
        status,
        retry_at,
    };
    let tasks = store.content_tasks(100, 1_000).await.unwrap();
    assert_eq!(tasks.len(), 4);
    let rows: Vec<i64> = tasks.iter().map(|t| t.row).collect();
    store
        .set_content(&[
            check(rows[0], ContentStatus::Missing, 6_000),
            check(rows[1], ContentStatus::Missing, 5_000),
            check(rows[2], ContentStatus::Verified, 0),
        ])
        .await
        .unwrap();
    let due = |now| async move {
        let tasks = store.content_tasks(4, now).await.unwrap();
        tasks
            .iter()
            .map(|t| (t.row, t.attempts))
            .collect::<Vec<_>>()
    };
    assert_eq!(due(1_000).await, [(rows[3], 0)]);
    assert_eq!(
        due(7_000).await,
        [(rows[1], 1), (rows[0], 1), (rows[3], 0)],
        "the longest due first"
    );
    store
        .set_content(&[check(rows[1], ContentStatus::Missing, 9_000)])
        .await
        .unwrap();
    assert_eq!(due(7_000).await, [(rows[0], 1), (rows[3], 0)]);
    assert_eq!(due(9_000).await, [(rows[0], 1), (rows[1], 2), (rows[3], 0)]);
}

/// Batch checks take relayers in turns, and a missing manifest waits for
/// its retry time.
async fn batch_turns(postgres: bool) {
    use cairn_indexer::store::{BatchOutcome, NewBatch, Resolution};
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let b = block(1, 0);
    let anchor = |log_index: u64, relayer: &str| NewBatch {
        block_number: 1,
        block_hash: b.hash.to_string(),
        log_index,
        tx_hash: B256::repeat_byte(2).to_string(),
        block_time: Some(0),
        relayer: relayer.into(),
        root: B256::repeat_byte(3).to_string(),
        manifest_digest: B256::repeat_byte(4).to_string(),
        count: 1,
        batch_id: log_index,
    };
    // Mallory anchored three before Alice's one.
    let mut step = batch(&[b], None);
    step.messages.clear();
    step.batches = vec![
        anchor(0, "mallory"),
        anchor(1, "mallory"),
        anchor(2, "mallory"),
        anchor(3, "alice"),
    ];
    store.apply(&step).await.unwrap();
    let relayers = |tasks: Vec<cairn_indexer::store::BatchTask>| {
        tasks
            .into_iter()
            .map(|t| t.anchor.relayer)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        relayers(store.batch_tasks(2, 0).await.unwrap()),
        ["mallory", "alice"]
    );
    let first = store.batch_tasks(1, 0).await.unwrap().remove(0);
    let missing = BatchOutcome {
        resolution: Resolution::Missing,
        reason: Some("not found".into()),
        messages: Vec::new(),
        invalid: Vec::new(),
        retry_at: 5_000,
    };
    store.resolve_batch(first.row, &missing).await.unwrap();
    assert_eq!(
        relayers(store.batch_tasks(4, 1_000).await.unwrap()),
        ["mallory", "alice", "mallory"]
    );
    let due = store.batch_tasks(4, 5_000).await.unwrap();
    assert_eq!(
        (due[0].row, due[0].attempts),
        (first.row, 1),
        "the missing one, due"
    );
}

/// Channel state follows its events, and a rollback takes back the changes
/// above the fork.
async fn channels(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let channel = format!("0x8{}", "0".repeat(63));
    let (a, b, c) = (
        "0x...a".to_string(),
        "0x...b".to_string(),
        "0x...c".to_string(),
    );
    let event = |block: &BlockRef, log_index: u64, change: ChannelChange| NewChannelEvent {
        block_number: block.number,
        block_hash: block.hash.to_string(),
        log_index,
        channel: channel.clone(),
        change,
    };
    let (b1, b2) = (block(1, 1), block(2, 1));
    let mut first = batch(&[b1], None);
    first.messages.clear();
    first.channel_events = vec![
        event(
            &b1,
            0,
            ChannelChange::Created {
                name: "dao".into(),
                creator: a.clone(),
                gate: 0,
                token: "0x0".into(),
                min_balance: "0".into(),
            },
        ),
        event(
            &b1,
            1,
            ChannelChange::Admins {
                added: vec![a.clone()],
                removed: vec![],
            },
        ),
        event(
            &b1,
            2,
            ChannelChange::Members {
                epoch: 1,
                added: vec![a.clone(), b.clone()],
                removed: vec![],
            },
        ),
        event(
            &b1,
            3,
            ChannelChange::Key {
                epoch: 1,
                bundle: "0xb1".into(),
            },
        ),
    ];
    store.apply(&first).await.unwrap();
    let mut second = batch(&[b2], None);
    second.messages.clear();
    second.channel_events = vec![event(
        &b2,
        5,
        ChannelChange::Members {
            epoch: 2,
            added: vec![c.clone()],
            removed: vec![b.clone()],
        },
    )];
    store.apply(&second).await.unwrap();

    let now = store.channel(&channel).await.unwrap().unwrap();
    assert_eq!(
        (now.epoch, now.bundle.as_deref()),
        (2, None),
        "no key for epoch 2 yet"
    );
    assert_eq!(now.members, [a.clone(), c.clone()]);
    assert_eq!(now.admins, std::slice::from_ref(&a));
    assert_eq!(store.channels_of(&b).await.unwrap(), Vec::<String>::new());
    assert_eq!(
        store.channels_of(&c).await.unwrap(),
        std::slice::from_ref(&channel)
    );
    // Membership just before a log: B until the change at (2, 5), C after.
    let asked = [b.clone(), c.clone()];
    let before = store.channel_posters(&channel, &asked, 2, 5).await.unwrap();
    assert_eq!(before, ChannelPosters::Members([b.clone()].into()));
    let after = store.channel_posters(&channel, &asked, 2, 6).await.unwrap();
    assert_eq!(after, ChannelPosters::Members([c.clone()].into()));
    assert_eq!(
        store.channel_posters(&channel, &asked, 1, 0).await.unwrap(),
        ChannelPosters::Unknown
    );

    store.rollback_to(&b1).await.unwrap();
    let back = store.channel(&channel).await.unwrap().unwrap();
    assert_eq!((back.epoch, back.bundle.as_deref()), (1, Some("0xb1")));
    assert_eq!(back.members, [a, b.clone()]);
    assert_eq!(store.channels_of(&b).await.unwrap(), [channel]);
}

/// A channel read while ingestion commits new epochs is one moment's
/// state: epoch n always comes with the n members added by then. Read in
/// separate statements, a commit between them paired a new epoch with the
/// old members (seen once under load in `channels::a_token_gate_…`).
async fn a_channel_is_read_as_of_one_moment(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let reader = cairn_indexer::store::open(&db.url()).await.unwrap();
    let channel = format!("0x{}", "cd".repeat(32));
    let member = |n: u64| format!("0x{n:040x}");
    let event = {
        let channel = channel.clone();
        move |block: &BlockRef, change: ChannelChange| NewChannelEvent {
            block_number: block.number,
            block_hash: block.hash.to_string(),
            log_index: 0,
            channel: channel.clone(),
            change,
        }
    };
    let first = block(1, 1);
    let mut created = batch(&[first], None);
    created.messages.clear();
    created.channel_events = vec![event(
        &first,
        ChannelChange::Created {
            name: "race".into(),
            creator: member(1),
            gate: 0,
            token: "0x0".into(),
            min_balance: "0".into(),
        },
    )];
    store.apply(&created).await.unwrap();
    // `batch` numbers blocks in a byte: 25 epochs stay within it.
    const EPOCHS: u64 = 25;
    let writer = tokio::spawn(async move {
        for n in 2..=EPOCHS {
            let b = block(n, 1);
            let mut step = batch(&[b], None);
            step.messages.clear();
            step.channel_events = vec![event(
                &b,
                ChannelChange::Members {
                    epoch: n,
                    added: vec![member(n)],
                    removed: vec![],
                },
            )];
            store.apply(&step).await.unwrap();
        }
    });
    let mut reads = 0;
    loop {
        assert!(
            !writer.is_finished() || reads < 100_000,
            "the writer ended early"
        );
        let record = reader.channel(&channel).await.unwrap().unwrap();
        // Epoch 1 has no members yet; epoch n >= 2 has members 2..=n.
        let want = record.epoch.saturating_sub(1) as usize;
        assert_eq!(
            record.members.len(),
            want,
            "epoch {} with {:?}",
            record.epoch,
            record.members
        );
        reads += 1;
        if record.epoch == EPOCHS {
            break;
        }
    }
    writer.await.unwrap();
    assert!(reads > 1);
}

#[tokio::test]
async fn a_channel_is_read_as_of_one_moment_sqlite() {
    a_channel_is_read_as_of_one_moment(false).await;
}

#[tokio::test]
async fn a_channel_is_read_as_of_one_moment_postgres() {
    a_channel_is_read_as_of_one_moment(true).await;
}

#[tokio::test]
async fn channels_sqlite() {
    channels(false).await;
}

#[tokio::test]
async fn channels_postgres() {
    channels(true).await;
}

#[tokio::test]
async fn batch_turns_sqlite() {
    batch_turns(false).await;
}

#[tokio::test]
async fn batch_turns_postgres() {
    batch_turns(true).await;
}

#[tokio::test]
async fn store_contract_sqlite() {
    contract(false).await;
}

#[tokio::test]
async fn store_contract_postgres() {
    contract(true).await;
}

/// Every field of a message row reads back as written: rows written
/// confirmed (deep below the head) and rows written pending, a direct post
/// and a batched one with its item and a nonce above 2^62.
async fn message_fields(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let (deep, recent) = (block(1, 0), block(2, 0));
    let batched = |b: &BlockRef| NewMessage {
        item: Some(4),
        nonce: Some((1 << 62) + 5),
        sender: "0x00000000000000000000000000000000000ca201".into(),
        tx_hash: B256::repeat_byte(7).to_string(),
        cid: format!("bafk-batched-{}", b.number),
        sequence: 900 + b.number,
        ..message(b, 3)
    };
    let mut step = batch(&[deep, recent], Some(1));
    step.messages.extend([batched(&deep), batched(&recent)]);
    store.apply(&step).await.unwrap();
    for written in &step.messages {
        let read = store
            .message(
                &written.block_hash,
                written.log_index,
                written.item.map(u64::from),
            )
            .await
            .unwrap()
            .expect("stored");
        // The row read back, as the row written: a field added to
        // `NewMessage` must be mapped here.
        let stored = NewMessage {
            block_number: read.block,
            block_hash: read.block_hash.clone(),
            log_index: read.log_index,
            item: read.item.map(|i| u32::try_from(i).unwrap()),
            nonce: read.nonce,
            tx_hash: read.tx.clone(),
            sender: read.from.clone(),
            recipient: read.to.clone(),
            digest: read.digest.clone(),
            sequence: read.sequence,
            cid: read.cid.clone(),
        };
        assert_eq!(&stored, written);
        let status = if written.block_number == deep.number {
            RowStatus::Confirmed
        } else {
            RowStatus::Pending
        };
        assert_eq!(read.status, status, "{}", read.id);
    }
}

#[tokio::test]
async fn every_message_field_reads_back_as_written_sqlite() {
    message_fields(false).await;
}

#[tokio::test]
async fn every_message_field_reads_back_as_written_postgres() {
    message_fields(true).await;
}

/// A database written by the first schema keeps every message, id and event
/// through migration 0002 (which SQLite applies by rebuilding two tables).
async fn upgrade(postgres: bool) {
    let db = Database::start(postgres).await;
    let url = db.url();
    let rows = format!(
        "INSERT INTO messages (block_number, block_hash, log_index, tx_hash, sender, recipient, digest, sequence, cid, status) \
         VALUES (7, '0xaa', 3, '0xbb', '0xa11ce', '{BOB}', '0xdd', 41, 'bafk', 'confirmed')"
    );
    let event =
        format!("INSERT INTO events (kind, message_id, recipient) VALUES ('message', 1, '{BOB}')");
    macro_rules! first_schema_only {
        ($pool:expr, $dir:literal) => {{
            let mut migrator = sqlx::migrate!($dir);
            migrator.migrations = std::borrow::Cow::Owned(migrator.migrations[..1].to_vec());
            migrator.run(&$pool).await.unwrap();
            sqlx::query(&rows).execute(&$pool).await.unwrap();
            sqlx::query(&event).execute(&$pool).await.unwrap();
            $pool.close().await;
        }};
    }
    if postgres {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        first_schema_only!(pool, "indexer/migrations/postgres");
    } else {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        first_schema_only!(pool, "indexer/migrations/sqlite");
    }

    let store = cairn_indexer::store::open(&url).await.unwrap();
    let m = store.message("0xaa", 3, None).await.unwrap().expect("kept");
    assert_eq!(
        (m.id.as_str(), m.sequence, m.item, m.nonce),
        ("0xaa-3", 41, None, None)
    );
    assert_eq!(m.status, RowStatus::Confirmed);
    // New rows and events count on after the old ones.
    store.apply(&batch(&[block(8, 0)], Some(8))).await.unwrap();
    let events = store.events_after(BOB, StreamCursor(0), 10).await.unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.message.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "the old event and two new ones: {ids:?}");
    assert_eq!(ids[0], "0xaa-3");
    assert_eq!(
        store.inbox(BOB, Seek::After(None), 10).await.unwrap().len(),
        3
    );
}

#[tokio::test]
async fn migration_keeps_first_schema_data_sqlite() {
    upgrade(false).await;
}

#[tokio::test]
async fn migration_keeps_first_schema_data_postgres() {
    upgrade(true).await;
}

/// Blocks 1 to 400, ten direct posts to BOB in each, all confirmed.
async fn four_hundred_blocks_of_ten(store: &dyn Store) {
    let blocks: Vec<BlockRef> = (1..=400u64)
        .map(|n| BlockRef {
            number: n,
            hash: B256::left_padding_from(&n.to_be_bytes()),
            parent_hash: B256::ZERO,
        })
        .collect();
    for chunk in blocks.chunks(100) {
        let mut step = batch(&[], Some(400));
        step.blocks = chunk.to_vec();
        step.checkpoint = chunk.last().copied();
        step.messages = chunk
            .iter()
            .flat_map(|b| {
                (0..10).map(|i| NewMessage {
                    block_number: b.number,
                    block_hash: b.hash.to_string(),
                    log_index: i,
                    item: None,
                    nonce: None,
                    tx_hash: B256::repeat_byte(1).to_string(),
                    sender: "0x00000000000000000000000000000000000a11ce".into(),
                    recipient: BOB.into(),
                    digest: B256::left_padding_from(&(b.number * 10 + i).to_be_bytes()).to_string(),
                    sequence: b.number * 10 + i,
                    cid: "bafk".into(),
                })
            })
            .collect();
        store.apply(&step).await.unwrap();
    }
}

/// A deep page seeks to its cursor through the index, on both databases,
/// instead of reading and filtering every row before it: the cursor is part
/// of the index condition, and the rows read are the page's.
async fn deep_pages_seek(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    four_hundred_blocks_of_ten(store.as_ref()).await;
    let cursor = ListCursor {
        block: 390,
        log_index: 4,
        item: None,
    };
    let page = store
        .inbox(BOB, Seek::After(Some(cursor)), 20)
        .await
        .unwrap();
    assert_eq!(page.len(), 20);
    assert_eq!((page[0].block, page[0].log_index), (390, 5));
    assert_eq!((page[19].block, page[19].log_index), (392, 4));
    // Newest first, as a chat loads history upward: from the end, then
    // before a cursor.
    let latest = store.inbox(BOB, Seek::Before(None), 3).await.unwrap();
    let at = |m: &cairn_indexer::store::Message| (m.block, m.log_index);
    assert_eq!(
        latest.iter().map(at).collect::<Vec<_>>(),
        [(400, 9), (400, 8), (400, 7)]
    );
    let page = store
        .inbox(BOB, Seek::Before(Some(cursor)), 20)
        .await
        .unwrap();
    assert_eq!(page.len(), 20);
    assert_eq!(at(&page[0]), (390, 3));
    assert_eq!(at(&page[19]), (388, 4));

    for newest_first in [false, true] {
        let sql = cairn_indexer::store::page_query("recipient", newest_first);
        let op = if newest_first { "<" } else { ">" };
        if postgres {
            let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
            sqlx::query("ANALYZE messages")
                .execute(&pool)
                .await
                .unwrap();
            let (plan,): (serde_json::Value,) =
                sqlx::query_as(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))
                    .bind(BOB)
                    .bind(390i64)
                    .bind(4i64)
                    .bind(-1i64)
                    .bind(20i64)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let text = plan.to_string();
            assert!(
                text.contains(r#""Index Name":"messages_inbox""#),
                "the inbox index is used: {text}"
            );
            let scan = find_node(&plan[0]["Plan"], "messages_inbox").expect("an index scan");
            let condition = scan["Index Cond"].as_str().unwrap_or_default();
            assert!(
                condition.contains("block_number") && condition.contains("item"),
                "the cursor is in the index condition, not a filter: {condition}"
            );
            assert!(scan["Actual Rows"].as_u64().unwrap() <= 20, "{scan}");
            assert_eq!(
                scan["Rows Removed by Filter"].as_u64().unwrap_or(0),
                0,
                "{scan}"
            );
            assert!(
                !text.contains(r#""Node Type":"Sort""#),
                "the index gives the order: {text}"
            );
        } else {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind(BOB)
                    .bind(390i64)
                    .bind(4i64)
                    .bind(-1i64)
                    .bind(20i64)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let details: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();
            assert!(
                details
                    .iter()
                    .any(|d| d.contains("USING INDEX messages_inbox")
                        && d.contains(&format!("(block_number,log_index,item){op}"))),
                "the cursor is part of the index search: {details:?}"
            );
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "no sort: the index gives the order: {details:?}"
            );
        }
    }
}

/// The plan node (or one below it) that scans `index`.
fn find_node<'a>(node: &'a serde_json::Value, index: &str) -> Option<&'a serde_json::Value> {
    if node["Index Name"] == index {
        return Some(node);
    }
    node["Plans"]
        .as_array()?
        .iter()
        .find_map(|child| find_node(child, index))
}

#[tokio::test]
async fn deep_pages_seek_through_the_index_sqlite() {
    deep_pages_seek(false).await;
}

#[tokio::test]
async fn deep_pages_seek_through_the_index_postgres() {
    deep_pages_seek(true).await;
}

/// The content check reads its queues through the partial indexes that
/// hold only the rows in them, on both databases, so the table's verified
/// rows (nearly all) are neither indexed for it nor read by it.
async fn content_queues_read_their_partial_indexes(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    four_hundred_blocks_of_ten(store.as_ref()).await;
    let rows: Vec<i64> = store
        .content_tasks(4_000, 0)
        .await
        .unwrap()
        .iter()
        .map(|t| t.row)
        .collect();
    assert_eq!(rows.len(), 4_000);
    let checks: Vec<ContentCheck> = rows[..3_990]
        .iter()
        .enumerate()
        .map(|(i, &row)| ContentCheck {
            row,
            status: if i < 5 {
                ContentStatus::Missing
            } else {
                ContentStatus::Verified
            },
            retry_at: 1_000,
        })
        .collect();
    store.set_content(&checks).await.unwrap();
    let tasks = store.content_tasks(100, 2_000).await.unwrap();
    assert_eq!(tasks.len(), 15, "5 due again and 10 unchecked");

    let [due, fresh] = cairn_indexer::store::CONTENT_QUEUES;
    for (sql, index, binds) in [
        (due, "messages_missing", &[2_000i64, 100][..]),
        (fresh, "messages_unchecked", &[100i64][..]),
    ] {
        if postgres {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::query("ANALYZE messages")
                .execute(&mut conn)
                .await
                .unwrap();
            let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
            let mut query = sqlx::query_as(&explain);
            for bind in binds {
                query = query.bind(*bind);
            }
            let (plan,): (serde_json::Value,) = query.fetch_one(&mut conn).await.unwrap();
            assert!(
                find_node(&plan[0]["Plan"], index).is_some(),
                "{index} is used: {plan}"
            );
        } else {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query_as(&explain);
            for bind in binds {
                query = query.bind(*bind);
            }
            let plan: Vec<(i64, i64, i64, String)> = query.fetch_all(&pool).await.unwrap();
            let details: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();
            assert!(
                details
                    .iter()
                    .any(|d| d.contains(&format!("USING INDEX {index}"))),
                "{index} is used: {details:?}"
            );
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "no sort: the index gives the order: {details:?}"
            );
        }
    }
}

#[tokio::test]
async fn content_queues_read_their_partial_indexes_sqlite() {
    content_queues_read_their_partial_indexes(false).await;
}

#[tokio::test]
async fn content_queues_read_their_partial_indexes_postgres() {
    content_queues_read_their_partial_indexes(true).await;
}

/// Two processes on one PostgreSQL database: one lease holder at a time; a
/// holder whose lock was freed cannot write after its successor took over;
/// the other's commit feed hears of confirmed events.
#[tokio::test]
async fn one_ingester_at_a_time_and_the_fenced_out_cannot_write_postgres() {
    let db = Database::start(true).await;
    let first = cairn_indexer::store::open(&db.url()).await.unwrap();
    let second = cairn_indexer::store::open(&db.url()).await.unwrap();
    let mut feed = second
        .commit_feed()
        .await
        .unwrap()
        .expect("PostgreSQL notifies");

    let lease = first
        .try_ingest_lease("first")
        .await
        .unwrap()
        .expect("free");
    assert_eq!(lease.generation, 1);
    assert!(second.try_ingest_lease("second").await.unwrap().is_none());
    first.apply(&batch(&[block(1, 0)], Some(1))).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
        .await
        .expect("the confirmation's commit is noticed");

    // The holder's lock connection goes (as when its process dies, or it is
    // cut off); its pool connections stay.
    drop(lease);
    let taken = loop {
        if let Some(lease) = second.try_ingest_lease("second").await.unwrap() {
            break lease;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(taken.generation, 2);
    let refused = first.apply(&batch(&[block(2, 0)], Some(2))).await;
    assert!(
        matches!(refused, Err(cairn_indexer::store::StoreError::LeaseLost)),
        "{refused:?}"
    );
    let refused = first.rollback_to(&block(0, 0)).await;
    assert!(
        matches!(refused, Err(cairn_indexer::store::StoreError::LeaseLost)),
        "{refused:?}"
    );
    assert_eq!(second.checkpoint().await.unwrap(), Some(block(1, 0)));
    second.apply(&batch(&[block(2, 0)], Some(2))).await.unwrap();
    assert_eq!(second.checkpoint().await.unwrap(), Some(block(2, 0)));
    assert_eq!(statuses(second.as_ref()).await.len(), 4);
}

/// One process writes a SQLite file: its lease is always granted, and no
/// other process has commits to announce.
#[tokio::test]
async fn the_sqlite_lease_is_its_own_sqlite() {
    let db = Database::start(false).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let lease = store.try_ingest_lease("only").await.unwrap().expect("held");
    assert_eq!(lease.generation, 0);
    assert!(store.commit_feed().await.unwrap().is_none());
    store.apply(&batch(&[block(1, 0)], Some(1))).await.unwrap();
}

/// A block that returns after a reorg away (A -> B -> A) revives its rows as
/// pending. If the chain forks away again before they are confirmed, they go
/// back to retracted: readers were told of them and of their retraction, and
/// those events still name them. The rollback used to delete them, which
/// the events' foreign key refused on both databases, so the ingester could
/// never get past that fork. Rows never pushed are still deleted beside
/// them. The lookup of a message's events, which that rollback and the
/// foreign-key check of every deleted row make, reads an index.
async fn a_revived_row_forked_away_again_goes_back_to_retracted(postgres: bool) {
    let db = Database::start(postgres).await;
    let store = cairn_indexer::store::open(&db.url()).await.unwrap();
    let store = store.as_ref();
    let (b1, b2, b3) = (block(1, 1), block(2, 1), block(3, 1));
    store.apply(&batch(&[b1, b2], Some(2))).await.unwrap();
    store.rollback_to(&b1).await.unwrap();
    store.apply(&batch(&[b2, b3], None)).await.unwrap();
    assert_eq!(
        statuses(store).await[2..],
        [
            (2, RowStatus::Pending),
            (2, RowStatus::Pending),
            (3, RowStatus::Pending),
            (3, RowStatus::Pending)
        ],
        "revived and new rows alike wait for confirmation"
    );
    let told = events(store).await;
    assert_eq!(told.last(), Some(&(EventKind::Retracted, 2, 1)));

    assert_eq!(
        store.rollback_to(&b1).await.unwrap(),
        0,
        "nothing confirmed above the fork"
    );
    assert_eq!(
        events(store).await,
        told,
        "readers already have the retraction"
    );
    assert_eq!(
        statuses(store).await,
        [(1, RowStatus::Confirmed), (1, RowStatus::Confirmed)]
    );
    let revived = store
        .message(&b2.hash.to_string(), 0, None)
        .await
        .unwrap()
        .expect("a row its events name is kept");
    assert_eq!(revived.status, RowStatus::Retracted);
    assert!(
        store
            .message(&b3.hash.to_string(), 0, None)
            .await
            .unwrap()
            .is_none(),
        "a pending row never pushed is deleted"
    );

    // The block can come back once more, and is pushed again when confirmed.
    store.apply(&batch(&[b2], Some(2))).await.unwrap();
    assert_eq!(
        events(store).await[told.len()..],
        [(EventKind::Message, 2, 0), (EventKind::Message, 2, 1)]
    );

    // The lookup reads the index, not every event.
    let lookup = "SELECT 1 FROM events WHERE message_id = $1";
    if postgres {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
        sqlx::query("ANALYZE events")
            .execute(&mut conn)
            .await
            .unwrap();
        // The table is small enough to read whole, which the planner would
        // rightly prefer; the question is whether an index can serve.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut conn)
            .await
            .unwrap();
        let (plan,): (serde_json::Value,) =
            sqlx::query_as(&format!("EXPLAIN (FORMAT JSON) {lookup}"))
                .bind(1i64)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(
            find_node(&plan[0]["Plan"], "events_message").is_some(),
            "events_message is used: {plan}"
        );
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {lookup}"))
                .bind(1i64)
                .fetch_all(&pool)
                .await
                .unwrap();
        assert!(
            plan.iter()
                .any(|(_, _, _, d)| d.contains("INDEX events_message")),
            "events_message is used: {plan:?}"
        );
    }
}

#[tokio::test]
async fn a_revived_row_forked_away_again_goes_back_to_retracted_sqlite() {
    a_revived_row_forked_away_again_goes_back_to_retracted(false).await;
}

#[tokio::test]
async fn a_revived_row_forked_away_again_goes_back_to_retracted_postgres() {
    a_revived_row_forked_away_again_goes_back_to_retracted(true).await;
}
