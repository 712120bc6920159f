//! An OTLP receiver for the tests: takes spans over gRPC or HTTP/protobuf on a port of its own,
//! as a collector would, and keeps them for the test to read.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;

/// The OTLP span kinds the tests look for: internal work.
pub const INTERNAL: i32 = 1;
/// A server span.
pub const SERVER: i32 = 2;
/// A client span.
pub const CLIENT: i32 = 3;
/// A producer span.
pub const PRODUCER: i32 = 4;
/// A consumer span.
pub const CONSUMER: i32 = 5;
/// A status of `Ok`.
pub const STATUS_OK: i32 = 1;
/// A status of `Error`.
pub const STATUS_ERROR: i32 = 2;

/// One span as received, its ids in hex.
#[derive(Debug, Clone)]
pub struct Span {
    pub name: String,
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
    /// `(trace id, span id)` of each link.
    pub links: Vec<(String, String)>,
    pub status_code: i32,
    pub status_message: String,
    /// The resource's attributes (`service.name`, …).
    pub resource: BTreeMap<String, String>,
}

impl Span {
    /// An attribute's value, as text; empty when missing.
    pub fn attr(&self, name: &str) -> &str {
        self.attributes.get(name).map_or("", String::as_str)
    }

    /// The span's `traceparent` (sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

type Spans = Arc<Mutex<Vec<Span>>>;
/// The `x-api-key` header of each export request, as received.
type Keys = Arc<Mutex<Vec<String>>>;

/// A receiver listening on 127.0.0.1; stops when dropped.
pub struct Receiver {
    port: u16,
    spans: Spans,
    keys: Keys,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// A receiver taking OTLP over gRPC.
    pub fn grpc() -> Receiver {
        Receiver::start(|listener, spans, keys| {
            Box::pin(async move {
                let _ = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(Collector(spans, keys)))
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                    .await;
            })
        })
    }

    /// A receiver taking OTLP over HTTP (protobuf bodies posted to `/v1/traces`).
    pub fn http() -> Receiver {
        Receiver::start(|listener, spans, keys| {
            Box::pin(async move {
                let app = axum::Router::new().route(
                    "/v1/traces",
                    axum::routing::post(
                        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                            seen_key(
                                &keys,
                                headers
                                    .get("x-api-key")
                                    .map(axum::http::HeaderValue::as_bytes),
                            );
                            match ExportTraceServiceRequest::decode(body) {
                                Ok(request) => {
                                    keep(&spans, request);
                                    (
                                        axum::http::StatusCode::OK,
                                        [("content-type", "application/x-protobuf")],
                                        ExportTraceServiceResponse::default().encode_to_vec(),
                                    )
                                }
                                Err(_) => (
                                    axum::http::StatusCode::BAD_REQUEST,
                                    [("content-type", "text/plain")],
                                    b"not an ExportTraceServiceRequest".to_vec(),
                                ),
                            }
                        },
                    ),
                );
                let _ = axum::serve(listener, app).await;
            })
        })
    }

    fn start(
        serve: impl FnOnce(
            tokio::net::TcpListener,
            Spans,
            Keys,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the receiver");
        let spans = Spans::default();
        let keys = Keys::default();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port for the receiver");
        let port = listener.local_addr().expect("bound").port();
        runtime.spawn(serve(listener, spans.clone(), keys.clone()));
        Receiver {
            port,
            spans,
            keys,
            runtime: Some(runtime),
        }
    }

    /// The address to give `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The `x-api-key` header of each export request received (empty where it had none).
    pub fn api_keys(&self) -> Vec<String> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds of the spans received (at most `limit`), and returns them.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        crate::common::wait_until(
            limit,
            || done(&self.spans()),
            || format!("{:#?}", self.spans()),
        );
        self.spans()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Collector(Spans, Keys);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        seen_key(
            &self.1,
            request
                .metadata()
                .get("x-api-key")
                .map(tonic::metadata::MetadataValue::as_bytes),
        );
        keep(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn seen_key(keys: &Keys, key: Option<&[u8]>) {
    keys.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(String::from_utf8_lossy(key.unwrap_or_default()).into_owned());
}

fn keep(spans: &Spans, request: ExportTraceServiceRequest) {
    let mut kept = spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for resource_spans in request.resource_spans {
        let resource = attributes(
            &resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                let status = span.status.unwrap_or_default();
                kept.push(Span {
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    status_code: status.code,
                    status_message: status.message,
                    resource: resource.clone(),
                });
            }
        }
    }
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|kv| (kv.key.clone(), value(kv.value.as_ref())))
        .collect()
}

fn value(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
