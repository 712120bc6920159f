//! Sinks: the [`Sink`] trait, what a sink is given ([`SinkContext`]) and gives back
//! ([`BuiltSink`]), and how a sink's writer joins the pipeline.
//!
//! A sink acknowledges an event once it is written (for a file: handed to the operating system,
//! or synced to disk with `sync: true`). Events a sink rejects go to its error output
//! (`NAME.errors`) as [dead-letter records](sluice_event::dead_letter); whole-batch failures are
//! retried under the sink's retry policy first.

use std::time::Duration;

use sluice_core::{BoxError, Flow, Operators, Pipeline, Policy, Stage, WriteError};

use crate::error_output;
use opentelemetry::global::BoxedSpan;
use opentelemetry::trace::{Link, Span as _, Status, Tracer as _};
use sluice_core::health::Connector;
use sluice_core::trace::{self, KeyValue, SpanKind};
use sluice_event::Event;

/// A sink type's configured instance.
pub trait Sink: Send + Sync {
    /// What the options' types cannot catch: every problem. Defaults to none.
    fn check(&self) -> Vec<super::OptionError> {
        Vec::new()
    }

    /// Adds the sink's stage to the pipeline, reading `input`.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError>;
}

/// What a sink needs from the pipeline it joins.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The component's name.
    pub name: String,
    /// Whether something reads the sink's error output.
    pub errors_wired: bool,
    /// Retry and other policies around each write.
    pub policy: Policy,
    /// The longest one write may take before it counts as failed for a while (the service
    /// stopped answering) and is tried again. Defaults to [`WRITE_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// How long a sink's write may take by default: a service that has stopped answering (a
/// stalled server, a cut network) is then reported down and tried again.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A sink, built.
pub struct BuiltSink {
    /// Dead-letter records of events the sink rejected, if asked for.
    pub errors: Option<Flow<Event>>,
}

/// Attaches `sink` to `input` as a stage named after the component, reporting its health.
pub(crate) fn attach(
    input: Flow<Event>,
    ctx: &SinkContext,
    sink: impl sluice_core::Sink<Event>,
) -> BuiltSink {
    let (stage, sink, errors) = wire(input, ctx, sink);
    stage.sink(sink);
    BuiltSink { errors }
}

/// Like [`attach`], with `writers` clones of `sink` writing batches at once.
#[cfg(feature = "postgres")]
pub(crate) fn attach_writers<S: sluice_core::Sink<Event> + Clone>(
    input: Flow<Event>,
    ctx: &SinkContext,
    writers: usize,
    sink: S,
) -> BuiltSink {
    let (stage, sink, errors) = wire(input, ctx, sink);
    stage.sink_writers(writers, sink);
    BuiltSink { errors }
}

/// The sink's stage, under the sink's policy and with its error output wired, and the sink
/// watched for its health.
fn wire<S: sluice_core::Sink<Event>>(
    input: Flow<Event>,
    ctx: &SinkContext,
    sink: S,
) -> (Stage<Event>, Watched<S>, Option<Flow<Event>>) {
    let stage = input.stage(&ctx.name).policy(ctx.policy.clone());
    let (stage, errors) = error_output::wire(
        stage,
        &ctx.pipeline,
        &ctx.name,
        ctx.errors_wired,
        sluice_event::dead_letter::from_event,
    );
    let health = Connector::new(&ctx.name);
    if let Some(breaker) = ctx.policy.breaker() {
        health.guarded_by(breaker);
    }
    let sink = Watched {
        sink,
        health,
        timeout: ctx.timeout.unwrap_or(WRITE_TIMEOUT),
    };
    (stage, sink, errors)
}

/// The span of sink `sink` writing `events` when any of them is sampled: a child of the first
/// sampled event's context, linked to every sampled event's (a batch carries events of many
/// traces).
fn write_span(sink: &str, events: &[Event]) -> Option<BoxedSpan> {
    let tracer = trace::tracer()?;
    let links: Vec<Link> = events
        .iter()
        .filter_map(Event::trace_context)
        .filter(|c| c.is_sampled())
        .map(|c| Link::with_context(c.clone()))
        .collect();
    let parent = trace::event_parent(&links.first()?.span_context);
    let builder = tracer
        .span_builder(format!("{sink} write"))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("sluice.stage", sink.to_owned()),
            KeyValue::new("sluice.batch.size", events.len() as i64),
        ])
        .with_links(links);
    Some(tracer.build_with_context(builder, &parent))
}

/// A sink whose batches tell its [health](sluice_core::health): up when written, down when a
/// batch fails as a whole or gets no answer within the timeout.
#[derive(Clone)]
struct Watched<S> {
    sink: S,
    health: Connector,
    timeout: Duration,
}

impl<S: sluice_core::Sink<Event>> sluice_core::Sink<Event> for Watched<S> {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let span = write_span(self.health.name(), events);
        let result = match tokio::time::timeout(self.timeout, self.sink.write(events)).await {
            Ok(result) => result,
            Err(_) => Err(WriteError::Batch(
                format!("no answer within {:?}", self.timeout).into(),
            )),
        };
        match &result {
            Err(WriteError::Batch(err)) => self.health.down(err),
            _ => self.health.up(),
        }
        if let Some(mut span) = span {
            match &result {
                Err(WriteError::Batch(err)) => {
                    span.set_attribute(KeyValue::new("error.type", "batch"));
                    span.set_status(Status::error(err.to_string()));
                }
                Err(WriteError::Items(failed)) => {
                    span.set_attribute(KeyValue::new("sluice.sink.rejected", failed.len() as i64));
                }
                _ => {}
            }
            span.end();
        }
        result
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        self.sink.flush().await
    }
}
