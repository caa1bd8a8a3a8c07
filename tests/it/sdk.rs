//! The TypeScript client package, packed with `npm pack` and installed from
//! its tarball, runs its Node example against a real node, Anvil and Kubo:
//! it registers a key through the gateway, sends, and reads back what the
//! chain proves. Then the same reader goes through a node that lies about
//! who sent a message and about its block, and shows no text for either.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use cairn::{
    server::{Limits, Node, NodeConfig},
    store::BlobStore,
};
use cairn_indexer::IndexerConfig;
use serde_json::Value;

use crate::{
    gateway_stack::{outbox_db, Chain},
    harness::{
        built_web_client, repo_root, signer, Anvil, ALICE_KEY, BOB_KEY, CAROL_KEY, REGISTRAR_KEY,
    },
    lying_indexer::lying_node,
};

/// Packs `web/packages/client` and installs the tarball under `into`, as
/// `node_modules/@cairn/client`.
fn install_packed_client(into: &Path) -> std::path::PathBuf {
    let package = repo_root().join("web/packages/client");
    let pack = Command::new("npm")
        .args(["pack", "--pack-destination"])
        .arg(into)
        .current_dir(&package)
        .output()
        .expect("npm runs");
    assert!(
        pack.status.success(),
        "npm pack: {}",
        String::from_utf8_lossy(&pack.stderr)
    );
    // npm prints the tarball's name last, after the build's own output.
    let stdout = String::from_utf8(pack.stdout).unwrap();
    let tarball = into.join(stdout.lines().last().expect("npm names the tarball").trim());
    assert!(
        tarball.is_file(),
        "npm pack wrote no {}:\n{stdout}",
        tarball.display()
    );
    let installed = into.join("node_modules/@cairn/client");
    std::fs::create_dir_all(&installed).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&installed)
        .arg("--strip-components=1")
        .status()
        .unwrap();
    assert!(untar.success());
    assert!(
        installed.join("dist/index.d.ts").is_file(),
        "the package ships its types"
    );
    installed
}

/// Runs the installed example as the wallet `key` against `node`; its JSON
/// lines.
async fn example(installed: &Path, node: &str, rpc: &str, key: &str, args: &[&str]) -> Vec<Value> {
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(installed.join("examples/send-and-read.mjs"))
            .args(args)
            .env("CAIRN_NODE", node)
            .env("CAIRN_RPC", rpc)
            .env("CAIRN_PRIVATE_KEY", key)
            .output(),
    )
    .await
    .expect("the example ends within two minutes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    println!("{stdout}");
    assert!(
        run.status.success(),
        "the example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

#[tokio::test]
async fn the_packed_client_sends_and_reads_in_node_and_believes_no_lying_node() {
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = outbox_db(false).await;
    let index_dir = tempfile::tempdir().unwrap();
    let indexer = IndexerConfig {
        confirmations: 1,
        poll_interval: Duration::from_millis(100),
        ..IndexerConfig::new(chain.url.clone(), chain.contract)
    };
    let database = format!("sqlite://{}", index_dir.path().join("indexer.db").display());
    let store: Arc<dyn BlobStore> = chain.store.clone();
    let node = Node::start(NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        indexer: Some((indexer, database)),
        gateway: Some(cairn::gateway::GatewayConfig {
            registrar: Some(signer(REGISTRAR_KEY)),
            ..chain.gateway_config(outbox_url)
        }),
        limits: Limits::default(),
        stream: Default::default(),
        // The node that serves a page also says which contract it follows (`/v1/config`).
        web: Some(built_web_client(chain.contract)),
        tls: None,
        auth: None,
    })
    .await
    .unwrap();
    let api = format!("http://{}", node.addr);

    // Installed from the tarball in a directory of its own, beside the web
    // app's node_modules, which hold its dependencies (viem, noble).
    let place = tempfile::Builder::new()
        .prefix(".sdk-")
        .tempdir_in(repo_root().join("web"))
        .unwrap();
    let installed = install_packed_client(place.path());

    // Bob's first run registers his key through the gateway; his inbox is empty.
    let bob = example(&installed, &api, &chain.url, BOB_KEY, &[]).await;
    assert!(bob.is_empty(), "{bob:?}");
    // Alice registers too, sends, and reads her message back once the chain proves it.
    let text = "gm from Node, sealed by @cairn/client";
    let bob_address = signer(BOB_KEY).address().to_string();
    let alice = example(
        &installed,
        &api,
        &chain.url,
        ALICE_KEY,
        &[&bob_address, text],
    )
    .await;
    assert_eq!(alice[0]["text"], text, "{alice:?}");
    let id = alice[0]["sent"].as_str().unwrap().to_string();

    // Bob reads it, checked against the chain, under Alice's name.
    let alice_address = signer(ALICE_KEY).address().to_string();
    let bob = example(&installed, &api, &chain.url, BOB_KEY, &[]).await;
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert_eq!(bob[0]["id"], id.as_str());
    assert_eq!(bob[0]["verdict"], "verified", "{bob:?}");
    assert_eq!(bob[0]["from"], alice_address.as_str());
    assert_eq!(bob[0]["text"], text);

    // A node that lists the real message, and beside it the same message
    // under Carol's name, and one whose digest names another block.
    let carol = signer(CAROL_KEY).address().to_string().to_lowercase();
    let liar = lying_node(
        api.clone(),
        Arc::new(move |path: &str, mut page: Value| {
            if path.starts_with("/v1/inbox/") {
                let real = page["messages"][0].clone();
                let mut as_carol = real.clone();
                as_carol["from"] = Value::from(carol.clone());
                let mut other_block = real.clone();
                other_block["digest"] = Value::from(format!("0x{}", "11".repeat(32)));
                page["messages"] = Value::from(vec![real, as_carol, other_block]);
            }
            page
        }),
    )
    .await;
    let lies = example(&installed, &liar, &chain.url, BOB_KEY, &[]).await;
    assert_eq!(lies.len(), 3, "{lies:?}");
    assert_eq!(
        lies[0]["verdict"], "verified",
        "the real message still reads: {lies:?}"
    );
    assert_eq!(lies[0]["text"], text);
    for lie in &lies[1..] {
        assert_ne!(lie["verdict"], "verified", "{lie}");
        assert!(lie["text"].is_null(), "a lie shown with text: {lie}");
    }
    assert_eq!(
        lies[1]["from"].as_str().unwrap().to_lowercase(),
        signer(CAROL_KEY).address().to_string().to_lowercase()
    );
    node.shutdown().await.unwrap();
}

/// `docs/SDK.md`'s `js` blocks are excerpts of the example the test above
/// runs: each must still be in it, word for word.
#[test]
fn the_sdk_guide_quotes_the_node_example_verbatim() {
    let guide = std::fs::read_to_string(repo_root().join("docs/SDK.md")).unwrap();
    let example =
        std::fs::read_to_string(repo_root().join("web/packages/client/examples/send-and-read.mjs"))
            .unwrap();
    let blocks: Vec<&str> = guide
        .split("```js\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 3, "the guide shows the example");
    for block in blocks {
        assert!(example.contains(block), "not in the example:\n{block}");
    }
}
