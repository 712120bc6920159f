//! What the console's API tests share: a request through the router, answered.

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sluice_console::{Console, router};
use tower::ServiceExt;

/// Sends `request` to `console`'s router; the status and the whole body.
pub(crate) async fn answer(console: Console, request: Request<Body>) -> (StatusCode, Bytes) {
    let response = router(console).oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes)
}
