//! The `http` handler: POSTs the job's arguments (JSON) to a URL; a `2xx` answer is success, and
//! its body, when it is one JSON value, the job's result. The
//! request carries the job in `x-sluice-job-id`, `x-sluice-job-kind` and `x-sluice-job-attempt`,
//! and, with tracing on, the attempt's span in `traceparent`.
//! A `429` or `503` answer with `Retry-After` retries the job after that delay; any other
//! answer fails the attempt with the status and the tail of the body.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{succeeded, tail};
use crate::worker::{Action, Handler, HandlerError, JobContext};

/// POSTs each job to a URL. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct HttpHandler {
    inner: Arc<Request>,
}

#[derive(Debug)]
struct Request {
    client: reqwest::Client,
    url: String,
    headers: BTreeMap<String, String>,
}

impl HttpHandler {
    /// POSTs to `url` with `headers` added, waiting at most `timeout` for each answer.
    pub fn new(
        url: String,
        headers: BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<HttpHandler, HandlerError> {
        // Either this call installs the process-wide TLS provider or an earlier one did.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(HttpHandler {
            inner: Arc::new(Request {
                client,
                url,
                headers,
            }),
        })
    }
}

impl Handler for HttpHandler {
    fn run(&self, job: JobContext) -> BoxFuture<'static, Result<Action, HandlerError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.post(&job).await })
    }
}

impl Request {
    async fn post(&self, job: &JobContext) -> Result<Action, HandlerError> {
        let meta = job.job();
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-sluice-job-id", meta.id.to_string())
            .header("x-sluice-job-kind", &meta.kind)
            .header("x-sluice-job-attempt", meta.attempt.to_string())
            .body(serde_json::to_vec(job.args())?);
        if let Some(traceparent) = job.traceparent() {
            request = request.header("traceparent", traceparent);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(succeeded(&response.bytes().await?));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if let (Some(delay), 429 | 503) = (retry_after, status.as_u16()) {
            return Ok(Action::RetryAfter(delay));
        }
        let body = response.text().await.unwrap_or_default();
        Err(format!("{} answered {status}: {}", self.url, tail(body.trim())).into())
    }
}
