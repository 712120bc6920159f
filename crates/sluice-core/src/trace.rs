//! Traces: the tracer Sluice's spans go to (OpenTelemetry), and the W3C trace context that events
//! and jobs carry from one process to the next.
//!
//! Tracing is off until a tracer is [`install`]ed, as the `sluice` command does when an OTLP
//! endpoint is configured; until then [`tracer`] is `None` and no span is started anywhere. A
//! trace context crosses a process boundary as a `traceparent` string
//! (<https://www.w3.org/TR/trace-context/>): [`traceparent`] writes one, [`parse`] reads one.
//!
//! # Events
//! Whether an event is traced is decided once, where a source reads it ([`receive`]): by its
//! parent's choice when it arrived with a trace context, else by the sampling ratio, before any
//! span is built, so that the events not sampled cost nothing more. A sampled event carries the
//! context of its source's span; each stage it passes gives it a span
//! ([`Stage::traced`](crate::Stage::traced)), and every span of it is kept (the sampler asks
//! [`decided`]). A job's attempt is decided the same way ([`sampled_parent`]).

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

pub use opentelemetry::KeyValue;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Span, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
};
pub use opentelemetry::trace::{SpanContext, SpanKind};
use opentelemetry::{Context, StringValue};

use crate::batch::Batch;

/// Tracing, once installed.
struct Tracing {
    tracer: BoxedTracer,
    sampling: Sampling,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

/// Which traces are recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// The share of new traces recorded, from 0 to 1.
    pub ratio: f64,
    /// Whether a trace continued from elsewhere follows the choice its parent made (else it is
    /// sampled by `ratio` too).
    pub parent_based: bool,
}

impl Sampling {
    /// Whether a new span under `parent` (a remote one, or none) starts a recorded trace.
    pub fn sample(&self, parent: Option<&SpanContext>) -> bool {
        match parent {
            Some(parent) if self.parent_based => parent.is_sampled(),
            _ => self.ratio >= 1.0 || (self.ratio > 0.0 && fastrand::f64() < self.ratio),
        }
    }
}

/// Turns tracing on for the life of the process: every span Sluice starts goes to `tracer`, and
/// events are sampled by `sampling`. Returns `false`, and changes nothing, when a tracer was
/// installed already.
pub fn install(tracer: BoxedTracer, sampling: Sampling) -> bool {
    TRACING.set(Tracing { tracer, sampling }).is_ok()
}

/// The installed tracer; `None` while tracing is off.
pub fn tracer() -> Option<&'static BoxedTracer> {
    TRACING.get().map(|t| &t.tracer)
}

/// The mark, in a span's parent context, of a span whose sampling was decided before it was
/// built: a span of a sampled event, or a job attempt sampled by [`sampled_parent`].
#[derive(Debug, Clone, Copy)]
struct Decided;

/// Whether a span under `parent` was decided to be recorded before it was built: a sampler
/// keeps every such span, so that an event's trace is whole and a decision is made once.
pub fn decided(parent: &Context) -> bool {
    parent.get::<Decided>().is_some()
}

/// The parent context of a span of a sampled event whose context is `event`.
pub fn event_parent(event: &SpanContext) -> Context {
    Context::new()
        .with_remote_span_context(event.clone())
        .with_value(Decided)
}

/// Decides, before anything is built, whether a new span under `parent` (a remote span, or
/// none for a new trace) is recorded: the context to build it under when it is, `None` when it
/// is not or tracing is off.
pub fn sampled_parent(parent: Option<&SpanContext>) -> Option<Context> {
    let tracing = TRACING.get()?;
    if !tracing.sampling.sample(parent) {
        return None;
    }
    let context = parent.map_or_else(Context::new, |p| {
        Context::new().with_remote_span_context(p.clone())
    });
    Some(context.with_value(Decided))
}

/// Starts the trace of a record a source read, as [the module](self) says: `traceparent` gives
/// the context it arrived with, if any (asked only while tracing is on); `attributes` those of
/// the source's span (a span of `kind` named after the source, asked only when the record is
/// sampled). Returns the context the record's event carries: its source span's when sampled,
/// the one it arrived with when not (so that sinks pass it on), and `None` when tracing is off
/// or there is neither.
pub fn receive(
    source: &str,
    kind: SpanKind,
    traceparent: impl FnOnce() -> Option<String>,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Option<Box<SpanContext>> {
    let tracer = tracer()?;
    let remote = traceparent().as_deref().and_then(parse);
    let Some(parent) = sampled_parent(remote.as_ref()) else {
        return remote.map(Box::new);
    };
    let builder = tracer
        .span_builder(source.to_owned())
        .with_kind(kind)
        .with_attributes(attributes());
    let mut span = tracer.build_with_context(builder, &parent);
    let context = span.span_context().clone();
    span.end();
    context.is_valid().then(|| Box::new(context))
}

/// The spans of one stage for the sampled items of the batches it takes: each covers the time
/// from the stage taking the item's batch to the stage asking for the next one.
pub(crate) struct StageSpans<T> {
    stage: Arc<str>,
    context_of: fn(&T) -> Option<&SpanContext>,
    open: Vec<SpanContext>,
    batch: usize,
    since: SystemTime,
}

impl<T> StageSpans<T> {
    /// The spans of stage `stage`, whose items carry their context as `context_of` reads it;
    /// `None` while tracing is off.
    pub(crate) fn new(
        stage: Arc<str>,
        context_of: fn(&T) -> Option<&SpanContext>,
    ) -> Option<StageSpans<T>> {
        TRACING.get()?;
        Some(StageSpans {
            stage,
            context_of,
            open: Vec::new(),
            batch: 0,
            since: SystemTime::now(),
        })
    }

    /// The stage took `batch`: its sampled items' spans start.
    pub(crate) fn took(&mut self, batch: &Batch<T>) {
        let context_of = self.context_of;
        self.open.extend(
            batch
                .items
                .iter()
                .filter_map(context_of)
                .filter(|c| c.is_sampled())
                .cloned(),
        );
        if !self.open.is_empty() {
            self.batch = batch.len();
            self.since = SystemTime::now();
        }
    }

    /// The stage is done with the batch it took: the open spans end.
    pub(crate) fn done(&mut self) {
        let Some(tracing) = TRACING.get().filter(|_| !self.open.is_empty()) else {
            return;
        };
        let now = SystemTime::now();
        for event in self.open.drain(..) {
            let builder = tracing
                .tracer
                .span_builder(self.stage.to_string())
                .with_start_time(self.since)
                .with_attributes([
                    KeyValue::new("sluice.stage", StringValue::from(Arc::clone(&self.stage))),
                    KeyValue::new("sluice.batch.size", self.batch as i64),
                ]);
            tracing
                .tracer
                .build_with_context(builder, &event_parent(&event))
                .end_with_timestamp(now);
        }
    }
}

impl<T> Drop for StageSpans<T> {
    fn drop(&mut self) {
        self.done();
    }
}

/// The `traceparent` of a span (`00-TRACE_ID-SPAN_ID-FLAGS`); `None` for an invalid context
/// (a span of a tracer that records nothing).
pub fn traceparent(span: &SpanContext) -> Option<String> {
    span.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        )
    })
}

/// Reads a `traceparent`: the remote span it names, or `None` when it is not one. Versions past
/// `00` are read by their first four fields, as the recommendation asks.
pub fn parse(traceparent: &str) -> Option<SpanContext> {
    let mut fields = traceparent.trim().split('-');
    let version = fields.next()?;
    let (trace_id, span_id, flags) = (fields.next()?, fields.next()?, fields.next()?);
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let well_formed = lower_hex(version, 2)
        && version != "ff"
        && (version != "00" || fields.next().is_none())
        && lower_hex(trace_id, 32)
        && lower_hex(span_id, 16)
        && lower_hex(flags, 2);
    if !well_formed {
        return None;
    }
    let context = SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(span_id).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8()),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

/// A context whose parent is the span `traceparent` names, or an empty one (a new trace starts
/// under it) when there is none.
pub fn remote_parent(traceparent: Option<&str>) -> Context {
    traceparent
        .and_then(parse)
        .map_or_else(Context::new, |span| {
            Context::new().with_remote_span_context(span)
        })
}

/// A `tracing` span carrying a span's ids, so that log lines written inside it name the trace
/// they belong to (the `trace_id` and `span_id` fields of JSON logs).
pub fn log_span(span: &SpanContext) -> tracing::Span {
    tracing::info_span!(
        "trace",
        trace_id = %span.trace_id(),
        span_id = %span.span_id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIVEN: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_continued_trace_follows_its_parent_and_a_new_one_the_ratio() {
        let sampled = parse(GIVEN).expect("valid");
        let unsampled =
            parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").expect("valid");
        let none = Sampling {
            ratio: 0.0,
            parent_based: true,
        };
        let every = Sampling {
            ratio: 1.0,
            parent_based: true,
        };
        assert!(none.sample(Some(&sampled)), "the parent chose to record");
        assert!(!none.sample(None), "a ratio of 0 starts no trace");
        assert!(!every.sample(Some(&unsampled)), "the parent chose not to");
        assert!(every.sample(None));
        let own = Sampling {
            ratio: 0.0,
            parent_based: false,
        };
        assert!(
            !own.sample(Some(&sampled)),
            "not parent-based: the ratio decides"
        );
        let tenth = Sampling {
            ratio: 0.1,
            parent_based: true,
        };
        let kept = (0..100_000).filter(|_| tenth.sample(None)).count();
        // 10,000 expected; outside 9,000..=11,000 is a chance far below one in a billion.
        assert!((9_000..=11_000).contains(&kept), "{kept}");
    }

    #[test]
    fn while_tracing_is_off_nothing_is_traced() {
        // No test of this crate installs a tracer.
        assert!(receive("s", SpanKind::Internal, || Some(GIVEN.to_owned()), Vec::new).is_none());
        assert!(StageSpans::<u32>::new(Arc::from("s"), |_| None).is_none());
        assert!(sampled_parent(parse(GIVEN).as_ref()).is_none());
        assert!(decided(&event_parent(&parse(GIVEN).expect("valid"))));
        assert!(!decided(&remote_parent(Some(GIVEN))));
    }

    #[test]
    fn a_traceparent_reads_and_writes_back_the_same() {
        let span = parse(GIVEN).expect("valid");
        assert!(span.is_remote() && span.is_sampled());
        assert_eq!(traceparent(&span).as_deref(), Some(GIVEN));
        let unsampled =
            parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").expect("valid");
        assert!(!unsampled.is_sampled());
    }

    #[test]
    fn malformed_traceparents_name_no_span() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
        assert!(
            parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").is_some(),
            "a later version is read by its first four fields"
        );
    }

    #[test]
    fn a_remote_parent_is_the_span_named_or_none() {
        assert!(remote_parent(Some(GIVEN)).has_active_span());
        assert!(!remote_parent(Some("nonsense")).has_active_span());
        assert!(!remote_parent(None).has_active_span());
    }
}
