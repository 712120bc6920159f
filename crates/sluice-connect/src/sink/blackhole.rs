//! The `blackhole` sink: acknowledges and discards everything (for benchmarks and tests).

use serde::Deserialize;
use sluice_core::{Flow, Sink, WriteError};

use super::{BuiltSink, SinkContext, attach};
use sluice_event::Event;

/// Discards events.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSink {}

struct Discard;

impl Sink<Event> for Discard {
    async fn write(&mut self, _: &[Event]) -> Result<(), WriteError> {
        Ok(())
    }
}

impl BlackholeSink {
    /// Attaches the sink.
    pub fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> BuiltSink {
        attach(input, ctx, Discard)
    }
}
