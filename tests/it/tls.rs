//! TLS served by Cairn itself: `cairn serve --gateway` and `cairn index`
//! with `--tls-cert` and `--tls-key` (a certificate from a test CA made
//! here with `openssl`), the CLI sending over `https://` and watching over
//! `wss://`, a client that does not trust the CA refused, and SIGHUP
//! loading a renewed certificate (and keeping the old one when the new
//! files are broken).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    faults::{indexer_args, Proc},
    gateway_stack::{Chain, RELAYER_KEY},
    harness::{free_port, Anvil},
};

/// A CA and a server certificate it signed for 127.0.0.1 and localhost,
/// as PEM files in `dir`: `(ca, cert, key)`.
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .expect("openssl runs (tools/install.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let path = |p: PathBuf| p.display().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca, ca_key) = (path(file("ca.pem")), path(file("ca.key")));
    let mut args = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Cairn test CA"];
    args.extend(ec);
    args.extend(["-keyout", &ca_key, "-out", &ca]);
    openssl(&args);
    let (csr, key, cert) = (path(file("csr")), path(file("key")), path(file("pem")));
    let mut args = vec!["req", "-subj", "/CN=127.0.0.1"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr]);
    openssl(&args);
    let ext = file("ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ext = path(ext);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (file("ca.pem"), file("pem"), file("key"))
}

/// A client that trusts `ca` alone.
fn trusting(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Waits until `url` answers through `client`.
async fn await_up(client: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while client.get(url).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{url} never answered over TLS"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_serves_https_and_wss_and_reloads_its_certificate_on_sighup() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), "first");
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let port = free_port();
    let database = format!("sqlite://{}", dir.path().join("serve.db").display());
    let mut args = indexer_args("serve", port, &database);
    args.extend(
        [
            "--gateway",
            "--anchor-confirmations",
            "1",
            "--max-batch-age-ms",
            "200",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let env = [
        ("CAIRN_RPC_URL", chain.url.clone()),
        ("CAIRN_CONTRACT", chain.contract.to_string()),
        (
            "CAIRN_DATA_DIR",
            dir.path().join("node").display().to_string(),
        ),
        ("CAIRN_STORE", "kubo".into()),
        ("CAIRN_KUBO_URL", chain.kubo.api_url.clone()),
        ("CAIRN_RELAYER_KEY", RELAYER_KEY.into()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let mut serve = Proc::new(
        "serve",
        port,
        args,
        env.to_vec(),
        dir.path().join("serve.log"),
    );
    serve.spawn();
    let api = format!("https://127.0.0.1:{port}");
    let health = format!("{api}/healthz");
    await_up(&trusting(&ca), &health).await;

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // Bob watches his inbox over wss://, trusting the test CA.
    let cli = |name: &str| chain.cli(&api, &dir.path().join(name));
    let key_of = |i: usize| format!("0x{}", hex::encode(chain.users[i].wallet.to_bytes()));
    let (alice, bob) = (key_of(0), key_of(1));
    let mut watch = cli("bob")
        .command(&bob, &["watch"])
        .env("SSL_CERT_FILE", &ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();

    // Alice sends over https://, through the node's gateway.
    let bob_address = chain.users[1].address().to_string();
    let send = |trust: Option<&Path>| {
        let mut command = cli("alice").command(
            &alice,
            &[
                "send",
                "--to",
                &bob_address,
                "--message",
                "over TLS",
                "--via-gateway",
                &api,
                "--wait-secs",
                "60",
            ],
        );
        command.env_remove("SSL_CERT_FILE");
        if let Some(ca) = trust {
            command.env("SSL_CERT_FILE", ca);
        }
        command.output()
    };
    let out = send(Some(&ca)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(sent["status"], "anchored", "{sent}");

    // The watcher gets it over wss://, decrypted.
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("over TLS") {
                return line;
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("the message came over wss:// within a minute");
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    let from = chain.users[0].address().to_string().to_lowercase();
    assert_eq!(seen["message"]["verified"], true, "{seen}");
    assert_eq!(seen["message"]["from"], from, "{seen}");
    watch.kill().await.unwrap();

    // A CLI that does not trust the CA is refused, at once and plainly:
    // not a post left undecided.
    let out = send(None).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was not sent") && stderr.contains("certificate"),
        "{stderr}"
    );

    // A renewed certificate (another CA here, so that the change shows):
    // loaded on SIGHUP; until then a client trusting only the new CA fails.
    let (new_ca, new_cert, new_key) = certificates(dir.path(), "renewed");
    let renewed = trusting(&new_ca);
    assert!(renewed.get(&health).send().await.is_err());
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    let pid = serve.child.as_ref().unwrap().id().to_string();
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success())
    };
    hup();
    await_up(&renewed, &health).await;
    assert!(trusting(&ca).get(&health).send().await.is_err());
    // Broken files on the next SIGHUP: the running certificate stays.
    std::fs::write(&cert, "not a certificate").unwrap();
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = renewed.get(&health).send().await.unwrap();
    assert!(answer.status().is_success());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("TLS certificate reloaded"), "{log}");
    assert!(log.contains("TLS certificate not reloaded"), "{log}");

    // SIGTERM (what systemd sends) stops it cleanly: exit 0, said in its log.
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut child = serve.child.take().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "SIGTERM did not stop it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");

    // `cairn index` serves its status over TLS too.
    let index_port = free_port();
    let index_db = format!("sqlite://{}", dir.path().join("index.db").display());
    let mut args = indexer_args("index", index_port, &index_db);
    args.extend(
        [
            "--tls-cert",
            new_cert.to_str().unwrap(),
            "--tls-key",
            new_key.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let mut index = Proc::new(
        "index",
        index_port,
        args,
        env.to_vec(),
        dir.path().join("index.log"),
    );
    index.spawn();
    await_up(&renewed, &format!("https://127.0.0.1:{index_port}/healthz")).await;
}

/// The base64 SHA-256 of `cert`'s public key, as Chromium's
/// `--ignore-certificate-errors-spki-list` names a key it trusts.
fn spki(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64",
        cert.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The web client from a node serving TLS itself, in Chromium: the page
/// over `https://`, its stream over `wss://` (web/e2e/tls.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_loads_over_https_and_streams_over_wss() {
    use crate::harness::{accounts, built_web_client, signer, BOB_KEY, REGISTRAR_KEY};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), "page");
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let (_outbox, outbox_url) = crate::gateway_stack::outbox_db(false).await;
    let indexer = cairn_indexer::IndexerConfig {
        confirmations: 1,
        poll_interval: Duration::from_millis(100),
        ..cairn_indexer::IndexerConfig::new(chain.url.clone(), chain.contract)
    };
    let database = format!("sqlite://{}", dir.path().join("indexer.db").display());
    let gateway = cairn::gateway::GatewayConfig {
        registrar: Some(signer(REGISTRAR_KEY)),
        ..chain.gateway_config(outbox_url)
    };
    let node = cairn::server::Node::start(cairn::server::NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store: chain.store.clone(),
        indexer: Some((indexer, database)),
        gateway: Some(gateway),
        limits: Default::default(),
        stream: Default::default(),
        web: Some(built_web_client(chain.contract)),
        tls: Some(cairn::server::tls::Tls::load(&cert, &key).unwrap()),
        auth: Some(accounts(&chain.url, chain.contract)),
    })
    .await
    .unwrap();
    let api = format!("https://127.0.0.1:{}", node.addr.port());

    // Bob registers and Dave (Anvil account 5) writes to him, over https://.
    const DAVE_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
    let cli = chain.cli(&api, &dir.path().join("cli"));
    let run = |key: &'static str, args: Vec<String>| {
        let mut command = cli.command(key, &args.iter().map(String::as_str).collect::<Vec<_>>());
        command.env("SSL_CERT_FILE", &ca);
        command.output()
    };
    let out = run(BOB_KEY, vec!["register".into()]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bob = signer(BOB_KEY).address().to_string();
    let text = "sealed in Rust, read over TLS";
    let args = ["send", "--to", &bob, "--message", text]
        .map(String::from)
        .to_vec();
    let out = run(DAVE_KEY, args).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let env = [
        ("CAIRN_URL", api.clone()),
        ("ANVIL_URL", chain.url.clone()),
        ("BOB", bob.clone()),
        ("SPKI", spki(&cert)),
        ("FROM_CLI", text.to_string()),
    ];
    let stdout = crate::harness::run_browser_script("tls.mjs", &env).await;
    assert!(stdout.contains("over wss://"), "{stdout}");
}
