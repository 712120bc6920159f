//! Traces sent to an OpenTelemetry collector over OTLP (gRPC or HTTP/protobuf), configured by a
//! pipeline or worker file's `tracing` settings and the standard `OTEL_*` variables; off while
//! neither names an endpoint.
//!
//! Spans go through a bounded queue ([`queue`]) to one exporting thread ([`otlp`]), so tracing
//! never holds the work up: when the queue is full or an export fails (a collector down or slow)
//! the spans are dropped and counted in `sluice_trace_spans_dropped_total`, and the work goes on
//! at its own pace.

mod otlp;
mod queue;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use metrics::counter;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
};
use sluice_config::spec::{OtlpProtocol, TracingSpec};
use sluice_core::trace::Sampling;
use tokio::sync::oneshot;

use otlp::Exporter;
use queue::{EXPORT_TIMEOUT, Queue};

/// How long a stop waits for the spans still queued to be sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Tracing, once started: stop it to send what is queued.
pub(crate) struct Traces {
    provider: SdkTracerProvider,
    /// Resolves when the exporting thread has sent what was queued.
    exporting: oneshot::Receiver<()>,
}

/// The settings that apply: the file's where it sets them, else the environment's.
#[derive(Debug, Clone, PartialEq)]
struct Resolved {
    endpoint: String,
    protocol: OtlpProtocol,
    service_name: Option<String>,
    sampling: Sampling,
    /// Sent with every export (an API key, say).
    headers: Vec<(String, String)>,
}

/// Starts tracing as `file` and `env` say; `None` when they name no endpoint.
pub(crate) fn start(
    file: Option<&TracingSpec>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Traces>> {
    let Some(settings) = resolve(file.cloned().unwrap_or_default(), env)? else {
        return Ok(None);
    };
    let mut resource = Resource::builder();
    if let Some(name) = &settings.service_name {
        resource = resource.with_service_name(name.clone());
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let queue = Queue::default();
    let exporting = exporting_thread(&settings, resource.clone(), queue.clone())?;
    let provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(EventsWhole(standard(settings.sampling)))
        .with_span_processor(queue)
        .build();
    let scope = InstrumentationScope::builder("sluice")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    sluice_core::trace::install(
        BoxedTracer::new(Box::new(provider.tracer_with_scope(scope))),
        settings.sampling,
    );
    tracing::info!(endpoint = %settings.endpoint, protocol = ?settings.protocol, "sending traces");
    Ok(Some(Traces {
        provider,
        exporting,
    }))
}

impl Traces {
    /// Sends the spans still queued (for at most a few seconds), then stops.
    pub(crate) async fn stop(self) {
        // Closes the queue: the exporting thread sends what is in it, then ends.
        let _ = self.provider.shutdown();
        if tokio::time::timeout(FLUSH_TIMEOUT, self.exporting)
            .await
            .is_err()
        {
            tracing::warn!("spans still queued at exit were not sent: the collector is slow");
        }
        tracing::info!(
            exported = EXPORTED.load(Ordering::Relaxed),
            dropped = DROPPED.load(Ordering::Relaxed),
            "traces sent"
        );
    }
}

/// Starts the thread that exports the `queued` spans. It runs a runtime of its own, so that
/// the stages keeping the process's runtime busy never starve it (on the shared runtime, a
/// pipeline holding both cores left it too few turns to send a 1% sample). Fails when the
/// exporter cannot be built.
fn exporting_thread(
    settings: &Resolved,
    resource: Resource,
    queued: Queue,
) -> anyhow::Result<oneshot::Receiver<()>> {
    let settings = settings.clone();
    let endpoint = settings.endpoint.clone();
    let (built_tx, built_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("sluice-traces".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = built_tx.send(Err(anyhow::Error::from(error)));
                    return;
                }
            };
            runtime.block_on(async move {
                match Exporter::new(
                    settings.protocol,
                    &settings.endpoint,
                    &settings.headers,
                    EXPORT_TIMEOUT,
                    &resource,
                ) {
                    Ok(exporter) => {
                        let _ = built_tx.send(Ok(()));
                        queue::export(exporter, queued).await;
                    }
                    Err(error) => {
                        let _ = built_tx.send(Err(error));
                    }
                }
            });
            let _ = done_tx.send(());
        })
        .context("cannot start the thread that sends traces")?;
    built_rx
        .recv()
        .context("the thread that sends traces stopped")?
        .with_context(|| format!("cannot send traces to {endpoint}"))?;
    Ok(done_rx)
}

/// The environment's settings under the file's.
fn resolve(
    file: TracingSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Resolved>> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let protocol = match file.protocol {
        Some(protocol) => protocol,
        None => match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
            Some("grpc") => OtlpProtocol::Grpc,
            Some(other) => bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL is `{other}`; Sluice sends `grpc` or `http/protobuf`"
            ),
        },
    };
    // The traces endpoint is taken as it is; the general one is a base, as for the file's.
    let endpoint = match (file.endpoint, var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (Some(base), _) => base_endpoint(&base, protocol),
        (None, Some(exact)) => exact,
        (None, None) => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) => base_endpoint(&base, protocol),
            None => return Ok(None),
        },
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        bail!("the traces endpoint `{endpoint}` is not an address; write http://HOST:PORT");
    }
    let sampling = match file.sample_ratio {
        Some(ratio) if (0.0..=1.0).contains(&ratio) => Sampling {
            ratio,
            parent_based: true,
        },
        Some(ratio) => bail!("tracing.sample_ratio is {ratio}; write a number from 0 to 1"),
        None => sampler_from_env(
            var("OTEL_TRACES_SAMPLER").as_deref(),
            var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )?,
    };
    let service_name = file.service_name.or_else(|| {
        let named = var("OTEL_SERVICE_NAME").is_some()
            || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| {
                attrs
                    .split(',')
                    .any(|kv| kv.trim().starts_with("service.name="))
            });
        (!named).then(|| "sluice".to_owned())
    });
    let headers = var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .or_else(|| var("OTEL_EXPORTER_OTLP_HEADERS"))
        .map_or_else(|| Ok(Vec::new()), |text| otlp::headers(&text))?;
    Ok(Some(Resolved {
        endpoint,
        protocol,
        service_name,
        sampling,
        headers,
    }))
}

/// A base address with the signal's path, for HTTP; gRPC takes the base.
fn base_endpoint(base: &str, protocol: OtlpProtocol) -> String {
    let base = base.trim_end_matches('/');
    match protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf => {
            let has_path = base
                .split_once("://")
                .is_some_and(|(_, rest)| rest.contains('/'));
            if has_path {
                base.to_owned()
            } else {
                format!("{base}/v1/traces")
            }
        }
    }
}

/// `OTEL_TRACES_SAMPLER` and its argument, as the specification names them.
fn sampler_from_env(name: Option<&str>, arg: Option<&str>) -> anyhow::Result<Sampling> {
    let ratio = || -> anyhow::Result<f64> {
        match arg {
            None => Ok(1.0),
            Some(text) => match text.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => bail!("OTEL_TRACES_SAMPLER_ARG is `{text}`; write a number from 0 to 1"),
            },
        }
    };
    let (ratio, parent_based) = match name.unwrap_or("parentbased_always_on") {
        "always_on" => (1.0, false),
        "always_off" => (0.0, false),
        "traceidratio" => (ratio()?, false),
        "parentbased_always_on" => (1.0, true),
        "parentbased_always_off" => (0.0, true),
        "parentbased_traceidratio" => (ratio()?, true),
        other => bail!(
            "OTEL_TRACES_SAMPLER is `{other}`; write always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
        ),
    };
    Ok(Sampling {
        ratio,
        parent_based,
    })
}

/// The standard sampler for `sampling`: by trace id for a new trace, by the parent's choice for
/// a continued one when parent-based.
fn standard(sampling: Sampling) -> Sampler {
    let root = match sampling.ratio {
        r if r >= 1.0 => Sampler::AlwaysOn,
        r if r <= 0.0 => Sampler::AlwaysOff,
        r => Sampler::TraceIdRatioBased(r),
    };
    if sampling.parent_based {
        Sampler::ParentBased(Box::new(root))
    } else {
        root
    }
}

/// The standard sampler, except that a span sampled before it was built (an event's, an
/// attempt's: see [`sluice_core::trace`]) is kept: a decision is made once, and an event's
/// trace is whole or not there.
#[derive(Debug, Clone)]
struct EventsWhole(Sampler);

impl ShouldSample for EventsWhole {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        match parent.filter(|parent| sluice_core::trace::decided(parent)) {
            Some(parent) => SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: parent.span().span_context().trace_state().clone(),
            },
            None => self
                .0
                .should_sample(parent, trace_id, name, kind, attributes, links),
        }
    }
}

/// Spans exported and dropped by this process, for the line said at exit.
static EXPORTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

fn exported(count: u64) {
    counter!("sluice_trace_spans_exported_total").increment(count);
    EXPORTED.fetch_add(count, Ordering::Relaxed);
}

fn dropped(reason: &'static str, count: u64) {
    counter!("sluice_trace_spans_dropped_total", "reason" => reason).increment(count);
    DROPPED.fetch_add(count, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn tracing_is_off_without_an_endpoint() {
        assert_eq!(resolve(TracingSpec::default(), &env(&[])).ok(), Some(None));
        let disabled = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert_eq!(resolve(TracingSpec::default(), &disabled).ok(), Some(None));
    }

    #[test]
    fn the_environment_fills_what_the_file_leaves_out() {
        let vars = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_SERVICE_NAME", "orders"),
        ]);
        let resolved = resolve(TracingSpec::default(), &vars)
            .expect("valid")
            .expect("on");
        assert_eq!(
            resolved,
            Resolved {
                endpoint: "http://collector:4318/v1/traces".to_owned(),
                protocol: OtlpProtocol::HttpProtobuf,
                service_name: None,
                sampling: Sampling {
                    ratio: 0.25,
                    parent_based: true
                },
                headers: Vec::new(),
            }
        );
        let file = TracingSpec {
            endpoint: Some("http://other:4317".to_owned()),
            protocol: Some(OtlpProtocol::Grpc),
            service_name: Some("etl".to_owned()),
            sample_ratio: Some(0.01),
        };
        let resolved = resolve(file, &vars).expect("valid").expect("on");
        assert_eq!(
            (
                resolved.endpoint.as_str(),
                resolved.protocol,
                resolved.service_name.as_deref()
            ),
            ("http://other:4317", OtlpProtocol::Grpc, Some("etl"))
        );
        let exact = env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/custom/path",
        )]);
        let resolved = resolve(TracingSpec::default(), &exact)
            .expect("valid")
            .expect("on");
        assert_eq!(resolved.endpoint, "http://collector:4318/custom/path");
        assert_eq!(resolved.service_name.as_deref(), Some("sluice"));
    }

    #[test]
    fn bad_settings_say_what_to_write() {
        let bad = [
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ][..],
                "Sluice sends `grpc` or `http/protobuf`",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRACES_SAMPLER", "sometimes"),
                ][..],
                "write always_on",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "2"),
                ][..],
                "from 0 to 1",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..],
                "write http://HOST:PORT",
            ),
        ];
        for (vars, expected) in bad {
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            let err = resolve(TracingSpec::default(), &lookup).expect_err("refused");
            assert!(err.to_string().contains(expected), "{err}");
        }
        let file = TracingSpec {
            endpoint: Some("http://c:4318".to_owned()),
            sample_ratio: Some(1.5),
            ..TracingSpec::default()
        };
        let err = resolve(file, &env(&[])).expect_err("refused");
        assert!(err.to_string().contains("from 0 to 1"), "{err}");
    }
}
