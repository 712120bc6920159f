//! The `amqp` source: consumes a RabbitMQ (AMQP 0-9-1) queue with manual acknowledgements.
//!
//! Several `sluice run` processes consuming one queue share its messages. Each message is
//! settled once its event's outcome is final: acknowledged when the event was delivered,
//! filtered or dead-lettered by the pipeline; rejected without requeueing when it failed and
//! no dead-letter output took it, so that the broker routes it to the queue's dead-letter
//! exchange (`dead_letter_exchange`, `dead_letter_routing_key`); negatively acknowledged and
//! requeued when it never finished (shutdown deadline). Messages of a process that dies are
//! requeued by the broker. `prefetch` bounds the messages held unsettled at once.
//!
//! The queue is declared durable if missing, with the dead-letter settings given (an existing
//! queue must have the same ones).

use std::sync::Arc;

use futures::StreamExt;
use lapin::Acker;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use serde::Deserialize;
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::connection::{SourceConnection, reconnecting};
use crate::component::source::{from_reader, received};
use crate::component::{BuiltSource, Source, SourceContext};
use crate::tls::ClientTls;

use sluice_event::codec::{Codec, Record};
use sluice_event::{Origin, Position};

/// Consumes a RabbitMQ queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSource {
    /// The broker, `amqp://USER:PASSWORD@HOST:5672/VHOST` (`%2f` for `/`). Defaults to
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`.
    #[serde(default = "default_url")]
    pub url: String,
    /// TLS settings for an `amqps://` address: `ca_file`, and `cert_file` with `key_file` for
    /// a client certificate. Defaults to the system's certificate authorities.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// The queue.
    pub queue: String,
    /// Messages held unsettled at once. Defaults to 500.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Where the broker sends the messages this source rejects (set on the queue as
    /// `x-dead-letter-exchange`; `""` is the default exchange). Defaults to none: rejected
    /// messages are dropped by the broker.
    #[serde(default)]
    pub dead_letter_exchange: Option<String>,
    /// The routing key rejected messages get (`x-dead-letter-routing-key`). Defaults to their
    /// own.
    #[serde(default)]
    pub dead_letter_routing_key: Option<String>,
    /// How each message is decoded. Defaults to `json`.
    #[serde(default)]
    pub codec: Codec,
}

fn default_url() -> String {
    "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()
}
fn default_prefetch() -> u16 {
    500
}

impl Source for AmqpSource {
    fn reconnects(&self) -> bool {
        true
    }

    /// Starts consuming when the pipeline runs; connects, and reconnects, by itself.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        Ok(from_reader(ctx, self.codec, |tx, cancel| {
            Reader {
                health: ctx.connection(),
                config: self.clone(),
                source: Arc::from(ctx.name.as_str()),
                queue: Arc::from(self.queue.as_str()),
                cancel,
                tx,
            }
            .run()
        }))
    }
}

impl AmqpSource {
    /// The queue's arguments: its dead-letter settings.
    fn arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        if let Some(exchange) = &self.dead_letter_exchange {
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(LongString::from(exchange.as_str())),
            );
        }
        if let Some(key) = &self.dead_letter_routing_key {
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(LongString::from(key.as_str())),
            );
        }
        arguments
    }
}

struct Reader {
    health: SourceConnection,
    config: AmqpSource,
    source: Arc<str>,
    queue: Arc<str>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
}

impl Reader {
    async fn run(self) {
        reconnecting(&self.health, &self.cancel, || self.read()).await;
    }

    /// Consumes until shutdown (`Ok`) or an error.
    async fn read(&self) -> Result<(), BoxError> {
        let connection = super::connect(&self.config.url, self.config.tls.as_ref()).await?;
        let channel = connection.create_channel().await?;
        channel
            .queue_declare(
                self.config.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                self.config.arguments(),
            )
            .await?;
        channel
            .basic_qos(self.config.prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                self.config.queue.as_str().into(),
                format!("sluice-{}-{}", self.source, std::process::id())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        // Ready once consuming: the queue (and what it dead-letters to) exists from here on.
        self.health.up();
        let settle = settler();
        loop {
            let next = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                next = consumer.next() => next,
            };
            let Some(delivery) = next else {
                return Err("the broker cancelled the consumer".into());
            };
            let mut batch = vec![self.record(delivery?, &settle)];
            while batch.len() < usize::from(self.config.prefetch) {
                match futures::FutureExt::now_or_never(consumer.next()) {
                    Some(Some(Ok(delivery))) => batch.push(self.record(delivery, &settle)),
                    Some(Some(Err(err))) => return Err(err.into()),
                    _ => break,
                }
            }
            if self.tx.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }

    fn record(
        &self,
        delivery: lapin::message::Delivery,
        settle: &mpsc::UnboundedSender<(Acker, Outcome)>,
    ) -> Acked<Record> {
        let settle = settle.clone();
        let acker = delivery.acker.clone();
        let token = AckToken::new(move |outcome: Outcome| {
            let _ = settle.send((acker, outcome));
        });
        let origin = Arc::new(Origin {
            source: self.source.clone(),
            trace: received(&self.source, ("rabbitmq", &self.queue), || {
                match delivery
                    .properties
                    .headers()
                    .as_ref()?
                    .inner()
                    .get("traceparent")?
                {
                    AMQPValue::LongString(value) => Some(value.to_string()),
                    _ => None,
                }
            }),
            position: Position::Message {
                subject: self.queue.clone(),
                sequence: delivery.delivery_tag,
            },
        });
        Acked::new(
            Record {
                bytes: delivery.data.into(),
                origin,
                header: None,
                refused: None,
            },
            token,
        )
    }
}

/// A task that settles messages as their events become final (tokens complete on any thread).
/// A settlement that is lost leaves the message to the broker, which requeues it when the
/// channel closes.
fn settler() -> mpsc::UnboundedSender<(Acker, Outcome)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Acker, Outcome)>();
    tokio::spawn(async move {
        while let Some((acker, outcome)) = rx.recv().await {
            let settled = match outcome {
                Outcome::Filtered | Outcome::Delivered | Outcome::DeadLettered => {
                    acker.ack(BasicAckOptions::default()).await
                }
                Outcome::Rejected => acker.reject(BasicRejectOptions { requeue: false }).await,
                Outcome::Unfinished => {
                    acker
                        .nack(BasicNackOptions {
                            multiple: false,
                            requeue: true,
                        })
                        .await
                }
            };
            if let Err(err) = settled {
                tracing::warn!(%err, "cannot settle an AMQP message; the broker will requeue it");
            }
        }
    });
    tx
}
