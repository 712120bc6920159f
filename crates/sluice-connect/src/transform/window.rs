//! `window`: aggregates events per time window (tumbling, sliding or session), per group.
//!
//! ```yaml
//! per_minute:
//!   type: window
//!   inputs: [events]
//!   kind: tumbling          # or sliding (with `slide`) or session (with `gap`)
//!   size: 1m
//!   time: .ts               # event time from the event; processing time if left out
//!   allowed_lateness: 5s
//!   group_by: .service
//!   aggregates:
//!     requests: count
//!     mean_latency: { avg: .latency_ms }
//!     worst: { max: .latency_ms }
//! ```
//!
//! Each closed window becomes `{"start": RFC 3339, "end": RFC 3339, "key": …, "count": n,
//! <aggregates>}`. An event whose time cannot be read goes to the error output; a late one
//! too, with the reason.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::window::{Aggregate, Window};
use sluice_core::{BoxError, Flow, Operators};
use sluice_event::Event;

use crate::component::{OptionError, Transform, TransformContext, TransformOutputs};
use sluice_jq::{Program, number};

/// The shape of the windows.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Back to back, `size` long.
    Tumbling,
    /// `size` long, one starting every `slide`.
    Sliding,
    /// Per group, open while events keep coming less than `gap` apart.
    Session,
}

/// One aggregate: `count`, or `{sum|avg|min|max|first|last|collect: <jq>}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AggregateSpec {
    /// `count`.
    Named(String),
    /// An operation on a jq expression's value per event.
    Of(BTreeMap<String, String>),
}

/// The `window` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowTransform {
    /// `tumbling`, `sliding` or `session`.
    pub kind: WindowKind,
    /// Window length (tumbling, sliding).
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub size: Option<Duration>,
    /// How often a sliding window starts.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub slide: Option<Duration>,
    /// Silence that ends a session.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub gap: Option<Duration>,
    /// A jq expression giving the event's time: an RFC 3339 string or seconds since the epoch.
    /// Defaults to none: processing time.
    #[serde(default)]
    pub time: Option<Program>,
    /// In event time, how far behind the latest event an event may arrive. Defaults to `0s`.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub allowed_lateness: Option<Duration>,
    /// A jq expression grouping events; each group has its own windows. Defaults to one group.
    #[serde(default)]
    pub group_by: Option<Program>,
    /// Output field names and what to compute. Defaults to just `count`.
    #[serde(default)]
    pub aggregates: BTreeMap<String, AggregateSpec>,
}

impl WindowTransform {
    /// The windows and aggregates the options describe, or what is wrong with them.
    fn windowing(&self) -> Result<Windowing, Vec<OptionError>> {
        let mut problems = Vec::new();
        let mut required = |key: &str, value: Option<Duration>| {
            if value.is_none() {
                let kind = format!("{:?}", self.kind).to_lowercase();
                problems.push(OptionError::new(
                    "kind",
                    format!("a {kind} window needs `{key}`"),
                ));
            }
            value.unwrap_or_default()
        };
        let (size, slide) = match self.kind {
            WindowKind::Tumbling => {
                let size = required("size", self.size);
                (size, size)
            }
            WindowKind::Sliding => (required("size", self.size), required("slide", self.slide)),
            WindowKind::Session => {
                let gap = required("gap", self.gap);
                (gap, gap)
            }
        };
        let mut aggregates = Vec::new();
        if self.aggregates.is_empty() {
            aggregates.push(("count".to_owned(), Op::Count));
        }
        for (name, spec) in &self.aggregates {
            match Op::compile(spec) {
                Ok(op) => aggregates.push((name.clone(), op)),
                Err(e) => problems.push(OptionError::new(format!("aggregates.{name}"), e)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Windowing {
            kind: self.kind,
            size,
            slide,
            time: self.time.clone(),
            allowed_lateness: self.allowed_lateness.unwrap_or_default(),
            group_by: self.group_by.clone(),
            aggregates: Aggregates(aggregates),
        })
    }
}

/// A compiled aggregate.
#[derive(Clone)]
enum Op {
    Count,
    Sum(Program),
    Avg(Program),
    Min(Program),
    Max(Program),
    First(Program),
    Last(Program),
    Collect(Program),
}

impl Op {
    /// Compiles one aggregate, or says what is expected.
    fn compile(spec: &AggregateSpec) -> Result<Op, String> {
        const EXPECTED: &str = "expected `count` or one of `sum`, `avg`, `min`, `max`, `first`, `last`, `collect` with a jq expression, like `{ avg: .latency_ms }`";
        match spec {
            AggregateSpec::Named(name) if name == "count" => Ok(Op::Count),
            AggregateSpec::Named(other) => {
                Err(format!("`{other}` is not an aggregate; {EXPECTED}"))
            }
            AggregateSpec::Of(map) => {
                let mut entries = map.iter();
                let (Some((op, code)), None) = (entries.next(), entries.next()) else {
                    return Err(format!("an aggregate has one operation; {EXPECTED}"));
                };
                let program = Program::compile(code).map_err(|e| format!("in `{op}`: {e}"))?;
                Ok(match op.as_str() {
                    "sum" => Op::Sum(program),
                    "avg" => Op::Avg(program),
                    "min" => Op::Min(program),
                    "max" => Op::Max(program),
                    "first" => Op::First(program),
                    "last" => Op::Last(program),
                    "collect" => Op::Collect(program),
                    other => return Err(format!("`{other}` is not an aggregate; {EXPECTED}")),
                })
            }
        }
    }
}

/// The running state of one aggregate.
enum State {
    Count(u64),
    Sum(f64),
    Avg(f64, u64),
    Best(Option<Value>),
    Collect(Vec<Value>),
}

/// Every aggregate of a window, by output name.
#[derive(Clone)]
struct Aggregates(Vec<(String, Op)>);

fn first_output(program: &Program, event: &Event) -> Value {
    program
        .outputs(event)
        .ok()
        .and_then(|v| v.into_iter().next())
        .unwrap_or(Value::Null)
}

impl Aggregate<Event> for Aggregates {
    type Acc = Vec<State>;
    type Output = Map<String, Value>;

    fn init(&self) -> Vec<State> {
        self.0
            .iter()
            .map(|(_, op)| match op {
                Op::Count => State::Count(0),
                Op::Sum(_) => State::Sum(0.0),
                Op::Avg(_) => State::Avg(0.0, 0),
                Op::Min(_) | Op::Max(_) | Op::First(_) | Op::Last(_) => State::Best(None),
                Op::Collect(_) => State::Collect(Vec::new()),
            })
            .collect()
    }

    fn add(&self, acc: &mut Vec<State>, event: &Event) {
        for ((_, op), state) in self.0.iter().zip(acc.iter_mut()) {
            match (op, state) {
                (Op::Count, State::Count(n)) => *n += 1,
                (Op::Sum(p), State::Sum(s)) => *s += first_output(p, event).as_f64().unwrap_or(0.0),
                (Op::Avg(p), State::Avg(s, n)) => {
                    if let Some(v) = first_output(p, event).as_f64() {
                        *s += v;
                        *n += 1;
                    }
                }
                (Op::Min(p) | Op::Max(p), State::Best(best)) => {
                    let v = first_output(p, event);
                    if v.is_null() {
                        continue;
                    }
                    let better = match (&*best, op) {
                        (None, _) => true,
                        (Some(b), Op::Min(_)) => order(&v, b).is_lt(),
                        (Some(b), _) => order(&v, b).is_gt(),
                    };
                    if better {
                        *best = Some(v);
                    }
                }
                (Op::First(p), State::Best(best)) if best.is_none() => {
                    *best = Some(first_output(p, event));
                }
                (Op::Last(p), State::Best(best)) => *best = Some(first_output(p, event)),
                (Op::Collect(p), State::Collect(items)) => items.push(first_output(p, event)),
                _ => {}
            }
        }
    }

    fn merge(&self, acc: &mut Vec<State>, other: Vec<State>) {
        for (((_, op), mine), theirs) in self.0.iter().zip(acc.iter_mut()).zip(other) {
            match (mine, theirs) {
                (State::Count(a), State::Count(b)) => *a += b,
                (State::Sum(a), State::Sum(b)) => *a += b,
                (State::Avg(s, n), State::Avg(t, m)) => {
                    *s += t;
                    *n += m;
                }
                (State::Collect(a), State::Collect(b)) => a.extend(b),
                (State::Best(a), State::Best(b)) => {
                    let keep_b = match (&*a, &b) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some(x), Some(y)) => match op {
                            Op::Min(_) => order(y, x).is_lt(),
                            Op::Max(_) => order(y, x).is_gt(),
                            Op::Last(_) => true,
                            _ => false,
                        },
                    };
                    if keep_b {
                        *a = b;
                    }
                }
                _ => {}
            }
        }
    }

    fn finish(&self, acc: Vec<State>) -> Map<String, Value> {
        self.0
            .iter()
            .zip(acc)
            .map(|((name, _), state)| {
                let value = match state {
                    State::Count(n) => Value::from(n),
                    State::Sum(s) => number(s),
                    State::Avg(_, 0) => Value::Null,
                    State::Avg(s, n) => number(s / n as f64),
                    State::Best(v) => v.unwrap_or(Value::Null),
                    State::Collect(items) => Value::Array(items),
                };
                (name.clone(), value)
            })
            .collect()
    }
}

fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// An event's time in milliseconds since the epoch from a jq value.
fn millis(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .map(|s| (s * 1000.0) as i64)
            .ok_or_else(|| format!("{n} is not a time")),
        Value::String(s) => humantime::parse_rfc3339_weak(s)
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .ok_or_else(|| format!("`{s}` is not an RFC 3339 time (like 2026-01-01T12:00:00Z)")),
        other => Err(format!(
            "{other} is not a time; expected an RFC 3339 string or seconds since the epoch"
        )),
    }
}

fn rfc3339(ms: i64) -> Value {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    Value::String(humantime::format_rfc3339_millis(at).to_string())
}

/// The windows of a `window` transform, checked, and its aggregates compiled.
struct Windowing {
    kind: WindowKind,
    size: Duration,
    slide: Duration,
    time: Option<Program>,
    allowed_lateness: Duration,
    group_by: Option<Program>,
    aggregates: Aggregates,
}

/// An event with its time and group, read before the window so a failure can reach the error
/// output.
struct Keyed {
    time: i64,
    group: String,
    event: Event,
}

impl Transform for WindowTransform {
    fn check(&self) -> Vec<OptionError> {
        self.windowing().err().unwrap_or_default()
    }

    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let windowing = self.windowing().map_err(|problems| {
            let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
            messages.join("; ")
        })?;
        windowing.build(input, ctx)
    }
}

impl Windowing {
    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let (stage, errors) = ctx.stage(input);
        let (time, group_by) = (self.time.clone(), self.group_by.clone());
        let keyed = stage.try_flat_map(move |event: Event| {
            let time = match &time {
                Some(p) => match millis(&first_output(p, &event)) {
                    Ok(t) => t,
                    Err(e) => return Err((event, format!("cannot read the event's time: {e}"))),
                },
                None => 0,
            };
            let group = match &group_by {
                Some(p) => match p.outputs(&event) {
                    Ok(v) => v.into_iter().next().unwrap_or(Value::Null).to_string(),
                    Err(e) => return Err((event, e)),
                },
                None => String::new(),
            };
            Ok(Some(Keyed { time, group, event }))
        });
        let mut window = match self.kind {
            WindowKind::Tumbling => Window::tumbling(self.size),
            WindowKind::Sliding => Window::sliding(self.size, self.slide),
            WindowKind::Session => Window::session(self.size),
        };
        if self.time.is_some() {
            window = window
                .event_time(|k: &Keyed| k.time)
                .allowed_lateness(self.allowed_lateness);
        }
        let grouped = self.group_by.is_some();
        let aggregates = KeyedAggregates(self.aggregates.clone());
        let results = keyed
            .stage(format!("{}.window", ctx.name))
            .key_by(|k: &Keyed| k.group.clone())
            .window(window)
            .aggregate(aggregates)
            .stage(format!("{}.emit", ctx.name))
            .map(move |w| {
                let mut out = Map::new();
                out.insert("start".into(), rfc3339(w.start));
                out.insert("end".into(), rfc3339(w.end));
                if grouped {
                    out.insert(
                        "key".into(),
                        serde_json::from_str(&w.key).unwrap_or(Value::Null),
                    );
                }
                out.insert("count".into(), Value::from(w.count));
                out.extend(w.value);
                Event::new(Value::Object(out))
            });
        Ok(TransformOutputs::main(results, errors))
    }
}

/// The aggregates, over the events inside their keyed wrappers.
#[derive(Clone)]
struct KeyedAggregates(Aggregates);

impl Aggregate<Keyed> for KeyedAggregates {
    type Acc = Vec<State>;
    type Output = Map<String, Value>;

    fn init(&self) -> Vec<State> {
        self.0.init()
    }
    fn add(&self, acc: &mut Vec<State>, item: &Keyed) {
        self.0.add(acc, &item.event);
    }
    fn merge(&self, acc: &mut Vec<State>, other: Vec<State>) {
        self.0.merge(acc, other);
    }
    fn finish(&self, acc: Vec<State>) -> Map<String, Value> {
        self.0.finish(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_times_as_rfc3339_or_seconds() {
        assert_eq!(millis(&Value::from(1.5)), Ok(1500));
        assert_eq!(millis(&Value::from("1970-01-01T00:00:02Z")), Ok(2000));
        assert!(millis(&Value::from("yesterday")).is_err());
        assert!(millis(&Value::Null).is_err());
    }
}
