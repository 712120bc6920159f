//! Reading a pipeline file: interpolation, `--set` overrides, structure, options, wiring; every
//! problem collected before anything is reported.

use std::collections::HashMap;

use sluice_connect::component::Component;
use sluice_connect::registry::{self, Rejected};

use crate::diagnostic::{Diagnostic, Diagnostics, Loc, did_you_mean};
use crate::graph::{Graph, check};
use crate::interpolate::interpolate;
use crate::node::Node;
use crate::spec::{COMMON_KEYS, Kind, PipelineSpec};

/// How to read a file.
pub struct Source<'a> {
    /// The file's name as shown in messages.
    pub file: &'a str,
    /// Its text.
    pub text: &'a str,
    /// `key.path=value` overrides, applied after interpolation.
    pub sets: &'a [String],
    /// Environment lookup for `${VAR}`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Reads a YAML file of ours into a tree: interpolates variables, parses, applies the `--set`
/// overrides; on any problem, all of them.
pub fn tree(source: &Source<'_>) -> Result<Node, Diagnostics> {
    let diag = |at: Loc, path: &str, message: String| Diagnostic {
        file: source.file.to_owned(),
        at,
        path: path.to_owned(),
        message,
    };
    let text = match interpolate(source.text, source.env) {
        Ok(text) => text,
        Err(errs) => {
            return Err(
                Diagnostics(errs.into_iter().map(|(at, m)| diag(at, "", m)).collect()).finish(),
            );
        }
    };
    let mut root = Node::parse(&text).map_err(|(at, m)| Diagnostics(vec![diag(at, "", m)]))?;
    let mut problems = Vec::new();
    for set in source.sets {
        let Some((path, value)) = set.split_once('=') else {
            problems.push(diag(
                Loc::default(),
                "",
                format!("`--set {set}` needs the form `key.path=value`"),
            ));
            continue;
        };
        match Node::parse(value) {
            Ok(node) => root.set(&path.split('.').collect::<Vec<_>>(), node),
            Err((_, m)) => problems.push(diag(Loc::default(), path, format!("`--set {set}`: {m}"))),
        }
    }
    if problems.is_empty() {
        Ok(root)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Reads and checks a pipeline; on any problem, all of them.
pub fn load(source: &Source<'_>) -> Result<Graph, Diagnostics> {
    let file = source.file;
    let diag = |at: Loc, path: &str, message: String| Diagnostic {
        file: file.to_owned(),
        at,
        path: path.to_owned(),
        message,
    };
    let root = tree(source)?;
    let mut problems = Vec::new();
    let spec = PipelineSpec::from_node(file, &root, &mut problems);
    let mut instances = Vec::new();
    for c in &spec.components {
        if c.type_name.is_empty() {
            instances.push(None);
            continue;
        }
        let Some(registration) = registry::find(c.kind, &c.type_name) else {
            let hint = match did_you_mean(&c.type_name, registry::names(c.kind)) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "expected one of {}",
                    registry::names(c.kind)
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            problems.push(diag(
                c.type_at,
                &format!("{}.type", c.path()),
                format!("unknown {} type `{}`; {hint}", c.kind, c.type_name),
            ));
            instances.push(None);
            continue;
        };
        let options = c.node.without(&COMMON_KEYS);
        let mut places = HashMap::new();
        let json = options.to_json(&c.path(), &mut places);
        match registration.read(json) {
            Ok(instance) => {
                if let Component::Transform(t) = &instance
                    && !t.retries()
                {
                    for key in ["retry", "timeout", "circuit_breaker"] {
                        if let Some(node) = c.node.get(key) {
                            problems.push(diag(
                                node.at,
                                &format!("{}.{key}", c.path()),
                                format!("`{key}` has no effect on a `{}` transform: it computes the same result every time, so a failed event goes to `{}.errors` at once", c.type_name, c.name),
                            ));
                        }
                    }
                }
                if let Component::Source(source) = &instance
                    && !source.reconnects()
                    && let Some(node) = c.node.get("circuit_breaker")
                {
                    problems.push(diag(
                        node.at,
                        &format!("{}.circuit_breaker", c.path()),
                        format!("a `{}` source takes no `circuit_breaker`: only sources that connect to a service and reconnect (`redis_stream`, `nats`, `amqp`, `postgres`) do; put the breaker on the sink or `http_call` that calls a failing service", c.type_name),
                    ));
                }
                if c.kind != Kind::Sink
                    && let Some(node) = c.node.get("buffer")
                {
                    problems.push(diag(
                        node.at,
                        &format!("{}.buffer", c.path()),
                        format!(
                            "only a sink takes a `buffer`; put it on the sink that reads `{}`",
                            c.name
                        ),
                    ));
                }
                if c.kind == Kind::Sink
                    && let Some(node) = c.node.get("ordered_by")
                {
                    problems.push(diag(
                        node.at,
                        &format!("{}.ordered_by", c.path()),
                        "a sink takes no `ordered_by`; it writes events in the order it gets them: put `ordered_by` on the transform with `workers` before it".to_owned(),
                    ));
                }
                if c.kind == Kind::Sink
                    && let Some(node) = c.node.get("workers")
                {
                    problems.push(diag(
                        node.at,
                        &format!("{}.workers", c.path()),
                        "a sink takes no `workers`; it writes batches in order".to_owned(),
                    ));
                }
                instances.push(Some(instance));
            }
            Err(Rejected::Shape(err)) => {
                let (at, path, message) = options.locate(&c.path(), &places, err);
                problems.push(diag(at, &path, message));
                instances.push(None);
            }
            Err(Rejected::Invalid(found)) => {
                for problem in found {
                    let (at, path) = c.place(&problem.key);
                    problems.push(diag(at, &path, problem.message));
                }
                instances.push(None);
            }
        }
    }
    check(&spec, &instances, &mut problems);
    if !problems.is_empty() {
        return Err(Diagnostics(problems).finish());
    }
    Ok(Graph {
        spec,
        instances: instances.into_iter().flatten().collect(),
    })
}
