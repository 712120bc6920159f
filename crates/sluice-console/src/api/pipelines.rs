//! Running pipelines: their graphs with live figures, a component's details, and a live sample
//! of the events leaving one of its outputs (which needs the admin token).

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, rejected};
use crate::Console;
use crate::auth::may_change;

/// The most events a tap may ask for a second.
const MAX_RATE: f64 = 10_000.0;

/// The most events a tap may ask for in all.
const MAX_LIMIT: u64 = 1_000_000_000;

/// Events a tap holds for a slow reader before it drops the next ones.
const TAP_BUFFER: usize = 1024;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/api/v1/pipelines", get(pipelines))
        .route(
            "/api/v1/pipelines/{pipeline}/components/{name}",
            get(component),
        )
        .route(
            "/api/v1/pipelines/{pipeline}/components/{name}/tap",
            get(tap),
        )
}

/// `GET /api/v1/pipelines`: every running pipeline's graph, each component with its figures
/// of the last second, and the bottleneck.
async fn pipelines(State(console): State<Console>) -> Json<Value> {
    let pipelines = console
        .live
        .as_ref()
        .map_or_else(|| json!([]), |live| live.overview());
    Json(json!({ "at": Utc::now(), "pipelines": pipelines }))
}

/// `GET /api/v1/pipelines/{pipeline}/components/{name}`: a component's figures, settings
/// (secrets masked), engine stages and the last five minutes, second by second.
async fn component(
    State(console): State<Console>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((pipeline, name)) = path.map_err(rejected)?;
    console
        .live
        .as_ref()
        .and_then(|live| live.component(&pipeline, &name))
        .map(Json)
        .ok_or_else(|| unknown(&pipeline, &name))
}

fn unknown(pipeline: &str, name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no component `{name}` in a running pipeline `{pipeline}`"
    ))
}

/// What a tap asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TapParams {
    /// The output: `errors`, a route's name; the main one when absent.
    output: Option<String>,
    /// Stop after this many events; none: until the reader goes.
    limit: Option<u64>,
    /// At most this many events a second. Defaults to 100.
    rate: Option<f64>,
}

/// `GET /api/v1/pipelines/{pipeline}/components/{name}/tap`: the events leaving the output, as
/// JSON lines (`application/x-ndjson`), sampled: at most `rate` a second, and those a slow
/// reader has no room for are dropped, never waited for. Needs the admin token.
async fn tap(
    State(console): State<Console>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<TapParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((pipeline, name)) = path.map_err(rejected)?;
    let Query(params) = query.map_err(rejected)?;
    may_change(console.token.as_ref(), &headers)?;
    let rate = params.rate.unwrap_or(100.0);
    if !(rate > 0.0 && rate <= MAX_RATE) {
        return Err(ApiError::BadRequest(format!(
            "rate must be above 0 and at most {MAX_RATE} events a second"
        )));
    }
    if params.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
        return Err(ApiError::BadRequest(format!(
            "limit must be from 1 to {MAX_LIMIT}"
        )));
    }
    let live = console
        .live
        .as_ref()
        .ok_or_else(|| unknown(&pipeline, &name))?;
    let output = live
        .output(&pipeline, &name, params.output.as_deref())
        .ok_or_else(|| match &params.output {
            Some(output) => ApiError::NotFound(format!(
                "`{name}` in `{pipeline}` has no output `{output}` (an error output exists only when something reads it)"
            )),
            None => unknown(&pipeline, &name),
        })?;
    let sample = output.listen(rate, TAP_BUFFER);
    let limit = params.limit.unwrap_or(u64::MAX);
    let lines = futures::stream::unfold((sample, 0u64), move |(mut sample, sent)| async move {
        if sent >= limit {
            return None;
        }
        let mut line = sample.next().await?;
        line.push('\n');
        Some((
            Ok::<Bytes, std::convert::Infallible>(Bytes::from(line)),
            (sample, sent + 1),
        ))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}
