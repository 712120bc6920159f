//! OTLP: spans written as an `ExportTraceServiceRequest` and sent to a collector over
//! HTTP/protobuf or gRPC.
//!
//! The request is written straight from the spans into one buffer, field by field, with the
//! resource and the instrumentation scope written once: a span costs no allocation and no
//! intermediate message (building the generated messages first, as the SDK's exporter does,
//! cost about three times more per span: decision 0016).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use bytes::{Buf, BufMut};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, Key, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use sluice_config::spec::OtlpProtocol;

/// The gRPC method spans are exported by.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where spans go, and how.
pub(super) struct Exporter {
    transport: Transport,
    /// The `Resource` message, written once.
    resource: Vec<u8>,
    schema_url: String,
}

enum Transport {
    Http {
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
    },
    Grpc {
        client: tonic::client::Grpc<tonic::transport::Channel>,
        headers: tonic::metadata::MetadataMap,
    },
}

impl Exporter {
    /// An exporter to `endpoint` over `protocol`, sending `headers` with every request and
    /// giving up on one after `timeout`. Must be called within a Tokio runtime.
    pub(super) fn new(
        protocol: OtlpProtocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
        resource: &Resource,
    ) -> anyhow::Result<Exporter> {
        let transport = match protocol {
            OtlpProtocol::HttpProtobuf => {
                sluice_connect::tls::install_provider();
                let mut map = reqwest::header::HeaderMap::new();
                for (name, value) in headers {
                    map.insert(
                        reqwest::header::HeaderName::try_from(name.as_str())
                            .with_context(|| format!("`{name}` cannot be a header name"))?,
                        reqwest::header::HeaderValue::try_from(value.as_str())
                            .with_context(|| format!("the header {name} has a bad value"))?,
                    );
                }
                map.insert(
                    reqwest::header::CONTENT_TYPE,
                    reqwest::header::HeaderValue::from_static("application/x-protobuf"),
                );
                Transport::Http {
                    client: reqwest::Client::builder().timeout(timeout).build()?,
                    url: endpoint.to_owned(),
                    headers: map,
                }
            }
            OtlpProtocol::Grpc => {
                if endpoint.starts_with("https://") {
                    bail!(
                        "traces over gRPC go to http:// addresses only; for `{endpoint}` set the protocol to http/protobuf"
                    );
                }
                let mut map = tonic::metadata::MetadataMap::new();
                for (name, value) in headers {
                    map.insert(
                        tonic::metadata::MetadataKey::from_bytes(
                            name.to_ascii_lowercase().as_bytes(),
                        )
                        .with_context(|| format!("`{name}` cannot be a header name"))?,
                        value
                            .parse()
                            .with_context(|| format!("the header {name} has a bad value"))?,
                    );
                }
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
                    .with_context(|| format!("`{endpoint}` is not an address"))?
                    .timeout(timeout)
                    .connect_lazy();
                Transport::Grpc {
                    client: tonic::client::Grpc::new(channel),
                    headers: map,
                }
            }
        };
        let mut written = Vec::new();
        for (key, value) in resource {
            message(&mut written, 1, |buf| key_value(buf, key, value));
        }
        Ok(Exporter {
            transport,
            resource: written,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        })
    }

    /// Sends `spans`: the reason when the collector did not take them.
    pub(super) async fn export(&mut self, spans: &[SpanData]) -> Result<(), String> {
        let body = self.request(spans);
        match &mut self.transport {
            Transport::Http {
                client,
                url,
                headers,
            } => {
                let response = client
                    .post(url.as_str())
                    .headers(headers.clone())
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| error.to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the collector answered {}", response.status()))
                }
            }
            Transport::Grpc { client, headers } => {
                client
                    .ready()
                    .await
                    .map_err(|error| format!("cannot connect: {error}"))?;
                let mut request = tonic::Request::new(body);
                *request.metadata_mut() = headers.clone();
                client
                    .unary(
                        request,
                        tonic::codegen::http::uri::PathAndQuery::from_static(GRPC_EXPORT),
                        Raw,
                    )
                    .await
                    .map(|_| ())
                    .map_err(|status| format!("{}: {}", status.code(), status.message()))
            }
        }
    }

    /// The `ExportTraceServiceRequest` carrying `spans`.
    fn request(&self, spans: &[SpanData]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(128 + spans.len() * 160);
        message(&mut buf, 1, |buf| {
            message(buf, 1, |buf| buf.extend_from_slice(&self.resource));
            for group in spans.chunk_by(|a, b| a.instrumentation_scope == b.instrumentation_scope) {
                message(buf, 2, |buf| scope_spans(buf, group));
            }
            string(buf, 3, &self.schema_url);
        });
        buf
    }
}

/// A `ScopeSpans`: spans of one instrumentation scope.
fn scope_spans(buf: &mut Vec<u8>, spans: &[SpanData]) {
    let Some(scope) = spans.first().map(|s| &s.instrumentation_scope) else {
        return;
    };
    message(buf, 1, |buf| instrumentation_scope(buf, scope));
    for span in spans {
        message(buf, 2, |buf| self::span(buf, span));
    }
    string(buf, 3, scope.schema_url().unwrap_or_default());
}

fn instrumentation_scope(buf: &mut Vec<u8>, scope: &InstrumentationScope) {
    string(buf, 1, scope.name());
    string(buf, 2, scope.version().unwrap_or_default());
    attributes(buf, 3, scope.attributes());
}

/// A `Span`, as the OpenTelemetry SDK's own conversion writes it.
fn span(buf: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes(buf, 1, &context.trace_id().to_bytes());
    bytes(buf, 2, &context.span_id().to_bytes());
    string(buf, 3, &context.trace_state().header());
    if span.parent_span_id != SpanId::INVALID {
        bytes(buf, 4, &span.parent_span_id.to_bytes());
    }
    string(buf, 5, &span.name);
    varint(buf, 6, kind(&span.span_kind));
    fixed64(buf, 7, nanos(span.start_time));
    fixed64(buf, 8, nanos(span.end_time));
    attributes(buf, 9, &span.attributes);
    varint(buf, 10, span.dropped_attributes_count.into());
    for event in span.events.iter() {
        message(buf, 11, |buf| {
            fixed64(buf, 1, nanos(event.timestamp));
            string(buf, 2, &event.name);
            attributes(buf, 3, &event.attributes);
            varint(buf, 4, event.dropped_attributes_count.into());
        });
    }
    varint(buf, 12, span.events.dropped_count.into());
    for link in span.links.iter() {
        message(buf, 13, |buf| {
            let linked = &link.span_context;
            bytes(buf, 1, &linked.trace_id().to_bytes());
            bytes(buf, 2, &linked.span_id().to_bytes());
            string(buf, 3, &linked.trace_state().header());
            attributes(buf, 4, &link.attributes);
            varint(buf, 5, link.dropped_attributes_count.into());
            fixed32(buf, 6, flags(linked, linked.is_remote()));
        });
    }
    varint(buf, 14, span.links.dropped_count.into());
    message(buf, 15, |buf| {
        let (code, description) = match &span.status {
            Status::Unset => (0, ""),
            Status::Ok => (1, ""),
            Status::Error { description } => (2, description.as_ref()),
        };
        string(buf, 2, description);
        varint(buf, 3, code);
    });
    fixed32(buf, 16, flags(context, span.parent_span_is_remote));
}

/// The `flags` of a span or link: its trace flags, with whether its parent (or the linked
/// span) is remote.
fn flags(context: &SpanContext, remote: bool) -> u32 {
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    u32::from(context.trace_flags().to_u8()) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Each of `attributes` as a `KeyValue` in `field`.
fn attributes<'a>(
    buf: &mut Vec<u8>,
    field: u32,
    attributes: impl IntoIterator<Item = &'a KeyValue>,
) {
    for attribute in attributes {
        message(buf, field, |buf| {
            key_value(buf, &attribute.key, &attribute.value);
        });
    }
}

fn key_value(buf: &mut Vec<u8>, key: &Key, value: &Value) {
    string(buf, 1, key.as_str());
    message(buf, 2, |buf| any_value(buf, value));
}

/// An `AnyValue`: a field of its `oneof` is written even when it holds a default.
fn any_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(b) => {
            encode_key(2, WireType::Varint, buf);
            encode_varint(u64::from(*b), buf);
        }
        Value::I64(i) => {
            encode_key(3, WireType::Varint, buf);
            encode_varint(*i as u64, buf);
        }
        Value::F64(f) => {
            encode_key(4, WireType::SixtyFourBit, buf);
            buf.put_f64_le(*f);
        }
        Value::String(s) => {
            encode_key(1, WireType::LengthDelimited, buf);
            encode_varint(s.as_str().len() as u64, buf);
            buf.extend_from_slice(s.as_str().as_bytes());
        }
        Value::Array(array) => message(buf, 5, |buf| {
            let mut each = |value: Value| message(buf, 1, |buf| any_value(buf, &value));
            match array {
                Array::Bool(v) => v.iter().for_each(|x| each(Value::Bool(*x))),
                Array::I64(v) => v.iter().for_each(|x| each(Value::I64(*x))),
                Array::F64(v) => v.iter().for_each(|x| each(Value::F64(*x))),
                Array::String(v) => v.iter().for_each(|x| each(Value::String(x.clone()))),
                other => each(Value::String(other.to_string().into())),
            }
        }),
        other => any_value(buf, &Value::String(other.to_string().into())),
    }
}

/// A length-delimited field written by `body`: its length is known once written, and put
/// before it.
fn message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(field, WireType::LengthDelimited, buf);
    let start = buf.len();
    body(buf);
    let len = (buf.len() - start) as u64;
    let mut prefix = [0u8; 10];
    let mut slot = &mut prefix[..];
    encode_varint(len, &mut slot);
    buf.splice(
        start..start,
        prefix[..encoded_len_varint(len)].iter().copied(),
    );
}

fn bytes(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        encode_key(field, WireType::LengthDelimited, buf);
        encode_varint(value.len() as u64, buf);
        buf.extend_from_slice(value);
    }
}

fn string(buf: &mut Vec<u8>, field: u32, value: &str) {
    bytes(buf, field, value.as_bytes());
}

fn varint(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        encode_key(field, WireType::Varint, buf);
        encode_varint(value, buf);
    }
}

fn fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        encode_key(field, WireType::SixtyFourBit, buf);
        buf.put_u64_le(value);
    }
}

fn fixed32(buf: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        encode_key(field, WireType::ThirtyTwoBit, buf);
        buf.put_u32_le(value);
    }
}

/// The gRPC codec of an export: the request goes as written, the answer is read past (a
/// collector's partial success is not acted on).
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = ();
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// The headers `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or `OTEL_EXPORTER_OTLP_HEADERS` name:
/// `key=value` pairs separated by commas, values percent-encoded.
pub(super) fn headers(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let Some((key, value)) = pair.split_once('=') else {
                bail!(
                    "the OTLP header `{}` has no value; write KEY=VALUE",
                    pair.trim()
                );
            };
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .with_context(|| format!("the OTLP header {} is not UTF-8", key.trim()))?;
            Ok((key.trim().to_owned(), value.into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{Link, SpanContext, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;

    use super::*;

    fn context(trace: u128, span: u64, remote: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            remote,
            TraceState::from_key_value([("vendor", "x")]).expect("valid"),
        )
    }

    fn spans() -> Vec<SpanData> {
        let scope = InstrumentationScope::builder("sluice")
            .with_version("1.0")
            .build();
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let mut events = SpanEvents::default();
        events.events.push(opentelemetry::trace::Event::new(
            "retry",
            start,
            vec![KeyValue::new("attempt", 0i64)],
            0,
        ));
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(7, 8, true),
            vec![KeyValue::new("n", 1.5)],
            2,
        ));
        let first = SpanData {
            span_context: context(1, 2, false),
            parent_span_id: SpanId::from(3),
            parent_span_is_remote: true,
            span_kind: SpanKind::Consumer,
            name: Cow::Borrowed("decode"),
            start_time: start,
            end_time: start + Duration::from_micros(5),
            attributes: vec![
                KeyValue::new("sluice.stage", "decode"),
                KeyValue::new("sluice.batch.size", 0i64),
                KeyValue::new("ok", false),
                KeyValue::new(
                    "list",
                    Value::Array(Array::String(vec!["a".into(), "".into()])),
                ),
            ],
            dropped_attributes_count: 1,
            events,
            links,
            status: Status::error("bad input"),
            instrumentation_scope: scope.clone(),
        };
        let second = SpanData {
            span_context: context(4, 5, false),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned("file".to_owned()),
            start_time: start,
            end_time: start,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope,
        };
        let other_scope = SpanData {
            instrumentation_scope: InstrumentationScope::builder("other").build(),
            status: Status::Ok,
            ..second.clone()
        };
        vec![first, second, other_scope]
    }

    #[tokio::test]
    async fn a_request_reads_back_as_the_sdk_writes_it() {
        let resource = Resource::builder_empty()
            .with_service_name("orders")
            .with_attribute(KeyValue::new("service.version", "1.2"))
            .build();
        let exporter = Exporter::new(
            OtlpProtocol::HttpProtobuf,
            "http://127.0.0.1:1/v1/traces",
            &[],
            Duration::from_secs(1),
            &resource,
        )
        .expect("built");
        let written = exporter.request(&spans());
        let read = ExportTraceServiceRequest::decode(written.as_slice()).expect("decodes");
        let expected = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans(),
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        assert_eq!(read, expected);
    }

    #[test]
    fn headers_are_pairs_with_decoded_values() {
        assert_eq!(
            headers("api-key=abc%3D%3D, x-team = data ,").expect("valid"),
            vec![
                ("api-key".to_owned(), "abc==".to_owned()),
                ("x-team".to_owned(), "data".to_owned())
            ]
        );
        let err = headers("api-key").expect_err("refused");
        assert!(err.to_string().contains("write KEY=VALUE"), "{err}");
    }
}
