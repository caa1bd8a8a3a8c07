//! A JSON-RPC proxy in front of Anvil that counts calls by method and can
//! refuse chosen methods with a 502, as a failing or half-broken provider does.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{body::Bytes, extract::State, http::StatusCode, response::IntoResponse, Router};
use serde_json::Value;

#[derive(Clone)]
struct Shared {
    upstream: String,
    refused: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    lose: Arc<Mutex<HashMap<String, usize>>>,
    http: reqwest::Client,
}

/// The proxy; it stops when dropped.
pub(crate) struct RpcProxy {
    pub(crate) url: String,
    refused: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    lose: Arc<Mutex<HashMap<String, usize>>>,
    server: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    pub(crate) async fn start(upstream: &str) -> Self {
        let shared = Shared {
            upstream: upstream.to_string(),
            refused: Arc::default(),
            calls: Arc::default(),
            lose: Arc::default(),
            http: reqwest::Client::new(),
        };
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
            refused,
            calls,
            lose,
            server,
        }
    }

    /// How many calls of `method` came through so far.
    pub(crate) fn calls(&self, method: &str) -> usize {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// Forwards the next `n` calls of `method` but answers them with 502, as
    /// a connection that drops after the node got the request.
    pub(crate) fn lose_answers(&self, method: &str, n: usize) {
        self.lose.lock().unwrap().insert(method.to_string(), n);
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
        for c in &calls {
            if let Some(m) = c["method"].as_str() {
                *counts.entry(m.to_string()).or_default() += 1;
            }
        }
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
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(_) => (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response(),
    }
}
