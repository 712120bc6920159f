//! The `kafka` sink: produces each event to a topic, with an idempotent producer, and
//! acknowledges an event only after the broker's delivery report for it.
//!
//! A batch's messages are sent together, then their delivery reports awaited; a batch with a
//! failed delivery is retried whole under the sink's retry policy, which may produce its
//! delivered messages twice. The key is an event field (`key: order.id`); messages with the
//! same key go to the same partition, in order.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BoxError, Flow, Sink, WriteError};

use super::{BuiltSink, SinkContext, attach};
use crate::event::Event;

/// Produces events to a Kafka topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSink {
    /// Bootstrap brokers, `host:port[,host:port]`. Defaults to `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The event field whose value is the message key (`id`, `order.id`). Defaults to none.
    #[serde(default)]
    pub key: Option<String>,
    /// `none`, `gzip`, `snappy` or `lz4`. Defaults to `lz4`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// How long the producer gathers messages into a request. Defaults to `5ms`.
    #[serde(
        default = "default_linger",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub linger: Duration,
    /// Further librdkafka settings. Defaults to none.
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

struct Producer {
    producer: FutureProducer,
    topic: String,
    key: Option<Vec<String>>,
}

impl Sink<Event> for Producer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let mut reports = Vec::with_capacity(events.len());
        for event in events {
            let mut body = Vec::new();
            event.write_json(&mut body);
            let key = self.key.as_ref().map(|path| {
                let mut field = event.value();
                for part in path {
                    field = field.get(part).unwrap_or(&Value::Null);
                }
                match field {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            });
            let mut record = FutureRecord::to(&self.topic).payload(&body);
            if let Some(key) = &key {
                record = record.key(key);
            }
            let report = self
                .producer
                .send_result(record)
                .map_err(|(e, _)| WriteError::Batch(e.into()))?;
            reports.push(report);
        }
        for report in reports {
            match report.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(WriteError::Batch(err.into())),
                Err(_) => return Err(WriteError::Batch("the producer went away".into())),
            }
        }
        Ok(())
    }
}

impl KafkaSink {
    /// Attaches the sink.
    pub fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &self.compression)
            .set("linger.ms", self.linger.as_millis().to_string());
        for (key, value) in &self.options {
            config.set(key, value);
        }
        let producer: FutureProducer = config.create()?;
        let key = self.key.as_ref().map(|k| {
            k.trim_start_matches('.')
                .split('.')
                .map(str::to_owned)
                .collect()
        });
        Ok(attach(
            input,
            ctx,
            Producer {
                producer,
                topic: self.topic.clone(),
                key,
            },
        ))
    }
}
