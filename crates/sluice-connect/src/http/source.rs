//! The `http` source: an HTTP endpoint that accepts events in POST bodies (webhooks).
//!
//! A body may hold one JSON value, a JSON array of values, or JSON lines (with `codec: lines`,
//! each line is a message). Answers are JSON. A body in which nothing decodes (or that is empty)
//! gets `400` with the reason, and nothing of it is kept; otherwise the records that do not
//! decode go to the error output and the answer counts both: `{"accepted": 9,
//! "dead_lettered": 1}`. With acknowledgements on (the default) the answer waits until the
//! request's events are final: `200` when they were delivered, filtered or dead-lettered, `422`
//! when some failed with no dead-letter output, `503` when they could not be finished (shutdown,
//! or the acknowledgement timeout), so the sender should retry. With them off the answer is
//! `202` as soon as the events are queued. Bodies over the size limit get `413`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;
use serde_json::value::RawValue;
use sluice_core::trace::{self, KeyValue, SpanContext, SpanKind};
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use tokio::sync::{mpsc, oneshot};

use super::auth::{Auth, Guard};
use super::listener::{self, Limits};
use crate::component::source::decoded;
use crate::component::{BuiltSource, OptionError, Source, SourceContext, SourceError};
use crate::tls::ServerTls;
use sluice_event::codec::{Codec, Record};
use sluice_event::{Origin, Position};

/// Accepts events over HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSource {
    /// Address to listen on. Defaults to `127.0.0.1:8080`.
    #[serde(default = "default_address")]
    pub address: String,
    /// The path that accepts POST requests. Defaults to `/`.
    #[serde(default = "default_path")]
    pub path: String,
    /// How bodies are decoded. Defaults to `json`.
    #[serde(default)]
    pub codec: Codec,
    /// The largest body accepted. Defaults to `10MiB`.
    #[serde(
        default = "default_max_body",
        deserialize_with = "sluice_event::bytesize::deserialize"
    )]
    pub max_body_size: usize,
    /// Answer only once the events are final (see the module docs). Defaults to true.
    #[serde(default = "default_true")]
    pub acknowledgements: bool,
    /// How long a request waits for its events to be final. Defaults to `30s`.
    #[serde(
        default = "default_ack_timeout",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub ack_timeout: Duration,
    /// How long a client may take to send a request's headers. Defaults to `10s`.
    #[serde(
        default = "default_header_timeout",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body. Defaults to `30s`.
    #[serde(
        default = "default_body_timeout",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub body_timeout: Duration,
    /// Who may send: `{type: bearer, token}` or `{type: basic, username, password}` (each
    /// secret inline or in a `*_file`). Defaults to anyone who can reach the address.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// HTTPS: `{cert_file, key_file}`, and `client_ca_file` to ask every sender for a
    /// certificate. Defaults to plain HTTP.
    #[serde(default)]
    pub tls: Option<ServerTls>,
}

fn default_address() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_path() -> String {
    "/".to_owned()
}
fn default_max_body() -> usize {
    10 * 1024 * 1024
}
fn default_true() -> bool {
    true
}
fn default_ack_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_header_timeout() -> Duration {
    Limits::default().header_timeout
}
fn default_body_timeout() -> Duration {
    Limits::default().body_timeout
}

struct Shared {
    tx: mpsc::Sender<Vec<Acked<Record>>>,
    source: Arc<str>,
    codec: Codec,
    acknowledgements: bool,
    ack_timeout: Duration,
    requests: std::sync::atomic::AtomicU64,
}

impl Source for HttpSource {
    fn check(&self) -> Vec<OptionError> {
        let auth = self.auth.as_ref().and_then(|auth| auth.header().err());
        let tls = self.tls.as_ref().and_then(|tls| tls.acceptor().err());
        [("auth", auth), ("tls", tls)]
            .into_iter()
            .filter_map(|(option, error)| Some(OptionError::new(option, error?)))
            .collect()
    }

    /// Binds the address now (so a busy port fails the build) and serves while the pipeline
    /// runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        let bind_error = |reason: String| SourceError::Bind {
            address: self.address.clone(),
            reason,
        };
        let addr: SocketAddr = self
            .address
            .parse()
            .map_err(|e: std::net::AddrParseError| bind_error(e.to_string()))?;
        let listener = std::net::TcpListener::bind(addr).map_err(|e| bind_error(e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| bind_error(e.to_string()))?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| bind_error(e.to_string()))?;
        let (tx, rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            tx,
            source: Arc::from(ctx.name.as_str()),
            codec: self.codec,
            acknowledgements: self.acknowledgements,
            ack_timeout: self.ack_timeout,
            requests: std::sync::atomic::AtomicU64::new(0),
        });
        let app = Router::new()
            .route(&self.path, post(accept))
            .with_state(shared);
        let guard = self.auth.as_ref().map(Guard::new).transpose()?;
        let tls = self.tls.as_ref().map(ServerTls::acceptor).transpose()?;
        let limits = Limits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_body_size: self.max_body_size,
        };
        tokio::spawn(listener::serve(
            listener,
            app,
            limits,
            guard,
            tls,
            ctx.pipeline.cancel_token().cancelled_owned(),
        ));
        let (events, errors) = decoded(ctx, rx, self.codec, None);
        Ok(BuiltSource {
            events,
            errors,
            progress: None,
        })
    }
}

/// Splits a body into records: a JSON array into its elements, otherwise one JSON value, or
/// one record per line.
fn split(body: &Bytes, codec: Codec) -> Vec<Bytes> {
    let trimmed = body.trim_ascii();
    if codec == Codec::Json {
        if trimmed.first() == Some(&b'[')
            && let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(trimmed)
        {
            return items
                .into_iter()
                .map(|item| body.slice_ref(item.get().as_bytes()))
                .collect();
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() {
            return vec![body.slice_ref(trimmed)];
        }
    }
    trimmed
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .map(|line| body.slice_ref(line))
        .collect()
}

/// A request's body, decoded: its records, and how many decoded.
#[derive(Debug)]
pub struct DecodedBody {
    /// Every record, in order; those that did not decode carry the reason (`refused`).
    pub records: Vec<Record>,
    /// How many decoded.
    pub accepted: usize,
    /// How many did not.
    pub refused: usize,
    /// Why the first refused record was refused.
    pub reason: Option<Arc<str>>,
}

/// Decodes the body of the `request`-th request to `source`: splits it into records (a JSON
/// array into its elements, else one JSON value, else one record per line) and decodes each,
/// so that the sender hears what was refused; a refused record carries its reason to the
/// error output rather than being decoded again. Every record carries the request's trace
/// context, `trace`.
pub fn decode_body(
    body: &Bytes,
    codec: Codec,
    source: &Arc<str>,
    request: u64,
    trace: Option<&SpanContext>,
) -> DecodedBody {
    let parts = split(body, codec);
    let mut refused = 0;
    let mut reason = None;
    let mut records = Vec::with_capacity(parts.len());
    for (i, bytes) in parts.into_iter().enumerate() {
        let origin = Arc::new(Origin {
            source: Arc::clone(source),
            position: Position::Sequence(
                request.saturating_mul(1_000_000).saturating_add(i as u64),
            ),
            trace: trace.cloned().map(Box::new),
        });
        let mut record = Record {
            bytes,
            origin,
            header: None,
            refused: None,
        };
        if let Err(err) = codec.decode(&record) {
            refused += 1;
            let err: Arc<str> = Arc::from(err.to_string());
            reason.get_or_insert_with(|| Arc::clone(&err));
            record.refused = Some(err);
        }
        records.push(record);
    }
    DecodedBody {
        accepted: records.len() - refused,
        records,
        refused,
        reason,
    }
}

/// An answer: a status and a JSON body.
type Answer = (StatusCode, String);

fn answer(status: StatusCode, body: &serde_json::Value) -> Answer {
    (status, format!("{body}\n"))
}

async fn accept(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Answer {
    let request = shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let trace = trace::receive(
        &shared.source,
        SpanKind::Server,
        || {
            let value = headers.get("traceparent")?.to_str().ok()?;
            Some(value.to_owned())
        },
        || {
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.request.body.size", body.len() as i64),
            ]
        },
    );
    let (done, outcome) = oneshot::channel();
    let token = if shared.acknowledgements {
        AckToken::new(move |o| {
            let _ = done.send(o);
        })
    } else {
        AckToken::none()
    };
    let DecodedBody {
        records,
        accepted,
        refused,
        reason,
    } = decode_body(
        &body,
        shared.codec,
        &shared.source,
        request,
        trace.as_deref(),
    );
    if accepted == 0 {
        // Nothing in the body is an event: the sender's mistake, and nothing is kept.
        let error = reason.map_or_else(|| "the body holds no events".to_owned(), |r| r.to_string());
        return answer(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": error }),
        );
    }
    let batch = records
        .into_iter()
        .map(|record| Acked::new(record, token.clone()))
        .collect();
    token.complete(Outcome::Filtered);
    if shared.tx.send(batch).await.is_err() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "error": "shutting down; retry" }),
        );
    }
    let counts = serde_json::json!({ "accepted": accepted, "dead_lettered": refused });
    if !shared.acknowledgements {
        return answer(StatusCode::ACCEPTED, &counts);
    }
    match tokio::time::timeout(shared.ack_timeout, outcome).await {
        Ok(Ok(Outcome::Delivered | Outcome::Filtered | Outcome::DeadLettered)) => {
            answer(StatusCode::OK, &counts)
        }
        Ok(Ok(Outcome::Rejected)) => answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            &serde_json::json!({
                "error": "some events failed and no dead-letter output keeps them"
            }),
        ),
        Ok(_) | Err(_) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "error": "the events could not be finished; retry" }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(body: &str, codec: Codec) -> Vec<String> {
        split(&Bytes::copy_from_slice(body.as_bytes()), codec)
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn splits_arrays_values_and_lines() {
        assert_eq!(
            parts(r#"[{"a":1}, 2]"#, Codec::Json),
            vec![r#"{"a":1}"#, "2"]
        );
        assert_eq!(
            parts("{\n \"a\": 1\n}\n", Codec::Json),
            vec!["{\n \"a\": 1\n}"]
        );
        assert_eq!(
            parts("{\"a\":1}\n{\"a\":2}\n", Codec::Json),
            vec![r#"{"a":1}"#, r#"{"a":2}"#]
        );
        assert_eq!(parts("one\ntwo", Codec::Lines), vec!["one", "two"]);
    }
}
