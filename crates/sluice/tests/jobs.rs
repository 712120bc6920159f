//! `sluice jobs` and `sluice worker` end to end: the binary on the embedded store, with the
//! example worker file, the exec and pipeline handlers, and the mistakes users make.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{SLUICE, lines, run_to_end, text, write};
use serde_json::Value;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `sluice ARGS` in `dir` (whose `sluice-jobs.db` is the store).
fn sluice(dir: &Path, args: &[&str]) -> Output {
    let child = Command::new(SLUICE)
        .args(args)
        .current_dir(dir)
        .env_remove("SLUICE_STORE")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sluice runs");
    run_to_end(child, Duration::from_secs(60))
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sluice(dir, args);
    assert!(
        out.status.success(),
        "sluice {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn jobs(dir: &Path) -> Vec<Value> {
    ok(dir, &["jobs", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON job"))
        .collect()
}

#[test]
fn the_example_worker_runs_exec_and_pipeline_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["worker.yaml", "report.yaml"] {
        std::fs::copy(
            workspace().join("examples/jobs").join(file),
            dir.path().join(file),
        )
        .expect("copy example");
    }
    let greet = ok(
        dir.path(),
        &["jobs", "enqueue", "greet", r#"{"name": "Ada"}"#],
    );
    ok(
        dir.path(),
        &[
            "jobs",
            "enqueue",
            "report",
            r#"{"region": "eu", "orders": [12.5, 30, 7.25]}"#,
        ],
    );
    let out = sluice(
        dir.path(),
        &["worker", "--config", "worker.yaml", "--exit-when-idle"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("worker stopped: 2 succeeded"),
        "{}",
        text(&out.stderr)
    );
    let greetings =
        std::fs::read_to_string(dir.path().join("greetings.txt")).expect("the exec handler wrote");
    assert_eq!(
        greetings,
        format!("hello from job {}: {{\"name\":\"Ada\"}}\n", greet.trim())
    );
    assert_eq!(
        lines(&dir.path().join("reports.jsonl")),
        vec![serde_json::json!({"region": "eu", "orders": 3, "total": 49.75})]
    );
    assert!(jobs(dir.path()).iter().all(|j| j["state"] == "succeeded"));
}

#[test]
fn failures_are_retried_then_dead_and_can_be_retried_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "worker.yaml",
        "kinds:\n  flaky:\n    handler: { type: exec, command: 'echo \"no route to $SLUICE_JOB_KIND\" >&2; exit 3' }\n    \
         max_attempts: 2\n    backoff: { initial: 10ms, max: 10ms }\n",
    );
    let id = ok(
        dir.path(),
        &["jobs", "enqueue", "flaky", "--max-attempts", "5"],
    )
    .trim()
    .to_owned();
    let other = ok(dir.path(), &["jobs", "enqueue", "later", "--run-in", "1h"])
        .trim()
        .to_owned();
    let out = sluice(
        dir.path(),
        &["worker", "--config", "worker.yaml", "--exit-when-idle"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = ok(dir.path(), &["jobs", "show", &id]);
    assert!(shown.contains("state:         dead"), "{shown}");
    assert!(
        shown.contains("attempt:       2 of 5"),
        "the kind caps attempts at 2: {shown}"
    );
    assert_eq!(
        shown
            .matches("the command exited with status 3: no route to flaky")
            .count(),
        2,
        "{shown}"
    );
    let listed = ok(dir.path(), &["jobs", "list", "--state", "dead"]);
    assert!(
        listed.contains("flaky") && !listed.contains("later"),
        "{listed}"
    );
    let stats: Value =
        serde_json::from_str(&ok(dir.path(), &["jobs", "stats", "--json"])).expect("JSON");
    assert_eq!(
        stats[0]["counts"],
        serde_json::json!({"dead": 1, "scheduled": 1})
    );
    assert_eq!(
        ok(dir.path(), &["jobs", "retry", "--dead"]).trim(),
        "1 jobs made available"
    );
    let job: Value =
        serde_json::from_str(&ok(dir.path(), &["jobs", "show", &id, "--json"])).expect("JSON");
    assert_eq!(
        (
            job["state"].as_str(),
            job["errors"].as_array().map(Vec::len)
        ),
        (Some("available"), Some(2))
    );
    assert_eq!(
        ok(dir.path(), &["jobs", "cancel", &id, &other]),
        format!("{id}: cancelled\n{other}: cancelled\n")
    );
    assert_eq!(
        ok(dir.path(), &["jobs", "purge", "--older-than", "0s"]).trim(),
        "2 jobs deleted"
    );
    assert!(jobs(dir.path()).is_empty());
}

#[test]
fn bad_input_is_refused_with_what_to_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sluice(dir.path(), &["jobs", "enqueue", "email", "{to: ada}"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the job's arguments are not valid JSON"),
        "{}",
        text(&out.stderr)
    );
    let out = sluice(dir.path(), &["jobs", "enqueue", "email", "--retries", "3"]);
    assert!(
        text(&out.stderr).contains("unexpected argument '--retries'"),
        "{}",
        text(&out.stderr)
    );
    let file = write(
        dir.path(),
        "jobs.jsonl",
        "{\"kind\": \"email\", \"args\": {\"to\": \"a\"}}\n{\"kind\": \"email\", \"retries\": 3}\n",
    );
    let out = sluice(dir.path(), &["jobs", "enqueue", "--file", &file]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("jobs.jsonl:2: unknown field `retries`")
            && err.contains("nothing was enqueued"),
        "{err}"
    );
    assert!(jobs(dir.path()).is_empty(), "a bad line enqueues nothing");
    let file = write(
        dir.path(),
        "good.jsonl",
        &"{\"kind\": \"email\"}\n".repeat(2500),
    );
    assert_eq!(
        ok(dir.path(), &["jobs", "enqueue", "--file", &file]).trim(),
        "2500 jobs enqueued, 0 duplicates of pending unique keys"
    );
    write(
        dir.path(),
        "worker.yaml",
        "queues:\n  default: { concurency: 4 }\nkinds:\n  x:\n    handler: { type: smtp }\n",
    );
    let out = sluice(dir.path(), &["worker", "--config", "worker.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("worker.yaml:2:") && err.contains("concurency"),
        "{err}"
    );
    let out = sluice(dir.path(), &["jobs", "--store", "mysql://x", "stats"]);
    assert!(
        text(&out.stderr).contains("expected sqlite://PATH, postgres://"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unique_jobs_are_enqueued_once_while_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ok(
        dir.path(),
        &[
            "jobs",
            "enqueue",
            "report",
            "--unique-key",
            "report:2030-01-01",
        ],
    );
    let out = sluice(
        dir.path(),
        &[
            "jobs",
            "enqueue",
            "report",
            "--unique-key",
            "report:2030-01-01",
        ],
    );
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains(&format!(
            "job {} with the same unique key is pending",
            first.trim()
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(jobs(dir.path()).len(), 1);
}
