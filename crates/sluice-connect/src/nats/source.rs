//! The `nats` source: reads a NATS JetStream stream through a durable pull consumer.
//!
//! Several `sluice run` processes naming the same `consumer` share the stream's messages. A
//! message is acknowledged once its event is final (delivered, filtered or dead-lettered); one
//! whose event never got there (shutdown deadline) is negatively acknowledged with
//! `retry_delay`, so JetStream delivers it again, and so is one not acknowledged within
//! `ack_wait` (a killed process). A message is processed at most `max_deliver` times; delivered
//! once more, it goes to the source's error output with the reason instead, and is
//! acknowledged once that dead letter is written.
//!
//! The stream is created, with `subjects`, if it does not exist.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::Acker;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures::StreamExt;
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

/// Reads a JetStream stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSource {
    /// The server, `nats://HOST:PORT`. Defaults to `nats://127.0.0.1:4222`.
    #[serde(default = "default_url")]
    pub url: String,
    /// TLS, required when set: `ca_file`, and `cert_file` with `key_file` for a client
    /// certificate (`{}` for the system's certificate authorities). Defaults to what the
    /// server asks for.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// The JetStream stream.
    pub stream: String,
    /// The subjects of the stream, if this source creates it. Defaults to `STREAM.>`.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// The durable consumer (created if missing); processes naming the same one share the
    /// messages.
    pub consumer: String,
    /// How long JetStream waits for an acknowledgement before delivering again. Defaults to
    /// `30s`.
    #[serde(
        default = "default_ack_wait",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub ack_wait: Duration,
    /// Times one message is processed, at most, before it is dead-lettered. Defaults to 5.
    #[serde(default = "default_max_deliver")]
    pub max_deliver: u32,
    /// How long a message that did not finish waits before it is delivered again. Defaults to
    /// `5s`.
    #[serde(
        default = "default_retry_delay",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub retry_delay: Duration,
    /// Messages asked for at once. Defaults to 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How each message is decoded. Defaults to `json`.
    #[serde(default)]
    pub codec: Codec,
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}
fn default_ack_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_max_deliver() -> u32 {
    5
}
fn default_retry_delay() -> Duration {
    Duration::from_secs(5)
}
fn default_batch_size() -> usize {
    500
}

impl Source for NatsSource {
    fn reconnects(&self) -> bool {
        true
    }

    /// Starts reading when the pipeline runs; connects, and reconnects, by itself.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        if self.max_deliver == 0 {
            return Err("`max_deliver` must be at least 1".into());
        }
        Ok(from_reader(ctx, self.codec, |tx, cancel| {
            Reader {
                health: ctx.connection(),
                config: self.clone(),
                source: Arc::from(ctx.name.as_str()),
                cancel,
                tx,
            }
            .run()
        }))
    }
}

struct Reader {
    health: SourceConnection,
    config: NatsSource,
    source: Arc<str>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
}

impl Reader {
    async fn run(self) {
        reconnecting(&self.health, &self.cancel, || self.read()).await;
    }

    /// Reads until shutdown (`Ok`) or an error.
    async fn read(&self) -> Result<(), BoxError> {
        let client = crate::nats::connect(&self.config.url, self.config.tls.as_ref()).await?;
        let js = jetstream::new(client);
        self.health.up();
        let subjects = if self.config.subjects.is_empty() {
            vec![format!("{}.>", self.config.stream)]
        } else {
            self.config.subjects.clone()
        };
        let stream = js
            .get_or_create_stream(stream::Config {
                name: self.config.stream.clone(),
                subjects,
                ..Default::default()
            })
            .await?;
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &self.config.consumer,
                pull::Config {
                    durable_name: Some(self.config.consumer.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    // One more delivery than attempts: the last one is dead-lettered.
                    max_deliver: i64::from(self.config.max_deliver) + 1,
                    ..Default::default()
                },
            )
            .await?;
        let acks = acker();
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_size)
            .messages()
            .await?;
        loop {
            let next = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let Some(message) = next else {
                return Err("the consumer's message stream ended".into());
            };
            let message = message?;
            // Take what is ready with it, so that batches go down the pipeline together.
            let mut batch = vec![self.record(message, &acks)?];
            while batch.len() < self.config.batch_size {
                match futures::FutureExt::now_or_never(messages.next()) {
                    Some(Some(Ok(message))) => batch.push(self.record(message, &acks)?),
                    Some(Some(Err(err))) => return Err(err.into()),
                    _ => break,
                }
            }
            if self.tx.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }

    /// A record for `message`, acknowledged when its event is final.
    fn record(
        &self,
        message: jetstream::Message,
        acks: &mpsc::UnboundedSender<(Acker, AckKind)>,
    ) -> Result<Acked<Record>, BoxError> {
        let (sequence, delivered) = {
            let info = message.info()?;
            (info.stream_sequence, info.delivered)
        };
        let (message, acker) = message.split();
        let retry_delay = self.config.retry_delay;
        let acks = acks.clone();
        let token = AckToken::new(move |outcome: Outcome| {
            let kind = if outcome.is_final() {
                AckKind::Ack
            } else {
                AckKind::Nak(Some(retry_delay))
            };
            let _ = acks.send((acker, kind));
        });
        let refused = (delivered > i64::from(self.config.max_deliver)).then(|| {
            Arc::from(format!(
                "delivered {} times without finishing (max_deliver {})",
                delivered - 1,
                self.config.max_deliver
            ))
        });
        let origin = Arc::new(Origin {
            source: self.source.clone(),
            trace: received(&self.source, ("nats", message.subject.as_str()), || {
                let value = message.headers.as_ref()?.get("traceparent")?;
                Some(value.as_str().to_owned())
            }),
            position: Position::Message {
                subject: Arc::from(message.subject.as_str()),
                sequence,
            },
        });
        Ok(Acked::new(
            Record {
                bytes: message.payload,
                origin,
                header: None,
                refused,
            },
            token,
        ))
    }
}

/// A task that sends acknowledgements as events become final (tokens complete on any thread,
/// outside the runtime too). One that is lost leaves its message to be delivered again.
fn acker() -> mpsc::UnboundedSender<(Acker, AckKind)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Acker, AckKind)>();
    tokio::spawn(async move {
        while let Some((acker, kind)) = rx.recv().await {
            if let Err(err) = acker.ack_with(kind).await {
                tracing::warn!(%err, "cannot acknowledge a NATS message; it will come again");
            }
        }
    });
    tx
}
