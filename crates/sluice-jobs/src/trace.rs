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

use opentelemetry::global::BoxedSpan;
use opentelemetry::trace::{Link, Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use sluice_core::trace;

use crate::job::{Job, NewJob};
use crate::store::params::{Enqueued, Outcome};

/// The value of `messaging.system` on every job span.
const SYSTEM: &str = "sluice";

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
            let parent = match job.traceparent.as_deref().and_then(trace::parse) {
                Some(given) => Context::new().with_remote_span_context(given),
                None => current.clone(),
            };
            let builder = tracer
                .span_builder(format!("send {}", job.queue))
                .with_kind(SpanKind::Producer)
                .with_attributes([
                    KeyValue::new("messaging.system", SYSTEM),
                    KeyValue::new("messaging.operation.type", "send"),
                    KeyValue::new("messaging.destination.name", job.queue.clone()),
                    KeyValue::new("sluice.job.kind", job.kind.clone()),
                ]);
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
/// off.
pub(crate) fn attempt(job: &Job, worker: &str) -> Option<Attempt> {
    let tracer = trace::tracer()?;
    let mut builder = tracer
        .span_builder(format!("process {}", job.queue))
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", SYSTEM),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.destination.name", job.queue.clone()),
            KeyValue::new("messaging.message.id", job.id.to_string()),
            KeyValue::new("messaging.client.id", worker.to_owned()),
            KeyValue::new("sluice.job.kind", job.kind.clone()),
            KeyValue::new("sluice.job.attempt", i64::from(job.attempt)),
        ]);
    let enqueued = job.traceparent.as_deref().and_then(trace::parse);
    let parent = match enqueued {
        Some(producer) if job.attempt <= 1 => Context::new().with_remote_span_context(producer),
        Some(producer) => {
            builder = builder.with_links(vec![Link::with_context(producer)]);
            Context::new()
        }
        None => Context::new(),
    };
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
