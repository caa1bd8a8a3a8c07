//! Sends that never fail falsely (`make faults`): the real CLI, `cairn send
//! --via-gateway A,B`, against two gateways of one PostgreSQL outbox, while
//!
//! - PostgreSQL stops for 10 s, then for 60 s, once the posts in flight
//!   were accepted (some are sealed in a batch by then), and more sends
//!   start during the outage;
//! - both gateways are SIGKILLed once the posts in flight were accepted,
//!   and more sends start while both are down;
//! - one client's every send meets a fault: a gateway or both killed,
//!   PostgreSQL restarted or stopped for 5 s, before or after acceptance.
//!
//! Each send's exit code is then set against the chain: a send that said it
//! failed (exit 1) while its post was anchored is a false failure, a post
//! anchored twice is a duplicate, a send that said it was delivered (exit 0)
//! must be anchored. It prints the table recorded in docs/RELIABILITY.md.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use alloy::primitives::B256;
use tokio::sync::Mutex;

use crate::{
    faults::{seed_and_logs, Proc},
    gateway_stack::{anchored_batch_posts, interval_mining, Chain, RELAYER_KEY},
    harness::{free_port, Anvil, CairnCli, Postgres},
};

/// Seconds each send may wait for its anchor: far above any outage here, so
/// that every send settles (an undecided one, exit 75, is counted apart).
const WAIT_SECS: &str = "300";

/// What one `cairn send` said.
#[derive(Debug)]
struct Sent {
    scenario: &'static str,
    /// The sender, a user index.
    from: usize,
    /// Exit code: 0 delivered, 1 failed, 75 undecided.
    code: i32,
    /// The post id, from the JSON answer or the error.
    id: Option<B256>,
    /// Lines of progress on stderr before the answer.
    progress: usize,
    stderr: String,
}

/// The first `post 0x…` id in `text`.
fn post_id_in(text: &str) -> Option<B256> {
    let at = text.find("post 0x")? + 5;
    text.get(at..at + 66)?.parse().ok()
}

/// Runs `cairn send` from user `from` to user `to` through both gateways.
async fn send(
    chain: &Chain,
    clis: &[CairnCli],
    gateways: &str,
    scenario: &'static str,
    from: usize,
    no_wait: bool,
) -> Sent {
    let key = format!("0x{}", hex::encode(chain.users[from].wallet.to_bytes()));
    let to = chain.users[(from + 1) % chain.users.len()]
        .address()
        .to_string();
    let text = format!("{scenario}: from {from}");
    let mut args = vec![
        "send",
        "--to",
        &to,
        "--message",
        &text,
        "--via-gateway",
        gateways,
        "--wait-secs",
        WAIT_SECS,
    ];
    if no_wait {
        args.push("--no-wait");
    }
    let out = clis[from]
        .command(&key, &args)
        .output()
        .await
        .expect("cairn runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let id = serde_json::from_str::<serde_json::Value>(stdout.trim())
        .ok()
        .and_then(|v| v["id"].as_str().and_then(|s| s.parse().ok()))
        .or_else(|| post_id_in(&stderr));
    Sent {
        scenario,
        from,
        code: out.status.code().unwrap_or(-1),
        id,
        progress: stderr.lines().filter(|l| !l.starts_with("error")).count(),
        stderr,
    }
}

/// Posts in the outbox, by PostgreSQL's own count.
async fn outbox_rows(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM cairn_gateway.posts")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// Waits until the outbox holds `n` more posts than `before`: the sends in
/// flight were accepted.
async fn await_accepted(url: &str, before: i64, n: i64) {
    let started = Instant::now();
    while outbox_rows(url).await < before + n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the posts were never accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: `make faults` runs it, and `make test` runs `make faults`"]
async fn sends_never_fail_falsely() {
    let (seed, logs) = seed_and_logs("send-faults");
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(8, Anvil::start().await, 0).await;
    interval_mining(&chain.url, 1).await;
    let mut postgres = Postgres::start().await;
    let outbox_url = postgres.database("outbox").await;

    let ports = [free_port(), free_port()];
    let gateway = |i: usize| {
        let data = dir.path().join(format!("gateway{i}"));
        let env = [
            ("CAIRN_RPC_URL", chain.url.clone()),
            ("CAIRN_CONTRACT", chain.contract.to_string()),
            ("CAIRN_DATA_DIR", data.display().to_string()),
            ("CAIRN_STORE", "kubo".into()),
            ("CAIRN_KUBO_URL", chain.kubo.api_url.clone()),
            ("CAIRN_RELAYER_KEY", RELAYER_KEY.into()),
            ("CAIRN_GATEWAY_DATABASE_URL", outbox_url.clone()),
            ("CAIRN_LOG_JSON", "0".into()),
        ];
        let args = [
            "gateway",
            "--listen",
            &format!("127.0.0.1:{}", ports[i]),
            "--max-batch-age-ms",
            "500",
            "--anchor-confirmations",
            "1",
            "--rebroadcast-after-secs",
            "3",
        ];
        Proc::new(
            if i == 0 { "gateway-a" } else { "gateway-b" },
            ports[i],
            args.iter().map(|a| a.to_string()).collect(),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            logs.join(format!("gateway{i}.log")),
        )
    };
    let gateways = Mutex::new(vec![gateway(0), gateway(1)]);
    for g in gateways.lock().await.iter_mut() {
        g.start().await;
    }
    let urls = ports.map(|p| format!("http://127.0.0.1:{p}")).join(",");
    let clis: Vec<CairnCli> = (0..chain.users.len())
        .map(|i| chain.cli("", &dir.path().join(format!("user{i}"))))
        .collect();
    let send = |scenario: &'static str, from: usize, no_wait: bool| {
        send(&chain, &clis, &urls, scenario, from, no_wait)
    };
    let postgres = &Mutex::new(&mut postgres);
    let (killed, gateways) = (&AtomicBool::new(false), &gateways);
    // As a supervisor would, start again a gateway that died by itself
    // (not one a scenario killed on purpose and restarts itself).
    let stop = AtomicBool::new(false);
    let supervise = async {
        while !stop.load(Ordering::Relaxed) {
            if !killed.load(Ordering::Relaxed) {
                for g in gateways.lock().await.iter_mut() {
                    let exited = g
                        .child
                        .as_mut()
                        .is_some_and(|c| c.try_wait().ok().flatten().is_some());
                    if exited {
                        g.child = None;
                        g.start().await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let kill = |which: &'static [usize]| async move {
        killed.store(true, Ordering::Relaxed);
        let mut gs = gateways.lock().await;
        for &i in which {
            gs[i].kill();
        }
    };
    let revive = || async move {
        let mut gs = gateways.lock().await;
        for g in gs.iter_mut().filter(|g| g.child.is_none()) {
            g.start().await;
        }
        killed.store(false, Ordering::Relaxed);
    };
    let outage = |secs: u64| async move {
        postgres.lock().await.stop().await;
        tokio::time::sleep(Duration::from_secs(secs)).await;
        postgres.lock().await.start_again().await;
    };

    let scenarios = async {
        let mut sent = Vec::new();
        // PostgreSQL stopped for 10 s and for 60 s, once the posts in flight
        // were accepted; two more sends start during the outage.
        for (scenario, secs) in [("postgres stopped 10 s", 10), ("postgres stopped 60 s", 60)] {
            let before = outbox_rows(&outbox_url).await;
            let during = async {
                await_accepted(&outbox_url, before, 4).await;
                let outage = outage(secs);
                let late = async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    futures::future::join(send(scenario, 4, false), send(scenario, 5, true)).await
                };
                let ((), (a, b)) = tokio::join!(outage, late);
                vec![a, b]
            };
            let first = futures::future::join_all((0..4).map(|i| send(scenario, i, false)));
            let (first, late) = tokio::join!(first, during);
            sent.extend(first.into_iter().chain(late));
        }
        // Both gateways SIGKILLed once the posts in flight were accepted;
        // two more sends start while both are down, for 3 s.
        let scenario = "both gateways killed after accepting";
        let before = outbox_rows(&outbox_url).await;
        let during = async {
            await_accepted(&outbox_url, before, 4).await;
            kill(&[0, 1]).await;
            let late = futures::future::join(send(scenario, 4, false), send(scenario, 5, true));
            let revive = async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                revive().await;
            };
            let ((a, b), ()) = tokio::join!(late, revive);
            vec![a, b]
        };
        let first = futures::future::join_all((0..4).map(|i| send(scenario, i, false)));
        let (first, late) = tokio::join!(first, during);
        sent.extend(first.into_iter().chain(late));
        // One client whose every send meets a fault, before or after its
        // post was accepted.
        let scenario = "every send meets a fault";
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(seed);
        for round in 0..10 {
            let after_accept = round % 2 == 1;
            let fault = round / 2;
            let before = outbox_rows(&outbox_url).await;
            let inject = async {
                if after_accept {
                    await_accepted(&outbox_url, before, 1).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
                }
                eprintln!("send-faults: {scenario}: round {round}, fault {fault}");
                match fault {
                    0 => kill(&[0]).await,
                    1 => kill(&[1]).await,
                    2 => kill(&[0, 1]).await,
                    3 => postgres.lock().await.restart().await,
                    _ => outage(5).await,
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                revive().await;
            };
            let (one, ()) = tokio::join!(send(scenario, 6, round % 3 == 2), inject);
            sent.push(one);
        }
        stop.store(true, Ordering::Relaxed);
        sent
    };
    let (sent, ()) = tokio::join!(scenarios, supervise);

    // Let the last accepted posts reach the chain, then count.
    let started = Instant::now();
    let anchored = loop {
        let mut by_id: HashMap<B256, usize> = HashMap::new();
        let mut by_digest: HashMap<B256, usize> = HashMap::new();
        for p in anchored_batch_posts(&chain).await {
            *by_id.entry(p.signing_hash(&chain.domain)).or_default() += 1;
            *by_digest.entry(p.post.digest).or_default() += 1;
        }
        let settled = sent
            .iter()
            .filter(|s| s.code == 0)
            .all(|s| s.id.is_some_and(|id| by_id.contains_key(&id)));
        if settled || started.elapsed() > Duration::from_secs(120) {
            break (by_id, by_digest);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let (by_id, by_digest) = anchored;

    let mut table = String::from(
        "| scenario | sends | delivered (exit 0) | undecided (exit 75) | failed (exit 1) | false failures | anchored | duplicates |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut problems = Vec::new();
    let mut order: Vec<&str> = Vec::new();
    for s in &sent {
        if !order.contains(&s.scenario) {
            order.push(s.scenario);
        }
    }
    for scenario in order {
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.scenario == scenario).collect();
        let count = |code| mine.iter().filter(|s| s.code == code).count();
        let on_chain = |s: &&Sent| s.id.and_then(|id| by_id.get(&id)).copied().unwrap_or(0);
        let false_failures = mine
            .iter()
            .filter(|s| s.code != 0 && s.code != 75 && on_chain(s) > 0)
            .count();
        let duplicates = mine.iter().filter(|s| on_chain(s) > 1).count();
        let anchored = mine.iter().filter(|s| on_chain(s) > 0).count();
        table += &format!(
            "| {scenario} | {} | {} | {} | {} | {false_failures} | {anchored} | {duplicates} |\n",
            mine.len(),
            count(0),
            count(75),
            mine.len() - count(0) - count(75),
        );
        for s in &mine {
            if s.code == 0 && on_chain(s) == 0 {
                problems.push(format!("said delivered but not anchored: {s:?}"));
            }
            if s.code != 0 {
                problems.push(format!("did not deliver (exit {}): {s:?}", s.code));
            }
            if on_chain(s) > 1 {
                problems.push(format!("anchored {} times: {s:?}", on_chain(s)));
            }
        }
    }
    let digest_duplicates = by_digest.values().filter(|&&n| n > 1).count();
    println!("\n{table}\nseed {seed}; logs in {}", logs.display());
    std::fs::write(logs.join("table.md"), &table).unwrap();
    for p in &problems {
        eprintln!("send-faults: {p}");
    }
    assert!(
        problems.is_empty() && digest_duplicates == 0,
        "{} problems, {digest_duplicates} envelopes anchored twice (seed {seed}):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Sends that started during the 60 s outage said why they waited, on
    // stderr, and did not fail.
    let waited: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.scenario == "postgres stopped 60 s" && s.from >= 4)
        .collect();
    assert!(
        waited.len() == 2
            && waited
                .iter()
                .all(|s| s.progress > 1 && s.stderr.contains("asking again")),
        "a send waited silently: {waited:?}"
    );
}

/// How the [`Front`] treats requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards faithfully.
    Forward,
    /// Forwards a submission, then answers 502 as if the answer were lost.
    LoseAnswers,
    /// Answers every request 503, forwarding nothing.
    Down,
    /// Refuses submissions with a 400; forwards the rest.
    Refuse,
}

/// An HTTP front (a load balancer) before one gateway, that can lose
/// answers, go down or refuse, and counts the submissions it forwarded.
struct Front {
    url: String,
    mode: std::sync::Arc<std::sync::Mutex<Mode>>,
    forwarded: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Front {
    async fn start(upstream: &str) -> Self {
        use axum::{body::Bytes, extract::State, http, response::IntoResponse};
        type Shared = (
            String,
            std::sync::Arc<std::sync::Mutex<Mode>>,
            std::sync::Arc<std::sync::atomic::AtomicUsize>,
        );
        async fn handle(
            State((upstream, mode, forwarded)): State<Shared>,
            method: http::Method,
            uri: http::Uri,
            body: Bytes,
        ) -> axum::response::Response {
            let mode = *mode.lock().unwrap();
            let submission = method == http::Method::POST && uri.path() == "/v1/posts";
            let fail = |status: u16, code: &str| {
                let status = http::StatusCode::from_u16(status).unwrap();
                let body = serde_json::json!({"code": code, "message": "said by the test's front"});
                (status, axum::Json(body)).into_response()
            };
            match mode {
                Mode::Down => return fail(503, "unavailable"),
                Mode::Refuse if submission => return fail(400, "invalid_post"),
                _ => {}
            }
            let url = format!("{upstream}{uri}");
            let answer = reqwest::Client::new()
                .request(method, url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            if submission {
                forwarded.fetch_add(1, Ordering::SeqCst);
                if mode == Mode::LoseAnswers {
                    return fail(502, "bad_gateway");
                }
            }
            match answer {
                Ok(r) => {
                    let status = http::StatusCode::from_u16(r.status().as_u16()).unwrap();
                    (status, r.bytes().await.unwrap_or_default()).into_response()
                }
                Err(_) => fail(502, "bad_gateway"),
            }
        }
        let mode = std::sync::Arc::new(std::sync::Mutex::new(Mode::Forward));
        let forwarded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = axum::Router::new().fallback(handle).with_state((
            upstream.to_string(),
            mode.clone(),
            forwarded.clone(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            mode,
            forwarded,
            server,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The CLI's answer to each doubt, against a real gateway behind a front:
/// a lost answer is asked about (one submission, exit 0, anchored once); a
/// gateway that stays away past `--wait-secs` leaves the post undecided
/// (exit 75), kept, and `cairn outbox` hands over the same signed post; a
/// refusal of a post no gateway holds is a failure (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_asks_before_it_reports_and_sends_the_same_post_again() {
    let chain = Chain::start(2, Anvil::start().await, 1).await;
    let full = chain.full_node(false).await;
    let front = Front::start(&full.api).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = chain.cli(&full.api, dir.path());
    let key = format!("0x{}", hex::encode(chain.users[0].wallet.to_bytes()));
    let bob = chain.users[1].address().to_string();
    let send = |text: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "send",
            "--to",
            &bob,
            "--message",
            text,
            "--via-gateway",
            &front.url,
        ];
        args.extend_from_slice(extra);
        cli.command(&key, &args).output()
    };
    let gateway = cairn::gateway::client::GatewayClient::new(&full.api);

    // The gateway takes the post; its answer is lost on the way back.
    front.set(Mode::LoseAnswers);
    let out = send("lost answer", &[]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(sent["status"], "anchored", "{sent}");
    assert_eq!(
        front.forwarded.load(Ordering::SeqCst),
        1,
        "asked, not sent again"
    );
    let lost_id: B256 = sent["id"].as_str().unwrap().parse().unwrap();

    // No gateway answers within --wait-secs: undecided, not failed.
    front.set(Mode::Down);
    let out = send("undecided", &["--no-wait", "--wait-secs", "2"])
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("asking again") && stderr.contains("cairn outbox"),
        "{stderr}"
    );
    let kept = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
    let undecided_id = post_id_in(&stderr).expect("the error names the post");
    front.set(Mode::Forward);
    let listed = cli.run(&key, &["outbox", "--list"]).await.json();
    assert_eq!(listed[0]["id"], undecided_id.to_string(), "{listed}");
    let resent = cli.run(&key, &["outbox"]).await.json();
    assert_eq!(resent[0]["state"], "accepted", "{resent}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        0
    );
    crate::gateway_stack::await_anchored(&gateway, &[undecided_id]).await;

    // A refusal of a post no gateway holds: a failure, at once.
    front.set(Mode::Refuse);
    let out = send("refused", &[]).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");

    // Each delivered post is anchored once; the refused one never.
    let anchored = crate::gateway_stack::anchored_posts(&chain).await;
    assert_eq!(anchored.get(&lost_id), Some(&1));
    assert_eq!(anchored.get(&undecided_id), Some(&1));
    assert_eq!(anchored.len(), 2, "{anchored:?}");
}
