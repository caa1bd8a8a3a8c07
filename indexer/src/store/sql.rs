//! The SQL behind [`Store`], shared by SQLite and PostgreSQL.
//!
//! The two backends differ only in how they connect and which migrations
//! folder they run; [`sql_store!`] generates the same `Store` impl for each,
//! so the SQL cannot drift between them.

use std::{collections::HashSet, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    ConnectOptions, PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool,
};

use super::{
    cursor::{ListCursor, Seek, StreamCursor},
    lease::{CommitFeed, EVENTS_CHANNEL, FENCE_POSTGRES, INGEST, ORDER_EVENTS_POSTGRES},
    model::*,
    PoolConfig, Result, Store, StoreError, INVALID_POSTS_KEPT,
};
use crate::{
    block::BlockRef,
    lease::{Fence, Lease, Standby},
};

/// Statements slower than this are logged at WARN (`sqlx::query`, "slow
/// statement"): ingestion commits in chunks sized to stay well below it.
const SLOW_STATEMENT: Duration = Duration::from_millis(250);

/// Rows per multi-row INSERT: well under SQLite's and Postgres' bind limits.
const INSERT_CHUNK: usize = 1000;

const MESSAGE_COLUMNS: &str = "id, block_number, block_hash, log_index, item, tx_hash, sender, recipient, digest, sequence, nonce, cid, status, content";
const BATCH_COLUMNS: &str = "id, block_number, block_hash, log_index, tx_hash, block_time, relayer, root, manifest_digest, count, batch_id, attempts";

const CONFIRM_EVENTS: &str = "INSERT INTO events (kind, message_id, recipient) \
     SELECT 'message', id, recipient FROM messages \
     WHERE status = 'pending' AND block_number <= $1 ORDER BY block_number, log_index, item";
const CONFIRM_MESSAGES: &str =
    "UPDATE messages SET status = 'confirmed' WHERE status = 'pending' AND block_number <= $1";
const CONFIRM_KEYS: &str =
    "UPDATE keys SET status = 'confirmed' WHERE status = 'pending' AND block_number <= $1";
const CONFIRM_BATCHES: &str =
    "UPDATE batches SET status = 'confirmed' WHERE status = 'pending' AND block_number <= $1";

/// Confirmation, batches first. Batch resolution runs beside ingestion and
/// starts by locking its batch row; taking the same row lock first here
/// means that on PostgreSQL either the resolution commits before the
/// statements below take their snapshots (so its posts are confirmed and
/// pushed with the batch), or it waits and then sees the batch confirmed
/// (and pushes them itself). Rollback takes the same order.
const CONFIRM_STATEMENTS: [&str; 4] = [
    CONFIRM_BATCHES,
    CONFIRM_EVENTS,
    CONFIRM_MESSAGES,
    CONFIRM_KEYS,
];

/// A pending row above the fork that readers were already told of (it was
/// confirmed, retracted by an earlier reorg, and revived when its block came
/// back) goes back to retracted instead of away: its events still name it,
/// and the last of them already says it is retracted. Runs before
/// [`ROLLBACK_PENDING_MESSAGES`], which deletes the pending rows never
/// pushed.
const RETRACT_REVIVED_MESSAGES: &str = "UPDATE messages SET status = 'retracted' \
     WHERE status = 'pending' AND block_number > $1 \
     AND EXISTS (SELECT 1 FROM events WHERE events.message_id = messages.id)";
const ROLLBACK_PENDING_MESSAGES: &str =
    "DELETE FROM messages WHERE status = 'pending' AND block_number > $1";
const ROLLBACK_PENDING_KEYS: &str =
    "DELETE FROM keys WHERE status = 'pending' AND block_number > $1";
const ROLLBACK_PENDING_BATCHES: &str =
    "DELETE FROM batches WHERE status = 'pending' AND block_number > $1";
const RETRACT_EVENTS: &str = "INSERT INTO events (kind, message_id, recipient) \
     SELECT 'retracted', id, recipient FROM messages \
     WHERE status = 'confirmed' AND block_number > $1 ORDER BY block_number, log_index, item";
const RETRACT_MESSAGES: &str =
    "UPDATE messages SET status = 'retracted' WHERE status = 'confirmed' AND block_number > $1";
const RETRACT_KEYS: &str =
    "UPDATE keys SET status = 'retracted' WHERE status = 'confirmed' AND block_number > $1";
const RETRACT_BATCHES: &str =
    "UPDATE batches SET status = 'retracted' WHERE status = 'confirmed' AND block_number > $1";
/// A batch whose block returns after a reorg away and back revives its posts.
const REVIVE_BATCH_MESSAGES: &str = "UPDATE messages SET status = 'pending' \
     WHERE status = 'retracted' AND block_hash = $1 AND log_index = $2";
const FORGET_BLOCKS: &str = "DELETE FROM blocks WHERE number > $1";
/// Channel state is rebuilt from the canonical blocks after a reorg.
const FORGET_CHANNELS: [&str; 3] = [
    "DELETE FROM channels WHERE block_number > $1",
    "DELETE FROM channel_changes WHERE block_number > $1",
    "DELETE FROM channel_epochs WHERE block_number > $1",
];
/// The latest change of an account's role in a channel decides it: no later
/// row (`d`) exists for the same channel, account and role.
const NO_LATER_CHANGE: &str =
    "NOT EXISTS (SELECT 1 FROM channel_changes d WHERE d.channel = c.channel \
     AND d.account = c.account AND d.role = c.role \
     AND (d.block_number, d.log_index, d.position) > (c.block_number, c.log_index, c.position)";
const SET_CHECKPOINT: &str = "UPDATE checkpoint SET number = $1, hash = $2 WHERE id = 1";
const ADVANCE_CHECKPOINT: &str = "INSERT INTO checkpoint (id, number, hash) VALUES (1, $1, $2) \
     ON CONFLICT (id) DO UPDATE SET number = excluded.number, hash = excluded.hash \
     WHERE checkpoint.number < excluded.number";
const RECORD_BLOCK: &str = "INSERT INTO blocks (number, hash, parent_hash) VALUES ($1, $2, $3) \
     ON CONFLICT (number) DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash";
const PRUNE_BLOCKS: &str = "DELETE FROM blocks WHERE number < $1";

/// A page of messages whose `column` is `$1`, after the cursor `$2..$4`, at
/// most `$5`, narrowed by `also` (which may use `$6`).
///
/// The cursor is one row-value comparison on the columns the index
/// `(column, block_number, log_index, item)` holds after `column`, so both
/// databases seek straight to the cursor: written as `a > x OR (a = x AND
/// ...)`, PostgreSQL seeks only to `column` and filters every row before the
/// cursor, and a deep page costs as much as all the pages before it.
fn list_query(column: &str, also: &str, newest_first: bool) -> String {
    let (op, dir) = if newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {column} = $1 AND status <> 'retracted' \
         AND (block_number, log_index, item) {op} ($2, $3, $4) \
         {also} ORDER BY block_number {dir}, log_index {dir}, item {dir} LIMIT $5"
    )
}

/// The SQL of a page of the list whose `column` (`recipient` or `sender`)
/// is `$1`, after (or, `newest_first`, before) the cursor `$2..$4`, at most
/// `$5`: for the test that checks both databases seek to the cursor
/// through the index, either way.
#[doc(hidden)]
pub fn page_query(column: &str, newest_first: bool) -> String {
    list_query(column, "", newest_first)
}

/// The content check's two queues: blocks due again (`missing`, their
/// retry time `$1` reached, at most `$2`) and blocks never checked
/// (`unchecked`, at most `$1`). Each reads its own partial index
/// (`messages_missing`, `messages_unchecked`), which holds only the rows in
/// that state, so a verified row costs the check nothing. Public for the
/// test that checks both databases use those indexes.
#[doc(hidden)]
pub const CONTENT_QUEUES: [&str; 2] = [
    "SELECT id, digest, content_attempts FROM messages \
     WHERE content = 'missing' AND content_retry_at <= $1 AND status <> 'retracted' \
     ORDER BY content_retry_at, id LIMIT $2",
    "SELECT id, digest, content_attempts FROM messages \
     WHERE content = 'unchecked' AND status <> 'retracted' ORDER BY id LIMIT $1",
];

/// Stream events after the seq `$1` (of the recipient `$3`, when `for_one`),
/// at most `$2`, with their messages.
fn events_query(for_one: bool) -> String {
    let columns: Vec<String> = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect();
    let recipient = if for_one { "e.recipient = $3 AND" } else { "" };
    format!(
        "SELECT e.seq, e.kind, {} FROM events e JOIN messages m ON m.id = e.message_id \
         WHERE {recipient} e.seq > $1 ORDER BY e.seq LIMIT $2",
        columns.join(", ")
    )
}

/// The consent narrowing of an inbox page for the owner `$6`.
fn folder_clause(folder: Folder) -> &'static str {
    match folder {
        Folder::Accepted => {
            "AND (sender = $6 OR sender IN (SELECT peer FROM consent WHERE owner = $6 AND state = 'allow'))"
        }
        Folder::Requests => "AND sender <> $6 AND sender NOT IN (SELECT peer FROM consent WHERE owner = $6)",
    }
}

/// Stores a consent entry unless the stored one for its peer is as new.
const PUT_CONSENT: &str = "INSERT INTO consent (owner, peer, state, issued_at, signature) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (owner, peer) DO UPDATE SET state = excluded.state, issued_at = excluded.issued_at, \
     signature = excluded.signature WHERE consent.issued_at < excluded.issued_at";

#[derive(sqlx::FromRow)]
struct ConsentRow {
    owner: String,
    peer: String,
    state: String,
    issued_at: i64,
    signature: String,
}

impl ConsentRow {
    fn into_entry(self) -> Result<ConsentEntry> {
        Ok(ConsentEntry {
            state: ConsentState::parse(&self.state)
                .ok_or_else(|| StoreError::Corrupt(format!("consent state {:?}", self.state)))?,
            owner: self.owner,
            peer: self.peer,
            issued_at: self.issued_at as u64,
            signature: self.signature,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    block_number: i64,
    block_hash: String,
    log_index: i64,
    item: i64,
    tx_hash: String,
    sender: String,
    recipient: String,
    digest: String,
    sequence: i64,
    nonce: Option<i64>,
    cid: String,
    status: String,
    content: String,
}

impl MessageRow {
    fn into_message(self) -> Result<Message> {
        let corrupt =
            |what: &str, v: &str| StoreError::Corrupt(format!("message {}: {what} {v:?}", self.id));
        let status =
            RowStatus::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?;
        let verification =
            ContentStatus::parse(&self.content).ok_or_else(|| corrupt("content", &self.content))?;
        let (block, log_index) = (self.block_number as u64, self.log_index as u64);
        let item = u64::try_from(self.item).ok();
        let id = match item {
            Some(item) => format!("{}-{log_index}-{item}", self.block_hash),
            None => format!("{}-{log_index}", self.block_hash),
        };
        Ok(Message {
            id,
            from: self.sender,
            to: self.recipient,
            cid: self.cid,
            digest: self.digest,
            block,
            block_hash: self.block_hash,
            tx: self.tx_hash,
            log_index,
            sequence: self.sequence as u64,
            item,
            nonce: self.nonce.map(|n| n as u64),
            status,
            verification,
            cursor: ListCursor {
                block,
                log_index,
                item,
            }
            .encode(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    kind: String,
    #[sqlx(flatten)]
    message: MessageRow,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    owner: String,
    pubkey: String,
    version: i64,
    block_number: i64,
    tx_hash: String,
    status: String,
}

#[derive(sqlx::FromRow)]
struct BlockRow {
    number: i64,
    hash: String,
    parent_hash: String,
}

impl BlockRow {
    fn into_ref(self) -> Result<BlockRef> {
        let parse = |s: &str| {
            s.parse()
                .map_err(|_| StoreError::Corrupt(format!("block {}: hash {s:?}", self.number)))
        };
        Ok(BlockRef {
            number: self.number as u64,
            hash: parse(&self.hash)?,
            parent_hash: parse(&self.parent_hash)?,
        })
    }
}

/// The cursor as the three columns a page seeks past: from the very
/// start (or, newest first, the very end) without one.
fn seek_bounds(seek: Seek) -> (i64, i64, i64) {
    let edge = match seek {
        Seek::After(_) => -1,
        Seek::Before(_) => i64::MAX,
    };
    seek.cursor().map_or((edge, edge, edge), |c| {
        (
            c.block as i64,
            c.log_index as i64,
            c.item.map_or(-1, |i| i as i64),
        )
    })
}

/// How many new rows a round of `limit` takes when `due` retries wait:
/// retries get at least a quarter of the round, and all of what new rows
/// leave; new rows get the rest.
fn fresh_share(limit: u32, due: usize) -> i64 {
    let due_share = due.min(limit.div_ceil(4) as usize);
    i64::from(limit) - due_share as i64
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: i64,
    block_number: i64,
    block_hash: String,
    log_index: i64,
    tx_hash: String,
    block_time: Option<i64>,
    relayer: String,
    root: String,
    manifest_digest: String,
    count: i64,
    batch_id: i64,
    attempts: i64,
}

impl BatchRow {
    fn into_task(self) -> BatchTask {
        BatchTask {
            row: self.id,
            anchor: NewBatch {
                block_number: self.block_number as u64,
                block_hash: self.block_hash,
                log_index: self.log_index as u64,
                tx_hash: self.tx_hash,
                block_time: self.block_time.map(|t| t as u64),
                relayer: self.relayer,
                root: self.root,
                manifest_digest: self.manifest_digest,
                count: self.count as u32,
                batch_id: self.batch_id as u64,
            },
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
        }
    }
}

#[derive(sqlx::FromRow)]
struct InvalidRow {
    item: i64,
    sender: String,
    recipient: String,
    digest: String,
    nonce: i64,
    reason: String,
}

/// Inserts message rows with `status`; used by ingestion and by batch
/// resolution. The second form wraps each chunk's `INSERT` between `$head`
/// and `$tail` (the conflict clause and whatever follows it).
macro_rules! insert_messages {
    ($db:ty, $tx:expr, $messages:expr, $status:expr) => {
        // A block that returns after a reorg away and back revives its rows.
        insert_messages!(
            $db, $tx, $messages, $status, "",
            " ON CONFLICT (block_hash, log_index, item) DO UPDATE SET status = 'pending' WHERE messages.status = 'retracted'"
        )
    };
    ($db:ty, $tx:expr, $messages:expr, $status:expr, $head:expr, $tail:expr) => {
        for chunk in $messages.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::<$db>::new($head);
            q.push(
                "INSERT INTO messages (block_number, block_hash, log_index, item, tx_hash, sender, recipient, digest, sequence, nonce, cid, status) ",
            );
            q.push_values(chunk, |mut b, m| {
                b.push_bind(m.block_number as i64)
                    .push_bind(&m.block_hash)
                    .push_bind(m.log_index as i64)
                    .push_bind(m.item.map_or(-1, i64::from))
                    .push_bind(&m.tx_hash)
                    .push_bind(&m.sender)
                    .push_bind(&m.recipient)
                    .push_bind(&m.digest)
                    .push_bind(m.sequence as i64)
                    .push_bind(m.nonce.map(|n| n as i64))
                    .push_bind(&m.cid)
                    .push_bind($status);
            });
            q.push($tail);
            q.build().execute(&mut *$tx).await?;
        }
    };
}

/// Inserts message rows already confirmed, with their stream events, in one
/// statement (PostgreSQL: a data-modifying `WITH`). A row written pending
/// and then updated to confirmed is written twice, with its index entries
/// and a dead tuple; this writes it once. The caller holds the events lock.
macro_rules! insert_confirmed_messages {
    ($db:ty, $tx:expr, $messages:expr) => {
        // A block that returns after a reorg away and back revives its
        // rows: they are confirmed again, and pushed again.
        insert_messages!(
            $db, $tx, $messages, "confirmed", "WITH added AS (",
            " ON CONFLICT (block_hash, log_index, item) DO UPDATE SET status = 'confirmed' WHERE messages.status = 'retracted' \
             RETURNING id, recipient, block_number, log_index, item) \
             INSERT INTO events (kind, message_id, recipient) \
             SELECT 'message', id, recipient FROM added ORDER BY block_number, log_index, item"
        )
    };
}

/// Writes one channel event's rows in the ingestion transaction.
macro_rules! insert_channel_event {
    ($db:ty, $tx:ident, $e:expr) => {{
        let e: &NewChannelEvent = $e;
        let (number, log) = (e.block_number as i64, e.log_index as i64);
        match &e.change {
            ChannelChange::Created { name, creator, gate, token, min_balance } => {
                sqlx::query(
                    "INSERT INTO channels (channel, name, creator, gate, token, min_balance, block_number, block_hash, log_index) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (block_hash, log_index) DO NOTHING",
                )
                .bind(&e.channel).bind(name).bind(creator).bind(i64::from(*gate)).bind(token).bind(min_balance)
                .bind(number).bind(&e.block_hash).bind(log)
                .execute(&mut *$tx)
                .await?;
            }
            ChannelChange::Members { added, removed, .. } | ChannelChange::Admins { added, removed } => {
                let role = if matches!(e.change, ChannelChange::Admins { .. }) { "admin" } else { "member" };
                let rows: Vec<(&String, bool)> =
                    removed.iter().map(|a| (a, false)).chain(added.iter().map(|a| (a, true))).collect();
                for (chunk_index, chunk) in rows.chunks(INSERT_CHUNK).enumerate() {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO channel_changes (block_number, block_hash, log_index, position, channel, account, role, added) ",
                    );
                    q.push_values(chunk.iter().enumerate(), |mut b, (i, (account, added))| {
                        b.push_bind(number)
                            .push_bind(&e.block_hash)
                            .push_bind(log)
                            .push_bind((chunk_index * INSERT_CHUNK + i) as i64)
                            .push_bind(&e.channel)
                            .push_bind(*account)
                            .push_bind(role)
                            .push_bind(*added);
                    });
                    q.push(" ON CONFLICT (block_hash, log_index, position) DO NOTHING");
                    q.build().execute(&mut *$tx).await?;
                }
                if let ChannelChange::Members { epoch, .. } = &e.change {
                    sqlx::query(
                        "INSERT INTO channel_epochs (channel, epoch, bundle, block_number, block_hash, log_index) \
                         VALUES ($1, $2, NULL, $3, $4, $5) ON CONFLICT (block_hash, log_index) DO NOTHING",
                    )
                    .bind(&e.channel).bind(*epoch as i64).bind(number).bind(&e.block_hash).bind(log)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
            ChannelChange::Key { epoch, bundle } => {
                sqlx::query(
                    "INSERT INTO channel_epochs (channel, epoch, bundle, block_number, block_hash, log_index) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (block_hash, log_index) DO NOTHING",
                )
                .bind(&e.channel).bind(*epoch as i64).bind(bundle).bind(number).bind(&e.block_hash).bind(log)
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}

/// Runs the backend's [`ORDER_EVENTS_POSTGRES`] statement, if it has one.
/// Reads several statements as of one moment (PostgreSQL's default, READ
/// COMMITTED, sees each commit as it lands).
const SNAPSHOT_POSTGRES: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

macro_rules! order_events {
    ($tx:ident, $statement:expr) => {
        if let Some(statement) = $statement {
            sqlx::query(statement).execute(&mut *$tx).await?;
        }
    };
}

/// Refuses an ingestion transaction unless its process still holds the
/// ingest lease it took ([`FENCE_POSTGRES`]; see [`super::lease`]).
macro_rules! fence {
    ($self:ident, $tx:ident, $statement:expr) => {
        if let Some(statement) = $statement {
            let held = $self.fence.get();
            if held != 0 {
                let current: i64 = sqlx::query_scalar(statement).fetch_one(&mut *$tx).await?;
                if current as u64 != held {
                    return Err(StoreError::LeaseLost);
                }
            }
        }
    };
}

/// `$write_confirmed`: whether rows already `confirm_upto` deep are written
/// confirmed at once ([`insert_confirmed_messages`]), not pending and then
/// updated. PostgreSQL only: SQLite has no data-modifying `WITH`, and its
/// second write is cheap.
macro_rules! sql_store {
    ($name:ident, $db:ty, $pool:ty, $order_events:expr, $fence:expr, $snapshot:expr, $write_confirmed:expr) => {
        #[async_trait]
        impl Store for $name {
            async fn try_ingest_lease(&self, holder: &str) -> Result<Option<Lease>> {
                self.take_lease(holder).await
            }

            async fn commit_feed(&self) -> Result<Option<CommitFeed>> {
                self.feed().await
            }

            async fn claim_chain(&self, identity: &ChainIdentity) -> Result<ChainIdentity> {
                sqlx::query(
                    "INSERT INTO chain_identity (id, chain_id, genesis_hash, contract) VALUES (1, $1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(identity.chain_id as i64)
                .bind(&identity.genesis_hash)
                .bind(&identity.contract)
                .execute(&self.pool)
                .await?;
                let (chain_id, genesis_hash, contract): (i64, String, String) =
                    sqlx::query_as("SELECT chain_id, genesis_hash, contract FROM chain_identity WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?;
                Ok(ChainIdentity { chain_id: chain_id as u64, genesis_hash, contract })
            }

            async fn checkpoint(&self) -> Result<Option<BlockRef>> {
                let row: Option<(i64, String, Option<String>)> = sqlx::query_as(
                    "SELECT c.number, c.hash, b.parent_hash FROM checkpoint c \
                     LEFT JOIN blocks b ON b.number = c.number WHERE c.id = 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                let Some((number, hash, parent_hash)) = row else { return Ok(None) };
                let parse = |s: &str| s.parse().map_err(|_| StoreError::Corrupt(format!("checkpoint hash {s:?}")));
                let parent_hash = parent_hash.as_deref().map(parse).transpose()?.unwrap_or_default();
                Ok(Some(BlockRef { number: number as u64, hash: parse(&hash)?, parent_hash }))
            }

            async fn window(&self) -> Result<Vec<BlockRef>> {
                sqlx::query_as::<_, BlockRow>("SELECT number, hash, parent_hash FROM blocks ORDER BY number")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(BlockRow::into_ref)
                    .collect()
            }

            async fn apply(&self, batch: &IngestBatch) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                fence!(self, tx, $fence);
                // Rows already `confirm_upto` deep (every row of a backfill)
                // are written confirmed; a reorg can reach only the blocks
                // above, and it retracts confirmed rows as it does any.
                let deep = |block: u64| $write_confirmed && batch.confirm_upto.is_some_and(|upto| block <= upto);
                let status = |block: u64| if deep(block) { "confirmed" } else { "pending" };
                let (deep_messages, pending_messages): (Vec<&NewMessage>, Vec<&NewMessage>) =
                    batch.messages.iter().partition(|m| deep(m.block_number));
                insert_messages!($db, tx, pending_messages, "pending");
                for b in &batch.batches {
                    sqlx::query(
                        "INSERT INTO batches (block_number, block_hash, log_index, tx_hash, block_time, relayer, root, manifest_digest, count, batch_id, status) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                         ON CONFLICT (block_hash, log_index) DO UPDATE SET status = excluded.status WHERE batches.status = 'retracted'",
                    )
                    .bind(b.block_number as i64)
                    .bind(&b.block_hash)
                    .bind(b.log_index as i64)
                    .bind(&b.tx_hash)
                    .bind(b.block_time.map(|t| t as i64))
                    .bind(&b.relayer)
                    .bind(&b.root)
                    .bind(&b.manifest_digest)
                    .bind(i64::from(b.count))
                    .bind(b.batch_id as i64)
                    .bind(status(b.block_number))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(REVIVE_BATCH_MESSAGES).bind(&b.block_hash).bind(b.log_index as i64).execute(&mut *tx).await?;
                }
                for chunk in batch.keys.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO keys (block_number, block_hash, log_index, tx_hash, owner, pubkey, version, status) ",
                    );
                    q.push_values(chunk, |mut b, k| {
                        b.push_bind(k.block_number as i64)
                            .push_bind(&k.block_hash)
                            .push_bind(k.log_index as i64)
                            .push_bind(&k.tx_hash)
                            .push_bind(&k.owner)
                            .push_bind(&k.pubkey)
                            .push_bind(k.version as i64)
                            .push_bind(status(k.block_number));
                    });
                    q.push(" ON CONFLICT (block_hash, log_index) DO UPDATE SET status = excluded.status WHERE keys.status = 'retracted'");
                    q.build().execute(&mut *tx).await?;
                }
                for e in &batch.channel_events {
                    insert_channel_event!($db, tx, e);
                }
                for b in &batch.blocks {
                    sqlx::query(RECORD_BLOCK)
                        .bind(b.number as i64)
                        .bind(b.hash.to_string())
                        .bind(b.parent_hash.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                if batch.prune_below > 0 {
                    sqlx::query(PRUNE_BLOCKS).bind(batch.prune_below as i64).execute(&mut *tx).await?;
                }
                if let Some(cp) = &batch.checkpoint {
                    sqlx::query(ADVANCE_CHECKPOINT).bind(cp.number as i64).bind(cp.hash.to_string()).execute(&mut *tx).await?;
                }
                if let Some(upto) = batch.confirm_upto {
                    let [batches, rest @ ..] = CONFIRM_STATEMENTS;
                    sqlx::query(batches).bind(upto as i64).execute(&mut *tx).await?;
                    // After the batch row locks, as batch resolution takes them.
                    order_events!(tx, $order_events);
                    for statement in rest {
                        sqlx::query(statement).bind(upto as i64).execute(&mut *tx).await?;
                    }
                    // After the rows confirmed above, which are older.
                    insert_confirmed_messages!($db, tx, deep_messages);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn rollback_to(&self, fork: &BlockRef) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                fence!(self, tx, $fence);
                let above = fork.number as i64;
                // Batches first: see CONFIRM_STATEMENTS.
                for statement in [ROLLBACK_PENDING_BATCHES, RETRACT_BATCHES, RETRACT_REVIVED_MESSAGES, ROLLBACK_PENDING_MESSAGES, ROLLBACK_PENDING_KEYS] {
                    sqlx::query(statement).bind(above).execute(&mut *tx).await?;
                }
                order_events!(tx, $order_events);
                let retracted = sqlx::query(RETRACT_EVENTS).bind(above).execute(&mut *tx).await?.rows_affected();
                for statement in [RETRACT_MESSAGES, RETRACT_KEYS, FORGET_BLOCKS].into_iter().chain(FORGET_CHANNELS) {
                    sqlx::query(statement).bind(above).execute(&mut *tx).await?;
                }
                sqlx::query(SET_CHECKPOINT).bind(above).bind(fork.hash.to_string()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(retracted)
            }

            async fn inbox(&self, recipient: &str, seek: Seek, limit: u32) -> Result<Vec<Message>> {
                self.list("recipient", recipient, seek, limit, None).await
            }

            async fn folder(&self, recipient: &str, owner: &str, folder: Folder, seek: Seek, limit: u32) -> Result<Vec<Message>> {
                self.list("recipient", recipient, seek, limit, Some((folder, owner))).await
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn channel(&self, id: &str) -> Result<Option<ChannelRecord>> {
                // One snapshot for the four reads: an ingestion committed
                // between them must not pair a new epoch with old members.
                let mut tx = self.pool.begin().await?;
                if let Some(statement) = $snapshot {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                let row: Option<(String, String, i64, String, String, i64)> = sqlx::query_as(
                    "SELECT name, creator, gate, token, min_balance, block_number FROM channels \
                     WHERE channel = $1 ORDER BY block_number, log_index LIMIT 1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((name, creator, gate, token, min_balance, created_block)) = row else { return Ok(None) };
                let changes: Vec<(String, String, bool)> = sqlx::query_as(
                    "SELECT account, role, added FROM channel_changes WHERE channel = $1 \
                     ORDER BY block_number, log_index, position",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                let (mut members, mut admins) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
                for (account, role, added) in changes {
                    let set = if role == "admin" { &mut admins } else { &mut members };
                    if added { set.insert(account); } else { set.remove(&account); }
                }
                let (epoch,): (Option<i64>,) = sqlx::query_as("SELECT MAX(epoch) FROM channel_epochs WHERE channel = $1 AND bundle IS NULL")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let epoch = epoch.unwrap_or(1);
                let bundle: Option<(String,)> = sqlx::query_as(
                    "SELECT bundle FROM channel_epochs WHERE channel = $1 AND epoch = $2 AND bundle IS NOT NULL \
                     ORDER BY block_number DESC, log_index DESC LIMIT 1",
                )
                .bind(id)
                .bind(epoch)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(ChannelRecord {
                    id: id.to_string(),
                    name,
                    creator,
                    policy: match gate { 1 => "erc20", 2 => "erc721", _ => "members" }.to_string(),
                    token: (gate != 0).then_some(token),
                    min_balance,
                    epoch: epoch as u64,
                    bundle: bundle.map(|(b,)| b),
                    members: members.into_iter().collect(),
                    admins: admins.into_iter().collect(),
                    created_block: created_block as u64,
                }))
            }

            async fn channels_of(&self, member: &str) -> Result<Vec<String>> {
                let sql = format!(
                    "SELECT DISTINCT c.channel FROM channel_changes c WHERE c.account = $1 AND c.role = 'member' \
                     AND c.added AND {NO_LATER_CHANGE}) ORDER BY c.channel"
                );
                let rows: Vec<(String,)> = sqlx::query_as(&sql).bind(member).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(c,)| c).collect())
            }

            async fn channel_posters(&self, channel: &str, senders: &[String], block: u64, log_index: u64) -> Result<ChannelPosters> {
                let (block, log_index) = (block as i64, log_index as i64);
                let gate: Option<(i64,)> = sqlx::query_as(
                    "SELECT gate FROM channels WHERE channel = $1 AND (block_number, log_index) < ($2, $3) LIMIT 1",
                )
                .bind(channel)
                .bind(block)
                .bind(log_index)
                .fetch_optional(&self.pool)
                .await?;
                match gate {
                    None => return Ok(ChannelPosters::Unknown),
                    Some((g,)) if g != 0 => return Ok(ChannelPosters::Gated),
                    Some(_) => {}
                }
                let mut members = HashSet::new();
                for chunk in senders.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT c.account FROM channel_changes c WHERE c.channel = ");
                    q.push_bind(channel);
                    q.push(" AND c.role = 'member' AND c.added AND (c.block_number, c.log_index) < (");
                    q.push_bind(block).push(", ").push_bind(log_index);
                    q.push(") AND c.account IN (");
                    let mut list = q.separated(", ");
                    for s in chunk {
                        list.push_bind(s);
                    }
                    q.push(") AND NOT EXISTS (SELECT 1 FROM channel_changes d WHERE d.channel = c.channel \
                        AND d.account = c.account AND d.role = c.role AND (d.block_number, d.log_index) < (");
                    q.push_bind(block).push(", ").push_bind(log_index);
                    q.push(") AND (d.block_number, d.log_index, d.position) > (c.block_number, c.log_index, c.position))");
                    let rows: Vec<(String,)> = q.build_query_as().fetch_all(&self.pool).await?;
                    members.extend(rows.into_iter().map(|(a,)| a));
                }
                Ok(ChannelPosters::Members(members))
            }

            async fn consent_for(&self, owner: &str, peer: &str) -> Result<Option<ConsentState>> {
                let row: Option<(String,)> = sqlx::query_as("SELECT state FROM consent WHERE owner = $1 AND peer = $2")
                    .bind(owner)
                    .bind(peer)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|(state,)| ConsentState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("consent state {state:?}"))))
                    .transpose()
            }

            async fn sent(&self, sender: &str, seek: Seek, limit: u32) -> Result<Vec<Message>> {
                self.list("sender", sender, seek, limit, None).await
            }

            async fn put_consent(&self, entry: &ConsentEntry) -> Result<bool> {
                let done = sqlx::query(PUT_CONSENT)
                    .bind(&entry.owner)
                    .bind(&entry.peer)
                    .bind(entry.state.as_str())
                    .bind(entry.issued_at as i64)
                    .bind(&entry.signature)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn auth_secret(&self, fresh: &[u8]) -> Result<Vec<u8>> {
                sqlx::query("INSERT INTO auth_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                    .bind(fresh)
                    .execute(&self.pool)
                    .await?;
                let (secret,): (Vec<u8>,) = sqlx::query_as("SELECT secret FROM auth_secret WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(secret)
            }

            async fn spend_nonce(&self, nonce: &str, expires_ms: i64, now_ms: i64) -> Result<bool> {
                sqlx::query("DELETE FROM auth_used_nonces WHERE expires_ms <= $1")
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
                let done = sqlx::query(
                    "INSERT INTO auth_used_nonces (nonce, expires_ms) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
                )
                .bind(nonce)
                .bind(expires_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn open_session(&self, token_hash: &[u8], address: &str, expires_ms: i64, now_ms: i64) -> Result<()> {
                sqlx::query("DELETE FROM auth_sessions WHERE expires_ms <= $1")
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
                sqlx::query("INSERT INTO auth_sessions (token_hash, address, expires_ms) VALUES ($1, $2, $3)")
                    .bind(token_hash)
                    .bind(address)
                    .bind(expires_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(&self, token_hash: &[u8], now_ms: i64) -> Result<Option<(String, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT address, expires_ms FROM auth_sessions WHERE token_hash = $1 AND expires_ms > $2",
                )
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn close_session(&self, token_hash: &[u8], now_ms: i64) -> Result<()> {
                sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1 OR expires_ms <= $2")
                    .bind(token_hash)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn consent(&self, owner: &str) -> Result<Vec<ConsentEntry>> {
                sqlx::query_as::<_, ConsentRow>(
                    "SELECT owner, peer, state, issued_at, signature FROM consent WHERE owner = $1 ORDER BY peer",
                )
                .bind(owner)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ConsentRow::into_entry)
                .collect()
            }

            async fn message(&self, block_hash: &str, log_index: u64, item: Option<u64>) -> Result<Option<Message>> {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE block_hash = $1 AND log_index = $2 AND item = $3");
                sqlx::query_as::<_, MessageRow>(&sql)
                    .bind(block_hash)
                    .bind(log_index as i64)
                    .bind(item.map_or(-1, |i| i as i64))
                    .fetch_optional(&self.pool)
                    .await?
                    .map(MessageRow::into_message)
                    .transpose()
            }

            async fn key(&self, owner: &str) -> Result<Option<KeyRecord>> {
                let row: Option<KeyRow> = sqlx::query_as(
                    "SELECT owner, pubkey, version, block_number, tx_hash, status FROM keys \
                     WHERE owner = $1 AND status <> 'retracted' ORDER BY block_number DESC, log_index DESC LIMIT 1",
                )
                .bind(owner)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|k| {
                    let status = RowStatus::parse(&k.status).ok_or_else(|| StoreError::Corrupt(format!("key status {:?}", k.status)))?;
                    Ok(KeyRecord {
                        address: k.owner,
                        pubkey: k.pubkey,
                        version: k.version as u64,
                        block: k.block_number as u64,
                        tx: k.tx_hash,
                        status,
                    })
                })
                .transpose()
            }

            async fn events_after(&self, recipient: &str, after: StreamCursor, limit: u32) -> Result<Vec<StreamEvent>> {
                self.events(Some(recipient), after, limit).await
            }

            async fn events_since(&self, after: StreamCursor, limit: u32) -> Result<Vec<StreamEvent>> {
                self.events(None, after, limit).await
            }

            async fn last_event_seq(&self) -> Result<u64> {
                let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM events").fetch_one(&self.pool).await?;
                Ok(seq.unwrap_or(0) as u64)
            }

            async fn content_tasks(&self, limit: u32, now_ms: u64) -> Result<Vec<ContentTask>> {
                let [due_query, fresh_query] = CONTENT_QUEUES;
                let due: Vec<(i64, String, i64)> = sqlx::query_as(due_query)
                .bind(now_ms as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let fresh: Vec<(i64, String, i64)> = sqlx::query_as(fresh_query)
                .bind(fresh_share(limit, due.len()))
                .fetch_all(&self.pool)
                .await?;
                let due_share = limit as usize - fresh.len();
                Ok(due
                    .into_iter()
                    .take(due_share)
                    .chain(fresh)
                    .map(|(row, digest, attempts)| ContentTask { row, digest, attempts: u32::try_from(attempts).unwrap_or(u32::MAX) })
                    .collect())
            }

            async fn set_content(&self, results: &[ContentCheck]) -> Result<()> {
                if results.is_empty() {
                    return Ok(());
                }
                // One statement per outcome (and retry time), not per row: a
                // round of a thousand checks must not hold the write lock,
                // or confirmations' row locks, for a thousand round trips.
                let mut groups: std::collections::BTreeMap<(&str, i64), Vec<i64>> = Default::default();
                for r in results {
                    let retry_at = if r.status == ContentStatus::Missing { r.retry_at as i64 } else { 0 };
                    groups.entry((r.status.as_str(), retry_at)).or_default().push(r.row);
                }
                let mut tx = self.pool.begin().await?;
                for ((status, retry_at), rows) in &groups {
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        let mut q = QueryBuilder::<$db>::new("UPDATE messages SET content = ");
                        q.push_bind(*status);
                        if *status == ContentStatus::Missing.as_str() {
                            q.push(", content_attempts = content_attempts + 1, content_retry_at = ").push_bind(*retry_at);
                        }
                        q.push(" WHERE id IN (");
                        let mut ids = q.separated(", ");
                        for row in chunk {
                            ids.push_bind(*row);
                        }
                        q.push(")");
                        q.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn batch_tasks(&self, limit: u32, now_ms: u64) -> Result<Vec<BatchTask>> {
                let sql = format!(
                    "SELECT {BATCH_COLUMNS} FROM batches WHERE resolution = 'missing' AND retry_at <= $1 \
                     AND status <> 'retracted' ORDER BY retry_at, id LIMIT $2"
                );
                let due: Vec<BatchRow> = sqlx::query_as(&sql)
                    .bind(now_ms as i64)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                // Relayers take turns: the n-th unresolved batch of every
                // relayer before the (n+1)-th of any, so one relayer's heap
                // of forged manifests cannot hold back another's batch.
                let sql = format!(
                    "SELECT {BATCH_COLUMNS} FROM (SELECT {BATCH_COLUMNS}, \
                     ROW_NUMBER() OVER (PARTITION BY relayer ORDER BY id) AS turn FROM batches \
                     WHERE resolution = 'unresolved' AND status <> 'retracted') AS queue \
                     ORDER BY turn, id LIMIT $1"
                );
                let fresh: Vec<BatchRow> = sqlx::query_as(&sql).bind(fresh_share(limit, due.len())).fetch_all(&self.pool).await?;
                let due_share = limit as usize - fresh.len();
                Ok(due.into_iter().take(due_share).chain(fresh).map(BatchRow::into_task).collect())
            }

            async fn registered(&self, owners: &[String], upto_block: u64) -> Result<HashSet<String>> {
                let mut found = HashSet::new();
                for chunk in owners.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT DISTINCT owner FROM keys WHERE status <> 'retracted' AND block_number <= ");
                    q.push_bind(upto_block as i64).push(" AND owner IN (");
                    let mut list = q.separated(", ");
                    for owner in chunk {
                        list.push_bind(owner);
                    }
                    q.push(")");
                    let rows: Vec<(String,)> = q.build_query_as().fetch_all(&self.pool).await?;
                    found.extend(rows.into_iter().map(|(o,)| o));
                }
                Ok(found)
            }

            async fn used_nonces(&self, pairs: &[(String, u64)]) -> Result<HashSet<(String, u64)>> {
                let mut used = HashSet::new();
                for chunk in pairs.chunks(INSERT_CHUNK / 2) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT sender, nonce FROM messages WHERE nonce IS NOT NULL AND status <> 'retracted' AND (sender, nonce) IN (",
                    );
                    q.push_values(chunk, |mut b, (sender, nonce)| {
                        b.push_bind(sender).push_bind(*nonce as i64);
                    });
                    q.push(")");
                    let rows: Vec<(String, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
                    used.extend(rows.into_iter().map(|(s, n)| (s, n as u64)));
                }
                Ok(used)
            }

            async fn resolve_batch(&self, row: i64, outcome: &BatchOutcome) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                fence!(self, tx, $fence);
                // Write first, so SQLite takes its write lock (waiting its turn)
                // before this transaction reads anything.
                let current: Option<(String, String, i64)> = sqlx::query_as(
                    "UPDATE batches SET attempts = attempts + 1 WHERE id = $1 RETURNING status, block_hash, log_index",
                )
                .bind(row)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((status, block_hash, log_index)) = current else { return Ok(()) };
                if status == "retracted" {
                    return Ok(());
                }
                // Posts take the batch's chain status: a batch resolved after
                // its confirmation pushes its posts now, in manifest order.
                insert_messages!($db, tx, outcome.messages, status.as_str());
                if status == "confirmed" && !outcome.messages.is_empty() {
                    order_events!(tx, $order_events);
                    sqlx::query(
                        "INSERT INTO events (kind, message_id, recipient) SELECT 'message', id, recipient FROM messages \
                         WHERE block_hash = $1 AND log_index = $2 AND item >= 0 ORDER BY item",
                    )
                    .bind(&block_hash)
                    .bind(log_index)
                    .execute(&mut *tx)
                    .await?;
                }
                let kept = &outcome.invalid[..outcome.invalid.len().min(INVALID_POSTS_KEPT)];
                for chunk in kept.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO invalid_posts (batch, item, sender, recipient, digest, nonce, reason) ");
                    q.push_values(chunk, |mut b, p| {
                        b.push_bind(row)
                            .push_bind(i64::from(p.item))
                            .push_bind(&p.from)
                            .push_bind(&p.to)
                            .push_bind(&p.digest)
                            .push_bind(p.nonce as i64)
                            .push_bind(&p.reason);
                    });
                    q.push(" ON CONFLICT (batch, item) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "UPDATE batches SET resolution = $1, reason = $2, delivered = $3, invalid_count = $4, retry_at = $5 WHERE id = $6",
                )
                    .bind(outcome.resolution.as_str())
                    .bind(&outcome.reason)
                    .bind(outcome.messages.len() as i64)
                    .bind(outcome.invalid.len() as i64)
                    .bind(outcome.retry_at as i64)
                    .bind(row)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn batch(&self, block_hash: &str, log_index: u64) -> Result<Option<BatchRecord>> {
                #[derive(sqlx::FromRow)]
                struct Full {
                    #[sqlx(flatten)]
                    row: BatchRow,
                    status: String,
                    resolution: String,
                    reason: Option<String>,
                    delivered: i64,
                    invalid_count: i64,
                }
                let sql = format!("SELECT {BATCH_COLUMNS}, status, resolution, reason, delivered, invalid_count FROM batches WHERE block_hash = $1 AND log_index = $2");
                let Some(full) = sqlx::query_as::<_, Full>(&sql).bind(block_hash).bind(log_index as i64).fetch_optional(&self.pool).await? else {
                    return Ok(None);
                };
                let invalid: Vec<InvalidRow> = sqlx::query_as(
                    "SELECT item, sender, recipient, digest, nonce, reason FROM invalid_posts WHERE batch = $1 ORDER BY item",
                )
                .bind(full.row.id)
                .fetch_all(&self.pool)
                .await?;
                let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("batch {}: {what} {v:?}", full.row.id));
                let status = RowStatus::parse(&full.status).ok_or_else(|| corrupt("status", &full.status))?;
                let resolution = Resolution::parse(&full.resolution).ok_or_else(|| corrupt("resolution", &full.resolution))?;
                let task = full.row.into_task();
                let a = task.anchor;
                let manifest_cid = a.manifest_digest.parse().map(crate::block::cid_for_digest).unwrap_or_default();
                Ok(Some(BatchRecord {
                    id: format!("{}-{}", a.block_hash, a.log_index),
                    relayer: a.relayer,
                    root: a.root,
                    manifest_digest: a.manifest_digest,
                    manifest_cid,
                    count: a.count,
                    batch_id: a.batch_id,
                    block: a.block_number,
                    tx: a.tx_hash,
                    status,
                    resolution,
                    reason: full.reason,
                    delivered: full.delivered as u64,
                    attempts: u64::from(task.attempts),
                    invalid_count: full.invalid_count as u64,
                    invalid: invalid
                        .into_iter()
                        .map(|r| InvalidPost {
                            item: r.item as u32,
                            from: r.sender,
                            to: r.recipient,
                            digest: r.digest,
                            nonce: r.nonce as u64,
                            reason: r.reason,
                        })
                        .collect(),
                }))
            }
        }

        impl $name {
            async fn events(&self, recipient: Option<&str>, after: StreamCursor, limit: u32) -> Result<Vec<StreamEvent>> {
                let sql = events_query(recipient.is_some());
                let mut query = sqlx::query_as::<_, EventRow>(&sql).bind(after.0 as i64).bind(limit as i64);
                if let Some(recipient) = recipient {
                    query = query.bind(recipient);
                }
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|e| {
                        let kind = EventKind::parse(&e.kind).ok_or_else(|| StoreError::Corrupt(format!("event kind {:?}", e.kind)))?;
                        let seq = e.seq as u64;
                        Ok(StreamEvent { kind, cursor: StreamCursor(seq).encode(), message: e.message.into_message()?, seq })
                    })
                    .collect()
            }

            async fn list(&self, column: &str, value: &str, seek: Seek, limit: u32, folder: Option<(Folder, &str)>) -> Result<Vec<Message>> {
                let (block, log, item) = seek_bounds(seek);
                let sql = list_query(column, folder.map_or("", |(f, _)| folder_clause(f)), matches!(seek, Seek::Before(_)));
                let mut query = sqlx::query_as::<_, MessageRow>(&sql)
                    .bind(value)
                    .bind(block)
                    .bind(log)
                    .bind(item)
                    .bind(limit as i64);
                if let Some((_, owner)) = folder {
                    query = query.bind(owner);
                }
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(MessageRow::into_message)
                    .collect()
            }
        }
    };
}

/// The embedded default: one SQLite file in WAL mode.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    fence: Fence,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates `sqlite://<path>`.
    ///
    /// WAL with `synchronous = NORMAL`: a killed process loses nothing that
    /// committed; a power cut may lose the last transactions, which the
    /// indexer then re-ingests from the chain.
    pub async fn open(url: &str, pool: PoolConfig) -> Result<Self> {
        super::make_sqlite_private(url).map_err(|e| StoreError::Database(e.into()))?;
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // A page cache and memory-mapped reads: at thousands of rows a
            // second, the default 2 MiB cache re-reads pages with pread. Both
            // are bounded, so memory does not grow with the database.
            .pragma("cache_size", format!("-{}", pool.sqlite_cache_kib))
            .pragma("mmap_size", (64u64 << 20).to_string())
            // The WAL is checkpointed every 1,000 pages (SQLite's default) and
            // cut back to this size after each checkpoint, so a backfill does
            // not leave a WAL as large as the rows it wrote.
            .pragma("journal_size_limit", (64u64 << 20).to_string())
            // Statement journals in memory. Every multi-row write inside a
            // transaction keeps one (the pages it changes, so that a failed
            // statement can be undone alone), and past 64 KiB SQLite spilled
            // it to a temporary file: a 4 KiB write and a copy in the kernel
            // for each page, a quarter of all writes under batched posting.
            // The journal lasts one statement and is bounded by the rows it
            // writes (chunks of `INSERT_CHUNK`); the read path's sorts are
            // bounded by chunks and pages too.
            .pragma("temp_store", "memory")
            .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            fence: Fence::default(),
        })
    }

    /// One process writes a SQLite file: the lease is its own.
    async fn take_lease(&self, _holder: &str) -> Result<Option<Lease>> {
        Ok(Some(Lease::sole()))
    }

    /// No other process commits events to this file.
    async fn feed(&self) -> Result<Option<CommitFeed>> {
        Ok(None)
    }
}

/// PostgreSQL, for API nodes that scale out.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    fence: Fence,
    standby: std::sync::Arc<Standby>,
}

impl PostgresStore {
    /// Connects to and migrates `postgres://...`.
    pub async fn open(url: &str, pool: PoolConfig) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?
            .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options.clone())
            .await?;
        // Nodes on one database are upgraded one at a time, so an older
        // node must start on a schema a newer one has already migrated:
        // migrations it does not know are tolerated, and they are additive
        // only (docs/DEPLOY.md, "Upgrades"; `upgrades::*`).
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let fence = Fence::default();
        Ok(Self {
            pool,
            standby: std::sync::Arc::new(Standby::new(INGEST, options, fence.clone())),
            fence,
        })
    }

    async fn take_lease(&self, holder: &str) -> Result<Option<Lease>> {
        Ok(self.standby.try_take(holder).await?)
    }

    async fn feed(&self) -> Result<Option<CommitFeed>> {
        Ok(Some(CommitFeed::listen(&self.pool, EVENTS_CHANNEL).await?))
    }
}

// SQLite: a transaction's first read fixes its snapshot (WAL). PostgreSQL
// reads each statement afresh unless the transaction is REPEATABLE READ.
sql_store!(
    SqliteStore,
    Sqlite,
    SqlitePool,
    None::<&str>,
    None::<&str>,
    None::<&str>,
    false
);
sql_store!(
    PostgresStore,
    Postgres,
    PgPool,
    Some(ORDER_EVENTS_POSTGRES),
    Some(FENCE_POSTGRES),
    Some(SNAPSHOT_POSTGRES),
    true
);

#[cfg(test)]
mod tests {
    use super::{fresh_share, PoolConfig, SqliteStore};

    /// Multi-row writes keep their statement journals in memory
    /// (`temp_store = 2`) on every connection of the pool, not in a
    /// temporary file that each page is written to and copied through.
    #[tokio::test]
    async fn statement_journals_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        let store = SqliteStore::open(&url, PoolConfig::INGEST).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut conn = store.pool.acquire().await.unwrap();
            let (temp_store,): (i64,) = sqlx::query_as("PRAGMA temp_store")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(temp_store, 2, "2 is MEMORY");
            held.push(conn);
        }
    }

    #[test]
    fn retries_get_a_quarter_of_a_round_and_what_new_rows_leave() {
        assert_eq!(fresh_share(64, 0), 64);
        assert_eq!(fresh_share(64, 5), 59);
        assert_eq!(fresh_share(64, 1_000), 48);
        assert_eq!(fresh_share(1, 1), 0);
    }
}
