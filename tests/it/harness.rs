//! Spawns real Anvil and Kubo daemons on free ports and kills them on drop.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{keccak256, Address},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use cairn::chain::Cairn;
use serde_json::{json, Value};

/// Anvil's well-known development keys (accounts 0, 1, 2 and 3).
pub(crate) const DEPLOYER_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub(crate) const ALICE_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub(crate) const BOB_KEY: &str =
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
pub(crate) const CAROL_KEY: &str =
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";

pub(crate) fn signer(key: &str) -> PrivateKeySigner {
    key.parse().expect("valid dev key")
}

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(relative: &str) -> PathBuf {
    let path = repo_root().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (or tools/install.sh) first",
        path.display()
    );
    path
}

/// A loopback port that is free now, for a daemon that must be told its
/// port before it starts.
///
/// The port is chosen below the kernel's ephemeral range
/// (`ip_local_port_range`), never from it: the kernel hands ports of that
/// range to every outgoing connection and to every listener bound to port
/// 0, so a port picked there could be taken by any socket of the run
/// before the daemon binds it. A port below the range is taken only by
/// another explicit bind; this process hands each one out once.
pub(crate) fn free_port() -> u16 {
    use std::{collections::BTreeSet, sync::Mutex};
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const LOWEST: u16 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let mut handed_out = HANDED_OUT.lock().unwrap();
    if ephemeral_start > LOWEST + 1_000 {
        for _ in 0..1_000 {
            let port = rand::random::<u16>() % (ephemeral_start - LOWEST) + LOWEST;
            if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed_out.insert(port);
                return port;
            }
        }
    }
    // No room below the ephemeral range: the kernel's choice.
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) on drop.
struct Daemon(Child);

impl Daemon {
    /// Sends `signal` (as `kill -<signal>` would) and waits up to `grace` for
    /// the process to exit, then SIGKILLs it: a daemon that hangs while
    /// shutting down must not hang the test. Polls, so other tasks run.
    async fn stop(&mut self, signal: &str, grace: Duration) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args([signal, &pid]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("pid {pid} ignored {signal} for {grace:?}; killing it");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `request` until it answers 2xx, or panics after `timeout`.
pub(crate) async fn wait_for_http(what: &str, timeout: Duration, request: reqwest::RequestBuilder) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let attempt = request
            .try_clone()
            .expect("body-less or JSON request clones");
        if attempt.send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not become ready within {timeout:?}");
}

/// A real Anvil chain on a free port, mining a block per transaction.
pub(crate) struct Anvil {
    daemon: Daemon,
    pub(crate) url: String,
}

impl Anvil {
    pub(crate) async fn start() -> Self {
        Self::start_on(free_port(), &[]).await
    }

    /// With extra flags, e.g. `["--block-time", "1"]` or `["--state", path]`.
    pub(crate) async fn start_on(port: u16, extra: &[&str]) -> Self {
        let child = Command::new(tool("tools/node_modules/.bin/anvil"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("anvil starts");
        let url = format!("http://127.0.0.1:{port}");
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
        let probe = reqwest::Client::new().post(&url).json(&body);
        wait_for_http("anvil", Duration::from_secs(30), probe).await;
        Self {
            daemon: Daemon(child),
            url,
        }
    }

    /// SIGKILLs the daemon, as a crash would.
    #[allow(dead_code)] // used by the cluster suite, not by every includer
    pub(crate) fn kill(&mut self) {
        let _ = self.daemon.0.kill();
        let _ = self.daemon.0.wait();
    }

    /// The process id, for CPU accounting in benchmarks.
    #[allow(dead_code)] // used by benches/batching.rs, which includes this file
    pub(crate) fn pid(&self) -> u32 {
        self.daemon.0.id()
    }

    /// Stops Anvil with SIGTERM, so that `--state` is written, and waits for
    /// it (30 s at most).
    pub(crate) async fn stop(mut self) {
        self.daemon.stop("-TERM", Duration::from_secs(30)).await;
    }
}

/// A real Kubo daemon, offline, on loopback, with its own repo.
pub(crate) struct Kubo {
    daemon: Daemon,
    repo: tempfile::TempDir,
    offline: bool,
    pub(crate) api_url: String,
}

impl Kubo {
    /// Offline: it never looks for blocks beyond its own repo.
    pub(crate) async fn start() -> Self {
        Self::start_in_mode(true).await
    }

    /// Online with no peers (the test profile has no bootstrap list): a read
    /// that is allowed to search the network waits for a block that never comes.
    pub(crate) async fn start_online() -> Self {
        Self::start_in_mode(false).await
    }

    async fn start_in_mode(offline: bool) -> Self {
        let repo = tempfile::tempdir().unwrap();
        let ipfs = tool("tools/bin/ipfs");
        let status = Command::new(&ipfs)
            .args(["init", "--profile", "test,pebbleds"])
            .env("IPFS_PATH", repo.path())
            .stdout(Stdio::null())
            .status()
            .expect("ipfs init runs");
        assert!(status.success(), "ipfs init failed");
        // The test profile puts the API, the gateway and the swarm on
        // ports the kernel picks when Kubo binds them: a free port chosen
        // here and bound later could be taken in between, by another test's
        // daemon or any socket, and the test would then talk to the wrong
        // daemon or to none.
        let (daemon, api_url) = Self::run_daemon(repo.path(), offline, None).await;
        // A restart comes back on the port Kubo got.
        pin_api_address(repo.path(), &api_url);
        Self {
            daemon,
            repo,
            offline,
            api_url,
        }
    }

    /// Starts the daemon on `repo`; returns it and its API's URL: `api_url`
    /// when given (a restart), else the address Kubo writes to the repo's
    /// `api` file once it listens.
    async fn run_daemon(repo: &Path, offline: bool, api_url: Option<&str>) -> (Daemon, String) {
        let child = Command::new(tool("tools/bin/ipfs"))
            .arg("daemon")
            .args(offline.then_some("--offline"))
            .env("IPFS_PATH", repo)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ipfs daemon starts");
        let daemon = Daemon(child);
        let api_url = match api_url {
            Some(url) => url.to_string(),
            None => listening_api(repo, Duration::from_secs(60)).await,
        };
        let probe = reqwest::Client::new().post(format!("{api_url}/api/v0/id"));
        wait_for_http("kubo", Duration::from_secs(60), probe).await;
        (daemon, api_url)
    }

    /// Stops the daemon (SIGTERM, as an operator would), then starts it
    /// again on the same repo and ports.
    #[allow(dead_code)] // used by the fault suite, not by every includer
    pub(crate) async fn restart(&mut self) {
        self.daemon.stop("-TERM", Duration::from_secs(5)).await;
        self.daemon = Self::run_daemon(self.repo.path(), self.offline, Some(&self.api_url))
            .await
            .0;
    }

    /// SIGKILLs the daemon, as a crash would.
    #[allow(dead_code)] // used by the cluster suite, not by every includer
    pub(crate) fn kill(&mut self) {
        let _ = self.daemon.0.kill();
        let _ = self.daemon.0.wait();
    }

    /// The process id, for CPU accounting in benchmarks.
    #[allow(dead_code)] // used by benches/batching.rs, which includes this file
    pub(crate) fn pid(&self) -> u32 {
        self.daemon.0.id()
    }

    /// How many blocks Kubo holds locally.
    pub(crate) async fn local_block_count(&self) -> usize {
        let text = self.post_text("api/v0/refs/local").await;
        text.lines().filter(|l| !l.trim().is_empty()).count()
    }

    /// The API calls Kubo has answered, from its Prometheus metrics. Kubo
    /// counts a call just after it answers, so the count may lag by one.
    #[allow(dead_code)] // not used by the benchmarks that include this file
    pub(crate) async fn api_calls(&self) -> u64 {
        let text = self.post_text("debug/metrics/prometheus").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("ipfs_http_request_duration_seconds_count{handler=\"api\"} ")
            })
            .and_then(|n| n.trim().parse().ok())
            .expect("kubo reports its API calls")
    }

    /// Kubo's answer to a POST on `path` of its API port.
    async fn post_text(&self, path: &str) -> String {
        reqwest::Client::new()
            .post(format!("{}/{path}", self.api_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The URL of the API a Kubo daemon on `repo` listens on, from the `api`
/// file it writes once it does (`/ip4/127.0.0.1/tcp/<port>`).
async fn listening_api(repo: &Path, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let written = std::fs::read_to_string(repo.join("api")).unwrap_or_default();
        if let Some(port) = written
            .trim()
            .strip_prefix("/ip4/127.0.0.1/tcp/")
            .and_then(|p| p.parse::<u16>().ok())
        {
            return format!("http://127.0.0.1:{port}");
        }
        assert!(
            start.elapsed() < timeout,
            "kubo wrote no API address within {timeout:?} (api file: {written:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fixes the API on the port of `api_url`, for restarts on the same repo.
fn pin_api_address(repo: &Path, api_url: &str) {
    let port = api_url.rsplit(':').next().expect("a URL with a port");
    let path = repo.join("config");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["Addresses"]["API"] = format!("/ip4/127.0.0.1/tcp/{port}").into();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// Kubo daemons, online on loopback only, each with a peer of one IPFS
/// Cluster (CRDT consensus) that pins every block on up to all of them
/// (`replication_factor_max`; at least one, so that writes go on while a
/// node is down). Cairn's kubo store is given the peers' Kubo-compatible
/// proxies, [`store_url`](Self::store_url).
#[allow(dead_code)] // used by the cluster suite, not by every includer
/// The IPFS Cluster REST API's password (user `cairn`) in the tests.
const CLUSTER_REST_PASSWORD: &str = "cluster-rest-test-password";

pub(crate) struct BlockCluster {
    pub(crate) kubos: Vec<Kubo>,
    _peers: Vec<Daemon>,
    _dirs: Vec<tempfile::TempDir>,
    /// Each peer's Kubo-compatible proxy.
    pub(crate) proxy_urls: Vec<String>,
}

#[allow(dead_code)]
impl BlockCluster {
    pub(crate) async fn start(n: usize) -> Self {
        let mut kubos = Vec::new();
        for _ in 0..n {
            kubos.push(Kubo::start_online().await);
        }
        let secret: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let service = tool("tools/bin/ipfs-cluster-service");
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let p2p_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut ids = Vec::new();
        for dir in &dirs {
            let status = Command::new(&service)
                .args(["init", "--consensus", "crdt"])
                .env("IPFS_CLUSTER_PATH", dir.path())
                .env("CLUSTER_SECRET", &secret)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("ipfs-cluster-service init runs");
            assert!(status.success(), "ipfs-cluster-service init failed");
            let identity: Value =
                serde_json::from_slice(&std::fs::read(dir.path().join("identity.json")).unwrap())
                    .unwrap();
            ids.push(identity["id"].as_str().unwrap().to_string());
        }
        let (mut peers, mut proxy_urls, mut rest_urls) = (Vec::new(), Vec::new(), Vec::new());
        for (i, dir) in dirs.iter().enumerate() {
            let kubo_port = kubos[i].api_url.rsplit(':').next().unwrap().to_string();
            let kubo_api = format!("/ip4/127.0.0.1/tcp/{kubo_port}");
            let (rest, proxy) = (free_port(), free_port());
            let path = dir.path().join("service.json");
            let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let cluster = &mut config["cluster"];
            cluster["listen_multiaddress"] =
                json!([format!("/ip4/127.0.0.1/tcp/{}", p2p_ports[i])]);
            cluster["peer_addresses"] = (0..n)
                .filter(|&j| j != i)
                .map(|j| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p_ports[j], ids[j]))
                .collect();
            cluster["replication_factor_min"] = json!(1);
            cluster["replication_factor_max"] = json!(n);
            cluster["mdns_interval"] = json!("0s");
            cluster["monitor_ping_interval"] = json!("2s");
            cluster["pin_recover_interval"] = json!("10s");
            let api = &mut config["api"];
            api["restapi"]["http_listen_multiaddress"] =
                json!(format!("/ip4/127.0.0.1/tcp/{rest}"));
            // An admin API: basic auth, as docs/DEPLOY.md says to run it.
            api["restapi"]["basic_auth_credentials"] = json!({ "cairn": CLUSTER_REST_PASSWORD });
            api["ipfsproxy"]["listen_multiaddress"] = json!(format!("/ip4/127.0.0.1/tcp/{proxy}"));
            api["ipfsproxy"]["node_multiaddress"] = json!(kubo_api);
            api["pinsvcapi"]["http_listen_multiaddress"] =
                json!(format!("/ip4/127.0.0.1/tcp/{}", free_port()));
            let ipfs = &mut config["ipfs_connector"]["ipfshttp"];
            ipfs["node_multiaddress"] = json!(kubo_api);
            ipfs["connect_swarms_delay"] = json!("1s");
            config["monitor"]["pubsubmon"]["check_interval"] = json!("2s");
            std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
            // Its log, for the failure message if the cluster never forms.
            let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
            let child = Command::new(&service)
                .arg("daemon")
                .env("IPFS_CLUSTER_PATH", dir.path())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("ipfs-cluster-service daemon starts");
            peers.push(Daemon(child));
            proxy_urls.push(format!("http://127.0.0.1:{proxy}"));
            rest_urls.push(format!("http://127.0.0.1:{rest}"));
        }
        // Ready when every peer holds a free-space metric of every peer:
        // the allocator places a pin only on peers it has metrics for.
        // Metrics go out every 15 s (half their 30 s TTL), and on a loaded
        // 2-core machine the peers took over 60 s to hear each other once
        // (a fresh clone's `make test`, 2026-12-07): wait up to 3 minutes.
        let deadline = Instant::now() + Duration::from_secs(180);
        for rest in &rest_urls {
            loop {
                for (i, peer) in peers.iter_mut().enumerate() {
                    if let Some(status) = peer.0.try_wait().unwrap() {
                        panic!(
                            "IPFS Cluster peer {i} exited ({status}) before the cluster formed:\n{}",
                            cluster_logs(&dirs)
                        );
                    }
                }
                let metrics = async {
                    let response = reqwest::Client::new()
                        .get(format!("{rest}/monitor/metrics/freespace"))
                        .basic_auth("cairn", Some(CLUSTER_REST_PASSWORD))
                        .send()
                        .await
                        .ok()?;
                    response.json::<Value>().await.ok()
                };
                if metrics.await.and_then(|m| m.as_array().map(Vec::len)) == Some(n) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the IPFS Cluster peers did not form a cluster:\n{}",
                    cluster_logs(&dirs)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // Without credentials the admin API refuses.
            let anonymous = reqwest::get(format!("{rest}/id")).await.unwrap();
            assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
        }
        Self {
            kubos,
            _peers: peers,
            _dirs: dirs,
            proxy_urls,
        }
    }

    /// What `--kubo-url` takes: every proxy, comma-separated.
    pub(crate) fn store_url(&self) -> String {
        self.proxy_urls.join(",")
    }
}

/// The last lines each IPFS Cluster peer logged, to say why a cluster
/// did not form.
fn cluster_logs(dirs: &[tempfile::TempDir]) -> String {
    dirs.iter()
        .enumerate()
        .map(|(i, dir)| {
            let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            format!("--- peer {i}, the last 40 lines of its log ---\n{tail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How the CLI under test stores blocks.
#[derive(Debug, Clone)]
pub(crate) enum StoreUnderTest {
    Embedded,
    Kubo(String),
}

/// The passphrase of keystores the CLI creates in tests.
/// Anvil account 6: a gateway's registrar, which pays for registrations
/// and device signers (never the relayer).
pub(crate) const REGISTRAR_KEY: &str =
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e";

pub(crate) const TEST_PASSPHRASE: &str = "correct horse battery staple";

/// Runs the real `cairn` binary against one chain, contract and data dir.
pub(crate) struct CairnCli {
    pub(crate) data_dir: PathBuf,
    /// The read API, for `inbox` and `watch` (empty: the CLI default).
    pub(crate) api_url: String,
    pub(crate) rpc_url: String,
    pub(crate) contract: Address,
    pub(crate) store: StoreUnderTest,
}

/// What one CLI run produced.
pub(crate) struct CliOutput {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl CliOutput {
    pub(crate) fn json(&self) -> Value {
        assert!(self.success, "cairn failed: {}", self.stderr);
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl CairnCli {
    /// The command, configured, not yet run. Keystores are encrypted with
    /// [`TEST_PASSPHRASE`], read from a file in the data dir.
    pub(crate) fn command(&self, wallet_key: &str, args: &[&str]) -> tokio::process::Command {
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let passphrase_file = self.data_dir.join("test-passphrase");
        std::fs::write(&passphrase_file, TEST_PASSPHRASE).unwrap();
        let (store, kubo_url) = match &self.store {
            StoreUnderTest::Embedded => ("embedded", String::new()),
            StoreUnderTest::Kubo(url) => ("kubo", url.clone()),
        };
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn"));
        command
            .args(args)
            .arg("--json")
            .env("CAIRN_DATA_DIR", &self.data_dir)
            .env("CAIRN_RPC_URL", &self.rpc_url)
            .env("CAIRN_CONTRACT", self.contract.to_string())
            .env("CAIRN_PRIVATE_KEY", wallet_key)
            .env("CAIRN_STORE", store)
            .env("CAIRN_KUBO_URL", kubo_url)
            .env("CAIRN_KEYSTORE_PASSWORD_FILE", &passphrase_file)
            .env_remove("CAIRN_KEY_SOURCE");
        if !self.api_url.is_empty() {
            command.env("CAIRN_API_URL", &self.api_url);
        }
        command
    }

    pub(crate) async fn run(&self, wallet_key: &str, args: &[&str]) -> CliOutput {
        let output = self
            .command(wallet_key, args)
            .output()
            .await
            .expect("cairn binary runs");
        CliOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A real PostgreSQL server in its own temporary cluster, on a free port.
/// PostgreSQL refuses to run as root, so as root it runs as `postgres`.
pub(crate) struct Postgres {
    daemon: Daemon,
    dir: tempfile::TempDir,
    port: u16,
    pub(crate) url: String,
}

fn postgres_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run `make test` (tools/install.sh installs it)")
        .map(|e| e.unwrap().path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("no PostgreSQL {name} under /usr/lib/postgresql"))
}

fn as_postgres_user(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if unsafe_geteuid_is_root() {
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, "postgres"])
                .output()
                .expect("id runs");
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .expect("a postgres user exists")
        };
        command.gid(id("-g")).uid(id("-u"));
    }
    command
}

fn unsafe_geteuid_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

impl Postgres {
    pub(crate) async fn start() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let data = dir.path().join("data");
        let status = as_postgres_user(
            Command::new(postgres_bin("initdb"))
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(&data),
        )
        .stdout(Stdio::null())
        .status()
        .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let daemon = Self::run_server(dir.path(), port, &url).await;
        Self {
            daemon,
            dir,
            port,
            url,
        }
    }

    /// Runs the server on the cluster in `dir` and waits until it takes logins.
    async fn run_server(dir: &Path, port: u16, url: &str) -> Daemon {
        let child = as_postgres_user(
            Command::new(postgres_bin("postgres"))
                .arg("-D")
                .arg(dir.join("data"))
                .args([
                    "-p",
                    &port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=100",
                ]),
        )
        .arg("-k")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres starts");
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "postgres did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Accepting TCP precedes accepting logins by a moment.
        while sqlx::PgPool::connect(url).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "postgres did not accept connections"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Daemon(child)
    }

    /// Restarts the server as `pg_ctl restart -m fast` does: SIGINT (every
    /// session is cut), wait for it to exit, start it again on the same port.
    #[allow(dead_code)] // used by the fault suite, not by every includer
    pub(crate) async fn restart(&mut self) {
        self.daemon.stop("-INT", Duration::from_secs(15)).await;
        self.daemon = Self::run_server(self.dir.path(), self.port, &self.url).await;
    }

    /// Stops the server (`pg_ctl stop -m fast`): every session is cut, and
    /// nothing answers on its port until [`Postgres::start_again`].
    #[allow(dead_code)] // used by the health test, not by every includer
    pub(crate) async fn stop(&mut self) {
        self.daemon.stop("-INT", Duration::from_secs(15)).await;
    }

    /// Starts a stopped server again on the same port and data.
    #[allow(dead_code)] // used by the health test, not by every includer
    pub(crate) async fn start_again(&mut self) {
        self.daemon = Self::run_server(self.dir.path(), self.port, &self.url).await;
    }

    /// A URL for database `name` on this server, created first.
    #[allow(dead_code)] // used by the fault suite, not by every includer
    pub(crate) async fn database(&self, name: &str) -> String {
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let server = self.url.strip_suffix("/postgres").unwrap();
        format!("{server}/{name}")
    }
}

/// An indexer database under test.
pub(crate) enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(Postgres),
}

impl Database {
    pub(crate) async fn start(postgres: bool) -> Self {
        if postgres {
            Self::Postgres(Postgres::start().await)
        } else {
            Self::Sqlite(tempfile::tempdir().unwrap())
        }
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("indexer.db").display()),
            Self::Postgres(pg) => pg.url.clone(),
        }
    }
}

/// A node that indexes with `indexer` into `db`, with an embedded block
/// store under `dir` and default limits, on a free loopback port.
#[allow(dead_code)] // used by the backfill test and the read-path bench
pub(crate) async fn indexing_node(
    indexer: cairn_indexer::IndexerConfig,
    db: &Database,
    dir: &Path,
) -> cairn::server::Node {
    cairn::server::Node::start(cairn::server::NodeConfig {
        status_listen: Some("127.0.0.1:0".parse().unwrap()),
        listen: "127.0.0.1:0".parse().unwrap(),
        store: std::sync::Arc::new(cairn::store::EmbeddedStore::open(dir.join("store")).unwrap()),
        indexer: Some((indexer, db.url())),
        gateway: None,
        limits: cairn::server::Limits::default(),
        stream: cairn_indexer::api::StreamConfig::default(),
        web: None,
        tls: None,
        auth: None,
    })
    .await
    .unwrap()
}

/// Raw JSON-RPC, for Anvil's test methods (mining, snapshots, automine).
pub(crate) async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let reply = post_json(&reqwest::Client::new(), url, &body).await;
    assert!(reply.get("error").is_none(), "{method} failed: {reply}");
    reply["result"].clone()
}

/// POSTs `body` as JSON and returns the JSON answer.
pub(crate) async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    http.post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The value of the sample `series` (a metric name with its labels, if
/// any) in the node's `/metrics`, if it is there.
#[allow(dead_code)] // used by the tests and the read-path bench
pub(crate) async fn metric(api: &str, series: &str) -> Option<f64> {
    let metrics = reqwest::get(format!("{api}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A JSON-RPC call whose result is a hex quantity.
pub(crate) async fn rpc_u64(url: &str, method: &str, params: Value) -> u64 {
    let result = rpc(url, method, params).await;
    let hex = result
        .as_str()
        .unwrap_or_else(|| panic!("{method} returned {result}"));
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

/// Mines `n` empty blocks.
pub(crate) async fn mine(url: &str, n: u64) {
    rpc(url, "anvil_mine", serde_json::json!([format!("0x{n:x}")])).await;
}

/// Anvil account 4: unlocked, so eth_sendTransaction needs no signing.
pub(crate) const SENDER: &str = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";

/// Anchors `count` posts from [`SENDER`], `per_block` to a block, to
/// `recipients` rotating recipients, with explicit nonces (account nonce 0 first).
pub(crate) async fn post_many(
    url: &str,
    contract: Address,
    count: usize,
    per_block: usize,
    recipients: usize,
) {
    post_range(url, contract, 0..count, per_block, recipients).await;
}

/// Posts number `range` of [`post_many`]'s sequence: [`SENDER`]'s nonces
/// are the post numbers, so ranges must follow one another from 0.
pub(crate) async fn post_range(
    url: &str,
    contract: Address,
    range: std::ops::Range<usize>,
    per_block: usize,
    recipients: usize,
) {
    rpc(url, "evm_setAutomine", json!([false])).await;
    let (first, count) = (range.start, range.end);
    for block in 0..(count - first).div_ceil(per_block) {
        let sends = (first + block * per_block..(first + (block + 1) * per_block).min(count)).map(|i| {
            let to = Address::with_last_byte(0x10 + (i % recipients) as u8).into_word();
            let input = Cairn::postCall { to, digest: keccak256(i.to_be_bytes()) }.abi_encode();
            let tx = json!({"from": SENDER, "to": contract, "data": format!("0x{}", hex::encode(input)),
                "gas": "0x30000", "nonce": format!("0x{i:x}")});
            rpc(url, "eth_sendTransaction", json!([tx]))
        });
        futures::future::join_all(sends).await;
        rpc(url, "evm_mine", json!([])).await;
    }
    rpc(url, "evm_setAutomine", json!([true])).await;
}

/// The built web client (`make web`), told about `contract` on the Anvil at `rpc_url`.
#[allow(dead_code)] // used by the browser test and the web bench, not every includer
/// Sign-in, consent and presence against the test chain at `rpc_url`.
pub(crate) fn accounts(rpc_url: &str, contract: Address) -> cairn::auth::AuthConfig {
    cairn::auth::AuthConfig {
        rpc_url: rpc_url.to_string(),
        chain_id: Some(31337),
        contract,
    }
}

/// Runs the browser script `web/e2e/<script>` with node and `env`, prints
/// its output, and returns it; fails the test, with both streams, when the
/// script fails.
pub(crate) async fn run_browser_script(script: &str, env: &[(&str, String)]) -> String {
    let run = tokio::process::Command::new("node")
        .arg(format!("e2e/{script}"))
        .current_dir(repo_root().join("web"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    println!("{stdout}");
    assert!(
        run.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

pub(crate) fn built_web_client(contract: Address) -> cairn::server::web::WebConfig {
    let dir = repo_root().join("web/dist");
    assert!(
        dir.join("index.html").is_file(),
        "web/dist is missing: build the web client first (make web)"
    );
    cairn::server::web::WebConfig {
        dir,
        node: cairn::server::web::NodeInfo {
            contract,
            chain_id: Some(31337),
            confirmations: 1,
            gateway: true,
        },
    }
}

/// A fresh directory that outlives the scope that asked for it (a CLI's
/// data dir made in a closure, a store a node keeps). It is made under
/// cargo's `target/tmp`, so it goes with the build instead of piling up
/// in the machine's shared `/tmp`.
pub(crate) fn kept_dir() -> PathBuf {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep()
}
