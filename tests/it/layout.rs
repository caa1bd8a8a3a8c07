//! The crates keep to their roles (`docs/LAYOUT.md`): the client crate
//! pulls in no server, the protocol crate no Cairn crate above it, and the
//! edges between Cairn's own crates are exactly the ones the layout allows.

use std::{collections::BTreeSet, process::Command};

use crate::harness::repo_root;

/// Crates that only a server needs.
const SERVER_CRATES: [&str; 9] = [
    "axum",
    "sqlx",
    "async-graphql",
    "async-graphql-axum",
    "tower_governor",
    "utoipa",
    "metrics-exporter-prometheus",
    "cairn-node",
    "cairn-indexer",
];

/// Every crate `package` depends on at run time, by name.
fn runtime_deps(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "-p", package,
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_client_crate_pulls_in_no_server() {
    let deps = runtime_deps("cairn-client");
    // The tree is really there: the client is built on the protocol crate
    // and speaks HTTP.
    for needed in ["cairn-proto", "alloy", "reqwest"] {
        assert!(deps.contains(needed), "cairn-client should use {needed}");
    }
    let servers: Vec<_> = SERVER_CRATES
        .iter()
        .filter(|c| deps.contains(**c))
        .collect();
    assert!(servers.is_empty(), "cairn-client pulls in {servers:?}");
}

#[test]
fn the_protocol_crate_pulls_in_no_cairn_crate_above_it_and_no_server() {
    let deps = runtime_deps("cairn-proto");
    assert!(deps.contains("chacha20poly1305") && deps.contains("x25519-dalek"));
    let above: Vec<_> = SERVER_CRATES
        .iter()
        .chain(&["cairn-client"])
        .filter(|c| deps.contains(**c))
        .collect();
    assert!(above.is_empty(), "cairn-proto pulls in {above:?}");
}

/// `docs/LAYOUT.md`'s table of which crate may use which, as
/// `(crate, [crates it may use])`.
fn allowed_edges() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("docs/LAYOUT.md")).unwrap();
    let mut edges = BTreeSet::new();
    for line in text.lines() {
        // | `cairn-client` | `cairn-proto`, `cairn-contracts` | ...
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with("`cairn") {
            continue;
        }
        let from = cells[1].trim_matches('`').to_string();
        for to in cells[2].split(',').map(|c| c.trim().trim_matches('`')) {
            if to.starts_with("cairn") {
                edges.insert((from.clone(), to.to_string()));
            }
        }
    }
    edges
}

#[test]
fn the_layout_doc_names_exactly_the_edges_between_cairn_crates() {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["metadata", "--locked", "--no-deps", "--format-version", "1"])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success());
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut actual = BTreeSet::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            let to = dep["name"].as_str().unwrap();
            // Run-time edges only: dev-dependencies may reach anything.
            if to.starts_with("cairn") && dep["kind"].is_null() {
                actual.insert((name.to_string(), to.to_string()));
            }
        }
    }
    assert!(actual.contains(&("cairn-client".into(), "cairn-proto".into())));
    assert_eq!(
        actual,
        allowed_edges(),
        "Cargo.toml files (left) and docs/LAYOUT.md (right) disagree"
    );
}
