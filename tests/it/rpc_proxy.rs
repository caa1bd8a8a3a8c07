//! A JSON-RPC proxy in front of Anvil that counts calls by method and can
//! refuse chosen methods with a 502, as a failing or half-broken provider
//! does, or misbehave as a whole in the ways hosted providers do ([`Fault`]).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{body::Bytes, extract::State, http::StatusCode, response::IntoResponse, Router};
use serde_json::Value;

/// How the whole provider misbehaves, for the fault suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // the fault suite uses them all; other tests none
pub(crate) enum Fault {
    /// Forwards faithfully.
    None,
    /// `eth_blockNumber` answers this many blocks behind the head, as a
    /// node still syncing or a load balancer's slow backend does.
    Lag(u64),
    /// Every call answers HTTP 429 with a JSON-RPC rate-limit error.
    RateLimited,
    /// Every call answers HTTP 502.
    BadGateway,
    /// Calls are taken and never answered.
    Stall,
    /// `eth_getLogs` answers with more than this many logs are refused with
    /// -32005, as hosted providers cap them.
    CapLogs(usize),
    /// `eth_getLogs` answers carry every log twice, as a provider that serves
    /// the same range twice (a retried backend request) does.
    DoubleLogs,
}

#[derive(Clone)]
struct Shared {
    fault: Arc<Mutex<Fault>>,
    upstream: String,
    refused: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    /// Every call's params, by method.
    params: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    lose: Arc<Mutex<HashMap<String, usize>>>,
    http: reqwest::Client,
}

/// The proxy; it stops when dropped.
pub(crate) struct RpcProxy {
    pub(crate) url: String,
    fault: Arc<Mutex<Fault>>,
    refused: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    params: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    lose: Arc<Mutex<HashMap<String, usize>>>,
    server: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    pub(crate) async fn start(upstream: &str) -> Self {
        let shared = Shared {
            fault: Arc::new(Mutex::new(Fault::None)),
            upstream: upstream.to_string(),
            refused: Arc::default(),
            calls: Arc::default(),
            params: Arc::default(),
            lose: Arc::default(),
            http: reqwest::Client::new(),
        };
        let params = shared.params.clone();
        let fault = shared.fault.clone();
        let (refused, calls, lose) = (
            shared.refused.clone(),
            shared.calls.clone(),
            shared.lose.clone(),
        );
        let app = Router::new()
            .route("/", axum::routing::post(forward))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            fault,
            refused,
            calls,
            params,
            lose,
            server,
        }
    }

    /// How many calls of `method` came through so far.
    pub(crate) fn calls(&self, method: &str) -> usize {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// The params of every call of `method` so far.
    #[allow(dead_code)] // used by the sign-in test
    pub(crate) fn params(&self, method: &str) -> Vec<Value> {
        self.params
            .lock()
            .unwrap()
            .get(method)
            .cloned()
            .unwrap_or_default()
    }

    /// Forwards the next `n` calls of `method` but answers them with 502, as
    /// a connection that drops after the node got the request.
    pub(crate) fn lose_answers(&self, method: &str, n: usize) {
        self.lose.lock().unwrap().insert(method.to_string(), n);
    }

    /// Misbehaves as `fault` says from now on.
    #[allow(dead_code)] // used by the fault suite
    pub(crate) fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Answers these methods with 502 from now on (and only these).
    pub(crate) fn refuse(&self, methods: &[&str]) {
        *self.refused.lock().unwrap() = methods.iter().map(|m| m.to_string()).collect();
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(s): State<Shared>, body: Bytes) -> axum::response::Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let calls = match &request {
        Value::Array(calls) => calls.clone(),
        one => vec![one.clone()],
    };
    {
        let mut counts = s.calls.lock().unwrap();
        let mut params = s.params.lock().unwrap();
        for c in &calls {
            if let Some(m) = c["method"].as_str() {
                *counts.entry(m.to_string()).or_default() += 1;
                params
                    .entry(m.to_string())
                    .or_default()
                    .push(c["params"].clone());
            }
        }
    }
    let fault = *s.fault.lock().unwrap();
    match fault {
        Fault::RateLimited => {
            let error = serde_json::json!({"jsonrpc": "2.0", "id": request["id"],
                "error": {"code": 429, "message": "Too Many Requests"}});
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(error)).into_response();
        }
        Fault::BadGateway => {
            return (StatusCode::BAD_GATEWAY, "bad gateway (test fault)").into_response()
        }
        Fault::Stall => std::future::pending::<()>().await,
        _ => {}
    }
    let refused = s.refused.lock().unwrap().clone();
    if calls
        .iter()
        .any(|c| c["method"].as_str().is_some_and(|m| refused.contains(m)))
    {
        return (StatusCode::BAD_GATEWAY, "refused by the test proxy").into_response();
    }
    let lost = {
        let mut lose = s.lose.lock().unwrap();
        calls.iter().any(|c| {
            let method = c["method"].as_str().unwrap_or_default();
            match lose.get_mut(method) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        })
    };
    let forwarded = s
        .http
        .post(&s.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    if lost {
        return (StatusCode::BAD_GATEWAY, "the answer was lost").into_response();
    }
    match forwarded {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let bytes = response.bytes().await.unwrap_or_default();
            let bytes = match (&request, fault) {
                (Value::Object(_), Fault::Lag(_) | Fault::CapLogs(_) | Fault::DoubleLogs) => {
                    misanswer(&request, fault, bytes)
                }
                _ => bytes,
            };
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(_) => (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response(),
    }
}

/// Rewrites the answer to one call as `fault` says.
fn misanswer(request: &Value, fault: Fault, answer: Bytes) -> Bytes {
    let Ok(mut reply) = serde_json::from_slice::<Value>(&answer) else {
        return answer;
    };
    match (request["method"].as_str(), fault) {
        (Some("eth_blockNumber"), Fault::Lag(behind)) => {
            let Some(head) = reply["result"]
                .as_str()
                .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            else {
                return answer;
            };
            reply["result"] = format!("0x{:x}", head.saturating_sub(behind)).into();
        }
        (Some("eth_getLogs"), Fault::CapLogs(cap)) => {
            if reply["result"]
                .as_array()
                .is_some_and(|logs| logs.len() > cap)
            {
                reply = serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "error":
                    {"code": -32005, "message": format!("query returned more than {cap} results")}});
            }
        }
        (Some("eth_getLogs"), Fault::DoubleLogs) => {
            if let Some(logs) = reply["result"].as_array_mut() {
                let twice: Vec<Value> = logs.iter().flat_map(|l| [l.clone(), l.clone()]).collect();
                *logs = twice;
            }
        }
        _ => return answer,
    }
    Bytes::from(serde_json::to_vec(&reply).unwrap())
}
