//! Every subcommand answers `--help`, and bad input fails before any I/O.

use std::process::Command;

fn cairn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("CAIRN_PRIVATE_KEY")
        .env_remove("CAIRN_CONTRACT")
        .output()
        .unwrap()
}

#[test]
fn every_subcommand_has_help() {
    for cmd in [
        &["--help"][..],
        &["key", "--help"],
        &["key", "new", "--help"],
        &["key", "derive", "--help"],
        &["key", "show", "--help"],
        &["register", "--help"],
        &["send", "--help"],
        &["read", "--help"],
        &["serve", "--help"],
        &["gateway", "--help"],
        &["proof", "--help"],
        &["inbox", "--help"],
        &["sent", "--help"],
        &["watch", "--help"],
    ] {
        let out = cairn(cmd);
        assert!(out.status.success(), "{cmd:?} failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage: cairn"), "{cmd:?}: {text}");
    }
}

#[test]
fn send_requires_exactly_one_content_source() {
    let to = "--to=0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let neither = cairn(&["send", to]);
    assert!(!neither.status.success());
    let both = cairn(&["send", to, "--message", "a", "--file", "b"]);
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}

#[test]
fn bad_address_and_cid_are_rejected_with_reasons() {
    let bad_to = cairn(&["send", "--to", "0x1234", "--message", "a"]);
    assert!(!bad_to.status.success());
    assert!(String::from_utf8_lossy(&bad_to.stderr).contains("--to"));
    let bad_cid = cairn(&[
        "read",
        "--cid",
        "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n",
    ]);
    assert!(String::from_utf8_lossy(&bad_cid.stderr).contains("CIDv1, raw codec, sha2-256"));
}

#[test]
fn missing_wallet_is_a_clear_error_and_secrets_are_not_echoed() {
    let out = cairn(&["key", "derive"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("pass --private-key-file, set CAIRN_PRIVATE_KEY, or run it on a terminal"));
    // A key from a file works like one from the environment, and a bad one
    // is not echoed either.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wallet.key");
    std::fs::write(&file, "0xdeadbeefnotakey\n").unwrap();
    let out = cairn(&[
        "key",
        "derive",
        "--private-key-file",
        file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("deadbeef"),
        "{stderr}"
    );
    std::fs::write(
        &file,
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n",
    )
    .unwrap();
    let out = cairn(&[
        "key",
        "derive",
        "--private-key-file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = "0xdeadbeefnotakey";
    let out = cairn(&["key", "derive", "--private-key", secret]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("deadbeef"),
        "{stderr}"
    );
}

#[test]
fn gateway_flags_are_checked_before_any_io() {
    let out = cairn(&["gateway", "--max-batch", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-batch"));
    let secret = "0xdeadbeefnotakey";
    let out = cairn(&[
        "gateway",
        "--relayer-key",
        secret,
        "--contract",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--relayer-key") && !stderr.contains("deadbeef"),
        "{stderr}"
    );
    let out = cairn(&["proof", "0x1234"]);
    assert!(!out.status.success());
    let out = cairn(&[
        "send",
        "--to",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "--message",
        "a",
        "--via-gateway",
        "http://x",
        "--deadline-secs",
        "5",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--deadline-secs"));
}
