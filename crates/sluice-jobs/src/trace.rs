//! The spans of jobs, after OpenTelemetry's messaging conventions, when tracing is on
//! ([`sluice_core::trace`]):
//!
//! - a producer span `send QUEUE` for each job enqueued (by the Rust API, the CLI, a file or a
//!   cron schedule), child of the job's own `traceparent` if it came with one, else of the
//!   current span; its context is stored with the job;
//! - a consumer span `process QUEUE` for each attempt: the first attempt's is a child of the
//!   producer span; a later attempt starts a trace of its own, linked to the producer span, so
//!   that a backoff of hours does not stretch one trace over them. It ends with the attempt's
//!   outcome (`sluice.job.outcome`) and, on a failure, `error.type` and an error status.

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{Link, Span, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use sluice_core::trace;

use crate::job::{Job, NewJob};
use crate::store::params::{Enqueued, Outcome};

/// The value of `messaging.system` on every job span.
const SYSTEM: &str = "sluice";

/// The builder of a span `OPERATION QUEUE` of a job of `job_kind`, with the attributes every
/// job span has, then `extra`.
fn job_span(
    tracer: &BoxedTracer,
    kind: SpanKind,
    operation: &'static str,
    (queue, job_kind): (&str, &str),
    extra: impl IntoIterator<Item = KeyValue>,
) -> SpanBuilder {
    let mut attributes = vec![
        KeyValue::new("messaging.system", SYSTEM),
        KeyValue::new("messaging.operation.type", operation),
        KeyValue::new("messaging.destination.name", queue.to_owned()),
        KeyValue::new("sluice.job.kind", job_kind.to_owned()),
    ];
    attributes.extend(extra);
    tracer
        .span_builder(format!("{operation} {queue}"))
        .with_kind(kind)
        .with_attributes(attributes)
}

/// The producer spans of jobs being enqueued, ended by [`Producing::finish`].
pub(crate) struct Producing(Vec<BoxedSpan>);

/// Starts a producer span for each job and stores its context in the job; nothing when tracing
/// is off.
pub(crate) fn produce(jobs: &mut [NewJob]) -> Option<Producing> {
    let tracer = trace::tracer()?;
    let current = Context::current();
    let spans = jobs
        .iter_mut()
        .map(|job| {
            let given = trace::remote_parent(job.traceparent.as_deref());
            let parent = if given.has_active_span() {
                given
            } else {
                current.clone()
            };
            let builder = job_span(
                tracer,
                SpanKind::Producer,
                "send",
                (&job.queue, &job.kind),
                [],
            );
            let span = tracer.build_with_context(builder, &parent);
            job.traceparent = trace::traceparent(span.span_context()).or(job.traceparent.take());
            span
        })
        .collect();
    Some(Producing(spans))
}

impl Producing {
    /// Ends the spans with what the store did: each job's id, or the error for all.
    pub(crate) fn finish<E: std::fmt::Display>(self, results: Result<&[Enqueued], &E>) {
        for (index, mut span) in self.0.into_iter().enumerate() {
            match results {
                Ok(results) => {
                    if let Some(result) = results.get(index) {
                        span.set_attribute(KeyValue::new(
                            "messaging.message.id",
                            result.id().to_string(),
                        ));
                        span.set_attribute(KeyValue::new(
                            "sluice.job.duplicate",
                            matches!(result, Enqueued::Duplicate(_)),
                        ));
                    }
                }
                Err(error) => {
                    span.set_attribute(KeyValue::new("error.type", "store"));
                    span.set_status(Status::error(error.to_string()));
                }
            }
            span.end();
        }
    }
}

/// The consumer span of one attempt.
pub(crate) struct Attempt {
    span: BoxedSpan,
}

/// Starts the span of `job`'s current attempt under worker `worker`; nothing when tracing is
/// off or the attempt is not sampled (decided before anything is built: by the enqueue's choice
/// for a first attempt, by the ratio for a retry, which starts a trace of its own).
pub(crate) fn attempt(job: &Job, worker: &str) -> Option<Attempt> {
    let tracer = trace::tracer()?;
    let producer = job.traceparent.as_deref().and_then(trace::parse);
    let first = job.attempt <= 1;
    let parent = trace::sampled_parent(producer.as_ref().filter(|_| first))?;
    let mut builder = job_span(
        tracer,
        SpanKind::Consumer,
        "process",
        (&job.queue, &job.kind),
        [
            KeyValue::new("messaging.message.id", job.id.to_string()),
            KeyValue::new("messaging.client.id", worker.to_owned()),
            KeyValue::new("sluice.job.attempt", i64::from(job.attempt)),
        ],
    );
    if let Some(producer) = producer.filter(|_| !first) {
        builder = builder.with_links(vec![Link::with_context(producer)]);
    }
    Some(Attempt {
        span: tracer.build_with_context(builder, &parent),
    })
}

impl Attempt {
    /// The attempt's `traceparent`, for what the handler calls (an `exec` command's
    /// `TRACEPARENT`, an `http` request's header).
    pub(crate) fn traceparent(&self) -> Option<String> {
        trace::traceparent(self.span.span_context())
    }

    /// A `tracing` span naming this attempt's trace, for the log lines written in it; a
    /// disabled span when the attempt is not sampled.
    pub(crate) fn log_span(&self) -> tracing::Span {
        let context = self.span.span_context();
        if context.is_sampled() {
            trace::log_span(context)
        } else {
            tracing::Span::none()
        }
    }

    /// Ends the span with what became of the attempt: `outcome` (`None` when the job was
    /// rescued from this worker) and, for a failure, the kind of error.
    pub(crate) fn end(mut self, outcome: Option<&Outcome>, error_type: Option<&'static str>) {
        let name = match outcome {
            Some(Outcome::Succeeded) => "succeeded",
            Some(Outcome::Failed {
                retry_at: Some(_), ..
            }) => "retryable",
            Some(Outcome::Failed { retry_at: None, .. }) => "dead",
            Some(Outcome::Snoozed { .. }) => "snoozed",
            Some(Outcome::Cancelled { .. }) => "cancelled",
            Some(Outcome::Released) => "released",
            None => "rescued",
        };
        self.span
            .set_attribute(KeyValue::new("sluice.job.outcome", name));
        match outcome {
            Some(Outcome::Succeeded) => self.span.set_status(Status::Ok),
            Some(Outcome::Failed { error, .. }) => {
                self.span
                    .set_attribute(KeyValue::new("error.type", error_type.unwrap_or("error")));
                self.span.set_status(Status::error(error.clone()));
            }
            None => self.span.set_status(Status::error(
                "the job's lease ran out; another worker took it back",
            )),
            Some(_) => {}
        }
        self.span.end();
    }
}
