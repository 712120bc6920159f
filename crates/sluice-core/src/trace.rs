//! Traces: the tracer Sluice's spans go to (OpenTelemetry), and the W3C trace context that events
//! and jobs carry from one process to the next.
//!
//! Tracing is off until a tracer is [`install`]ed, as the `sluice` command does when an OTLP
//! endpoint is configured; until then [`tracer`] is `None` and no span is started anywhere. A
//! trace context crosses a process boundary as a `traceparent` string
//! (<https://www.w3.org/TR/trace-context/>): [`traceparent`] writes one, [`parse`] reads one.

use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

static TRACER: OnceLock<BoxedTracer> = OnceLock::new();

/// Turns tracing on for the life of the process: every span Sluice starts goes to `tracer`.
/// Returns `false`, and changes nothing, when a tracer was installed already.
pub fn install(tracer: BoxedTracer) -> bool {
    TRACER.set(tracer).is_ok()
}

/// The installed tracer; `None` while tracing is off.
pub fn tracer() -> Option<&'static BoxedTracer> {
    TRACER.get()
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
