//! What a component is: a [`Source`], a [`Transform`] or a [`Sink`], each the documented struct of
//! its options (read from a pipeline file, or built in Rust) that checks itself and builds its
//! stages on a [`Pipeline`](sluice_core::Pipeline) given a context.
//!
//! # Adding a component type
//! A type is declared in one place: its options struct (each field's doc says its default,
//! `#[serde(deny_unknown_fields)]`), the impl of its kind's trait (`check` for what the types
//! cannot say, `build`), one line in the [registry](crate::registry), and a cargo feature when it needs a heavy
//! dependency. `docs/reference.yaml` shows every option; a test parses it.

#[cfg(any(
    feature = "redis",
    feature = "nats",
    feature = "amqp",
    feature = "postgres",
    feature = "jobs"
))]
pub(crate) mod connection;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod transform;

use std::fmt;

pub use sink::{BuiltSink, Sink, SinkContext, WRITE_TIMEOUT};
pub use source::{BuiltSource, Progress, Source, SourceContext, SourceError};
pub use transform::{Transform, TransformContext, TransformOutputs};

/// Sources, transforms or sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Where events come from.
    Source,
    /// What happens to them.
    Transform,
    /// Where they go.
    Sink,
}

impl Kind {
    /// The section of a pipeline file (`sources`, …).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Source => "sources",
            Kind::Transform => "transforms",
            Kind::Sink => "sinks",
        }
    }
}

impl Kind {
    /// `source`, `transform` or `sink`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Transform => "transform",
            Kind::Sink => "sink",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A problem with a component's options that their types cannot catch: at which key, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option's key path inside the component (`routes.errors`); empty for the component
    /// as a whole.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl OptionError {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> OptionError {
        OptionError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A configured component of any kind.
pub enum Component {
    /// A source.
    Source(Box<dyn Source>),
    /// A transform.
    Transform(Box<dyn Transform>),
    /// A sink.
    Sink(Box<dyn Sink>),
}

impl Component {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Component::Source(_) => Kind::Source,
            Component::Transform(_) => Kind::Transform,
            Component::Sink(_) => Kind::Sink,
        }
    }

    /// What its options' types cannot catch: every problem.
    pub fn check(&self) -> Vec<OptionError> {
        match self {
            Component::Source(s) => s.check(),
            Component::Transform(t) => t.check(),
            Component::Sink(s) => s.check(),
        }
    }

    /// Its outputs besides the main one: `errors` if it has one, and named outputs. `None`
    /// stands for the main output.
    pub fn outputs(&self) -> Vec<Option<String>> {
        let errors = Some("errors".to_owned());
        match self {
            Component::Source(s) => {
                let mut outs = vec![None];
                if s.has_errors() {
                    outs.push(errors);
                }
                outs
            }
            Component::Transform(t) => {
                let mut outs: Vec<Option<String>> = Vec::new();
                if t.has_main_output() {
                    outs.push(None);
                }
                outs.extend(t.outputs().into_iter().map(Some));
                outs.push(errors);
                outs
            }
            Component::Sink(_) => vec![errors],
        }
    }
}
