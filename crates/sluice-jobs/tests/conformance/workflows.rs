//! Conformance cases of workflows: steps wait for their dependencies, are released once, and
//! are cancelled (or run anyway) when a dependency fails, on every path a job can end by.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_jobs::store::{Cancelled, Completion, ListParams, Outcome};
use sluice_jobs::workflow::{Workflow, WorkflowStep};
use sluice_jobs::{DependencyFailure, JobId, JobState, NewJob, Store};

use super::{Harness, claim, done, fetch, state_of};

fn step(name: &str, after: &[&str]) -> WorkflowStep {
    WorkflowStep::new(name, NewJob::new(name, json!({"step": name}))).after(after.iter().copied())
}

async fn enqueue(store: &dyn Store, workflow: Workflow) -> BTreeMap<String, JobId> {
    store
        .enqueue_workflow(workflow.graph().expect("valid"))
        .await
        .expect("enqueue workflow")
        .steps
}

/// Claims every available job of the default queue for `w`; returns their ids, sorted.
async fn claim_all(store: &dyn Store, w: &str) -> Vec<JobId> {
    let mut ids: Vec<JobId> = store
        .claim(claim("default", 100, w))
        .await
        .expect("claim")
        .into_iter()
        .map(|j| j.id)
        .collect();
    ids.sort_unstable();
    ids
}

fn dead(id: JobId) -> Completion {
    done(
        id,
        "w",
        Outcome::Failed {
            error: "boom".into(),
            retry_at: None,
        },
    )
}

pub(crate) async fn workflow_steps_wait_for_their_dependencies(h: Harness) {
    let store = h.store.as_ref();
    let steps = enqueue(
        store,
        Workflow::new()
            .step(step("d", &["b", "c"]))
            .step(step("a", &[]))
            .step(step("b", &["a"]))
            .step(step("c", &["a"])),
    )
    .await;
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| steps[n]);
    let first = fetch(store, d).await;
    let shape = first.step.clone().expect("a step");
    assert_eq!(
        (
            first.state,
            shape.name.as_str(),
            shape.depends_on,
            shape.waiting_on
        ),
        (JobState::Blocked, "d", vec![b, c], 2)
    );
    assert_eq!(shape.workflow, *steps.values().min().expect("steps"));
    assert_eq!(shape.on_dependency_failure, DependencyFailure::Cancel);
    store
        .enqueue(vec![NewJob::new("plain", Value::Null).queue("other")])
        .await
        .expect("enqueue");
    let listed: Vec<JobId> = store
        .list(ListParams {
            workflow: Some(shape.workflow),
            limit: 100,
            ..ListParams::default()
        })
        .await
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        listed,
        vec![c, b, a, d],
        "a workflow's steps, newest first (ids in step order)"
    );
    assert_eq!(fetch(store, a).await.state, JobState::Available);
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats[0].counts.get("blocked"), Some(&3), "{stats:?}");
    let pending = store.pending_stats().await.expect("pending stats");
    assert_eq!(pending[0].counts.get("blocked"), Some(&3), "{pending:?}");

    assert_eq!(claim_all(store, "w").await, vec![a], "only the root runs");
    store
        .complete(vec![Completion {
            result: Some(serde_json::value::to_raw_value(&json!({"rows": 7})).expect("JSON")),
            ..done(a, "w", Outcome::Succeeded)
        }])
        .await
        .expect("complete");
    assert_eq!(claim_all(store, "w").await, vec![b, c]);
    assert_eq!(state_of(store, d).await, JobState::Blocked);
    // Both dependencies end in one call; one ends discarded (its queue keeps no successes).
    store
        .complete(vec![
            done(b, "w", Outcome::Succeeded),
            Completion {
                discard: true,
                ..done(c, "w", Outcome::Succeeded)
            },
        ])
        .await
        .expect("complete");
    let released = fetch(store, d).await;
    assert_eq!(
        (released.state, released.step.map(|s| s.waiting_on)),
        (JobState::Available, Some(0))
    );
    assert_eq!(claim_all(store, "w").await, vec![d], "released once");
    assert_eq!(
        fetch(store, a).await.result,
        Some(json!({"rows": 7})),
        "a step's result stays for the steps after it"
    );
}

pub(crate) async fn a_failed_dependency_cancels_its_dependents_down_the_graph(h: Harness) {
    let store = h.store.as_ref();
    let runs = |name: &str, after: &[&str]| {
        step(name, after).on_dependency_failure(DependencyFailure::Run)
    };
    let steps = enqueue(
        store,
        Workflow::new()
            .step(step("a", &[]))
            .step(step("b", &["a"]))
            .step(step("c", &["b"]))
            .step(runs("cleanup", &["a"]))
            .step(runs("report", &["c"]))
            .step(step("other", &[]))
            .step(step("waits_on_both", &["a", "other"])),
    )
    .await;
    assert_eq!(
        claim_all(store, "w").await,
        vec![steps["a"], steps["other"]]
    );
    store
        .complete(vec![dead(steps["a"])])
        .await
        .expect("complete");
    for name in ["b", "c", "waits_on_both"] {
        let job = fetch(store, steps[name]).await;
        assert_eq!(job.state, JobState::Cancelled, "{name}");
        assert!(
            job.errors
                .last()
                .is_some_and(|e| e.error.contains("depends on ended dead or cancelled")),
            "{name}: {:?}",
            job.errors
        );
        assert!(job.finished_at.is_some(), "{name}");
    }
    for name in ["cleanup", "report"] {
        assert_eq!(
            state_of(store, steps[name]).await,
            JobState::Available,
            "{name} runs anyway"
        );
    }
    // The other dependency of a cancelled step ends later: nothing moves again.
    store
        .complete(vec![done(steps["other"], "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    assert_eq!(
        state_of(store, steps["waits_on_both"]).await,
        JobState::Cancelled
    );
    assert_eq!(
        claim_all(store, "w").await,
        vec![steps["cleanup"], steps["report"]]
    );
}

pub(crate) async fn cancelled_and_expired_steps_settle_their_dependents(h: Harness) {
    let store = h.store.as_ref();
    let steps = enqueue(
        store,
        Workflow::new()
            .step(step("a", &[]))
            .step(step("b", &["a"]))
            .step(step("c", &["b"]))
            .step(WorkflowStep::new(
                "d",
                NewJob::new("d", Value::Null).max_attempts(1),
            ))
            .step(step("e", &["d"])),
    )
    .await;
    // Cancelling a blocked step by hand cancels the steps waiting on it.
    assert_eq!(
        store.cancel(&[steps["b"]]).await.expect("cancel"),
        vec![(steps["b"], Cancelled::Cancelled)]
    );
    assert_eq!(state_of(store, steps["c"]).await, JobState::Cancelled);
    assert_eq!(state_of(store, steps["a"]).await, JobState::Available);
    // A step whose worker vanished on its last attempt dies, and so do those waiting on it.
    store
        .claim(claim("default", 100, "gone"))
        .await
        .expect("claim");
    h.clock.advance(Duration::from_secs(31));
    let rescued = store.rescue().await.expect("rescue");
    assert!(rescued.contains(&steps["d"]), "{rescued:?}");
    assert_eq!(state_of(store, steps["d"]).await, JobState::Dead);
    assert_eq!(state_of(store, steps["e"]).await, JobState::Cancelled);
    let cancelled = store
        .list(ListParams {
            state: Some(JobState::Cancelled),
            limit: 10,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert_eq!(cancelled.len(), 3, "{cancelled:?}");
}

/// Fans out to `width` steps and back into one, then runs it with four workers on their own
/// handles, each completing as soon as it claims: many dependencies end at the same instant.
pub(crate) async fn dependencies_ending_at_once_release_a_step_once(h: Harness) {
    let width = 60;
    let middle: Vec<String> = (0..width).map(|i| format!("m{i}")).collect();
    let mut workflow = Workflow::new().step(step("root", &[]));
    for name in &middle {
        workflow = workflow.step(step(name, &["root"]));
    }
    let names: Vec<&str> = middle.iter().map(String::as_str).collect();
    workflow = workflow.step(step("sink", &names));
    let steps = Arc::new(enqueue(h.store.as_ref(), workflow).await);
    let sink = steps["sink"];
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = (h.reopen)().await;
        let steps = steps.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut ran = Vec::new();
            let mut idle = 0;
            while idle < 50 {
                let jobs = store
                    .claim(claim("default", 3, &worker))
                    .await
                    .expect("claim");
                if jobs.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                for job in &jobs {
                    if job.id == sink {
                        for name in (0..width).map(|i| format!("m{i}")) {
                            let dep = store.get(steps[&name]).await.expect("get").expect("job");
                            assert_eq!(
                                dep.state,
                                JobState::Succeeded,
                                "the sink ran before {name}"
                            );
                        }
                    }
                }
                ran.extend(jobs.iter().map(|j| j.id));
                let ends = jobs
                    .iter()
                    .map(|j| done(j.id, &worker, Outcome::Succeeded))
                    .collect();
                store.complete(ends).await.expect("complete");
                if ran.contains(&sink) {
                    break;
                }
            }
            ran
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.expect("task") {
            assert!(seen.insert(id), "step {id} ran twice");
        }
    }
    assert_eq!(seen.len(), width + 2, "every step ran once");
    assert_eq!(state_of(h.store.as_ref(), sink).await, JobState::Succeeded);
}
