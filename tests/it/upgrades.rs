//! Rolling upgrades (docs/DEPLOY.md, "Upgrades"): nodes on one PostgreSQL
//! are upgraded one at a time, so for a while an older node runs on a
//! schema a newer one has migrated. Which versions may mix: any two whose
//! migrations between them are additive, which every migration after
//! [`BASELINE`] is, by the second test.

use std::time::Duration;

use crate::{
    gateway_stack::Chain,
    harness::{Anvil, Postgres},
};

/// The last migration of each folder from before the additive rule
/// (2026-12-07); a later one may only add.
const BASELINE: [(&str, u32); 4] = [
    ("indexer/migrations/postgres", 8),
    ("indexer/migrations/sqlite", 7),
    ("node/src/gateway/migrations/postgres", 4),
    ("node/src/gateway/migrations/sqlite", 3),
];

/// Today's node, on a schema one release ahead (a newer node added a
/// column and recorded a migration today's does not know, in the index and
/// in the outbox), starts, indexes a direct post, and accepts and anchors a
/// batched one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_node_runs_on_a_schema_a_newer_one_migrated() {
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let postgres = Postgres::start().await;
    let database = postgres.database("cairn").await;
    // Migrated as today's nodes do.
    drop(cairn_indexer::store::open(&database).await.unwrap());
    drop(cairn::gateway::outbox::open(&database).await.unwrap());
    // The next release's migration, applied by a newer node.
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    for (schema, table) in [("public", "messages"), ("cairn_gateway", "posts")] {
        let statements = [
            format!("ALTER TABLE {schema}.{table} ADD COLUMN next_release_note TEXT"),
            format!(
                "INSERT INTO {schema}._sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (9001, 'next release: an added column', true, '\\x00'::bytea, 0)"
            ),
        ];
        for statement in statements {
            sqlx::query(&statement).execute(&pool).await.unwrap();
        }
    }

    let node = chain
        .node(
            Some(chain.gateway_config(database.clone())),
            Some(database.clone()),
        )
        .await;
    let api = format!("http://{}", node.addr);
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&api, dir.path());
    let alice = format!("0x{}", hex::encode(chain.users[0].wallet.to_bytes()));
    let bob = chain.users[1].address().to_string();
    crate::harness::rpc(
        &chain.url,
        "anvil_setBalance",
        serde_json::json!([chain.users[0].address(), "0x56BC75E2D63100000"]),
    )
    .await;
    let out = cli
        .run(
            &alice,
            &[
                "send",
                "--to",
                &bob,
                "--message",
                "direct, after the upgrade",
            ],
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let sent = cli
        .run(
            &alice,
            &[
                "send",
                "--to",
                &bob,
                "--message",
                "batched",
                "--via-gateway",
                &api,
            ],
        )
        .await
        .json();
    assert_eq!(sent["status"], "anchored", "{sent}");
    let started = std::time::Instant::now();
    loop {
        let page: serde_json::Value = reqwest::get(format!("{api}/v1/inbox/{bob}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let confirmed = page["messages"].as_array().map_or(0, |m| {
            m.iter().filter(|m| m["status"] == "confirmed").count()
        });
        if confirmed == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.shutdown().await.unwrap();
}

/// The statements an older node may not survive: dropping or renaming a
/// table, column or constraint, renaming an index, or changing a column's
/// type.
///
/// An index may be dropped in the migration that creates its replacement:
/// no statement names an index, so an older node loses no data and no
/// query, only the plan, and the replacement must serve the older node's
/// queries as well (a test that reads the plans proves it, as
/// `store_suite::content_queues_read_their_partial_indexes_*` does for
/// `messages_content` and `messages_content_retry`).
fn destructive(sql: &str) -> Option<String> {
    let upper = sql.to_uppercase();
    let replaces_an_index = upper.contains("CREATE INDEX");
    upper
        .split(';')
        .map(|statement| {
            statement
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|statement| !(replaces_an_index && statement.trim().starts_with("DROP INDEX ")))
        .find_map(|statement| {
            ["DROP ", "RENAME ", " TYPE ", "SET NOT NULL"]
                .into_iter()
                .find(|w| statement.contains(w))
                .map(str::to_string)
        })
}

#[test]
fn migrations_after_the_baseline_only_add() {
    let root = crate::harness::repo_root();
    for (folder, baseline) in BASELINE {
        let mut newest = 0;
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let number: u32 = name[..4].parse().unwrap();
            newest = newest.max(number);
            if number <= baseline {
                continue;
            }
            let sql = std::fs::read_to_string(&path).unwrap();
            if let Some(word) = destructive(&sql) {
                panic!("{folder}/{name} has {word:?}: an older node on the same database would break; add now, remove a release later (docs/DEPLOY.md, Upgrades)");
            }
        }
        assert!(
            newest >= baseline,
            "{folder}: the baseline names a migration that is not there"
        );
    }
    assert_eq!(
        destructive("ALTER TABLE batches DROP COLUMN raw_tx;"),
        Some("DROP ".into())
    );
    assert_eq!(destructive("ALTER TABLE t ADD COLUMN c TEXT;"), None);
    assert_eq!(
        destructive("CREATE INDEX b ON t (c) WHERE d = 1;\nDROP INDEX a;"),
        None,
        "an index dropped beside its replacement"
    );
    assert_eq!(
        destructive("DROP INDEX a;"),
        Some("DROP ".into()),
        "an index dropped with nothing in its place"
    );
    assert_eq!(
        destructive("CREATE INDEX b ON t (c);\nDROP TABLE a;"),
        Some("DROP ".into())
    );
}
