//! Secrets stay secret: a full run (a real `cairn serve --gateway` and the
//! CLI registering, creating an encrypted keystore, sending directly and
//! through the gateway, reading the inbox), all logging at debug level, is
//! searched for every wallet key, messaging key and passphrase it used;
//! and keystores, databases and data directories are private to their
//! owner.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Stdio, time::Duration};

use cairn::{
    chain::CairnClient,
    crypto::{keystore, wallet},
};

use crate::harness::{
    free_port, signer, Anvil, CairnCli, Kubo, StoreUnderTest, ALICE_KEY, BOB_KEY, DEPLOYER_KEY,
    TEST_PASSPHRASE,
};

/// Anvil account 5: the gateway's relayer here.
const RELAYER_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_full_run_logs_no_key_material_and_keeps_files_private() {
    // A block a second, so that anchors gain confirmations.
    let anvil = Anvil::start_on(free_port(), &["--block-time", "1"]).await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let kubo = Kubo::start().await;
    let root = tempfile::tempdir().unwrap();
    let serve_dir = root.path().join("node");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let serve_log = root.path().join("serve.log");
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "serve",
            "--gateway",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--confirmations",
            "1",
        ])
        .env("CAIRN_DATA_DIR", &serve_dir)
        .env("CAIRN_RPC_URL", &anvil.url)
        .env("CAIRN_CONTRACT", contract.to_string())
        .env("CAIRN_STORE", "kubo")
        .env("CAIRN_KUBO_URL", &kubo.api_url)
        .env("CAIRN_RELAYER_KEY", RELAYER_KEY)
        .env("RUST_LOG", "debug")
        .env_remove("CAIRN_PRIVATE_KEY")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&serve_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while reqwest::get(format!("{api}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cairn serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let cli = |name: &str| CairnCli {
        data_dir: root.path().join(name),
        api_url: api.clone(),
        rpc_url: anvil.url.clone(),
        contract,
        store: StoreUnderTest::Kubo(kubo.api_url.clone()),
    };
    let (alice_cli, bob_cli) = (cli("alice"), cli("bob"));
    let mut output = String::new();
    let bob = signer(BOB_KEY).address().to_string();
    let steps: [(&CairnCli, &str, Vec<&str>); 6] = [
        (&alice_cli, ALICE_KEY, vec!["register"]),
        (&bob_cli, BOB_KEY, vec!["key", "new"]),
        (&bob_cli, BOB_KEY, vec!["register"]),
        (
            &alice_cli,
            ALICE_KEY,
            vec!["send", "--to", &bob, "--message", "direct"],
        ),
        (
            &alice_cli,
            ALICE_KEY,
            vec![
                "send",
                "--to",
                &bob,
                "--message",
                "batched",
                "--via-gateway",
                &api,
            ],
        ),
        (&bob_cli, BOB_KEY, vec!["requests"]),
    ];
    for (cli, key, args) in steps {
        let mut command = cli.command(key, &args);
        command.env("RUST_LOG", "debug");
        let out = command.output().await.unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{args:?}: {stderr}");
        output.push_str(&stdout);
        output.push_str(&stderr);
    }
    assert!(
        output.contains("direct") && output.contains("batched"),
        "{output}"
    );
    serve.kill().await.unwrap();
    output.push_str(&std::fs::read_to_string(&serve_log).unwrap());
    assert!(
        output.len() > 10_000,
        "debug logs were written ({} bytes)",
        output.len()
    );

    // Every secret of the run, as hex without its prefix.
    let keystore_path = keystore::default_path(&bob_cli.data_dir, signer(BOB_KEY).address());
    let bob_secret = keystore::load(&keystore_path, || Ok(TEST_PASSPHRASE.into())).unwrap();
    let alice_secret = wallet::derive_with_signer(&signer(ALICE_KEY))
        .await
        .unwrap();
    let secrets = [
        (
            "Alice's wallet key",
            ALICE_KEY.trim_start_matches("0x").to_string(),
        ),
        (
            "Bob's wallet key",
            BOB_KEY.trim_start_matches("0x").to_string(),
        ),
        (
            "the relayer's key",
            RELAYER_KEY.trim_start_matches("0x").to_string(),
        ),
        ("Bob's messaging key", hex::encode(bob_secret.to_bytes())),
        (
            "Alice's messaging key",
            hex::encode(alice_secret.to_bytes()),
        ),
        ("the keystore passphrase", TEST_PASSPHRASE.to_string()),
    ];
    let lower = output.to_lowercase();
    for (what, secret) in &secrets {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "{what} appears in the logs"
        );
    }

    // Private files.
    assert_eq!(mode(&keystore_path), 0o600);
    assert_eq!(mode(keystore_path.parent().unwrap()), 0o700);
    assert!(std::fs::read_to_string(&keystore_path)
        .unwrap()
        .contains("scrypt"));
    for dir in [&serve_dir, &bob_cli.data_dir] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    for db in ["indexer.db", "gateway.db"] {
        assert_eq!(mode(&serve_dir.join(db)), 0o600, "{db}");
        let wal = serve_dir.join(format!("{db}-wal"));
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "{db}-wal");
        }
    }
}

/// A node that takes every secret from a file: the indexer's and the
/// outbox's PostgreSQL URLs (with a password), the relayer's key as an
/// encrypted keystore and the registrar's as hex. Neither appears in the
/// process's command line or environment, it anchors and pays for a
/// registration with them, and a key file others may read is refused.
#[tokio::test]
async fn a_node_takes_its_database_urls_and_keys_from_private_files() {
    use std::os::unix::fs::OpenOptionsExt;
    let anvil = Anvil::start_on(free_port(), &["--block-time", "1"]).await;
    let (contract, _) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let kubo = Kubo::start().await;
    let postgres = crate::harness::Postgres::start().await;
    // A role with a password, as production has.
    let admin = sqlx::PgPool::connect(&postgres.url).await.unwrap();
    let password = "s3cret-db-password";
    sqlx::query(&format!(
        "CREATE ROLE cairn LOGIN SUPERUSER PASSWORD '{password}'"
    ))
    .execute(&admin)
    .await
    .unwrap();
    let with_password = |db: String| db.replacen("://", &format!("://cairn:{password}@"), 1);
    let index_url = with_password(postgres.database("idx").await);
    let outbox_url = with_password(postgres.database("outbox").await);
    let root = tempfile::tempdir().unwrap();
    let private = |name: &str, text: &str| {
        let path = root.path().join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .unwrap();
        path
    };
    let index_file = private("index-url", &index_url);
    let outbox_file = private("outbox-url", &outbox_url);
    let registrar_file = private("registrar.hex", crate::harness::REGISTRAR_KEY);
    let passphrase_file = private("passphrase", TEST_PASSPHRASE);
    let relayer_keystore = root.path().join("relayer.json");
    let relayer_secret: [u8; 32] = hex::decode(&RELAYER_KEY[2..]).unwrap().try_into().unwrap();
    keystore::create_bytes(&relayer_keystore, &relayer_secret, TEST_PASSPHRASE).unwrap();

    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let node = |extra: &[&std::path::Path]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn"));
        command
            .args([
                "serve",
                "--gateway",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--confirmations", "1", "--anchor-confirmations", "1"])
            .arg("--database-url-file")
            .arg(&index_file)
            .arg("--gateway-database-url-file")
            .arg(&outbox_file)
            .arg("--registrar-key-file")
            .arg(&registrar_file)
            .arg("--keystore-password-file")
            .arg(&passphrase_file)
            .arg("--relayer-key-file")
            .arg(extra.first().copied().unwrap_or(&relayer_keystore))
            .env("CAIRN_DATA_DIR", root.path().join("node"))
            .env("CAIRN_RPC_URL", &anvil.url)
            .env("CAIRN_CONTRACT", contract.to_string())
            .env("CAIRN_STORE", "kubo")
            .env("CAIRN_KUBO_URL", &kubo.api_url)
            .env_remove("CAIRN_PRIVATE_KEY")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    };

    // A key file others may read is refused, naming the file, not the key.
    let loose = root.path().join("loose.hex");
    std::fs::write(&loose, RELAYER_KEY).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = node(&[&loose]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("loose.hex") && !stderr.contains(&RELAYER_KEY[2..]),
        "{stderr}"
    );

    let mut serve = node(&[]).spawn().unwrap();
    let started = std::time::Instant::now();
    while reqwest::get(format!("{api}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cairn serve did not start from its files"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What `ps` shows of it, and its environment: no secret.
    let pid = serve.id().unwrap();
    for what in ["cmdline", "environ"] {
        let shown = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/{what}")).unwrap())
            .to_lowercase();
        for secret in [
            password,
            &RELAYER_KEY[2..],
            &crate::harness::REGISTRAR_KEY[2..],
        ] {
            assert!(!shown.contains(secret), "/proc/{pid}/{what} shows a secret");
        }
    }

    // The registrar (hex file) pays for Bob's registration, and the
    // relayer (keystore) anchors Alice's batched post to him.
    let cli = |name: &str| CairnCli {
        data_dir: root.path().join(name),
        api_url: api.clone(),
        rpc_url: anvil.url.clone(),
        contract,
        store: StoreUnderTest::Kubo(kubo.api_url.clone()),
    };
    let out = cli("bob")
        .run(BOB_KEY, &["register", "--via-gateway", &api])
        .await;
    assert!(out.success, "{}", out.stderr);
    let out = cli("alice").run(ALICE_KEY, &["register"]).await;
    assert!(out.success, "{}", out.stderr);
    let bob = signer(BOB_KEY).address().to_string();
    let sent = cli("alice")
        .run(
            ALICE_KEY,
            &[
                "send",
                "--to",
                &bob,
                "--message",
                "from files",
                "--via-gateway",
                &api,
            ],
        )
        .await
        .json();
    assert_eq!(sent["status"], "anchored", "{sent}");
    serve.kill().await.unwrap();
}
