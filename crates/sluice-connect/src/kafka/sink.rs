//! The `kafka` sink: produces each event to a topic, with an idempotent producer, and
//! acknowledges an event only after the broker's delivery report for it.
//!
//! A batch's messages are sent together, then their delivery reports awaited; a batch with a
//! failed delivery (the broker away, a timeout) is retried whole under the sink's retry policy,
//! by default until it goes through, which may produce its delivered messages twice. A message
//! the broker refuses for good (too large, malformed) goes to the sink's error output. The key is
//! computed from each event by a jq expression (`key: .order.id`); messages with the same key go
//! to the same partition, in order. An event whose key cannot be computed is refused too.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::Value;
use sluice_core::health::Connector;
use sluice_core::{BoxError, Flow, WriteError};
use sluice_jq::Program;

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use crate::tls::ClientTls;
use sluice_event::Event;

/// Produces events to a Kafka topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSink {
    /// Bootstrap brokers, `host:port[,host:port]`. Defaults to `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The message key: a jq expression (`.order.id`, `"\(.region)-\(.customer)"`); a string
    /// is the key as it is, another value its JSON text, `null` no key. Defaults to none.
    #[serde(default)]
    pub key: Option<Program>,
    /// `none`, `gzip`, `snappy` or `lz4`. Defaults to `lz4`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// How long the producer gathers messages into a request. Defaults to `5ms`.
    #[serde(
        default = "default_linger",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub linger: Duration,
    /// TLS: `ca_file`, and `cert_file` with `key_file` for a client certificate. Defaults to
    /// plain TCP.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// Further librdkafka settings, over Sluice's. Defaults to none.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_brokers() -> String {
    "127.0.0.1:9092".to_owned()
}
fn default_compression() -> String {
    "lz4".to_owned()
}
fn default_linger() -> Duration {
    Duration::from_millis(5)
}

/// A key as message bytes: a string as it is, another value as JSON, `null` none.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Tells the sink's health at once when librdkafka finds every broker away, rather than when a
/// write times out.
struct Watch(Connector);

impl ClientContext for Watch {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(sink = %self.0.name(), %error, reason, "Kafka client error");
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.0.down(&reason);
        }
    }
}

struct Producer {
    producer: FutureProducer<Watch>,
    topic: String,
    key: Option<Program>,
}

impl sluice_core::Sink<Event> for Producer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let mut reports = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (at, event) in events.iter().enumerate() {
            let key = match self.key.as_ref().map(|key| key.outputs(event)).transpose() {
                Ok(outputs) => outputs.and_then(|o| o.first().and_then(key_text)),
                Err(err) => {
                    rejected.push((at, format!("cannot compute the key: {err}").into()));
                    continue;
                }
            };
            let mut body = Vec::new();
            event.write_json(&mut body);
            let traceparent = event.traceparent();
            let mut record = FutureRecord::to(&self.topic).payload(&body);
            if let Some(key) = &key {
                record = record.key(key);
            }
            if let Some(traceparent) = &traceparent {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: "traceparent",
                    value: Some(traceparent),
                }));
            }
            match self.producer.send_result(record) {
                Ok(report) => reports.push((at, report)),
                Err((err, _)) if refused(&err) => rejected.push((at, err.into())),
                Err((err, _)) => return Err(WriteError::Batch(err.into())),
            }
        }
        for (at, report) in reports {
            match report.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) if refused(&err) => rejected.push((at, err.into())),
                Ok(Err((err, _))) => return Err(WriteError::Batch(err.into())),
                Err(_) => return Err(WriteError::Batch("the producer went away".into())),
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Items(rejected))
        }
    }
}

/// Whether the broker (or the producer, before sending) refused a message for what it is: too
/// large or malformed. Anything else (brokers away, timeouts, a topic or a grant not there yet)
/// may pass.
fn refused(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::MessageBatchTooLarge
        )
    )
}

impl Sink for KafkaSink {
    /// Attaches the sink.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let mut config = ClientConfig::new();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &self.compression)
            .set("linger.ms", self.linger.as_millis().to_string());
        super::connection_settings(&mut config, &self.brokers, self.tls.as_ref(), &self.options)?;
        let producer: FutureProducer<Watch> =
            config.create_with_context(Watch(Connector::new(&ctx.name)))?;
        Ok(attach(
            input,
            ctx,
            Producer {
                producer,
                topic: self.topic.clone(),
                key: self.key.clone(),
            },
        ))
    }
}
