//! The component graph: checking its wiring, and building it on the engine.
//!
//! Each output that several components read is broadcast to them (each gets every event); a
//! component with several inputs merges them. An error output nobody reads is not made at all:
//! the component then counts and logs its failures.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sluice_connect::blackhole::BlackholeSink;
use sluice_connect::component::{
    Component, Progress, Sink, SinkContext, SourceContext, TransformContext,
};
use sluice_core::probe::Probe;
use sluice_core::{BoxError, Flow, Operators, Pipeline, Policy};
use sluice_event::Event;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::spec::{BreakerSpec, ComponentSpec, Kind, PipelineSpec, RetrySpec};

/// An output of a component: (component, output name or `None` for the main one).
pub(crate) type OutputId = (String, Option<String>);

/// A checked pipeline: its spec and every component configured.
pub struct Graph {
    /// The file as read.
    pub spec: PipelineSpec,
    /// The components, in the spec's order.
    pub(crate) instances: Vec<Component>,
}

/// Where a test run or a replay puts events in, and a test takes them out.
#[derive(Default)]
pub(crate) struct Overrides {
    /// Flows of the same pipeline that replace a source's output, or join the inputs of a
    /// transform or sink (merged with those of its inputs that are built).
    pub(crate) feeds: HashMap<String, Flow<Event>>,
    /// Outputs to copy into collectors, with where each copy goes.
    pub(crate) taps: Vec<(OutputId, tokio::sync::mpsc::UnboundedSender<Event>)>,
    /// Replace sinks by blackholes (tests write nowhere).
    pub(crate) mute_sinks: bool,
}

/// A built pipeline, ready to run.
pub struct Built {
    /// The engine pipeline.
    pub pipeline: Pipeline,
    /// Progress of the sources that know their size.
    pub progress: Vec<(String, Progress)>,
    /// Every output built: (component, output name or `None` for the main one), with the
    /// probe that counts its events and samples them for live views (`sluice top`, `tap`).
    pub outputs: Vec<(String, Option<String>, Arc<Probe<Event>>)>,
}

/// Checks the wiring: inputs that exist, no cycles, nothing unread. A component whose options
/// did not parse (`None`) is taken to have whatever outputs its readers name, so its problem
/// is reported once, not again at every reader.
pub(crate) fn check(
    spec: &PipelineSpec,
    instances: &[Option<Component>],
    out: &mut Vec<Diagnostic>,
) {
    {
        let file = &spec.file;
        let diag = |at, path: String, message: String| Diagnostic {
            file: file.clone(),
            at,
            path,
            message,
        };
        let outputs: HashMap<&str, Option<Vec<Option<String>>>> = spec
            .components
            .iter()
            .zip(instances)
            .map(|(c, i)| (c.name.as_str(), i.as_ref().map(Component::outputs)))
            .collect();
        let names: Vec<&str> = spec.components.iter().map(|c| c.name.as_str()).collect();
        let mut read: HashSet<OutputId> = HashSet::new();
        for c in &spec.components {
            for (i, input) in c.inputs.iter().enumerate() {
                let path = format!("{}.inputs[{i}]", c.path());
                read.insert((input.component.clone(), input.output.clone()));
                let Some(target) = spec.component(&input.component) else {
                    let hint = did_you_mean(&input.component, names.iter().copied())
                        .map_or_else(String::new, |n| format!("; did you mean `{n}`?"));
                    out.push(diag(
                        input.at,
                        path,
                        format!(
                            "input `{input}` of {} `{}` does not exist{hint}",
                            c.kind, c.name
                        ),
                    ));
                    continue;
                };
                if target.name == c.name {
                    out.push(diag(
                        input.at,
                        path,
                        format!("`{}` cannot read its own output", c.name),
                    ));
                    continue;
                }
                let Some(available) = &outputs[target.name.as_str()] else {
                    continue;
                };
                if target.kind == Kind::Sink && input.output.is_none() {
                    out.push(diag(
                        input.at,
                        path,
                        format!(
                            "`{}` is a sink: it has no output to read (only `{}.errors`)",
                            target.name, target.name
                        ),
                    ));
                } else if !available.contains(&input.output) {
                    let listed: Vec<String> = available
                        .iter()
                        .map(|o| match o {
                            Some(o) => format!("`{}.{o}`", target.name),
                            None => format!("`{}`", target.name),
                        })
                        .collect();
                    let wanted = input.output.as_deref().unwrap_or("(main)");
                    let close =
                        did_you_mean(wanted, available.iter().flatten().map(String::as_str))
                            .map_or_else(String::new, |o| {
                                format!("did you mean `{}.{o}`? ", target.name)
                            });
                    out.push(diag(
                        input.at,
                        path,
                        format!(
                            "{} `{}` has no output `{wanted}`; {close}it has {}",
                            target.kind,
                            target.name,
                            listed.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(cycle) = cycle(spec) {
            let first = spec.component(&cycle[0]);
            out.push(diag(
                first.map(|c| c.at).unwrap_or_default(),
                first.map(ComponentSpec::path).unwrap_or_default(),
                format!(
                    "the inputs form a cycle: {} → {}",
                    cycle.join(" → "),
                    cycle[0]
                ),
            ));
        }
        for (c, i) in spec.components.iter().zip(instances) {
            if c.kind == Kind::Sink {
                continue;
            }
            let Some(i) = i else { continue };
            let is_read = Component::outputs(i)
                .iter()
                .any(|o| read.contains(&(c.name.clone(), o.clone())));
            if !is_read {
                out.push(diag(
                    c.at,
                    c.path(),
                    format!(
                        "{} `{}` is not an input of any transform or sink; wire it or remove it",
                        c.kind, c.name
                    ),
                ));
            }
        }
    }
}

/// A cycle of components, if the inputs form one.
fn cycle(spec: &PipelineSpec) -> Option<Vec<String>> {
    {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        fn visit(
            g: &PipelineSpec,
            name: &str,
            marks: &mut HashMap<String, Mark>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            match marks.get(name) {
                Some(Mark::Done) => return None,
                Some(Mark::Open) => {
                    let start = stack.iter().position(|n| n == name).unwrap_or(0);
                    return Some(stack[start..].to_vec());
                }
                None => {}
            }
            marks.insert(name.to_owned(), Mark::Open);
            stack.push(name.to_owned());
            if let Some(c) = g.component(name) {
                for input in &c.inputs {
                    if g.component(&input.component).is_some()
                        && let Some(cycle) = visit(g, &input.component, marks, stack)
                    {
                        return Some(cycle);
                    }
                }
            }
            stack.pop();
            marks.insert(name.to_owned(), Mark::Done);
            None
        }
        let mut marks = HashMap::new();
        for c in &spec.components {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(spec, &c.name, &mut marks, &mut stack) {
                return Some(cycle);
            }
        }
        None
    }
}

impl Graph {
    /// Components in an order where every input comes before its readers.
    fn order(&self) -> Vec<usize> {
        let mut done: HashSet<&str> = HashSet::new();
        let mut order = Vec::new();
        while order.len() < self.spec.components.len() {
            let before = order.len();
            for (i, c) in self.spec.components.iter().enumerate() {
                if done.contains(c.name.as_str()) {
                    continue;
                }
                if c.inputs
                    .iter()
                    .all(|input| done.contains(input.component.as_str()))
                {
                    done.insert(&c.name);
                    order.push(i);
                }
            }
            if order.len() == before {
                break;
            }
        }
        order
    }

    /// Builds the graph on a new engine pipeline.
    pub fn build(&self, pipeline: Pipeline) -> Result<Built, BoxError> {
        self.build_only(pipeline, Overrides::default(), &self.spec.names())
    }

    /// Builds the graph with `events` in place of the output of its only source (the
    /// `pipeline` job handler runs a job's arguments through a pipeline so).
    pub fn build_fed(&self, pipeline: Pipeline, events: Vec<Event>) -> Result<Built, BoxError> {
        let sources = self.spec.sources();
        let [source] = sources.as_slice() else {
            return Err(format!(
                "a pipeline fed from outside needs exactly one source, to be replaced by its input; this one has {}",
                sources.len()
            )
            .into());
        };
        let mut overrides = Overrides::default();
        let feed = pipeline.source(*source).from_iter(events);
        overrides.feeds.insert((*source).to_owned(), feed);
        self.build_only(pipeline, overrides, &self.spec.names())
    }

    /// Builds the components named in `only` (inputs from others are left out).
    pub(crate) fn build_only(
        &self,
        pipeline: Pipeline,
        mut overrides: Overrides,
        only: &HashSet<String>,
    ) -> Result<Built, BoxError> {
        // Channels of events are weighed for the pipeline's memory limit.
        sluice_event::weight::register();
        // How many times each output is read.
        let mut readers: HashMap<OutputId, usize> = HashMap::new();
        for c in &self.spec.components {
            if !only.contains(&c.name) {
                continue;
            }
            for input in &c.inputs {
                *readers
                    .entry((input.component.clone(), input.output.clone()))
                    .or_default() += 1;
            }
        }
        let mut taps: HashMap<OutputId, Vec<tokio::sync::mpsc::UnboundedSender<Event>>> =
            HashMap::new();
        for (id, tx) in std::mem::take(&mut overrides.taps) {
            *readers.entry(id.clone()).or_default() += 1;
            taps.entry(id).or_default().push(tx);
        }
        let mut ready: HashMap<OutputId, Vec<Flow<Event>>> = HashMap::new();
        let mut progress = Vec::new();
        let mut outputs = Vec::new();
        for i in self.order() {
            let spec = &self.spec.components[i];
            if !only.contains(&spec.name) {
                continue;
            }
            let instance = &self.instances[i];
            let wired =
                |output: &str| readers.contains_key(&(spec.name.clone(), Some(output.to_owned())));
            let mut made: Vec<(Option<String>, Flow<Event>)> = Vec::new();
            let mut fed = overrides.feeds.remove(&spec.name);
            let input = match spec.kind {
                Kind::Source => None,
                _ => {
                    let mut flows: Vec<Flow<Event>> = spec
                        .inputs
                        .iter()
                        .filter_map(|input| {
                            ready
                                .get_mut(&(input.component.clone(), input.output.clone()))
                                .and_then(Vec::pop)
                        })
                        .chain(fed.take())
                        .collect();
                    match flows.len() {
                        0 => None,
                        1 => flows.pop(),
                        _ => {
                            let first = flows.remove(0);
                            Some(
                                first
                                    .stage(format!("{}.merge", spec.name))
                                    .merge_with(flows),
                            )
                        }
                    }
                }
            };
            match instance {
                Component::Source(source) => {
                    if let Some(flow) = fed {
                        made.push((None, flow));
                    } else {
                        let ctx = SourceContext {
                            pipeline: pipeline.clone(),
                            name: spec.name.clone(),
                            errors_wired: wired("errors"),
                            breaker: spec
                                .common
                                .circuit_breaker
                                .as_ref()
                                .map(BreakerSpec::to_breaker),
                        };
                        let built = source.build(&ctx)?;
                        made.push((None, built.events));
                        if let Some(errors) = built.errors {
                            made.push((Some("errors".into()), errors));
                        }
                        if let Some(p) = built.progress {
                            progress.push((spec.name.clone(), p));
                        }
                    }
                }
                Component::Transform(transform) => {
                    let Some(input) = input else { continue };
                    let mut calls = policy(spec, transform.retries());
                    if let Some(limit) = spec.common.timeout {
                        calls = calls.timeout(limit);
                    }
                    let ctx = TransformContext {
                        pipeline: pipeline.clone(),
                        name: spec.name.clone(),
                        errors_wired: wired("errors"),
                        workers: spec.common.workers.unwrap_or(1).max(1),
                        policy: calls,
                        ordered_by: spec.common.ordered_by.clone(),
                    };
                    let outputs = transform.build(input, &ctx)?;
                    if let Some(main) = outputs.main {
                        made.push((None, main));
                    }
                    made.extend(outputs.named.into_iter().map(|(n, f)| (Some(n), f)));
                    if let Some(errors) = outputs.errors {
                        made.push((Some("errors".into()), errors));
                    }
                }
                Component::Sink(sink) => {
                    let Some(mut input) = input else { continue };
                    if let Some(buffer) = &spec.common.buffer
                        && !overrides.mute_sinks
                    {
                        let data_dir = self
                            .spec
                            .settings
                            .data_dir
                            .as_deref()
                            .unwrap_or(std::path::Path::new(crate::spec::DEFAULT_DATA_DIR));
                        let buffer = buffer.to_disk_buffer(data_dir, pipeline.name(), &spec.name);
                        input = sluice_connect::buffer::disk_buffer(input, &spec.name, &buffer)?;
                    }
                    let ctx = SinkContext {
                        pipeline: pipeline.clone(),
                        name: spec.name.clone(),
                        errors_wired: wired("errors"),
                        policy: policy(spec, true),
                        timeout: spec.common.timeout,
                    };
                    let built = if overrides.mute_sinks {
                        BlackholeSink::default().build(input, &ctx)?
                    } else {
                        sink.build(input, &ctx)?
                    };
                    if let Some(errors) = built.errors {
                        made.push((Some("errors".into()), errors));
                    }
                }
            }
            for (output, flow) in made {
                let id = (spec.name.clone(), output);
                let probe = Probe::new(Event::to_json_string);
                let flow = flow.probe(&probe);
                outputs.push((id.0.clone(), id.1.clone(), probe));
                let n = readers.get(&id).copied().unwrap_or(0);
                let mut copies = match n {
                    // Nobody reads it: the events are discarded (and acknowledged).
                    0 => {
                        flow.stage(format!("{}.unread", id_text(&id))).sink(Discard);
                        continue;
                    }
                    1 => vec![flow],
                    n => flow.stage(format!("{}.fanout", id_text(&id))).broadcast(n),
                };
                for tx in taps.remove(&id).unwrap_or_default() {
                    if let Some(copy) = copies.pop() {
                        copy.stage(format!("{}.tap", id_text(&id)))
                            .sink(Collect(tx));
                    }
                }
                ready.insert(id, copies);
            }
        }
        Ok(Built {
            pipeline,
            progress,
            outputs,
        })
    }
}

fn id_text(id: &OutputId) -> String {
    match &id.1 {
        Some(o) => format!("{}.{o}", id.0),
        None => id.0.clone(),
    }
}

/// The policy from a component's `retry` and `circuit_breaker`: a component that `retries` (a
/// sink, `http_call`) retries transient failures without end unless its `retry` says otherwise. A transform's
/// `timeout` joins it; a sink's goes to the sink, which reports a write that times out.
fn policy(spec: &ComponentSpec, retries: bool) -> Policy {
    let policy = match &spec.common.retry {
        Some(retry) => Policy::new().retry(retry.to_retry()),
        None if retries => Policy::new().retry(RetrySpec::default().to_retry()),
        None => Policy::new(),
    };
    match &spec.common.circuit_breaker {
        // A sink's events wait while its breaker is open; a transform's fail fast.
        Some(breaker) if spec.kind == Kind::Sink => policy
            .circuit_breaker(breaker.to_breaker())
            .wait_while_open(),
        Some(breaker) => policy.circuit_breaker(breaker.to_breaker()),
        None => policy,
    }
}

/// Acknowledges and drops events of an output nobody reads.
struct Discard;

impl sluice_core::Sink<Event> for Discard {
    async fn write(&mut self, _: &[Event]) -> Result<(), sluice_core::WriteError> {
        Ok(())
    }
}

/// Copies events of a tapped output into a test's collector.
struct Collect(tokio::sync::mpsc::UnboundedSender<Event>);

impl sluice_core::Sink<Event> for Collect {
    async fn write(&mut self, events: &[Event]) -> Result<(), sluice_core::WriteError> {
        for e in events {
            let _ = self.0.send(e.clone());
        }
        Ok(())
    }
}
