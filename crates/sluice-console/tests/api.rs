//! The console's API through its router, on a SQLite store: answers, refusals, and that a
//! refused request changes nothing.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice_console::{Console, Token, router};
use sluice_jobs::store::SqliteStore;
use sluice_jobs::{JobState, NewJob, Store};
use tower::ServiceExt;

struct Fixture {
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.expect("open"));
    let jobs =
        (0..6)
            .map(|i| {
                NewJob::new(if i % 2 == 0 { "even" } else { "odd" }, json!({"n": i}))
                    .queue(if i < 3 { "a" } else { "b" })
            })
            .collect();
    store.enqueue(jobs).await.expect("enqueue");
    Fixture { store, _dir: dir }
}

/// Sends a request; the status and the JSON body.
async fn call(
    store: &Arc<dyn Store>,
    token: Option<&str>,
    request: Request<Body>,
) -> (StatusCode, Value) {
    let console = Console::new(token.and_then(Token::new)).store(store.clone());
    let (status, bytes) = common::answer(console, request).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

fn post(path: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::post(path)
        .header("content-type", "application/json")
        .header("host", "127.0.0.1:9600");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_string())).expect("request")
}

#[tokio::test]
async fn lists_filter_and_page_and_bad_queries_get_400() {
    let f = fixture().await;
    // A search by args from the lowest id there can be reads nothing, and does not overflow.
    let (status, page) = call(
        &f.store,
        None,
        get("/api/v1/jobs?args=n%3D1&before=-9223372036854775808"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["jobs"], json!([]));
    let (status, page) = call(&f.store, None, get("/api/v1/jobs?kind=even&limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> = page["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [5, 3]);
    assert_eq!(page["next_before"], 3);
    let (_, next) = call(
        &f.store,
        None,
        get("/api/v1/jobs?kind=even&limit=2&before=3"),
    )
    .await;
    assert_eq!(next["jobs"][0]["id"], 1);
    assert_eq!(next["next_before"], Value::Null);
    let (_, by_args) = call(&f.store, None, get("/api/v1/jobs?args=n%3D4")).await;
    assert_eq!(by_args["jobs"][0]["args"], json!({"n": 4}));
    assert_eq!(by_args["jobs"][0]["attempts_allowed"], 25);
    for bad in [
        "/api/v1/jobs?limit=501",
        "/api/v1/jobs?limit=0",
        "/api/v1/jobs?state=done",
        "/api/v1/jobs?args=n",
        "/api/v1/jobs?colour=red",
        "/api/v1/jobs?before=x",
        "/api/v1/jobs/abc",
        "/api/v1/throughput?window=week",
    ] {
        let (status, body) = call(&f.store, None, get(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {body}"
        );
    }
    let (status, body) = call(&f.store, None, get("/api/v1/jobs/999")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("there is no job 999"))
    );
    let (status, _) = call(&f.store, None, get("/api/v1/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changes_need_the_token_and_refusals_change_nothing() {
    let f = fixture().await;
    let before = f.store.stats().await.expect("stats");
    let discard_all = json!({"filter": {"queue": "a"}});
    // A read-only console, then a wrong token, then another site with the right one.
    let (status, body) = call(
        &f.store,
        None,
        post("/api/v1/queues/a/pause", Some("t"), &json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("read-only"))
    );
    let (status, _) = call(
        &f.store,
        Some("t"),
        post("/api/v1/jobs/actions/cancel", Some("x"), &discard_all),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &f.store,
        Some("t"),
        post("/api/v1/jobs/actions/cancel", None, &discard_all),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut forged = post("/api/v1/jobs/actions/cancel", Some("t"), &discard_all);
    forged
        .headers_mut()
        .insert("origin", "http://evil.example".parse().expect("header"));
    let (status, _) = call(&f.store, Some("t"), forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Malformed selections, with the token.
    for body in [
        json!({}),
        json!({"ids": [1], "filter": {}}),
        json!({"filter": {"colour": "red"}}),
        json!({"filter": {"args": "n"}}),
    ] {
        let (status, answer) = call(
            &f.store,
            Some("t"),
            post("/api/v1/jobs/actions/cancel", Some("t"), &body),
        )
        .await;
        assert!(status.is_client_error(), "{body}: {status} {answer}");
    }
    let (status, _) = call(
        &f.store,
        Some("t"),
        post(
            "/api/v1/jobs/actions/explode",
            Some("t"),
            &json!({"ids": [1]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &f.store,
        Some("t"),
        post(
            "/api/v1/jobs/actions/cancel",
            Some("t"),
            &json!({"ids": (0..10_001).collect::<Vec<_>>()}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        f.store.stats().await.expect("stats"),
        before,
        "nothing changed"
    );
    assert!(f.store.paused().await.expect("paused").is_empty());

    // With the token, from the same origin: done.
    let (status, body) = call(
        &f.store,
        Some("t"),
        post("/api/v1/jobs/actions/cancel", Some("t"), &discard_all),
    )
    .await;
    assert_eq!(
        (status, body["cancelled"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{body}"
    );
    let (_, body) = call(
        &f.store,
        Some("t"),
        post(
            "/api/v1/jobs/actions/discard",
            Some("t"),
            &json!({"filter": {"state": "cancelled", "kind": "even"}}),
        ),
    )
    .await;
    assert_eq!(body, json!({"matched": 2, "changed": 2}));
    let (_, body) = call(
        &f.store,
        Some("t"),
        post("/api/v1/queues/b/pause", Some("t"), &json!({})),
    )
    .await;
    assert_eq!(body, json!({"queue": "b", "paused": true, "changed": true}));
    let (_, overview) = call(&f.store, None, get("/api/v1/queues")).await;
    let queues = overview["queues"].as_array().expect("queues");
    assert_eq!(queues.len(), 2);
    assert_eq!(queues[0]["counts"], json!({"cancelled": 1}));
    assert!(queues[1]["paused_since"].is_string());
    assert_eq!(queues[1]["counts"]["available"], 3);
    let (_, info) = call(&f.store, Some("t"), get("/api/v1/info")).await;
    assert_eq!(
        info,
        json!({"store": "sqlite", "pipelines": [], "version": env!("CARGO_PKG_VERSION"), "writable": true, "authorized": false})
    );
    let remaining = f
        .store
        .list(sluice_jobs::store::ListParams {
            state: Some(JobState::Cancelled),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(remaining.len(), 1);
}

#[tokio::test]
async fn the_pages_and_the_openapi_document_are_served() {
    let f = fixture().await;
    let console = Console::new(None).store(f.store.clone());
    let response = router(console.clone())
        .oneshot(get("/"))
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    let html = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let html = String::from_utf8_lossy(&html);
    assert!(
        html.contains("console.js") && !html.contains("http://") && !html.contains("https://"),
        "no asset from elsewhere"
    );
    for asset in ["/console.js", "/console.css"] {
        let response = router(console.clone())
            .oneshot(get(asset))
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let (status, doc) = call(&f.store, None, get("/api/v1/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/v1/jobs/actions/{action}"]["post"].is_object());
}
