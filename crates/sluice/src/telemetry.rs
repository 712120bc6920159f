//! Logs: human-readable on a terminal, JSON lines with `--log-format json`; level from
//! `RUST_LOG` (default `info`, `warn` with `--quiet`; the AMQP client's warning for each
//! returned message is left out). A JSON line written inside a traced span (a job's attempt,
//! an event's stage) carries the trace's `trace_id` and `span_id`.

use std::fmt::Debug;

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the log subscriber (on standard error, so standard output stays for data).
pub(crate) fn init(format: LogFormat, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    // The AMQP client warns of each message the broker returns, payload and all; the amqp
    // sink fails those messages' batch with the reason itself.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},lapin::returned_messages=error")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init().map_err(|e| e.to_string()),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(WithTraceIds(
                tracing_subscriber::fmt::format().json().flatten_event(true),
            ))
            .finish()
            .with(TraceIdsLayer)
            .try_init()
            .map_err(|e| e.to_string()),
    };
    if let Err(err) = installed {
        eprintln!("warning: logging is not set up: {err}");
    }
}

/// The ids a span of [`sluice_core::trace::log_span`] carries.
#[derive(Debug, Default)]
struct TraceIds {
    trace_id: Option<String>,
    span_id: Option<String>,
}

impl Visit for TraceIds {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => self.trace_id = Some(value.to_owned()),
            "span_id" => self.span_id = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Keeps the trace ids of each span that has them, for [`WithTraceIds`].
struct TraceIdsLayer;

impl<S> Layer<S> for TraceIdsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut ids = TraceIds::default();
        attrs.record(&mut ids);
        if ids.trace_id.is_some()
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(ids);
        }
    }
}

/// A JSON event format that adds the innermost trace's `trace_id` and `span_id` to the line.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    F: FormatEvent<S, N>,
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let ids = ctx.event_scope().and_then(|scope| {
            scope.into_iter().find_map(|span| {
                let extensions = span.extensions();
                let ids = extensions.get::<TraceIds>()?;
                Some((
                    ids.trace_id.clone()?,
                    ids.span_id.clone().unwrap_or_default(),
                ))
            })
        });
        let Some((trace_id, span_id)) = ids else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.trim_end().strip_suffix('}') {
            Some(object) => writeln!(
                writer,
                "{object},\"trace_id\":{},\"span_id\":{}}}",
                serde_json::Value::from(trace_id),
                serde_json::Value::from(span_id)
            ),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_inside_a_traced_span_names_its_trace() {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || WriteTo(sink.clone()))
            .fmt_fields(JsonFields::new())
            .event_format(WithTraceIds(
                tracing_subscriber::fmt::format().json().flatten_event(true),
            ))
            .finish()
            .with(TraceIdsLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(n = 1, "outside");
            let span = tracing::info_span!(
                "trace",
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                span_id = "00f067aa0ba902b7"
            );
            span.in_scope(|| {
                tracing::info_span!("inner").in_scope(|| tracing::info!(n = 2, "inside"));
            });
        });
        let text = String::from_utf8(lines.lock().expect("lock").clone()).expect("utf-8");
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(parsed.len(), 2, "{text}");
        assert_eq!(parsed[0]["message"], "outside");
        assert!(parsed[0].get("trace_id").is_none(), "{text}");
        assert_eq!(parsed[1]["n"], 2);
        assert_eq!(parsed[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed[1]["span_id"], "00f067aa0ba902b7");
    }

    struct WriteTo(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for WriteTo {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
