//! Services that go away under load and come back: a PostgreSQL server stopped at once (its
//! connections cut, as in a crash) for longer than any default retry window, while a pipeline
//! writes to it and a worker works jobs from it. The process stays up, `/ready` names the
//! connector that is down, and afterwards every event is in the table (none dead-lettered) and
//! every job succeeded (none failed). Each test runs a server of its own, so no other test sees
//! the outage. Duplicates (at-least-once delivery) are counted, printed and bounded.

// The counts of duplicates are the tests' report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    PrivatePostgres, Running, SLUICE, free_port, lines, request, text, wait_until, write,
};

/// How long each service stays away: longer than any retry window a default could hide.
const OUTAGE: Duration = Duration::from_secs(30);

/// Waits until `/ready` at `addr` shows `connector` down.
fn wait_down(addr: &str, connector: &str) {
    let last = std::cell::RefCell::new(String::new());
    wait_until(
        Duration::from_secs(30),
        || match request("GET", addr, "/ready", b"") {
            Ok((503, body)) => {
                let down = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|r| {
                    r["connectors"][connector]
                        .as_str()
                        .is_some_and(|s| s.starts_with("down: "))
                });
                *last.borrow_mut() = body;
                down
            }
            Ok((_, body)) => {
                *last.borrow_mut() = body;
                false
            }
            Err(_) => false,
        },
        || {
            format!(
                "`{connector}` never showed down on /ready: {}",
                last.borrow()
            )
        },
    );
}

/// Keeps the service away for [`OUTAGE`], checking the process stays up.
fn ride_out(process: &mut Running) {
    std::thread::sleep(OUTAGE);
    let child = process.0.as_mut().expect("running");
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the process ended during the outage"
    );
}

#[test]
fn a_pipeline_waits_out_a_postgres_outage_and_dead_letters_nothing() {
    const EVENTS: u64 = 20_000;
    let db = PrivatePostgres::start();
    db.psql("CREATE TABLE seen (seq bigint NOT NULL)");
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let pipeline = write(
        dir.path(),
        "outage.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, count: {EVENTS}, rate: 2000 }}\n\
             sinks:\n  db:\n    type: postgres\n    inputs: [numbers]\n    url: {}\n\
             \x20   table: seen\n    columns: {{ seq: seq }}\n\
             \x20 dead: {{ type: file, inputs: [db.errors], path: {} }}\n",
            db.url(),
            dead.display()
        ),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut run = Running(Some(
        Command::new(SLUICE)
            .args(["run", "--quiet", "--admin-addr", &addr, &pipeline])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice"),
    ));
    let rows = || {
        db.psql("SELECT count(*) FROM seen")
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(30),
        || rows() >= 1_000,
        || "no rows came".into(),
    );
    db.halt();
    wait_down(&addr, "db");
    ride_out(&mut run);
    db.resume();
    let out = common::run_to_end(run.0.take().expect("running"), Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        lines(&dead),
        Vec::<serde_json::Value>::new(),
        "nothing dead-lettered"
    );
    let counts = db.psql("SELECT count(DISTINCT seq), count(*) FROM seen");
    let (distinct, total) = counts.trim().split_once('|').expect("two counts");
    let (distinct, total): (u64, u64) = (
        distinct.parse().expect("a count"),
        total.parse().expect("a count"),
    );
    assert_eq!(distinct, EVENTS, "every event is in the table");
    eprintln!(
        "postgres outage of {OUTAGE:?} under a pipeline: {EVENTS} events, {} written twice",
        total - distinct
    );
    // A batch that the server committed as the connection was cut is written again.
    assert!(
        total - distinct <= sluice_core::SINK_GATHER as u64,
        "{} duplicates",
        total - distinct
    );
}

#[test]
fn a_worker_waits_out_a_postgres_outage_and_fails_no_job() {
    const JOBS: usize = 3_000;
    let db = PrivatePostgres::start();
    let store = db.url();
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "record.yaml",
        "sources:\n  job: { type: stdin }\nsinks:\n  runs: { type: file, inputs: [job], path: runs.jsonl }\n",
    );
    write(
        dir.path(),
        "worker.yaml",
        "queues:\n  default: { concurrency: 16 }\n\
         kinds:\n  record:\n    handler: { type: pipeline, path: record.yaml }\n",
    );
    let jobs: String = (0..JOBS)
        .map(|n| format!("{{\"kind\": \"record\", \"args\": {{\"n\": {n}}}}}\n"))
        .collect();
    write(dir.path(), "jobs.jsonl", &jobs);
    sluice(dir.path(), &store, &["migrate"]);
    sluice(dir.path(), &store, &["enqueue", "--file", "jobs.jsonl"]);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut worker = Running(Some(
        Command::new(SLUICE)
            .args(["worker", "--store", &store, "--config", "worker.yaml"])
            .args(["--quiet", "--admin-addr", &addr])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("worker starts"),
    ));
    let runs = dir.path().join("runs.jsonl");
    wait_until(
        Duration::from_secs(60),
        || lines(&runs).len() >= 200,
        || "the worker did no job".into(),
    );
    db.halt();
    wait_down(&addr, "job store");
    ride_out(&mut worker);
    db.resume();
    let succeeded = || {
        db.psql("SELECT count(*) FROM sluice_jobs WHERE state = 'succeeded'")
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(120),
        || succeeded() == JOBS,
        || format!("{} of {JOBS} jobs succeeded", succeeded()),
    );
    let failed = db.psql("SELECT count(*) FROM sluice_jobs WHERE attempt > 1 OR errors <> '[]'");
    let done = lines(&runs);
    let mut seen: Vec<u64> = done.iter().filter_map(|r| r["n"].as_u64()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), JOBS, "every job ran");
    eprintln!(
        "postgres outage of {OUTAGE:?} under a worker: {JOBS} jobs, {} run twice, {} with a \
         second attempt",
        done.len() - JOBS,
        failed.trim()
    );
    assert!(
        done.len() - JOBS <= 16 * 2,
        "at most the jobs held by the worker run again: {}",
        done.len() - JOBS
    );
    worker.interrupt();
}

/// `sluice jobs --store STORE ARGS` in `dir`; fails the test if it fails.
fn sluice(dir: &Path, store: &str, args: &[&str]) -> String {
    let out = Command::new(SLUICE)
        .args(["jobs", "--store", store])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sluice runs");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}
