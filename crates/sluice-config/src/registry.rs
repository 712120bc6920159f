//! Every component type a pipeline file can name, and how each is read from its options.
//!
//! Adding a type is one line in [`TYPES`] and the config struct it reads.

use serde::de::DeserializeOwned;
use sluice_connect::sink::{BlackholeSink, BuiltSink, FileSink, SinkContext, StdoutSink};
use sluice_connect::source::{
    BuiltSource, FileSource, GeneratorSource, SourceContext, StdinSource,
};
use sluice_core::{BoxError, Flow};
use sluice_event::Event;

use crate::component::Transform;
use crate::diagnostic::Loc;
use crate::spec::{COMMON_KEYS, ComponentSpec, Kind};
use crate::transform::{batch, dedupe, filter, jq, rate_limit, route, window};
use sluice_jq::Program;

/// A source type's configured instance.
pub trait Source: Send + Sync {
    /// Adds the source's stages.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError>;
    /// Whether it has an error output (it decodes bytes).
    fn has_errors(&self) -> bool {
        true
    }
}

/// A sink type's configured instance.
pub trait Sink: Send + Sync {
    /// Adds the sink's stage.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError>;
}

impl Source for FileSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        Ok(FileSource::build(self, ctx)?)
    }
}

impl Source for StdinSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        Ok(StdinSource::build(self, ctx))
    }
}

impl Source for GeneratorSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        Ok(GeneratorSource::build(self, ctx))
    }
    fn has_errors(&self) -> bool {
        false
    }
}

#[cfg(feature = "http")]
impl Source for sluice_connect::source::HttpSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        Ok(sluice_connect::source::HttpSource::build(self, ctx)?)
    }
}

impl Sink for StdoutSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        Ok(StdoutSink::build(self, input, ctx))
    }
}

impl Sink for FileSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        Ok(FileSink::build(self, input, ctx))
    }
}

impl Sink for BlackholeSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        Ok(BlackholeSink::build(self, input, ctx))
    }
}

#[cfg(feature = "http")]
impl Sink for sluice_connect::sink::HttpSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        sluice_connect::sink::HttpSink::build(self, input, ctx)
    }
}

#[cfg(feature = "amqp")]
impl Source for sluice_connect::source::AmqpSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        sluice_connect::source::AmqpSource::build(self, ctx)
    }
}

#[cfg(feature = "amqp")]
impl Sink for sluice_connect::sink::AmqpSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        sluice_connect::sink::AmqpSink::build(self, input, ctx)
    }
}

#[cfg(feature = "kafka")]
impl Source for sluice_connect::source::KafkaSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        sluice_connect::source::KafkaSource::build(self, ctx)
    }
}

/// A `kafka` sink whose `key` is a jq expression.
#[cfg(feature = "kafka")]
struct KafkaSink {
    sink: sluice_connect::sink::KafkaSink,
    key: Option<std::sync::Arc<sluice_jq::Program>>,
}

#[cfg(feature = "kafka")]
impl Sink for KafkaSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let key = self.key.clone().map(|program| {
            let key: sluice_connect::sink::KeyFn = std::sync::Arc::new(move |event: &Event| {
                let outputs = program.outputs(event)?;
                Ok(outputs.first().and_then(sluice_connect::sink::key_text))
            });
            key
        });
        self.sink.build_keyed(input, ctx, key)
    }
}

#[cfg(feature = "nats")]
impl Source for sluice_connect::source::NatsSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        sluice_connect::source::NatsSource::build(self, ctx)
    }
}

#[cfg(feature = "nats")]
impl Sink for sluice_connect::sink::NatsSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        sluice_connect::sink::NatsSink::build(self, input, ctx)
    }
}

#[cfg(feature = "redis")]
impl Source for sluice_connect::source::RedisStreamSource {
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        sluice_connect::source::RedisStreamSource::build(self, ctx)
    }
}

#[cfg(feature = "redis")]
impl Sink for sluice_connect::sink::RedisStreamSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        sluice_connect::sink::RedisStreamSink::build(self, input, ctx)
    }
}

#[cfg(feature = "postgres")]
impl Sink for sluice_connect::sink::PostgresSink {
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        sluice_connect::sink::PostgresSink::build(self, input, ctx)
    }
}

/// A configured component.
pub enum Instance {
    /// A source.
    Source(Box<dyn Source>),
    /// A transform.
    Transform(Box<dyn Transform>),
    /// A sink.
    Sink(Box<dyn Sink>),
}

/// A problem with a component's options: where, which key, what.
pub(crate) type Problem = (Loc, String, String);

type Parse = fn(&ComponentSpec) -> Result<Instance, Problem>;

/// Every type: kind, name, and how to read its options.
pub(crate) const TYPES: &[(Kind, &str, Parse)] = &[
    (Kind::Source, "file", |s| source::<FileSource>(s)),
    (Kind::Source, "stdin", |s| source::<StdinSource>(s)),
    (Kind::Source, "generator", |s| source::<GeneratorSource>(s)),
    #[cfg(feature = "http")]
    (Kind::Source, "http", |s| {
        source::<sluice_connect::source::HttpSource>(s)
    }),
    (Kind::Transform, "filter", |s| {
        let c: filter::FilterConfig = options(s)?;
        Ok(transform(filter::Filter {
            condition: program(s, "condition", &c.condition)?,
        }))
    }),
    (Kind::Transform, "jq", |s| {
        let c: jq::JqConfig = options(s)?;
        Ok(transform(jq::Jq {
            program: program(s, "program", &c.program)?,
        }))
    }),
    (Kind::Transform, "batch", |s| {
        Ok(transform(batch::Batch(options(s)?)))
    }),
    (Kind::Transform, "window", |s| {
        let c: window::WindowConfig = options(s)?;
        Ok(transform(windowing(s, &c)?))
    }),
    (Kind::Transform, "dedupe", |s| {
        let c: dedupe::DedupeConfig = options(s)?;
        let key = match &c.key {
            Some(code) => Some(program(s, "key", code)?),
            None => None,
        };
        Ok(transform(dedupe::Dedupe {
            key,
            cache_size: c.cache_size,
            ttl: c.ttl,
        }))
    }),
    (Kind::Transform, "rate_limit", |s| {
        let c: rate_limit::RateLimitConfig = options(s)?;
        if c.rate == 0 {
            return Err(problem(s, "rate", "`rate` must be at least 1".to_owned()));
        }
        Ok(transform(rate_limit::Limit(c)))
    }),
    (Kind::Transform, "route", |s| {
        let c: route::RouteConfig = options(s)?;
        let mut routes = Vec::new();
        for (name, code) in &c.routes {
            if name == "errors" || name == route::UNMATCHED || name.contains('.') {
                return Err(problem(
                    s,
                    &format!("routes.{name}"),
                    format!(
                        "`{name}` cannot name a route (`errors` and `_unmatched` are outputs already, and `.` separates a component from its output)"
                    ),
                ));
            }
            routes.push((name.clone(), program(s, &format!("routes.{name}"), code)?));
        }
        if routes.is_empty() {
            return Err(problem(
                s,
                "routes",
                "`routes` needs at least one `name: condition`".to_owned(),
            ));
        }
        Ok(transform(route::Route { routes }))
    }),
    #[cfg(feature = "http")]
    (Kind::Transform, "http_call", |s| {
        use crate::transform::http_call;
        let c: http_call::HttpCallConfig = options(s)?;
        let url = http_call::Template::parse(&c.url).map_err(|e| problem(s, "url", e))?;
        let target = http_call::target_path(&c.target).map_err(|e| problem(s, "target", e))?;
        Ok(transform(http_call::HttpCall {
            config: c,
            url,
            target,
        }))
    }),
    #[cfg(feature = "amqp")]
    (Kind::Source, "amqp", |s| {
        source::<sluice_connect::source::AmqpSource>(s)
    }),
    #[cfg(feature = "kafka")]
    (Kind::Source, "kafka", |s| {
        source::<sluice_connect::source::KafkaSource>(s)
    }),
    #[cfg(feature = "nats")]
    (Kind::Source, "nats", |s| {
        source::<sluice_connect::source::NatsSource>(s)
    }),
    #[cfg(feature = "redis")]
    (Kind::Source, "redis_stream", |s| {
        source::<sluice_connect::source::RedisStreamSource>(s)
    }),
    (Kind::Sink, "stdout", |s| sink::<StdoutSink>(s)),
    (Kind::Sink, "file", |s| sink::<FileSink>(s)),
    (Kind::Sink, "blackhole", |s| sink::<BlackholeSink>(s)),
    #[cfg(feature = "http")]
    (Kind::Sink, "http", |s| {
        sink::<sluice_connect::sink::HttpSink>(s)
    }),
    #[cfg(feature = "amqp")]
    (Kind::Sink, "amqp", |s| {
        sink::<sluice_connect::sink::AmqpSink>(s)
    }),
    #[cfg(feature = "kafka")]
    (Kind::Sink, "kafka", |s| {
        let sink: sluice_connect::sink::KafkaSink = options(s)?;
        let key = match &sink.key {
            Some(code) => Some(std::sync::Arc::new(
                sluice_jq::Program::compile(code).map_err(|e| problem(s, "key", e.to_string()))?,
            )),
            None => None,
        };
        Ok(Instance::Sink(Box::new(KafkaSink { sink, key })))
    }),
    #[cfg(feature = "nats")]
    (Kind::Sink, "nats", |s| {
        sink::<sluice_connect::sink::NatsSink>(s)
    }),
    #[cfg(feature = "redis")]
    (Kind::Sink, "redis_stream", |s| {
        sink::<sluice_connect::sink::RedisStreamSink>(s)
    }),
    #[cfg(feature = "postgres")]
    (Kind::Sink, "postgres", |s| {
        let sink: sluice_connect::sink::PostgresSink = options(s)?;
        sink.check()
            .map_err(|e| problem(s, "table", e.to_string()))?;
        Ok(Instance::Sink(Box::new(sink)))
    }),
];

/// Every component type: its kind and name.
pub fn component_types() -> impl Iterator<Item = (Kind, &'static str)> {
    TYPES.iter().map(|(k, n, _)| (*k, *n))
}

/// The type names of `kind`.
pub(crate) fn names(kind: Kind) -> impl Iterator<Item = &'static str> {
    TYPES
        .iter()
        .filter(move |(k, _, _)| *k == kind)
        .map(|(_, n, _)| *n)
}

/// The reader of type `name` of `kind`.
pub(crate) fn find(kind: Kind, name: &str) -> Option<Parse> {
    TYPES
        .iter()
        .find(|(k, n, _)| *k == kind && *n == name)
        .map(|(_, _, p)| *p)
}

fn options<T: DeserializeOwned>(spec: &ComponentSpec) -> Result<T, Problem> {
    spec.node.without(&COMMON_KEYS).deserialize(&spec.path())
}

fn source<T: DeserializeOwned + Source + 'static>(
    spec: &ComponentSpec,
) -> Result<Instance, Problem> {
    Ok(Instance::Source(Box::new(options::<T>(spec)?)))
}

fn sink<T: DeserializeOwned + Sink + 'static>(spec: &ComponentSpec) -> Result<Instance, Problem> {
    Ok(Instance::Sink(Box::new(options::<T>(spec)?)))
}

fn transform(t: impl Transform + 'static) -> Instance {
    Instance::Transform(Box::new(t))
}

/// A problem at option `key` (a dotted path inside the component).
fn problem(spec: &ComponentSpec, key: &str, message: String) -> Problem {
    let mut node = Some(&spec.node);
    for part in key.split('.') {
        node = node.and_then(|n| n.get(part));
    }
    let at = node.map_or(spec.at, |n| n.at);
    (at, format!("{}.{key}", spec.path()), message)
}

fn program(spec: &ComponentSpec, key: &str, code: &str) -> Result<Program, Problem> {
    Program::compile(code).map_err(|e| problem(spec, key, format!("invalid jq: {e}")))
}

fn windowing(spec: &ComponentSpec, c: &window::WindowConfig) -> Result<window::Windowing, Problem> {
    use window::WindowKind as W;
    let required = |key: &str, value: Option<std::time::Duration>| {
        value.ok_or_else(|| {
            problem(
                spec,
                "kind",
                format!("a {:?} window needs `{key}`", c.kind).to_lowercase(),
            )
        })
    };
    let (size, slide) = match c.kind {
        W::Tumbling => {
            let size = required("size", c.size)?;
            (size, size)
        }
        W::Sliding => (required("size", c.size)?, required("slide", c.slide)?),
        W::Session => {
            let gap = required("gap", c.gap)?;
            (gap, gap)
        }
    };
    let mut aggregates = Vec::new();
    if c.aggregates.is_empty() {
        aggregates.push(("count".to_owned(), window::Op::Count));
    }
    for (name, spec_op) in &c.aggregates {
        let op = window::Op::compile(spec_op)
            .map_err(|e| problem(spec, &format!("aggregates.{name}"), e))?;
        aggregates.push((name.clone(), op));
    }
    Ok(window::Windowing {
        kind: c.kind,
        size,
        slide,
        time: c
            .time
            .as_deref()
            .map(|t| program(spec, "time", t))
            .transpose()?,
        allowed_lateness: c.allowed_lateness.unwrap_or_default(),
        group_by: c
            .group_by
            .as_deref()
            .map(|g| program(spec, "group_by", g))
            .transpose()?,
        aggregates: window::Aggregates(aggregates),
    })
}
