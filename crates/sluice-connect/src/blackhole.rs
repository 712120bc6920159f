//! The `blackhole` sink: acknowledges and discards everything (for benchmarks and tests).

use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use sluice_event::Event;

/// Discards events.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSink {}

struct Discard;

impl sluice_core::Sink<Event> for Discard {
    async fn write(&mut self, _: &[Event]) -> Result<(), WriteError> {
        Ok(())
    }
}

impl Sink for BlackholeSink {
    /// Attaches the sink.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        Ok(attach(input, ctx, Discard))
    }
}
