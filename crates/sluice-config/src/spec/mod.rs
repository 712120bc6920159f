//! The shape of a pipeline file: settings, components by kind, their wiring, and tests.
//!
//! ```yaml
//! pipeline: { name: orders, capacity: 4096, shutdown_timeout: 30s }   # optional
//! sources:
//!   NAME: { type: TYPE, ...options }
//! transforms:
//!   NAME: { type: TYPE, inputs: [SOURCE_OR_TRANSFORM[.OUTPUT], ...], workers: 2, retry: {...}, timeout: 5s, ...options }
//! sinks:
//!   NAME: { type: TYPE, inputs: [...], retry: {...}, ...options }
//! tests: [...]   # see `crate::testing`
//! ```

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
pub use sluice_connect::component::Kind;

mod common;

pub use common::{
    BreakerSpec, BufferKind, BufferSpec, Common, JitterSpec, RetrySpec, WhenFullSpec,
};
pub(crate) use common::{COMMON_KEYS, COMMON_OPTIONS};

use crate::diagnostic::{Diagnostic, Loc};
use crate::node::{Node, NodeValue};

/// A reference to an output: `component` or `component.output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRef {
    /// The component.
    pub component: String,
    /// The named output (`errors`, a route), or `None` for the main one.
    pub output: Option<String>,
    /// Where it is written.
    pub at: Loc,
}

impl InputRef {
    /// Parses `name` or `name.output`.
    pub fn parse(text: &str, at: Loc) -> InputRef {
        match text.split_once('.') {
            Some((component, output)) => InputRef {
                component: component.to_owned(),
                output: Some(output.to_owned()),
                at,
            },
            None => InputRef {
                component: text.to_owned(),
                output: None,
                at,
            },
        }
    }
}

impl fmt::Display for InputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.output {
            Some(o) => write!(f, "{}.{o}", self.component),
            None => f.write_str(&self.component),
        }
    }
}

/// One component as written.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Source, transform or sink.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Where the name is written.
    pub at: Loc,
    /// Its `type`.
    pub type_name: String,
    /// Where the type is written.
    pub type_at: Loc,
    /// Its inputs (none for sources).
    pub inputs: Vec<InputRef>,
    /// Common options.
    pub common: Common,
    /// The whole node, for the type's own options.
    pub node: Node,
}

impl ComponentSpec {
    /// The key path of the component (`transforms.enrich`).
    pub fn path(&self) -> String {
        format!("{}.{}", self.kind.section(), self.name)
    }

    /// Where option `key` (a dotted path inside the component; empty for the component) is
    /// written, as near as the file says, and its full key path.
    pub fn place(&self, key: &str) -> (Loc, String) {
        if key.is_empty() {
            return (self.at, self.path());
        }
        let mut node = Some(&self.node);
        for part in key.split('.') {
            node = node.and_then(|n| n.get(part));
        }
        let at = node.map_or(self.at, |n| n.at);
        (at, format!("{}.{key}", self.path()))
    }
}

/// Pipeline-wide settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The pipeline's name (its metrics' `pipeline` label). Defaults to the file's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Events each channel between two stages holds. Defaults to 4096.
    #[serde(default)]
    pub capacity: Option<usize>,
    /// Most events in one batch between stages. Defaults to 1024.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Bytes the events waiting between stages may weigh together, shared out equally among
    /// the channels; an event heavier than all of it goes to its source's error output.
    /// Defaults to [`DEFAULT_MEMORY_LIMIT`].
    #[serde(
        default,
        deserialize_with = "sluice_event::bytesize::deserialize_option"
    )]
    pub memory_limit: Option<usize>,
    /// How long a shutdown may drain before the rest is aborted. Defaults to `30s`.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub shutdown_timeout: Option<Duration>,
    /// Where the pipeline's traces go. Defaults to the `OTEL_*` variables.
    #[serde(default)]
    pub tracing: Option<TracingSpec>,
    /// Where the pipeline keeps what must outlive it (sinks' disk buffers). Defaults to
    /// [`DEFAULT_DATA_DIR`], in the working directory.
    #[serde(default)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// The data directory of a pipeline file that sets none.
pub const DEFAULT_DATA_DIR: &str = "sluice-data";

/// The memory limit of a pipeline file that sets none: 16 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 16 << 20;

impl Settings {
    /// The engine's settings for a pipeline of this file (its name aside).
    pub fn pipeline_config(&self) -> sluice_core::PipelineConfig {
        let mut config = sluice_core::PipelineConfig::default()
            .memory_limit(self.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT));
        if let Some(c) = self.capacity {
            config = config.capacity(c);
        }
        if let Some(b) = self.batch_size {
            config = config.batch_size(b);
        }
        if let Some(t) = self.shutdown_timeout {
            config = config.shutdown_timeout(t);
        }
        config
    }
}

/// Where traces go: an OTLP collector. Each setting left out is read from its standard
/// OpenTelemetry variable (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`); tracing is off
/// while no endpoint is set either way.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TracingSpec {
    /// The collector: `http://HOST:4317` for gRPC, `http://HOST:4318` for HTTP (the path
    /// `/v1/traces` is added to an address that has none).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// How spans are sent. Defaults to `http/protobuf`.
    #[serde(default)]
    pub protocol: Option<OtlpProtocol>,
    /// The `service.name` of every span. Defaults to `sluice`.
    #[serde(default)]
    pub service_name: Option<String>,
    /// The share of new traces recorded, from 0 to 1; a trace continued from a caller follows
    /// the caller's decision. Defaults to 1.
    #[serde(default)]
    pub sample_ratio: Option<f64>,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    /// Protobuf over gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
    /// Protobuf over HTTP (port 4318 by convention).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// A parsed pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// The file, as given.
    pub file: String,
    /// Settings.
    pub settings: Settings,
    /// Every component, sources first, each section in file order.
    pub components: Vec<ComponentSpec>,
    /// The `tests` node, if any.
    pub tests: Option<Node>,
}

impl PipelineSpec {
    /// The names of every component.
    pub fn names(&self) -> HashSet<String> {
        self.components.iter().map(|c| c.name.clone()).collect()
    }

    /// The names of the sources, in file order.
    pub fn sources(&self) -> Vec<&str> {
        self.components
            .iter()
            .filter(|c| c.kind == Kind::Source)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentSpec> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Reads the structure of a file, collecting every problem.
    pub(crate) fn from_node(file: &str, root: &Node, out: &mut Vec<Diagnostic>) -> PipelineSpec {
        let diag = |at: Loc, path: &str, message: String| Diagnostic {
            file: file.to_owned(),
            at,
            path: path.to_owned(),
            message,
        };
        if !matches!(root.value, NodeValue::Map(_)) {
            out.push(diag(
                root.at,
                "",
                format!(
                    "found {}; expected a mapping with `sources`, `transforms` and `sinks`",
                    root.kind()
                ),
            ));
        }
        let mut settings = Settings {
            data_dir: None,
            name: None,
            capacity: None,
            batch_size: None,
            memory_limit: None,
            shutdown_timeout: None,
            tracing: None,
        };
        let mut components = Vec::new();
        let mut tests = None;
        for (key, value) in root.entries() {
            match key.name.as_str() {
                "pipeline" => match value.deserialize::<Settings>("pipeline") {
                    Ok(s) => settings = s,
                    Err((at, path, message)) => out.push(diag(at, &path, message)),
                },
                "tests" => tests = Some(value.clone()),
                section @ ("sources" | "transforms" | "sinks") => {
                    let kind = match section {
                        "sources" => Kind::Source,
                        "transforms" => Kind::Transform,
                        _ => Kind::Sink,
                    };
                    if !matches!(value.value, NodeValue::Map(_) | NodeValue::Null) {
                        out.push(diag(
                            value.at,
                            section,
                            format!(
                                "found {}; expected a mapping of names to components",
                                value.kind()
                            ),
                        ));
                        continue;
                    }
                    for (name, node) in value.entries() {
                        if let Some(c) = component(kind, &name.name, name.at, node, &diag, out) {
                            if let Some(first) = components
                                .iter()
                                .find(|o: &&ComponentSpec| o.name == c.name)
                            {
                                out.push(diag(
                                    name.at,
                                    &c.path(),
                                    format!(
                                        "the name `{}` is already used by the {} at line {}; names are unique across sources, transforms and sinks",
                                        c.name, first.kind, first.at.line
                                    ),
                                ));
                            } else {
                                components.push(c);
                            }
                        }
                    }
                }
                other => {
                    let close = crate::diagnostic::did_you_mean(
                        other,
                        ["sources", "transforms", "sinks", "tests", "pipeline"],
                    );
                    let message = match close {
                        Some(c) => format!("unknown section `{other}`; did you mean `{c}`?"),
                        None => format!(
                            "unknown section `{other}`; expected `sources`, `transforms`, `sinks`, `tests` or `pipeline`"
                        ),
                    };
                    out.push(diag(key.at, other, message));
                }
            }
        }
        components.sort_by_key(|c| c.kind);
        PipelineSpec {
            file: file.to_owned(),
            settings,
            components,
            tests,
        }
    }
}

fn component(
    kind: Kind,
    name: &str,
    at: Loc,
    node: &Node,
    diag: &impl Fn(Loc, &str, String) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) -> Option<ComponentSpec> {
    let path = format!("{}.{name}", kind.section());
    if name.is_empty() || name.contains('.') || name.contains(char::is_whitespace) {
        out.push(diag(at, &path, format!("`{name}` is not a valid name; use letters, digits, `-` and `_` (a `.` separates a component from its output)")));
        return None;
    }
    if !matches!(node.value, NodeValue::Map(_)) {
        out.push(diag(
            node.at,
            &path,
            format!(
                "found {}; expected a mapping with at least `type`",
                node.kind()
            ),
        ));
        return None;
    }
    // A component without a usable type is kept with an empty type (which the loader skips),
    // so the components reading it are not reported as well.
    let (type_name, type_at) = match node.get("type") {
        Some(t) => match t.as_str() {
            Some(s) => (s.to_owned(), t.at),
            None => {
                out.push(diag(
                    t.at,
                    &format!("{path}.type"),
                    format!("found {}; expected the name of a {kind} type", t.kind()),
                ));
                (String::new(), t.at)
            }
        },
        None => {
            out.push(diag(
                node.at,
                &path,
                format!("missing key `type`: which kind of {kind} is `{name}`?"),
            ));
            (String::new(), node.at)
        }
    };
    let mut inputs = Vec::new();
    match (kind, node.get("inputs")) {
        (Kind::Source, Some(i)) => out.push(diag(
            i.at,
            &format!("{path}.inputs"),
            "a source takes no inputs; move it to `transforms` if it reads from other components"
                .to_owned(),
        )),
        (Kind::Source, None) => {}
        (_, None) => out.push(diag(
            node.at,
            &path,
            format!("missing key `inputs`: which components does `{name}` read from?"),
        )),
        (_, Some(list)) => match &list.value {
            NodeValue::Seq(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => inputs.push(InputRef::parse(s, item.at)),
                        None => out.push(diag(
                            item.at,
                            &format!("{path}.inputs[{i}]"),
                            format!("found {}; expected a component name", item.kind()),
                        )),
                    }
                }
            }
            NodeValue::Str(s) => inputs.push(InputRef::parse(s, list.at)),
            _ => out.push(diag(
                list.at,
                &format!("{path}.inputs"),
                format!(
                    "found {}; expected a list of component names, like `[events]`",
                    list.kind()
                ),
            )),
        },
    }
    let common_node = Node {
        value: NodeValue::Map(
            node.entries()
                .iter()
                .filter(|(k, _)| COMMON_OPTIONS.contains(&k.name.as_str()))
                .cloned()
                .collect(),
        ),
        at: node.at,
    };
    let common = match common_node.deserialize::<Common>(&path) {
        Ok(c) => c,
        Err((at, p, message)) => {
            out.push(diag(at, &p, message));
            Common::default()
        }
    };
    if kind == Kind::Source
        && let Some((k, _)) = node.entries().iter().find(|(k, _)| {
            matches!(
                k.name.as_str(),
                "workers" | "retry" | "timeout" | "ordered_by"
            )
        })
    {
        out.push(diag(
            k.at,
            &format!("{path}.{}", k.name),
            format!("a source takes no `{}`", k.name),
        ));
    }
    if common.workers == Some(0) {
        let at = node.get("workers").map_or(node.at, |w| w.at);
        out.push(diag(
            at,
            &format!("{path}.workers"),
            "`workers` must be at least 1".to_owned(),
        ));
    }
    Some(ComponentSpec {
        kind,
        name: name.to_owned(),
        at,
        type_name,
        type_at,
        inputs,
        common,
        node: node.clone(),
    })
}
