//! The `amqp` sink: publishes each event to a RabbitMQ exchange as a persistent message, with
//! publisher confirms: an event is acknowledged once the broker has confirmed it.
//!
//! A batch's messages are published together, then their confirms awaited. A message no queue
//! takes comes back (it is published as mandatory) and fails its batch. A batch the broker did
//! not confirm in full is retried whole under the sink's retry policy, which may publish
//! the confirmed messages of that batch twice.

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use crate::tls::ClientTls;
use sluice_event::Event;

/// Publishes events to a RabbitMQ exchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSink {
    /// The broker, `amqp://USER:PASSWORD@HOST:5672/VHOST`. Defaults to
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`.
    #[serde(default = "default_url")]
    pub url: String,
    /// TLS settings for an `amqps://` address: `ca_file`, and `cert_file` with `key_file` for
    /// a client certificate. Defaults to the system's certificate authorities.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// The exchange. Defaults to `""`, the default exchange (which routes to the queue named by
    /// the routing key).
    #[serde(default)]
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
}

fn default_url() -> String {
    "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()
}

struct Publisher {
    config: AmqpSink,
    /// The connection and its confirming channel, once open.
    open: Option<(Connection, Channel)>,
}

impl Publisher {
    async fn channel(&mut self) -> Result<&Channel, BoxError> {
        if self
            .open
            .as_ref()
            .is_some_and(|(_, channel)| !channel.status().connected())
        {
            self.open = None;
        }
        if self.open.is_none() {
            let connection = super::connect(&self.config.url, self.config.tls.as_ref()).await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            self.open = Some((connection, channel));
        }
        match &self.open {
            Some((_, channel)) => Ok(channel),
            None => Err("no AMQP channel".into()),
        }
    }
}

impl sluice_core::Sink<Event> for Publisher {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let exchange = self.config.exchange.clone();
        let routing_key = self.config.routing_key.clone();
        let channel = self.channel().await.map_err(WriteError::Batch)?;
        let mut confirms = Vec::with_capacity(events.len());
        let mut body = Vec::new();
        for event in events {
            body.clear();
            event.write_json(&mut body);
            let mut properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into());
            if let Some(traceparent) = event.traceparent() {
                let mut headers = FieldTable::default();
                headers.insert(
                    "traceparent".into(),
                    AMQPValue::LongString(traceparent.into()),
                );
                properties = properties.with_headers(headers);
            }
            let confirm = channel
                .basic_publish(
                    exchange.as_str().into(),
                    routing_key.as_str().into(),
                    // Unroutable messages come back rather than vanish.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    properties,
                )
                .await
                .map_err(|e| WriteError::Batch(e.into()))?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            match confirm.await.map_err(|e| WriteError::Batch(e.into()))? {
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(_)) => {
                    return Err(WriteError::Batch(
                        format!(
                            "no queue takes routing key `{routing_key}` on exchange `{exchange}`; \
                             the message came back"
                        )
                        .into(),
                    ));
                }
                Confirmation::Nack(_) => {
                    return Err(WriteError::Batch(
                        "the broker refused a message (nack)".into(),
                    ));
                }
                Confirmation::NotRequested => {
                    return Err(WriteError::Batch(
                        "the channel does not confirm publishes".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Sink for AmqpSink {
    /// Attaches the sink; it connects on its first batch, and again after losing the
    /// connection.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let publisher = Publisher {
            config: self.clone(),
            open: None,
        };
        Ok(attach(input, ctx, publisher))
    }
}
