//! Unit tests written beside a pipeline, run by `sluice test`.
//!
//! ```yaml
//! tests:
//!   - name: errors and warnings are kept and flagged
//!     input:
//!       into: events            # a source or transform; defaults to the only source
//!       events:
//!         - { level: ERROR, latency_ms: 250 }
//!         - { level: INFO, latency_ms: 5 }
//!     expect:
//!       - from: enrich          # an output: `name`, `name.errors`, `route.name`
//!         events:
//!           - { level: ERROR, slow: true }
//!       - from: enrich.errors
//!         count: 0
//! ```
//!
//! The test's events replace the output of the source (or the inputs of the transform) named by
//! `into`; only what lies downstream of it runs, and sinks write nowhere. Each expected event
//! must match the actual one in the same position: every key written in the expectation must
//! be there with that value (keys not written are not checked), and there must be exactly as
//! many events as expected. `count` checks only how many.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;
use sluice_core::Pipeline;
use sluice_event::Event;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::graph::{Graph, Overrides};
use crate::spec::{InputRef, Kind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSpec {
    name: String,
    input: InputSpec,
    #[serde(default)]
    expect: Vec<ExpectSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSpec {
    #[serde(default)]
    into: Option<String>,
    events: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSpec {
    from: String,
    #[serde(default)]
    events: Option<Vec<Value>>,
    #[serde(default)]
    count: Option<usize>,
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// What did not match, one message per expectation; empty when the test passed.
    pub failures: Vec<String>,
}

impl TestResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A checked test, ready to run.
struct Test {
    name: String,
    into: String,
    events: Vec<Value>,
    expect: Vec<(InputRef, ExpectSpec)>,
}

impl Graph {
    /// Reads the `tests` section; problems are reported like any other.
    fn tests(&self) -> Result<Vec<Test>, Diagnostics> {
        let Some(node) = &self.spec.tests else {
            return Ok(Vec::new());
        };
        let file = &self.spec.file;
        let diag = |at, path: &str, message: String| Diagnostic {
            file: file.clone(),
            at,
            path: path.to_owned(),
            message,
        };
        let specs: Vec<TestSpec> = node
            .deserialize("tests")
            .map_err(|(at, path, m)| Diagnostics(vec![diag(at, &path, m)]))?;
        let sources = self.spec.sources();
        let mut problems = Vec::new();
        let mut tests = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let path = format!("tests[{i}]");
            let at = match &node.value {
                crate::node::NodeValue::Seq(items) => items.get(i).map_or(node.at, |n| n.at),
                _ => node.at,
            };
            let into = match (&spec.input.into, sources.as_slice()) {
                (Some(into), _) => into.clone(),
                (None, [only]) => (*only).to_owned(),
                (None, _) => {
                    problems.push(diag(
                        at,
                        &format!("{path}.input"),
                        "`into` is needed: the pipeline has several sources".to_owned(),
                    ));
                    continue;
                }
            };
            match self.spec.component(&into) {
                Some(c) if c.kind != Kind::Sink => {}
                _ => {
                    problems.push(diag(
                        at,
                        &format!("{path}.input.into"),
                        format!("`{into}` is not a source or transform of this pipeline"),
                    ));
                    continue;
                }
            }
            let mut expect = Vec::new();
            for (k, e) in spec.expect.into_iter().enumerate() {
                let reference = InputRef::parse(&e.from, at);
                if self.spec.component(&reference.component).is_none() {
                    problems.push(diag(
                        at,
                        &format!("{path}.expect[{k}].from"),
                        format!("`{}` is not a component of this pipeline", e.from),
                    ));
                    continue;
                }
                if e.events.is_none() && e.count.is_none() {
                    problems.push(diag(
                        at,
                        &format!("{path}.expect[{k}]"),
                        "an expectation needs `events` or `count`".to_owned(),
                    ));
                    continue;
                }
                expect.push((reference, e));
            }
            tests.push(Test {
                name: spec.name,
                into,
                events: spec.input.events,
                expect,
            });
        }
        if problems.is_empty() {
            Ok(tests)
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// Runs every test of the file, one pipeline each.
    pub async fn run_tests(&self) -> Result<Vec<TestResult>, Diagnostics> {
        let mut results = Vec::new();
        for test in self.tests()? {
            results.push(self.run_test(test).await);
        }
        Ok(results)
    }

    async fn run_test(&self, test: Test) -> TestResult {
        let pipeline = Pipeline::new(format!("test: {}", test.name));
        let mut overrides = Overrides {
            mute_sinks: true,
            ..Overrides::default()
        };
        let feed = pipeline
            .source(format!("{}.test-input", test.into))
            .from_iter(test.events.into_iter().map(Event::new).collect::<Vec<_>>());
        overrides.feeds.insert(test.into.clone(), feed);
        let mut collectors = Vec::new();
        for (reference, _) in &test.expect {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            overrides
                .taps
                .push(((reference.component.clone(), reference.output.clone()), tx));
            collectors.push(rx);
        }
        let downstream = self.downstream(&test.into);
        let run = match self.build_only(pipeline, overrides, &downstream) {
            Ok(built) => built
                .pipeline
                .run()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut failures = Vec::new();
        if let Err(e) = run {
            failures.push(format!("the pipeline failed: {e}"));
        }
        for ((reference, expect), mut rx) in test.expect.iter().zip(collectors) {
            let mut actual = Vec::new();
            while let Ok(e) = rx.try_recv() {
                actual.push(e.value().clone());
            }
            if let Some(message) = compare(&reference.to_string(), expect, &actual) {
                failures.push(message);
            }
        }
        TestResult {
            name: test.name,
            failures,
        }
    }
}

fn compare(from: &str, expect: &ExpectSpec, actual: &[Value]) -> Option<String> {
    if let Some(count) = expect.count
        && count != actual.len()
    {
        return Some(format!(
            "`{from}`: expected {count} events, got {}{}",
            actual.len(),
            listing("got", actual)
        ));
    }
    let expected = expect.events.as_ref()?;
    let fits =
        expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| subset(e, a));
    if fits {
        return None;
    }
    let mut message = format!("`{from}`: events differ (- expected, + actual)\n");
    let n = expected.len().max(actual.len());
    for i in 0..n {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if subset(e, a) => {
                let _ = writeln!(message, "    {a}");
            }
            (e, a) => {
                if let Some(e) = e {
                    let _ = writeln!(message, "  - {e}");
                }
                if let Some(a) = a {
                    let _ = writeln!(message, "  + {a}");
                }
            }
        }
    }
    Some(message.trim_end().to_owned())
}

fn listing(label: &str, values: &[Value]) -> String {
    let mut out = String::new();
    for v in values.iter().take(10) {
        let _ = write!(out, "\n  {label}: {v}");
    }
    out
}

/// Whether every key written in `expected` is in `actual` with a matching value.
fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| subset(x, y))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expected_keys_must_match_others_are_free() {
        assert!(subset(&json!({"a": 1}), &json!({"a": 1.0, "b": 2})));
        assert!(!subset(&json!({"a": 1, "c": 3}), &json!({"a": 1})));
        assert!(!subset(&json!([1]), &json!([1, 2])));
    }

    #[test]
    fn differences_are_shown_line_by_line() {
        let expect = ExpectSpec {
            from: "x".into(),
            events: Some(vec![json!({"a": 1}), json!({"a": 2})]),
            count: None,
        };
        let message = compare("x", &expect, &[json!({"a": 1}), json!({"a": 3})]).expect("differs");
        assert_eq!(
            message,
            "`x`: events differ (- expected, + actual)\n    {\"a\":1}\n  - {\"a\":2}\n  + {\"a\":3}"
        );
    }
}
