//! The `nats` sink: publishes each event to a JetStream subject and waits for the stream's
//! acknowledgement before acknowledging the event.
//!
//! A batch's publishes are sent together, then their acknowledgements awaited. A batch with a
//! publish that failed (the server away, no acknowledgement in time, no stream yet) is retried
//! whole under the sink's retry policy, by default until it goes through, which may store the
//! other events of that batch twice. An event larger than the server's `max_payload` goes to the
//! sink's error output.

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use crate::tls::ClientTls;
use sluice_event::Event;

/// Publishes events to a JetStream subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSink {
    /// The server, `nats://HOST:PORT`. Defaults to `nats://127.0.0.1:4222`.
    #[serde(default = "default_url")]
    pub url: String,
    /// TLS, required when set: `ca_file`, and `cert_file` with `key_file` for a client
    /// certificate (`{}` for the system's certificate authorities). Defaults to what the
    /// server asks for.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// The subject; a stream must take it.
    pub subject: String,
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}

struct Publisher {
    config: NatsSink,
    js: Option<async_nats::jetstream::Context>,
}

impl sluice_core::Sink<Event> for Publisher {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let js = match &self.js {
            Some(js) => js.clone(),
            None => {
                let client = crate::nats::connect(&self.config.url, self.config.tls.as_ref())
                    .await
                    .map_err(WriteError::Batch)?;
                self.js.insert(async_nats::jetstream::new(client)).clone()
            }
        };
        let mut pending = Vec::with_capacity(events.len());
        let mut refused = Vec::new();
        for (at, event) in events.iter().enumerate() {
            let mut body = Vec::new();
            event.write_json(&mut body);
            let published = match event.traceparent() {
                Some(traceparent) => {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("traceparent", traceparent.as_str());
                    js.publish_with_headers(self.config.subject.clone(), headers, body.into())
                        .await
                }
                None => js.publish(self.config.subject.clone(), body.into()).await,
            };
            match published {
                Ok(ack) => pending.push((at, ack)),
                Err(e) if too_large(&e) => refused.push((at, e.into())),
                Err(e) => return Err(WriteError::Batch(e.into())),
            }
        }
        for (at, ack) in pending {
            match ack.await {
                Ok(_) => {}
                Err(e) if too_large(&e) => refused.push((at, e.into())),
                Err(e) => return Err(WriteError::Batch(e.into())),
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Items(refused))
        }
    }
}

/// Whether the server refused a message for its size, which no retry changes.
fn too_large(err: &PublishError) -> bool {
    err.kind() == PublishErrorKind::MaxPayloadExceeded
}

impl Sink for NatsSink {
    /// Attaches the sink; it connects on its first batch.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let publisher = Publisher {
            config: self.clone(),
            js: None,
        };
        Ok(attach(input, ctx, publisher))
    }
}
