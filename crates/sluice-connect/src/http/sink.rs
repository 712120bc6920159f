//! The `http` sink: POSTs events to a URL in batches.
//!
//! A `2xx` answer delivers the batch. `408`, `429`, `5xx`, connection errors and timeouts fail the
//! whole batch, which the sink's retry policy tries again (by default until it goes through). Any
//! other `4xx` refuses the batch's events: they go to the error output with the status and the
//! start of the answer.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use sluice_event::Event;

/// How a batch is put in a request body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// JSON lines (`application/x-ndjson`). The default.
    #[default]
    Ndjson,
    /// One JSON array (`application/json`).
    Array,
}

/// POSTs events to a URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSink {
    /// The URL.
    pub url: String,
    /// How a batch becomes a body. Defaults to `ndjson`.
    #[serde(default)]
    pub format: BodyFormat,
    /// Most events in one request. Defaults to 500.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Extra request headers. Defaults to none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long a request may take. Defaults to `30s`.
    #[serde(
        default = "default_timeout",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_max_events() -> usize {
    500
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

struct Poster {
    config: HttpSink,
    client: reqwest::Client,
    body: Vec<u8>,
}

impl Poster {
    async fn post(&mut self, events: &[Event]) -> Result<(), WriteError> {
        self.body.clear();
        let content_type = match self.config.format {
            BodyFormat::Ndjson => {
                for event in events {
                    event.write_json(&mut self.body);
                    self.body.push(b'\n');
                }
                "application/x-ndjson"
            }
            BodyFormat::Array => {
                self.body.push(b'[');
                for (i, event) in events.iter().enumerate() {
                    if i > 0 {
                        self.body.push(b',');
                    }
                    event.write_json(&mut self.body);
                }
                self.body.push(b']');
                "application/json"
            }
        };
        let mut request = self
            .client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(self.body.clone());
        for (k, v) in &self.config.headers {
            request = request.header(k, v);
        }
        // A request carries many events; it continues the trace of the first that has one.
        if let Some(traceparent) = events.iter().find_map(Event::traceparent) {
            request = request.header("traceparent", traceparent);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_builder() => return Err(WriteError::refused(events.len(), e)),
            Err(e) => return Err(WriteError::Batch(e.into())),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let reason = format!(
            "{} answered {status}: {}",
            self.config.url,
            text.chars().take(200).collect::<String>()
        );
        if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            Err(WriteError::Batch(reason.into()))
        } else {
            Err(WriteError::refused(events.len(), reason))
        }
    }
}

impl sluice_core::Sink<Event> for Poster {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let mut rejected = Vec::new();
        let size = self.config.max_events.max(1);
        for (n, chunk) in events.chunks(size).enumerate() {
            match self.post(chunk).await {
                Ok(()) => {}
                Err(WriteError::Items(items)) => {
                    rejected.extend(items.into_iter().map(|(i, e)| (n * size + i, e)));
                }
                Err(batch) => return Err(batch),
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Items(rejected))
        }
    }
}

impl Sink for HttpSink {
    /// Attaches the sink.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let poster = Poster {
            config: self.clone(),
            client: super::client(self.timeout)?,
            body: Vec::new(),
        };
        Ok(attach(input, ctx, poster))
    }
}
