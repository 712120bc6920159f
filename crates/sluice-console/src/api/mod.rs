//! The JSON API under `/api/v1/`: what the pages call, and scripts may. Every answer is JSON;
//! every error is `{"error": "..."}` with a 4xx status for a bad request (unknown id, malformed
//! filter, page too large, missing token) and 5xx only when the store fails.

mod jobs;
mod pipelines;
mod queues;
mod workers;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sluice_jobs::StoreError;

use crate::Console;
use crate::auth::{Refusal, authorized};

/// The OpenAPI document of this API.
const OPENAPI: &str = include_str!("openapi.json");

/// `/api/v1/…`.
pub(crate) fn router(console: Console) -> Router {
    Router::new()
        .route("/api/v1/info", get(info))
        .route(
            "/api/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .merge(jobs::routes())
        .merge(pipelines::routes())
        .merge(queues::routes())
        .merge(workers::routes())
        .fallback(|| async { ApiError::NotFound("no such page or API call".to_owned()) })
        .with_state(console)
}

/// What the console shows (the store's kind, or none; the pipelines running), Sluice's
/// version, and what this request may do.
async fn info(State(console): State<Console>, headers: HeaderMap) -> Json<serde_json::Value> {
    Json(json!({
        "store": console.jobs.as_ref().map(|jobs| jobs.store.kind()),
        "pipelines": console.live.as_ref().map_or_else(Vec::new, |live| live.names()),
        "version": env!("CARGO_PKG_VERSION"),
        "writable": console.token.is_some(),
        "authorized": authorized(console.token.as_ref(), &headers),
    }))
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The request is malformed: 400.
    BadRequest(String),
    /// It lacks the token, or carries a wrong one: 401.
    Unauthorized(String),
    /// It may not be done here (read-only console, another site): 403.
    Forbidden(String),
    /// What it names does not exist: 404.
    NotFound(String),
    /// The store failed.
    Store(StoreError),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let message = refusal.message().to_owned();
        match refusal {
            Refusal::NoToken => ApiError::Unauthorized(message),
            Refusal::ReadOnly | Refusal::CrossSite => ApiError::Forbidden(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Rejected(reason) => ApiError::BadRequest(reason),
            other => ApiError::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Store(e) => {
                let status = match e {
                    StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                tracing::warn!(error = %e, "console: the store failed");
                (status, e.to_string())
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

/// A query string or JSON body that did not parse: 400 with the parser's words.
pub(crate) fn rejected(rejection: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(rejection.to_string())
}
