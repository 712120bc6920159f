//! The `stdout` sink: writes events to standard output, one per line.

use serde::Deserialize;
use sluice_core::{Flow, Sink, WriteError};
use tokio::io::AsyncWriteExt;

use super::{BuiltSink, SinkContext, attach};
use sluice_event::Event;
use sluice_event::codec::Encoding;

/// Writes to standard output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSink {
    /// How each event is written. Defaults to JSON lines.
    #[serde(default)]
    pub encoding: Encoding,
}

struct Stdout {
    encoding: Encoding,
    out: tokio::io::Stdout,
    buf: Vec<u8>,
}

impl Sink<Event> for Stdout {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        self.buf.clear();
        for event in events {
            self.encoding.encode(event, &mut self.buf);
        }
        let written = async {
            self.out.write_all(&self.buf).await?;
            self.out.flush().await
        };
        written.await.map_err(|e| WriteError::Batch(e.into()))
    }
}

impl StdoutSink {
    /// Attaches the sink.
    pub fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> BuiltSink {
        let sink = Stdout {
            encoding: self.encoding.clone(),
            out: tokio::io::stdout(),
            buf: Vec::new(),
        };
        attach(input, ctx, sink)
    }
}
