//! Every component type a pipeline file can name: one line each in [`TYPES`].
//!
//! A type's options are read (`serde`) from the JSON form of its part of the file, then
//! checked ([`Component::check`]); [`Registration::read`] does both, and says which it was that
//! failed so the file's reader can point at the key.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::blackhole::BlackholeSink;
use crate::component::{Component, Kind, OptionError, Sink, Source, Transform};
use crate::file::{FileSink, FileSource};
use crate::generator::GeneratorSource;
use crate::stdin::StdinSource;
use crate::stdout::StdoutSink;
use crate::transform::{
    BatchTransform, DedupeTransform, FilterTransform, JqTransform, RateLimitTransform,
    RouteTransform, WindowTransform,
};

/// One component type.
pub struct Registration {
    /// Source, transform or sink.
    pub kind: Kind,
    /// Its `type` in pipeline files.
    pub name: &'static str,
    read: fn(Value) -> Result<Component, Rejected>,
}

/// Why a component's options were refused.
#[derive(Debug)]
pub enum Rejected {
    /// They are not what the type takes: the key path and serde's message.
    Shape(serde_path_to_error::Error<serde_json::Error>),
    /// They are well formed but cannot work: every problem.
    Invalid(Vec<OptionError>),
}

impl Registration {
    /// The component its `options` (without the keys every component takes: `type`, `inputs`,
    /// `workers`, `retry`, `timeout`) configure, checked.
    pub fn read(&self, options: Value) -> Result<Component, Rejected> {
        let component = (self.read)(options)?;
        let problems = component.check();
        if problems.is_empty() {
            Ok(component)
        } else {
            Err(Rejected::Invalid(problems))
        }
    }
}

/// Every type, in the order messages list them.
pub const TYPES: &[Registration] = &[
    source::<FileSource>("file"),
    source::<StdinSource>("stdin"),
    source::<GeneratorSource>("generator"),
    #[cfg(feature = "http")]
    source::<crate::http::HttpSource>("http"),
    transform::<FilterTransform>("filter"),
    transform::<JqTransform>("jq"),
    transform::<BatchTransform>("batch"),
    transform::<WindowTransform>("window"),
    transform::<DedupeTransform>("dedupe"),
    transform::<RateLimitTransform>("rate_limit"),
    transform::<RouteTransform>("route"),
    #[cfg(feature = "http")]
    transform::<crate::http::HttpCallTransform>("http_call"),
    #[cfg(feature = "amqp")]
    source::<crate::amqp::AmqpSource>("amqp"),
    #[cfg(feature = "kafka")]
    source::<crate::kafka::KafkaSource>("kafka"),
    #[cfg(feature = "nats")]
    source::<crate::nats::NatsSource>("nats"),
    #[cfg(feature = "redis")]
    source::<crate::redis::RedisStreamSource>("redis_stream"),
    #[cfg(feature = "postgres")]
    source::<crate::postgres::PostgresSource>("postgres"),
    #[cfg(feature = "jobs")]
    source::<crate::jobs::JobsSource>("jobs"),
    sink::<StdoutSink>("stdout"),
    #[cfg(feature = "jobs")]
    sink::<crate::jobs::JobsSink>("jobs"),
    sink::<FileSink>("file"),
    sink::<BlackholeSink>("blackhole"),
    #[cfg(feature = "http")]
    sink::<crate::http::HttpSink>("http"),
    #[cfg(feature = "amqp")]
    sink::<crate::amqp::AmqpSink>("amqp"),
    #[cfg(feature = "kafka")]
    sink::<crate::kafka::KafkaSink>("kafka"),
    #[cfg(feature = "nats")]
    sink::<crate::nats::NatsSink>("nats"),
    #[cfg(feature = "redis")]
    sink::<crate::redis::RedisStreamSink>("redis_stream"),
    #[cfg(feature = "postgres")]
    sink::<crate::postgres::PostgresSink>("postgres"),
];

/// The type `name` of `kind`.
pub fn find(kind: Kind, name: &str) -> Option<&'static Registration> {
    TYPES.iter().find(|t| t.kind == kind && t.name == name)
}

/// The type names of `kind`, in order.
pub fn names(kind: Kind) -> impl Iterator<Item = &'static str> {
    TYPES.iter().filter(move |t| t.kind == kind).map(|t| t.name)
}

const fn source<T: Source + DeserializeOwned + 'static>(name: &'static str) -> Registration {
    Registration {
        kind: Kind::Source,
        name,
        read: read_source::<T>,
    }
}

const fn transform<T: Transform + DeserializeOwned + 'static>(name: &'static str) -> Registration {
    Registration {
        kind: Kind::Transform,
        name,
        read: read_transform::<T>,
    }
}

const fn sink<T: Sink + DeserializeOwned + 'static>(name: &'static str) -> Registration {
    Registration {
        kind: Kind::Sink,
        name,
        read: read_sink::<T>,
    }
}

fn options<T: DeserializeOwned>(options: Value) -> Result<T, Rejected> {
    serde_path_to_error::deserialize(options).map_err(Rejected::Shape)
}

fn read_source<T: Source + DeserializeOwned + 'static>(v: Value) -> Result<Component, Rejected> {
    Ok(Component::Source(Box::new(options::<T>(v)?)))
}

fn read_transform<T: Transform + DeserializeOwned + 'static>(
    v: Value,
) -> Result<Component, Rejected> {
    Ok(Component::Transform(Box::new(options::<T>(v)?)))
}

fn read_sink<T: Sink + DeserializeOwned + 'static>(v: Value) -> Result<Component, Rejected> {
    Ok(Component::Sink(Box::new(options::<T>(v)?)))
}
