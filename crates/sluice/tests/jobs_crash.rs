//! The crash test of the job engine, on each store: 10,000 jobs, two workflows of 1 -> 1,000
//! -> 1 steps and a batch of 1,000 jobs with a callback, two worker processes, one of them
//! killed with SIGKILL several times while it works. Every job and every step must succeed at
//! least once; none may be lost or stuck; no step may start before each of its dependencies has
//! run; the batch's callback is enqueued exactly once. Jobs whose worker died after doing
//! the work and before recording it run twice (delivery is at least once): those duplicates are
//! counted and printed.

// The count of duplicates is the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Running, SLUICE, enqueue_records, jobs, lines, signal, text};

const JOBS: usize = 10_000;

/// Workflows of one first step, WIDTH steps after it and one last step after them all.
const WORKFLOWS: usize = 2;
const WIDTH: usize = 1_000;
const STEPS: usize = WORKFLOWS * (WIDTH + 2);

/// A batch of BATCH `record` jobs whose callback records `{"callback": true, "batch": ID}`.
const BATCH: usize = 1_000;

fn batch_file() -> String {
    let jobs: Vec<serde_json::Value> = (0..BATCH)
        .map(|n| serde_json::json!({"kind": "record", "args": {"member": n}}))
        .collect();
    serde_json::json!({"jobs": jobs, "on_complete": {"kind": "record", "args": {"callback": true}}})
        .to_string()
}

/// A workflow file of 1 -> WIDTH -> 1 `record` steps, each recording `wf` and its name.
fn workflow_file(wf: usize) -> String {
    let step = |name: &str, after: &[String]| {
        serde_json::json!({"name": name, "kind": "record", "args": {"wf": wf, "step": name},
            "depends_on": after})
    };
    let middle: Vec<String> = (0..WIDTH).map(|i| format!("m{i}")).collect();
    let mut steps = vec![step("first", &[])];
    steps.extend(middle.iter().map(|m| step(m, &["first".to_owned()])));
    steps.push(step("last", &middle));
    serde_json::json!({ "steps": steps }).to_string()
}

fn start_worker(dir: &Path, store: &str) -> Child {
    Command::new(SLUICE)
        .args([
            "worker",
            "--store",
            store,
            "--config",
            "worker.yaml",
            "--quiet",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker starts")
}

fn counts(dir: &Path, store: &str) -> HashMap<String, u64> {
    let stats: serde_json::Value =
        serde_json::from_str(&jobs(dir, store, &["stats", "--json"])).expect("JSON");
    stats
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|q| q["counts"].as_object().cloned().unwrap_or_default())
        .map(|(state, n)| (state, n.as_u64().unwrap_or(0)))
        .collect()
}

fn crash_test(store: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    // The workflows first: claimed oldest first, their steps run while the victim is killed.
    jobs(dir.path(), store, &["migrate"]);
    for wf in 0..WORKFLOWS {
        common::write(dir.path(), "flow.json", &workflow_file(wf));
        jobs(dir.path(), store, &["workflow", "flow.json"]);
    }
    common::write(dir.path(), "batch.json", &batch_file());
    jobs(dir.path(), store, &["batch", "enqueue", "batch.json"]);
    enqueue_records(
        dir.path(),
        store,
        "lease: 5s\nqueues:\n  default: { concurrency: 16, poll_interval: 100ms }\n",
        JOBS,
    );

    let steady = Running(Some(start_worker(dir.path(), store)));
    let mut victim = start_worker(dir.path(), store);
    let mut kills = 0;
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        signal(victim.id(), "KILL");
        let _ = victim.wait();
        kills += 1;
        victim = start_worker(dir.path(), store);
    }
    let victim = Running(Some(victim));
    let started = Instant::now();
    let final_counts = loop {
        let counts = counts(dir.path(), store);
        if counts.get("succeeded").copied().unwrap_or(0) == (JOBS + STEPS + BATCH + 1) as u64 {
            break counts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "jobs stuck: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for worker in [steady, victim] {
        let out = worker.interrupt();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(
        final_counts.len(),
        1,
        "every job succeeded, none in another state: {final_counts:?}"
    );
    let mut runs: HashMap<u64, u32> = HashMap::new();
    // Each step's first run, by its place among the lines (a line is written before its job is
    // recorded as done, so before the steps after it are released).
    let mut first_run: HashMap<(u64, String), usize> = HashMap::new();
    let mut step_runs = 0;
    let mut members: HashMap<u64, u32> = HashMap::new();
    let mut callbacks = 0;
    for (line, run) in lines(&dir.path().join("runs.jsonl"))
        .into_iter()
        .enumerate()
    {
        match (run["wf"].as_u64(), run["step"].as_str()) {
            (Some(wf), Some(step)) => {
                step_runs += 1;
                first_run.entry((wf, step.to_owned())).or_insert(line);
            }
            _ if run["callback"] == true => callbacks += 1,
            _ => match run["member"].as_u64() {
                Some(member) => *members.entry(member).or_default() += 1,
                None => *runs.entry(run["n"].as_u64().expect("n")).or_default() += 1,
            },
        }
    }
    assert_eq!(members.len(), BATCH, "every batch job ran");
    assert_eq!(
        counts(dir.path(), store).get("succeeded").copied(),
        Some((JOBS + STEPS + BATCH + 1) as u64),
        "the batch's callback was enqueued once"
    );
    assert!(callbacks >= 1, "the batch's callback ran");
    assert_eq!(first_run.len(), STEPS, "every step ran");
    for wf in 0..WORKFLOWS as u64 {
        let at = |step: &str| first_run[&(wf, step.to_owned())];
        for i in 0..WIDTH {
            assert!(
                at(&format!("m{i}")) > at("first"),
                "workflow {wf}: m{i} before first"
            );
            assert!(
                at("last") > at(&format!("m{i}")),
                "workflow {wf}: last before m{i}"
            );
        }
    }
    let missing: Vec<usize> = (0..JOBS)
        .filter(|n| !runs.contains_key(&(*n as u64)))
        .collect();
    assert!(missing.is_empty(), "jobs never ran: {missing:?}");
    let duplicates: u32 = runs
        .values()
        .chain(members.values())
        .map(|n| n - 1)
        .sum::<u32>()
        + step_runs
        - STEPS as u32
        + callbacks
        - 1;
    eprintln!(
        "{}: {JOBS} jobs, {STEPS} workflow steps and a batch of {BATCH}, {kills} SIGKILLs: all \
         succeeded, no step before its dependencies, the batch's callback enqueued once; \
         {duplicates} ran twice (at least once delivery)",
        store.split("://").next().unwrap_or(store)
    );
    // Only what a killed worker held runs twice: a worker holds at most twice its concurrency
    // (16) in jobs claimed, running, or finished and not yet recorded.
    assert!(
        duplicates <= 2 * 16 * kills,
        "{duplicates} duplicates for {kills} kills"
    );
}

#[test]
fn crash_test_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    crash_test(&format!(
        "sqlite://{}",
        dir.path().join("jobs.db").display()
    ));
}

#[test]
fn crash_test_on_postgres() {
    crash_test(&common::fresh_postgres_store("sluice_crash"));
}

#[test]
fn crash_test_on_redis() {
    common::on_redis_store("sluice-crash", crash_test);
}
