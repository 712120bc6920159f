//! Workflows: jobs enqueued together as a graph, each step waiting for the steps it depends on.
//!
//! A step whose dependencies have not all ended is `blocked`. The end of its last dependency
//! makes it available, in the same transaction (or Redis script) as that end, so two
//! dependencies ending at once release it once. A dependency that ends dead or cancelled
//! cancels the steps that depend on it, and theirs in turn, unless a step says
//! [`DependencyFailure::Run`]. A workflow is enqueued whole or not at all.
//!
//! ```no_run
//! use serde_json::json;
//! use sluice_jobs::workflow::{Workflow, WorkflowStep};
//! use sluice_jobs::{NewJob, store};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = store::open("sqlite://jobs.db").await?;
//! let workflow = Workflow::new()
//!     .step(WorkflowStep::new("extract", NewJob::new("extract", json!({"day": "2026-12-01"}))))
//!     .step(WorkflowStep::new("load", NewJob::new("load", json!({}))).after(["extract"]));
//! let enqueued = store.enqueue_workflow(workflow.graph()?).await?;
//! println!("workflow {} with steps {:?}", enqueued.id, enqueued.steps);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::job::{DependencyFailure, JobId, NewJob};

/// A workflow to enqueue: its steps, in any order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// The steps.
    pub steps: Vec<WorkflowStep>,
}

/// One step of a [`Workflow`]: a named job and the steps it waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStep {
    /// Its name, unique in the workflow.
    pub name: String,
    /// The job it runs.
    pub job: NewJob,
    /// The names of the steps it waits for.
    pub depends_on: Vec<String>,
    /// What it does when one of them ends dead or cancelled.
    pub on_dependency_failure: DependencyFailure,
}

impl WorkflowStep {
    /// A step named `name` that runs `job` as soon as the workflow is enqueued.
    pub fn new(name: impl Into<String>, job: NewJob) -> WorkflowStep {
        WorkflowStep {
            name: name.into(),
            job,
            depends_on: Vec::new(),
            on_dependency_failure: DependencyFailure::Cancel,
        }
    }

    /// Makes it wait for the steps named `names` (as well as any named before).
    pub fn after<I, S>(mut self, names: I) -> WorkflowStep
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on.extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets what it does when a dependency ends dead or cancelled.
    pub fn on_dependency_failure(mut self, failure: DependencyFailure) -> WorkflowStep {
        self.on_dependency_failure = failure;
        self
    }
}

impl<'de> Deserialize<'de> for WorkflowStep {
    /// Reads a step as a job's fields (`kind`, `args`, `queue`, …, as [`NewJob`] reads them)
    /// beside `name`, `depends_on` and `on_dependency_failure`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WorkflowStep, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        let name = match fields.remove("name") {
            Some(Value::String(name)) => name,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`name` is {other}; expected a string"
                )));
            }
            None => return Err(D::Error::missing_field("name")),
        };
        let within = |e: serde_json::Error| D::Error::custom(format!("step `{name}`: {e}"));
        let depends_on = fields
            .remove("depends_on")
            .map(serde_json::from_value::<Vec<String>>)
            .transpose()
            .map_err(within)?
            .unwrap_or_default();
        let on_dependency_failure = fields
            .remove("on_dependency_failure")
            .map(serde_json::from_value::<DependencyFailure>)
            .transpose()
            .map_err(within)?
            .unwrap_or_default();
        let job = serde_json::from_value::<NewJob>(Value::Object(fields)).map_err(within)?;
        Ok(WorkflowStep {
            name,
            job,
            depends_on,
            on_dependency_failure,
        })
    }
}

/// Why a workflow cannot be enqueued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflow: {message}")]
pub struct WorkflowError {
    /// The position of the step at fault, when one is.
    pub step: Option<usize>,
    /// What is wrong, and what to write instead.
    pub message: String,
}

impl WorkflowError {
    fn at(step: usize, message: String) -> WorkflowError {
        WorkflowError {
            step: Some(step),
            message,
        }
    }
}

impl Workflow {
    /// A workflow without steps yet.
    pub fn new() -> Workflow {
        Workflow::default()
    }

    /// Adds a step.
    pub fn step(mut self, step: WorkflowStep) -> Workflow {
        self.steps.push(step);
        self
    }

    /// Checks the workflow and resolves its names: every step named once, every dependency a
    /// step, no step waiting on itself through others, no unique keys (a step's key would hold
    /// while it waits).
    pub fn graph(self) -> Result<Graph, WorkflowError> {
        if self.steps.is_empty() {
            return Err(WorkflowError {
                step: None,
                message: "it has no steps; give at least one".to_owned(),
            });
        }
        let mut index = HashMap::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            if step.name.is_empty() {
                return Err(WorkflowError::at(
                    i,
                    format!("step {} has an empty name", i + 1),
                ));
            }
            if index.insert(step.name.as_str(), i).is_some() {
                return Err(WorkflowError::at(
                    i,
                    format!(
                        "two steps are named `{}`; give each step its own name",
                        step.name
                    ),
                ));
            }
            if step.job.unique_key.is_some() {
                return Err(WorkflowError::at(
                    i,
                    format!(
                        "step `{}` has a unique key; steps cannot have one (it would hold while the \
                     step waits)",
                        step.name
                    ),
                ));
            }
        }
        let mut depends_on = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            let mut deps = Vec::with_capacity(step.depends_on.len());
            for dep in &step.depends_on {
                let Some(&d) = index.get(dep.as_str()) else {
                    return Err(WorkflowError::at(
                        i,
                        format!(
                            "step `{}` depends on `{dep}`, which is not a step of the workflow",
                            step.name
                        ),
                    ));
                };
                deps.push(d);
            }
            deps.sort_unstable();
            deps.dedup();
            depends_on.push(deps);
        }
        let mut dependents = vec![Vec::new(); self.steps.len()];
        for (i, deps) in depends_on.iter().enumerate() {
            for &d in deps {
                dependents[d].push(i);
            }
        }
        if let Some(i) = in_cycle(&depends_on, &dependents) {
            return Err(WorkflowError::at(
                i,
                format!(
                    "step `{}` waits on itself through its dependencies; a workflow cannot have a cycle",
                    self.steps[i].name
                ),
            ));
        }
        let (names, rest): (Vec<String>, Vec<_>) = self
            .steps
            .into_iter()
            .map(|s| (s.name, (s.job, s.on_dependency_failure)))
            .unzip();
        let (jobs, on_failure) = rest.into_iter().unzip();
        Ok(Graph {
            names,
            jobs,
            depends_on,
            dependents,
            on_failure,
        })
    }
}

/// A step left over when every step that can start has been taken away, one whose dependencies
/// start, and so on (Kahn's order): one on a cycle, or downstream of one.
fn in_cycle(depends_on: &[Vec<usize>], dependents: &[Vec<usize>]) -> Option<usize> {
    let mut waiting: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
    waiting.iter().position(|&w| w > 0)
}

/// A checked [`Workflow`], its names resolved to positions: what
/// [`Queue::enqueue_workflow`](crate::store::Queue::enqueue_workflow) takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub(crate) names: Vec<String>,
    pub(crate) jobs: Vec<NewJob>,
    pub(crate) depends_on: Vec<Vec<usize>>,
    pub(crate) dependents: Vec<Vec<usize>>,
    pub(crate) on_failure: Vec<DependencyFailure>,
}

impl Graph {
    /// How many steps it has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether it has no steps (never true of a checked workflow).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The state step `i` starts in at `now`: blocked while it has dependencies.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn initial_state(
        &self,
        i: usize,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::job::JobState {
        if self.depends_on[i].is_empty() {
            self.jobs[i].initial_state(now)
        } else {
            crate::job::JobState::Blocked
        }
    }

    /// The ids of step `i`'s dependencies (or dependents), given every step's id.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn ids(steps: &[usize], ids: &[JobId]) -> Vec<JobId> {
        steps.iter().map(|&s| ids[s]).collect()
    }
}

/// A workflow as enqueued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueuedWorkflow {
    /// The workflow's id: the id of its first step.
    pub id: JobId,
    /// Each step's job id, by name.
    pub steps: BTreeMap<String, JobId>,
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::job::JobState;

    fn step(name: &str, after: &[&str]) -> WorkflowStep {
        WorkflowStep::new(name, NewJob::new("k", Value::Null)).after(after.iter().copied())
    }

    #[test]
    fn a_graph_resolves_names_both_ways() {
        let graph = Workflow::new()
            .step(step("load", &["a", "b"]))
            .step(step("a", &[]))
            .step(step("b", &["a", "a"]))
            .graph()
            .expect("valid");
        assert_eq!(graph.depends_on, vec![vec![1, 2], vec![], vec![1]]);
        assert_eq!(graph.dependents, vec![vec![], vec![0, 2], vec![0]]);
        let now = Utc::now();
        assert_eq!(graph.initial_state(0, now), JobState::Blocked);
        assert_eq!(graph.initial_state(1, now), JobState::Available);
    }

    #[test]
    fn bad_graphs_say_what_to_change() {
        let error = |w: Workflow| w.graph().expect_err("invalid").message;
        assert!(error(Workflow::new()).contains("no steps"));
        assert!(
            error(Workflow::new().step(step("a", &[])).step(step("a", &[])))
                .contains("two steps are named `a`")
        );
        assert!(
            error(Workflow::new().step(step("a", &["z"]))).contains("`z`, which is not a step")
        );
        let cycle = Workflow::new()
            .step(step("a", &["c"]))
            .step(step("b", &["a"]))
            .step(step("c", &["b"]))
            .step(step("d", &[]));
        assert!(error(cycle).contains("waits on itself"));
        let unique = Workflow::new().step(WorkflowStep::new(
            "u",
            NewJob::new("k", Value::Null).unique_key("x"),
        ));
        assert!(error(unique).contains("unique key"));
    }

    #[test]
    fn steps_read_a_jobs_fields_beside_their_own() {
        let workflow: Workflow = serde_json::from_value(json!({"steps": [
            {"name": "a", "kind": "fetch", "args": {"n": 1}, "queue": "etl"},
            {"name": "b", "kind": "load", "depends_on": ["a"], "on_dependency_failure": "run"},
        ]}))
        .expect("valid");
        assert_eq!(workflow.steps[0].job.queue, "etl");
        assert_eq!(workflow.steps[1].depends_on, vec!["a"]);
        assert_eq!(
            workflow.steps[1].on_dependency_failure,
            DependencyFailure::Run
        );
        let typo = serde_json::from_value::<Workflow>(json!({"steps": [
            {"name": "a", "kind": "fetch", "depend_on": ["b"]},
        ]}))
        .expect_err("unknown field");
        assert!(
            typo.to_string()
                .contains("step `a`: unknown field `depend_on`"),
            "{typo}"
        );
    }
}
