//! The block server in-process (`app(...).oneshot`), over the embedded store.

use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
    Router,
};
use cairn::{
    server::{app, metrics_handle, AppState, Limits},
    store::{cid, BlobStore, EmbeddedStore, MAX_BLOCK_SIZE},
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn server(dir: &std::path::Path) -> Router {
    server_with(dir, Limits::default())
}

fn state(dir: &std::path::Path) -> AppState {
    AppState {
        store: std::sync::Arc::new(EmbeddedStore::open(dir).unwrap()),
        metrics: metrics_handle(),
        progress: None,
        openapi: std::sync::Arc::new(cairn::server::openapi(false, false)),
        // No gateway, no key registry: uploads are refused (tests/it/gateway.rs signs them).
        uploads: None,
        batching: None,
        // An embedded store and no database: nothing to probe.
        readiness: cairn::health::spawn(
            Vec::new(),
            cairn::health::PROBE_EVERY,
            cairn::health::PROBE_TIMEOUT,
            Default::default(),
        ),
    }
}

fn server_with(dir: &std::path::Path, limits: Limits) -> Router {
    let state = state(dir);
    let public = limits
        .public_origins_at(SocketAddr::from(([127, 0, 0, 1], 8080)))
        .unwrap();
    app(state, None, &limits, &public, &limits.per_ip_rate())
}

async fn call(
    router: &Router,
    mut request: Request<Body>,
) -> (StatusCode, Vec<u8>, Option<String>) {
    // What `serve` attaches to every connection; the rate limit keys on it.
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
        content_type,
    )
}

fn post(body: Vec<u8>) -> Request<Body> {
    Request::post("/v1/blobs")
        .header("content-type", "application/octet-stream")
        .body(Body::from(body))
        .unwrap()
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not a JSON error: {}", String::from_utf8_lossy(body)));
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    v["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn blocks_are_served_raw_and_uploads_need_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let router = server(dir.path());
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let cid = store.put(b"envelope bytes".to_vec().into()).await.unwrap();
    let uri = format!("/ipfs/{cid}");
    let (status, body, content_type) =
        call(&router, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"envelope bytes");
    assert_eq!(content_type.as_deref(), Some("application/vnd.ipld.raw"));

    // Without a gateway the node has no key registry to check uploads against.
    let (status, body, _) = call(&router, post(b"more bytes".to_vec())).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::FORBIDDEN, "uploads_disabled")
    );
}

#[tokio::test]
async fn bad_input_gets_json_errors_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let router = server(dir.path());
    let (status, body, _) = call(&router, post(vec![7; 4 * MAX_BLOCK_SIZE])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "body_too_large");
    let blocks = std::fs::read_dir(dir.path().join("blocks"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blocks, 0, "nothing stored for rejected uploads");

    let (status, body, _) = call(
        &router,
        Request::get("/ipfs/not-a-cid").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "invalid_cid")
    );
    let absent = format!("/ipfs/{}", cid::cid_for_block(b"absent"));
    let (status, body, _) = call(&router, Request::get(&absent).body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::NOT_FOUND, "block_not_found")
    );
}

#[tokio::test]
async fn health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let router = server(dir.path());
    let (status, body, _) = call(
        &router,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "ok"
    );
    // A block served is counted. (Uploads are refused here: no registry.)
    let cid = EmbeddedStore::open(dir.path())
        .unwrap()
        .put(bytes::Bytes::from_static(b"counted"))
        .await
        .unwrap();
    let (status, _, _) = call(
        &router,
        Request::get(format!("/ipfs/{cid}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Metrics are on the status listener, not on the public port.
    let (status, _, _) = call(
        &router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let status_router = cairn::server::status(state(dir.path()), &Limits::default().status());
    let (status, body, _) = call(
        &status_router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("cairn_blocks_served_total"));
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let router = server_with(
        dir.path(),
        Limits {
            per_ip_per_second: 1,
            per_ip_burst: 2,
            ..Limits::default()
        },
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = router
            .clone()
            .oneshot({
                let mut r = Request::get("/healthz").body(Body::empty()).unwrap();
                r.extensions_mut()
                    .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 2], 1))));
                r
            })
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(error_code(&body), "rate_limited");
        }
    }
    assert_eq!(&statuses[..2], &[StatusCode::OK, StatusCode::OK]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}
