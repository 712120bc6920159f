//! The `stdout` sink: writes events to standard output, one per line. Once the reader has gone
//! (a closed pipe) events are refused to the error output rather than retried.

use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};
use tokio::io::AsyncWriteExt;

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
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

impl sluice_core::Sink<Event> for Stdout {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        self.buf.clear();
        for event in events {
            self.encoding.encode(event, &mut self.buf);
        }
        let written = async {
            self.out.write_all(&self.buf).await?;
            self.out.flush().await
        };
        match written.await {
            Ok(()) => Ok(()),
            // The reader went away (`sluice run | head`): no later attempt reaches it.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(WriteError::refused(events.len(), e))
            }
            Err(e) => Err(WriteError::Batch(e.into())),
        }
    }
}

impl Sink for StdoutSink {
    /// Attaches the sink.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let sink = Stdout {
            encoding: self.encoding.clone(),
            out: tokio::io::stdout(),
            buf: Vec::new(),
        };
        Ok(attach(input, ctx, sink))
    }
}
