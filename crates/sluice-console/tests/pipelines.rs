//! The console over a running pipeline (as `sluice run --admin-addr` serves it): its
//! graph and figures, a component's page, a live sample for the bearer of the token, and 404s
//! for what it does not have (job calls, unknown components and outputs); and one over a
//! pipeline and a job store, which shows both.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use serde_json::Value;
use sluice_console::live::{LiveComponent, LivePipeline};
use sluice_console::{Console, Token};
use sluice_core::probe::{Probe, Tap};
use sluice_core::{Operators, Pipeline};

fn number(n: &u64) -> String {
    n.to_string()
}

/// A pipeline `numbers` -> `double` -> nowhere, running until the test ends, and its console.
fn console(token: Option<&str>) -> (Console, Pipeline) {
    let (live, pipeline) = running();
    (
        Console::new(token.and_then(Token::new)).pipelines(vec![live]),
        pipeline,
    )
}

/// The pipeline `numbers` -> `double` -> nowhere, running until the test ends.
fn running() -> (LivePipeline, Pipeline) {
    let pipeline = Pipeline::new("p");
    let numbers = Probe::new(number);
    let doubled = Probe::new(number);
    let flow = pipeline
        .source("numbers")
        .from_stream(futures::stream::iter(0u64..).then(|n| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            n
        }))
        .probe(&numbers)
        .stage("double")
        .map(|n| n * 2)
        .probe(&doubled);
    let running = tokio::spawn(flow.for_each(|_| {}));
    drop(running);
    let component = |name: &str,
                     kind,
                     inputs: Vec<(String, Option<String>)>,
                     probe: &Arc<Probe<u64>>| LiveComponent {
        name: name.to_owned(),
        kind,
        type_name: "test".to_owned(),
        workers: 1,
        settings: serde_json::json!({"password": "****"}),
        inputs,
        outputs: vec![(None, Arc::clone(probe) as Arc<dyn Tap>)],
    };
    let live = LivePipeline {
        pipeline: pipeline.clone(),
        components: vec![
            component("numbers", "source", Vec::new(), &numbers),
            component(
                "double",
                "transform",
                vec![("numbers".to_owned(), None)],
                &doubled,
            ),
        ],
    };
    (live, pipeline)
}

async fn call(console: &Console, request: Request<Body>) -> (StatusCode, String) {
    let (status, bytes) = common::answer(console.clone(), request).await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).expect("request")
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_console_shows_figures_and_samples_only_for_the_token() {
    let (console, pipeline) = console(Some("t"));
    let (status, info) = call(&console, get("/api/v1/info", None)).await;
    assert_eq!(status, StatusCode::OK);
    let info = json(&info);
    assert_eq!(info["store"], Value::Null);
    assert_eq!(info["pipelines"], serde_json::json!(["p"]));
    let (status, _) = call(&console, get("/api/v1/jobs", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no job store here");

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_, overview) = call(&console, get("/api/v1/pipelines", None)).await;
    let graph = &json(&overview)["pipelines"][0];
    assert_eq!(graph["name"], "p");
    let double = &graph["components"][1];
    assert_eq!(double["name"], "double");
    assert!(
        double["in_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{graph:#}"
    );
    assert!(double["events_out"].as_u64().unwrap_or(0) > 0, "{graph:#}");
    assert_eq!(graph["edges"][0]["from"], "numbers");

    let (status, page) = call(&console, get("/api/v1/pipelines/p/components/double", None)).await;
    assert_eq!(status, StatusCode::OK);
    let page = json(&page);
    assert_eq!(page["settings"]["password"], "****");
    assert!(page["history"].as_array().is_some_and(|h| !h.is_empty()));
    let (status, _) = call(&console, get("/api/v1/pipelines/p/components/nope", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let tap = "/api/v1/pipelines/p/components/double/tap?limit=3&rate=1000";
    let (status, _) = call(&console, get(tap, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&console, get(tap, Some("wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, lines) = call(&console, get(tap, Some("t"))).await;
    assert_eq!(status, StatusCode::OK);
    let sampled: Vec<u64> = lines
        .lines()
        .map(|l| l.parse().expect("a number"))
        .collect();
    assert_eq!(sampled.len(), 3);
    assert!(sampled.iter().all(|n| n % 2 == 0), "doubled: {sampled:?}");
    for bad in [
        "rate=0",
        "rate=20000",
        "limit=0",
        "limit=1000000001",
        "limit=x",
        "nope=1",
    ] {
        let (status, _) = call(
            &console,
            get(
                &format!("/api/v1/pipelines/p/components/double/tap?{bad}"),
                Some("t"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = call(
        &console,
        get(
            "/api/v1/pipelines/p/components/double/tap?output=errors",
            Some("t"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    pipeline.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_console_samples_nothing() {
    let (console, pipeline) = console(None);
    let (status, body) = call(
        &console,
        get(
            "/api/v1/pipelines/p/components/double/tap?limit=1",
            Some("t"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    pipeline.shutdown();
}

/// A process with a pipeline and a job store shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_over_a_pipeline_and_a_store_shows_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let store: Arc<dyn sluice_jobs::Store> = Arc::new(
        sluice_jobs::store::SqliteStore::open(&url)
            .await
            .expect("open"),
    );
    store
        .enqueue(vec![sluice_jobs::NewJob::new(
            "greet",
            serde_json::json!({}),
        )])
        .await
        .expect("enqueue");
    let (live, pipeline) = running();
    let console = Console::new(None).store(store).pipelines(vec![live]);
    let (_, info) = call(&console, get("/api/v1/info", None)).await;
    let info = json(&info);
    assert_eq!(info["store"], "sqlite");
    assert_eq!(info["pipelines"], serde_json::json!(["p"]));
    let (status, jobs) = call(&console, get("/api/v1/jobs", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&jobs)["jobs"][0]["kind"], "greet");
    let (status, overview) = call(&console, get("/api/v1/pipelines", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&overview)["pipelines"][0]["name"], "p");
    pipeline.shutdown();
}
