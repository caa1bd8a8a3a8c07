//! Sign-In with Ethereum against a real node and a real Anvil: an account
//! signs in and gets an HttpOnly, SameSite=Strict session; a contract wallet
//! (ERC-1271) signs in when its code says yes and not when it says no, and
//! so does one not deployed yet (ERC-6492), without being deployed; and a
//! replayed nonce, another site, another chain, an expired message and
//! another wallet's signature are each refused with their own code.

use alloy::{
    primitives::Address,
    signers::{local::PrivateKeySigner, Signer},
};
use std::time::Duration;

use cairn::server::{Limits, Node, NodeConfig};
use cairn_indexer::IndexerConfig;
use serde_json::{json, Value};

use crate::harness::{
    accounts, built_web_client, free_port, rpc, signer, Anvil, Postgres, ALICE_KEY, BOB_KEY,
};

/// Returns ERC-1271's magic value to every call: a wallet that approves.
const APPROVING_WALLET: &str = "0x631626ba7e60e01b60005260206000f3";
/// Returns 32 zero bytes to every call: a wallet that refuses.
const REFUSING_WALLET: &str = "0x60206000f3";

pub(crate) struct Site {
    pub(crate) api: String,
    pub(crate) host: String,
    pub(crate) http: reqwest::Client,
}

impl Site {
    async fn nonce(&self) -> String {
        let answer: Value = self
            .http
            .get(format!("{}/v1/auth/nonce", self.api))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["nonce"].as_str().unwrap().to_string()
    }

    /// A message for this site and chain, with a nonce just issued.
    pub(crate) async fn fresh(&self, address: Address, expires: &str) -> String {
        self.message(address, &self.nonce().await, &self.host, 31337, expires)
    }

    /// An EIP-4361 message as viem's createSiweMessage writes it.
    fn message(
        &self,
        address: Address,
        nonce: &str,
        domain: &str,
        chain_id: u64,
        expires: &str,
    ) -> String {
        format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nSign in to Cairn.\n\n\
             URI: http://{domain}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\n\
             Issued At: 2026-01-01T00:00:00Z\nExpiration Time: {expires}"
        )
    }

    pub(crate) async fn sign_in(
        &self,
        message: &str,
        signature: &[u8],
    ) -> (u16, Value, Option<String>) {
        let response = self
            .http
            .post(format!("{}/v1/auth/siwe", self.api))
            .json(
                &json!({"message": message, "signature": format!("0x{}", hex::encode(signature))}),
            )
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|c| c.to_str().unwrap().to_string());
        (status, response.json().await.unwrap(), cookie)
    }

    async fn session(&self, cookie: &str) -> (u16, Value) {
        let token = cookie.split(';').next().unwrap();
        let response = self
            .http
            .get(format!("{}/v1/auth/session", self.api))
            .header("cookie", token)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

async fn sign(wallet: &PrivateKeySigner, message: &str) -> Vec<u8> {
    wallet
        .sign_message(message.as_bytes())
        .await
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn sign_in_with_ethereum_opens_a_session_and_refuses_the_rest() {
    let anvil = Anvil::start().await;
    let node = Node::start(NodeConfig {
        web: Some(built_web_client(Address::ZERO)),
        tls: None,
        ..config(&anvil, &sqlite_url())
    })
    .await
    .unwrap();
    let host = node.addr.to_string();
    let site = Site {
        api: format!("http://{host}"),
        host,
        http: reqwest::Client::new(),
    };
    let alice = signer(ALICE_KEY);
    let later = "2099-01-01T00:00:00Z";

    // This node serves the web client: GraphiQL's CDN scripts would run on
    // its origin, so GraphiQL is off (queries still work).
    let graphiql = site
        .http
        .get(format!("{}/graphql", site.api))
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), 404);
    let body: Value = graphiql.json().await.unwrap();
    assert_eq!(body["code"], "graphiql_off");

    // An account signs in; the cookie is HttpOnly, SameSite=Strict, an hour.
    let message = site.fresh(alice.address(), later).await;
    let signature = sign(&alice, &message).await;
    let (status, body, cookie) = site.sign_in(&message, &signature).await;
    assert_eq!(
        (status, body["signer"].as_str()),
        (200, Some("account")),
        "{body}"
    );
    let cookie = cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let (status, session) = site.session(&cookie).await;
    assert_eq!(
        (status, session["address"].as_str()),
        (200, Some(alice.address().to_string().as_str()))
    );

    // The same message again: its nonce is spent.
    let (status, body, _) = site.sign_in(&message, &signature).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unknown_nonce"))
    );

    // Each check has its own refusal.
    let refusals = [
        (
            site.message(
                alice.address(),
                &site.nonce().await,
                "evil.example",
                31337,
                later,
            ),
            "wrong_domain",
        ),
        (
            site.message(alice.address(), &site.nonce().await, &site.host, 1, later),
            "wrong_chain",
        ),
        (
            site.message(
                alice.address(),
                &site.nonce().await,
                &site.host,
                31337,
                "2026-01-01T01:00:00Z",
            ),
            "expired",
        ),
        (
            site.message(alice.address(), "notissued123", &site.host, 31337, later),
            "unknown_nonce",
        ),
    ];
    for (message, code) in refusals {
        let (status, body, cookie) = site.sign_in(&message, &sign(&alice, &message).await).await;
        assert_eq!(
            (status, body["code"].as_str(), cookie),
            (401, Some(code), None),
            "{message}"
        );
    }
    let message = site.fresh(alice.address(), later).await;
    let (status, body, _) = site
        .sign_in(&message, &sign(&signer(BOB_KEY), &message).await)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature")),
        "Bob's signature for Alice"
    );

    // Contract wallets: asked with ERC-1271 at a pinned block.
    let safe = Address::with_last_byte(0x5a);
    rpc(&anvil.url, "anvil_setCode", json!([safe, APPROVING_WALLET])).await;
    let message = site.fresh(safe, later).await;
    let (status, body, cookie) = site.sign_in(&message, &[7u8; 65]).await;
    assert_eq!(
        (status, body["signer"].as_str()),
        (200, Some("contract")),
        "{body}"
    );
    assert!(cookie.is_some());
    rpc(&anvil.url, "anvil_setCode", json!([safe, REFUSING_WALLET])).await;
    let message = site.fresh(safe, later).await;
    let (status, body, _) = site.sign_in(&message, &[7u8; 65]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature"))
    );

    // Wallets not deployed yet (ERC-6492): the signature carries the factory
    // call that would deploy the wallet, here through Anvil's CREATE2
    // deployer. The node simulates the deployment and asks the wallet; it
    // deploys nothing.
    let deployer = rpc(
        &anvil.url,
        "eth_getCode",
        json!([CREATE2_DEPLOYER, "latest"]),
    )
    .await;
    assert_ne!(deployer, "0x", "Anvil predeploys the CREATE2 deployer");
    let (wallet, wrapped) = counterfactual(APPROVING_WALLET, 1, &[7u8; 65]);
    let message = site.fresh(wallet, later).await;
    let (status, body, cookie) = site.sign_in(&message, &wrapped).await;
    assert_eq!(
        (status, body["signer"].as_str()),
        (200, Some("counterfactual")),
        "{body}"
    );
    assert!(cookie.is_some());
    let code = rpc(&anvil.url, "eth_getCode", json!([wallet, "latest"])).await;
    assert_eq!(code, "0x", "checking deployed nothing");
    let (wallet, wrapped) = counterfactual(REFUSING_WALLET, 2, &[7u8; 65]);
    let message = site.fresh(wallet, later).await;
    let (status, body, _) = site.sign_in(&message, &wrapped).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature"))
    );
    // An approving wallet's wrapper, for an address it does not deploy to.
    let (_, wrapped) = counterfactual(APPROVING_WALLET, 3, &[7u8; 65]);
    let message = site.fresh(Address::with_last_byte(0x77), later).await;
    let (status, body, _) = site.sign_in(&message, &wrapped).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature"))
    );

    // Logging out ends the session.
    let token = cookie_token(&site, &alice, later).await;
    site.http
        .post(format!("{}/v1/auth/logout", site.api))
        .header("cookie", &token)
        .send()
        .await
        .unwrap();
    for cookie in [token.as_str(), "cairn_session=forged"] {
        let (status, session) = site.session(cookie).await;
        assert_eq!(
            (status, session["signedIn"].as_bool()),
            (200, Some(false)),
            "{session}"
        );
    }
    node.shutdown().await.unwrap();
}

/// Anvil's predeployed CREATE2 deployer: calldata `salt ++ init code`.
const CREATE2_DEPLOYER: Address =
    alloy::primitives::address!("4e59b44847b379578588920ca78fbf26c0b4956c");

/// The address a wallet with `runtime` code would get from the CREATE2
/// deployer with `salt`, and `signature` wrapped for it as ERC-6492 says.
fn counterfactual(runtime: &str, salt: u8, signature: &[u8]) -> (Address, Vec<u8>) {
    use alloy::{
        primitives::{Bytes, B256},
        sol_types::SolValue,
    };
    let runtime = hex::decode(runtime.trim_start_matches("0x")).unwrap();
    let n = runtime.len() as u8;
    // CODECOPY the runtime (after these 12 bytes) to memory, and RETURN it.
    let mut init = vec![
        0x60, n, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, n, 0x60, 0x00, 0xf3,
    ];
    init.extend(&runtime);
    let salt = B256::with_last_byte(salt);
    let wallet = CREATE2_DEPLOYER.create2_from_code(salt, &init);
    let factory_call = Bytes::from([salt.as_slice(), &init].concat());
    let mut wrapped = (
        CREATE2_DEPLOYER,
        factory_call,
        Bytes::copy_from_slice(signature),
    )
        .abi_encode_params();
    wrapped.extend(cairn::auth::signature::ERC6492_MAGIC);
    (wallet, wrapped)
}

async fn cookie_token(site: &Site, wallet: &PrivateKeySigner, expires: &str) -> String {
    let message = site.fresh(wallet.address(), expires).await;
    let (_, _, cookie) = site.sign_in(&message, &sign(wallet, &message).await).await;
    cookie.unwrap().split(';').next().unwrap().to_string()
}

/// A fresh SQLite database for an index (and its sign-in state).
fn sqlite_url() -> String {
    let dir = crate::harness::kept_dir();
    format!("sqlite://{}", dir.join("index.db").display())
}

/// An index of no contract on `anvil`, in the database at `url`: sign-in
/// keeps its nonces and sessions there.
fn index(anvil: &Anvil, url: &str) -> (IndexerConfig, String) {
    (
        IndexerConfig {
            confirmations: 1,
            poll_interval: Duration::from_millis(200),
            ..IndexerConfig::new(anvil.url.clone(), Address::ZERO)
        },
        url.to_string(),
    )
}

/// A node on the index database at `db`, sign-in on, on `port` (0: any).
async fn node_on(anvil: &Anvil, db: &str, port: u16) -> Node {
    Node::start(NodeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..config(anvil, db)
    })
    .await
    .unwrap()
}

/// A node on any port, indexing nothing on `anvil` into the database at
/// `db`, with sign-in against `anvil`.
fn config(anvil: &Anvil, db: &str) -> NodeConfig {
    NodeConfig {
        status_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        store: std::sync::Arc::new(
            cairn::store::EmbeddedStore::open(crate::harness::kept_dir()).unwrap(),
        ),
        indexer: Some(index(anvil, db)),
        gateway: None,
        limits: Limits::default(),
        stream: Default::default(),
        web: None,
        tls: None,
        auth: Some(accounts(&anvil.url, Address::ZERO)),
    }
}

/// A node with these public origins (none: development's), sign-in on.
async fn node_with_origins(anvil: &Anvil, public: &[&str]) -> Node {
    Node::start(NodeConfig {
        limits: Limits {
            public_origins: public.iter().map(|s| s.to_string()).collect(),
            ..Limits::default()
        },
        ..config(anvil, &sqlite_url())
    })
    .await
    .unwrap()
}

/// A sign-in collected by a phishing dapp for its own domain opens no
/// session, whatever `Host` it is posted with: the node checks the domain
/// and URI against its public origins, and refuses requests for any other
/// `Host` on every route (DNS rebinding). Configured origins replace the
/// development ones, and make the cookie `Secure` when they are https.
#[tokio::test]
async fn a_sign_in_for_another_site_opens_no_session_whatever_its_host() {
    let anvil = Anvil::start().await;
    let alice = signer(ALICE_KEY);
    let later = "2099-01-01T00:00:00Z";

    let dev = node_with_origins(&anvil, &[]).await;
    let site = Site {
        api: format!("http://{}", dev.addr),
        host: dev.addr.to_string(),
        http: reqwest::Client::new(),
    };
    let phished = site.message(
        alice.address(),
        &site.nonce().await,
        "phish.example",
        31337,
        later,
    );
    let signature = sign(&alice, &phished).await;
    // Posted as if for the phishing site's own name: no route answers it.
    let response = site
        .http
        .post(format!("{}/v1/auth/siwe", site.api))
        .header("host", "phish.example")
        .json(&json!({"message": phished, "signature": format!("0x{}", hex::encode(&signature))}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 421);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unknown_host", "{body}");
    for path in ["/healthz", "/v1/auth/session", "/v1/auth/nonce"] {
        let status = site
            .http
            .get(format!("{}{path}", site.api))
            .header("host", "rebound.example")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 421, "{path} for another Host");
    }
    // Posted with the node's own Host: the domain is still another site's.
    let (status, body, cookie) = site.sign_in(&phished, &signature).await;
    assert_eq!(
        (status, body["code"].as_str(), cookie),
        (401, Some("wrong_domain"), None)
    );
    // The URI must be on the domain's origin too.
    let elsewhere = site.fresh(alice.address(), later).await.replace(
        &format!("URI: http://{}", site.host),
        "URI: http://phish.example",
    );
    let (status, body, _) = site
        .sign_in(&elsewhere, &sign(&alice, &elsewhere).await)
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("wrong_domain")));
    // `localhost` at the node's port is the node itself in development.
    let local = Site {
        api: format!("http://localhost:{}", dev.addr.port()),
        host: format!("localhost:{}", dev.addr.port()),
        http: reqwest::Client::new(),
    };
    let message = local.fresh(alice.address(), later).await;
    let (status, _, cookie) = local.sign_in(&message, &sign(&alice, &message).await).await;
    assert_eq!(status, 200);
    assert!(!cookie.unwrap().contains("Secure"), "http in development");

    // A node users reach at https://chat.dao.example (through a TLS front).
    let public = node_with_origins(&anvil, &["https://chat.dao.example"]).await;
    let site = Site {
        api: format!("http://{}", public.addr),
        host: public.addr.to_string(),
        http: reqwest::Client::new(),
    };
    let message = site
        .message(
            alice.address(),
            &site.nonce().await,
            "chat.dao.example",
            31337,
            later,
        )
        .replace("URI: http://", "URI: https://");
    let (status, body, cookie) = site.sign_in(&message, &sign(&alice, &message).await).await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("__Host-cairn_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    let (_, session) = site.session(&cookie).await;
    assert_eq!(
        session["signedIn"], true,
        "the __Host- cookie names the session"
    );
    // Its development names are no longer sign-in domains.
    let message = site.fresh(alice.address(), later).await;
    let (status, body, _) = site.sign_in(&message, &sign(&alice, &message).await).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("wrong_domain")));
    dev.shutdown().await.unwrap();
    public.shutdown().await.unwrap();
}

/// Sign-in state lives in the index's database: behind a round-robin of
/// three nodes on one PostgreSQL, a nonce issued by one node is taken by
/// another and a session opened on one holds on all; a restarted node
/// signs nobody out; logout on one node ends the session on every node; a
/// nonce is still taken once across nodes; and a flood of 10,000 nonce
/// requests evicts nobody's nonce (nonces are signed, not stored, until
/// used).
#[tokio::test]
async fn sessions_and_nonces_hold_across_nodes_and_restarts() {
    let anvil = Anvil::start().await;
    let db = Postgres::start().await;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for port in &ports {
        nodes.push(node_on(&anvil, &db.url, *port).await);
    }
    let site = |i: usize| Site {
        api: format!("http://127.0.0.1:{}", ports[i]),
        host: format!("127.0.0.1:{}", ports[i]),
        http: reqwest::Client::new(),
    };
    let alice = signer(ALICE_KEY);
    let later = "2099-01-01T00:00:00Z";

    // A nonce from node 0, then 10,000 more from node 1, signed in on node 2.
    let nonce = site(0).nonce().await;
    // The flood comes from five other loopback addresses, 2,000 each (the
    // per-IP burst), 64 at a time per address.
    let floods = (2..7u8).map(|n| {
        let flood = Site {
            http: reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, n]))
                .build()
                .unwrap(),
            ..site(1)
        };
        async move {
            use futures::StreamExt;
            futures::stream::iter(0..2_000)
                .map(|_| flood.nonce())
                .buffer_unordered(64)
                .collect::<Vec<String>>()
                .await
        }
    });
    let issued: std::collections::HashSet<String> = futures::future::join_all(floods)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(issued.len(), 10_000);
    let on_two = site(2);
    let message = on_two.message(alice.address(), &nonce, &on_two.host, 31337, later);
    let signature = sign(&alice, &message).await;
    let (status, body, cookie) = on_two.sign_in(&message, &signature).await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    // Once: not again on node 2, nor on node 0 that issued it.
    let (status, body, _) = on_two.sign_in(&message, &signature).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unknown_nonce"))
    );
    let on_zero = site(0);
    let again = on_zero.message(alice.address(), &nonce, &on_zero.host, 31337, later);
    let (status, body, _) = on_zero.sign_in(&again, &sign(&alice, &again).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unknown_nonce"))
    );
    // A nonce this database's nodes never issued (well formed, wrong tag).
    let forged = format!("{}{}", &nonce[..32], "0".repeat(32));
    let message = on_zero.message(alice.address(), &forged, &on_zero.host, 31337, later);
    let (status, body, _) = on_zero
        .sign_in(&message, &sign(&alice, &message).await)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unknown_nonce"))
    );

    // The session opened on node 2 holds on every node.
    let me = alice.address().to_string();
    for i in 0..3 {
        let (status, session) = site(i).session(&cookie).await;
        assert_eq!(
            (status, session["address"].as_str()),
            (200, Some(me.as_str())),
            "node {i}"
        );
    }
    // And through a restart of node 2.
    let restarted = nodes.remove(2);
    restarted.shutdown().await.unwrap();
    nodes.push(node_on(&anvil, &db.url, ports[2]).await);
    let (_, session) = site(2).session(&cookie).await;
    assert_eq!(
        session["address"].as_str(),
        Some(me.as_str()),
        "after a restart"
    );

    // Logout on node 0 ends it everywhere.
    let token = cookie.split(';').next().unwrap();
    let logout = reqwest::Client::new()
        .post(format!("{}/v1/auth/logout", site(0).api))
        .header("cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    for i in 0..3 {
        let (_, session) = site(i).session(&cookie).await;
        assert_eq!(session["signedIn"], false, "node {i} after logout");
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

/// Every signature check that runs a wallet's code runs under a gas limit:
/// a contract wallet that burns all the gas it is given is refused after
/// ERC-1271's 300,000, and an ERC-6492 simulation gets 1,500,000 (enough
/// to deploy a wallet and ask it).
#[tokio::test]
async fn contract_wallet_checks_run_under_a_gas_limit() {
    let anvil = Anvil::start().await;
    let proxy = crate::rpc_proxy::RpcProxy::start(&anvil.url).await;
    let node = Node::start(NodeConfig {
        auth: Some(accounts(&proxy.url, Address::ZERO)),
        ..config(&anvil, &sqlite_url())
    })
    .await
    .unwrap();
    let site = Site {
        api: format!("http://{}", node.addr),
        host: node.addr.to_string(),
        http: reqwest::Client::new(),
    };
    let later = "2099-01-01T00:00:00Z";
    let gas_of_last_call = || {
        let calls = proxy.params("eth_call");
        let gas = calls.last().expect("an eth_call")[0]["gas"].clone();
        u64::from_str_radix(
            gas.as_str().expect("a gas limit").trim_start_matches("0x"),
            16,
        )
        .unwrap()
    };
    // JUMPDEST PUSH1 0 JUMP: loops until its gas runs out.
    let burner = Address::with_last_byte(0xb0);
    rpc(&anvil.url, "anvil_setCode", json!([burner, "0x5b600056"])).await;
    let message = site.fresh(burner, later).await;
    let (status, body, _) = site.sign_in(&message, &[7u8; 65]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_signature"))
    );
    assert_eq!(gas_of_last_call(), cairn::auth::signature::ERC1271_GAS);
    let (wallet, wrapped) = counterfactual(APPROVING_WALLET, 9, &[7u8; 65]);
    let message = site.fresh(wallet, later).await;
    let (status, body, _) = site.sign_in(&message, &wrapped).await;
    assert_eq!(
        status, 200,
        "a real counterfactual wallet fits the limit: {body}"
    );
    assert_eq!(gas_of_last_call(), cairn::auth::signature::ERC6492_GAS);
    node.shutdown().await.unwrap();
}
