//! The `redis_stream` sink: appends each event to a Redis stream (`XADD`), a batch per round
//! trip.
//!
//! An event is acknowledged once Redis has answered for its batch (how durable that is depends
//! on the server's `appendonly` and `appendfsync`). With `max_len`, the stream is trimmed to
//! about that many entries as it grows (`MAXLEN ~`). A failed batch is retried under the sink's
//! retry policy; a batch that failed after Redis took part of it may then add those entries
//! twice.

use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use crate::tls::ClientTls;
use sluice_event::Event;

/// Appends events to a Redis stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamSink {
    /// The server, `redis://HOST:PORT[/DB]` (`rediss://` for TLS). Defaults to
    /// `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// TLS settings for a `rediss://` address: `ca_file`, and `cert_file` with `key_file` for a
    /// client certificate. Defaults to the system's certificate authorities.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// The stream's key.
    pub stream: String,
    /// The field the event's JSON goes in. Defaults to `body`.
    #[serde(default = "default_body_key")]
    pub body_key: String,
    /// Trim the stream to about this many entries. Defaults to no trimming.
    #[serde(default)]
    pub max_len: Option<u64>,
}

fn default_url() -> String {
    "redis://127.0.0.1:6379".to_owned()
}
fn default_body_key() -> String {
    "body".to_owned()
}

struct Appender {
    config: RedisStreamSink,
    client: redis::Client,
    conn: Option<redis::aio::MultiplexedConnection>,
    body: Vec<u8>,
}

impl sluice_core::Sink<Event> for Appender {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(
                self.client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| WriteError::Batch(e.into()))?,
            ),
        };
        let mut pipe = redis::pipe();
        for event in events {
            self.body.clear();
            event.write_json(&mut self.body);
            let add = pipe.cmd("XADD").arg(&self.config.stream);
            if let Some(max) = self.config.max_len {
                add.arg("MAXLEN").arg("~").arg(max);
            }
            add.arg("*").arg(&self.config.body_key).arg(&self.body[..]);
        }
        match pipe.query_async::<Vec<String>>(conn).await {
            Ok(_) => Ok(()),
            Err(err) => {
                if err.is_io_error() || err.is_connection_dropped() {
                    self.conn = None;
                }
                Err(WriteError::Batch(err.into()))
            }
        }
    }
}

impl Sink for RedisStreamSink {
    /// Attaches the sink; it connects on its first batch, and again after losing the connection.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let client = super::client(&self.url, self.tls.as_ref())?;
        let appender = Appender {
            config: self.clone(),
            client,
            conn: None,
            body: Vec::new(),
        };
        Ok(attach(input, ctx, appender))
    }
}
