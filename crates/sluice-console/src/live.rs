//! Pipelines as they run: each component's figures, sampled every second, with five minutes of
//! history, and the bottleneck.
//!
//! A component's engine stages are named after it (`enrich`, `enrich.merge`, `logs.decode`);
//! its outputs carry [`Tap`]s that count what leaves and lend samples. From those:
//!
//! - events in: what its inputs' outputs carried (a source: what it read);
//! - events out: what its outputs carried, the error output aside (a sink: what it wrote);
//!   an output counts what the component sends into it;
//! - errors: its stages' failures after retries; dead letters: what its `errors` output carried;
//! - queue: the input channel of its first stage, items waiting of its capacity;
//! - busy: the time its stages spent working per second of wall time, per worker (0 to 1);
//! - latency: p50 and p99 of its main stage over the last second.
//!
//! The **bottleneck** is the component that holds the pipeline back: its input queue at least
//! half full while none of its readers' is (it is not itself waiting for room downstream),
//! the busiest such one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_core::probe::Tap;
use sluice_core::{LatencyWindow, Pipeline, StageSnapshot};

/// Seconds of history kept per component.
const HISTORY: usize = 300;

/// A queue this full (or fuller) holds events back.
const FULL: f64 = 0.5;

/// A running pipeline, as [`crate::Console::pipelines`] is given it.
pub struct LivePipeline {
    /// The engine pipeline, whose stages hold the counters.
    pub pipeline: Pipeline,
    /// Its components, in the file's order.
    pub components: Vec<LiveComponent>,
}

/// One component of a running pipeline.
pub struct LiveComponent {
    /// Its name.
    pub name: String,
    /// `source`, `transform` or `sink`.
    pub kind: &'static str,
    /// Its `type`.
    pub type_name: String,
    /// Its workers (1 unless set).
    pub workers: usize,
    /// Its settings as written, secrets masked.
    pub settings: serde_json::Value,
    /// The outputs it reads: (component, output name or `None` for the main one).
    pub inputs: Vec<(String, Option<String>)>,
    /// Its outputs (`None` for the main one), each with what counts and samples it.
    pub outputs: Vec<(Option<String>, Arc<dyn Tap>)>,
}

/// What the console keeps of the pipelines it shows.
pub(crate) struct Live {
    pipelines: Vec<Watched>,
}

struct Watched {
    source: LivePipeline,
    state: Mutex<Sampled>,
}

/// The figures of the last sample, and what the next one needs.
#[derive(Default)]
struct Sampled {
    at: Option<(Instant, DateTime<Utc>)>,
    components: Vec<Figures>,
    /// Per component: the counters of the last sample, and its main stage's latency window.
    previous: Vec<(Counters, LatencyWindow)>,
    /// Per component: what each of its outputs had carried at the last sample.
    carried: Vec<Vec<u64>>,
}

/// Running totals of one component.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    events_in: u64,
    events_out: u64,
    errors: u64,
    dead_letters: u64,
    busy_ns: u64,
}

/// One component's figures at a sample, as the API shows them.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Figures {
    events_in: u64,
    events_out: u64,
    errors: u64,
    dead_letters: u64,
    in_per_sec: f64,
    out_per_sec: f64,
    errors_per_sec: f64,
    dead_letters_per_sec: f64,
    queue_depth: usize,
    queue_capacity: usize,
    busy: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    bottleneck: bool,
    /// Events per second on each output, in the component's order of outputs.
    #[serde(skip)]
    output_rates: Vec<f64>,
    #[serde(skip)]
    history: VecDeque<Point>,
}

/// One second of a component's history.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    at: DateTime<Utc>,
    in_per_sec: f64,
    out_per_sec: f64,
    errors_per_sec: f64,
    busy: f64,
    queue_fill: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl Live {
    /// Starts sampling `pipelines` every second, for as long as the console lives.
    pub(crate) fn start(pipelines: Vec<LivePipeline>) -> Arc<Live> {
        let live = Arc::new(Live {
            pipelines: pipelines
                .into_iter()
                .map(|source| Watched {
                    source,
                    state: Mutex::default(),
                })
                .collect(),
        });
        for watched in &live.pipelines {
            watched.sample();
        }
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(live) = weak.upgrade() else { return };
                for watched in &live.pipelines {
                    watched.sample();
                }
            }
        });
        live
    }

    /// The names of the pipelines shown.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.pipelines
            .iter()
            .map(|w| w.source.pipeline.name())
            .collect()
    }

    /// Every pipeline's graph with its figures.
    pub(crate) fn overview(&self) -> serde_json::Value {
        serde_json::Value::Array(self.pipelines.iter().map(Watched::graph).collect())
    }

    /// A component's figures, settings, stages and history; `None` if there is no such one.
    pub(crate) fn component(&self, pipeline: &str, name: &str) -> Option<serde_json::Value> {
        let watched = self.watched(pipeline)?;
        let i = watched
            .source
            .components
            .iter()
            .position(|c| c.name == name)?;
        Some(watched.component(i))
    }

    /// A component's output, to tap; `None` if there is no such one.
    pub(crate) fn output(
        &self,
        pipeline: &str,
        name: &str,
        output: Option<&str>,
    ) -> Option<Arc<dyn Tap>> {
        let watched = self.watched(pipeline)?;
        let component = watched.source.components.iter().find(|c| c.name == name)?;
        component
            .outputs
            .iter()
            .find(|(o, _)| o.as_deref() == output)
            .map(|(_, tap)| Arc::clone(tap))
    }

    fn watched(&self, pipeline: &str) -> Option<&Watched> {
        self.pipelines
            .iter()
            .find(|w| w.source.pipeline.name() == pipeline)
    }
}

/// Whether a stage belongs to a component: it is named after it.
fn belongs(stage: &str, component: &str) -> bool {
    stage
        .strip_prefix(component)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Items waiting in a stage's input channel over its capacity.
fn fill(queue: (usize, usize)) -> f64 {
    if queue.1 == 0 {
        0.0
    } else {
        queue.0 as f64 / queue.1 as f64
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Watched {
    /// Reads every counter and computes the figures of the second since the last sample.
    fn sample(&self) {
        let components = &self.source.components;
        let stages: Vec<(Arc<sluice_core::StageStats>, StageSnapshot)> = self
            .source
            .pipeline
            .stages()
            .into_iter()
            .map(|s| {
                let snapshot = s.snapshot();
                (s, snapshot)
            })
            .collect();
        let passed = |from: &str, output: Option<&str>| -> u64 {
            components
                .iter()
                .find(|c| c.name == from)
                .and_then(|c| c.outputs.iter().find(|(o, _)| o.as_deref() == output))
                .map_or(0, |(_, tap)| tap.passed())
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = (Instant::now(), Utc::now());
        let seconds = state
            .at
            .map_or(0.0, |(then, _)| now.0.duration_since(then).as_secs_f64());
        state
            .previous
            .resize_with(components.len(), Default::default);
        state.carried.resize_with(components.len(), Vec::new);
        state
            .components
            .resize_with(components.len(), Figures::default);
        let mut queues = Vec::with_capacity(components.len());
        for (i, c) in components.iter().enumerate() {
            let own: Vec<&(Arc<sluice_core::StageStats>, StageSnapshot)> = stages
                .iter()
                .filter(|(_, s)| belongs(&s.name, &c.name))
                .collect();
            let main = own.iter().find(|(_, s)| s.name == c.name);
            // Where events come in: the merge of several inputs, else a sink's disk buffer,
            // else the component itself.
            let entry = ["merge", "buffer"]
                .iter()
                .find_map(|stage| {
                    own.iter()
                        .find(|(_, s)| s.name == format!("{}.{stage}", c.name))
                })
                .or(main);
            let queue = entry.map_or((0, 0), |(_, s)| (s.queue_depth, s.queue_capacity));
            queues.push(queue);
            let outputs: u64 = c
                .outputs
                .iter()
                .filter(|(o, _)| o.as_deref() != Some("errors"))
                .map(|(_, tap)| tap.passed())
                .sum();
            let dead_letters = passed(&c.name, Some("errors"));
            let events_in = match c.kind {
                "source" => outputs + dead_letters,
                _ => c
                    .inputs
                    .iter()
                    .map(|(from, output)| passed(from, output.as_deref()))
                    .sum(),
            };
            let events_out = match c.kind {
                "sink" => main.map_or(0, |(_, s)| s.items_out),
                _ => outputs,
            };
            let counters = Counters {
                events_in,
                events_out,
                errors: own.iter().map(|(_, s)| s.errors).sum(),
                dead_letters,
                busy_ns: own
                    .iter()
                    .map(|(_, s)| u64::try_from(s.busy.as_nanos()).unwrap_or(u64::MAX))
                    .sum(),
            };
            let rate = |now: u64, then: u64| {
                if seconds > 0.0 {
                    now.saturating_sub(then) as f64 / seconds
                } else {
                    0.0
                }
            };
            let carried: Vec<u64> = c.outputs.iter().map(|(_, tap)| tap.passed()).collect();
            let output_rates: Vec<f64> = carried
                .iter()
                .enumerate()
                .map(|(k, now)| rate(*now, state.carried[i].get(k).copied().unwrap_or(0)))
                .collect();
            state.carried[i] = carried;
            let history = std::mem::take(&mut state.components[i].history);
            let (before, window) = &mut state.previous[i];
            let latency = main.and_then(|(stats, _)| window.advance(stats));
            let busy = if seconds > 0.0 {
                (counters.busy_ns.saturating_sub(before.busy_ns) as f64
                    / 1e9
                    / seconds
                    / c.workers.max(1) as f64)
                    .min(1.0)
            } else {
                0.0
            };
            let figures = Figures {
                events_in,
                events_out,
                errors: counters.errors,
                dead_letters,
                in_per_sec: rate(events_in, before.events_in),
                out_per_sec: rate(events_out, before.events_out),
                errors_per_sec: rate(counters.errors, before.errors),
                dead_letters_per_sec: rate(dead_letters, before.dead_letters),
                queue_depth: queue.0,
                queue_capacity: queue.1,
                busy,
                p50_ms: latency.map(|l| millis(l.0)),
                p99_ms: latency.map(|l| millis(l.1)),
                bottleneck: false,
                output_rates,
                history,
            };
            *before = counters;
            state.components[i] = figures;
        }
        let bottleneck = components
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                c.kind != "source"
                    && fill(queues[*i]) >= FULL
                    && !components.iter().enumerate().any(|(j, reader)| {
                        fill(queues[j]) >= FULL
                            && reader.inputs.iter().any(|(from, _)| from == &c.name)
                    })
            })
            .max_by(|(a, _), (b, _)| {
                let key = |i: usize| (state.components[i].busy, fill(queues[i]));
                key(*a)
                    .partial_cmp(&key(*b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(i, _)| i);
        for (i, figures) in state.components.iter_mut().enumerate() {
            figures.bottleneck = Some(i) == bottleneck;
            if seconds > 0.0 {
                if figures.history.len() == HISTORY {
                    figures.history.pop_front();
                }
                figures.history.push_back(Point {
                    at: now.1,
                    in_per_sec: figures.in_per_sec,
                    out_per_sec: figures.out_per_sec,
                    errors_per_sec: figures.errors_per_sec,
                    busy: figures.busy,
                    queue_fill: fill(queues[i]),
                    p50_ms: figures.p50_ms,
                    p99_ms: figures.p99_ms,
                });
            }
        }
        state.at = Some(now);
    }

    /// The pipeline's graph: components with their figures, and edges with their rates.
    fn graph(&self) -> serde_json::Value {
        let Ok(state) = self.state.lock() else {
            return serde_json::Value::Null;
        };
        let components = &self.source.components;
        let nodes: Vec<serde_json::Value> = components
            .iter()
            .zip(&state.components)
            .map(|(c, figures)| describe(c, figures))
            .collect();
        let rate = |from: &str, output: &Option<String>| -> f64 {
            components
                .iter()
                .zip(&state.components)
                .find(|(c, _)| c.name == from)
                .and_then(|(c, figures)| {
                    let k = c.outputs.iter().position(|(o, _)| o == output)?;
                    figures.output_rates.get(k).copied()
                })
                .unwrap_or(0.0)
        };
        let edges: Vec<serde_json::Value> = components
            .iter()
            .flat_map(|c| {
                c.inputs.iter().map(|(from, output)| {
                    serde_json::json!({
                        "from": from,
                        "output": output,
                        "to": c.name,
                        "per_sec": rate(from, output),
                    })
                })
            })
            .collect();
        let bottleneck = components
            .iter()
            .zip(&state.components)
            .find(|(_, f)| f.bottleneck)
            .map(|(c, _)| c.name.as_str());
        serde_json::json!({
            "name": self.source.pipeline.name(),
            "sampled_at": state.at.map(|(_, at)| at),
            "bottleneck": bottleneck,
            "components": nodes,
            "edges": edges,
        })
    }

    /// Component `i` in full: its figures, settings, engine stages and history.
    fn component(&self, i: usize) -> serde_json::Value {
        let c = &self.source.components[i];
        let Ok(state) = self.state.lock() else {
            return serde_json::Value::Null;
        };
        let Some(figures) = state.components.get(i) else {
            return serde_json::Value::Null;
        };
        let stages: Vec<serde_json::Value> = self
            .source
            .pipeline
            .snapshot()
            .into_iter()
            .filter(|s| belongs(&s.name, &c.name))
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "operator": s.kind,
                    "items_in": s.items_in,
                    "items_out": s.items_out,
                    "errors": s.errors,
                    "retries": s.retries,
                    "queue_depth": s.queue_depth,
                    "queue_capacity": s.queue_capacity,
                    "p50_ms": millis(s.p50),
                    "p99_ms": millis(s.p99),
                })
            })
            .collect();
        let mut view = describe(c, figures);
        view["pipeline"] = serde_json::json!(self.source.pipeline.name());
        view["settings"] = c.settings.clone();
        view["stages"] = serde_json::json!(stages);
        view["history"] = serde_json::json!(figures.history);
        view
    }
}

/// A component with its figures, as the overview lists it.
fn describe(c: &LiveComponent, figures: &Figures) -> serde_json::Value {
    let mut view = serde_json::json!(figures);
    view["name"] = serde_json::json!(c.name);
    view["kind"] = serde_json::json!(c.kind);
    view["type"] = serde_json::json!(c.type_name);
    view["workers"] = serde_json::json!(c.workers);
    view["inputs"] = serde_json::json!(
        c.inputs
            .iter()
            .map(|(from, output)| match output {
                Some(o) => format!("{from}.{o}"),
                None => from.clone(),
            })
            .collect::<Vec<_>>()
    );
    view["outputs"] = serde_json::json!(c.outputs.iter().map(|(o, _)| o).collect::<Vec<_>>());
    view
}
