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
        shown.contains("attempt:       2 of 2 (the kind's limit; the job allows 5)"),
        "the kind caps attempts at 2: {shown}"
    );
    let listed = ok(dir.path(), &["jobs", "list", "--kind", "flaky"]);
    assert!(listed.contains(" 2/2 "), "{listed}");
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
        "2500 jobs enqueued, 0 duplicates of held unique keys"
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
        text(&out.stderr).contains(&format!("job {} holds the same unique key", first.trim())),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(jobs(dir.path()).len(), 1);
    let both = sluice(
        dir.path(),
        &[
            "jobs",
            "enqueue",
            "report",
            "--unique-key",
            "k",
            "--unique-until",
            "start",
            "--unique-for",
            "1h",
        ],
    );
    assert!(
        !both.status.success() && text(&both.stderr).contains("cannot be used with"),
        "{}",
        text(&both.stderr)
    );
}

#[test]
fn a_paused_queue_claims_nothing_until_it_is_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "worker.yaml",
        "kinds:\n  ok:\n    handler: { type: exec, command: 'true' }\n",
    );
    write(
        dir.path(),
        "jobs.jsonl",
        "{\"args\": {\"n\": 1}}\n{\"args\": {\"n\": 2}}\n{\"kind\": \"ok\", \"args\": {\"n\": 3}}\n",
    );
    assert_eq!(
        ok(
            dir.path(),
            &["jobs", "enqueue", "ok", "--file", "jobs.jsonl"]
        )
        .trim(),
        "3 jobs enqueued, 0 duplicates of held unique keys",
        "lines without a kind take the one on the command line"
    );
    assert!(ok(dir.path(), &["jobs", "pause", "default"]).contains("paused"));
    let worker = common::start_in(dir.path(), &["worker", "--config", "worker.yaml"], &[]);
    let stats = || -> Value {
        serde_json::from_str(&ok(dir.path(), &["jobs", "stats", "--json"])).expect("JSON")
    };
    common::wait_until(
        Duration::from_secs(20),
        || {
            ok(dir.path(), &["jobs", "workers", "--json"])
                .lines()
                .any(|l| l.contains("\"stopped_at\":null"))
        },
        || ok(dir.path(), &["jobs", "workers"]),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let paused = stats();
    assert_eq!(
        paused[0]["counts"],
        serde_json::json!({"available": 3}),
        "{paused}"
    );
    assert!(paused[0]["paused_since"].is_string(), "{paused}");
    assert!(ok(dir.path(), &["jobs", "stats"]).contains("since"));
    assert!(ok(dir.path(), &["jobs", "resume", "default"]).contains("resumed"));
    common::wait_until(
        Duration::from_secs(20),
        || stats()[0]["counts"] == serde_json::json!({"succeeded": 3}),
        || stats().to_string(),
    );
    let out = worker.interrupt();
    assert!(
        text(&out.stderr).contains("worker stopped: 3 succeeded"),
        "{}",
        text(&out.stderr)
    );
    let workers = ok(dir.path(), &["jobs", "workers"]);
    assert!(
        workers.contains("stopped") && workers.contains("default 0/10"),
        "{workers}"
    );
}

#[test]
fn jobs_are_retried_cancelled_and_discarded_by_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jobs_file: String = (0..6)
        .map(|i| {
            format!(
                "{{\"kind\": \"{}\", \"args\": {{\"user\": {{\"id\": {i}}}}}, \"queue\": \"{}\"}}\n",
                if i % 2 == 0 { "even" } else { "odd" },
                if i < 3 { "a" } else { "b" }
            )
        })
        .collect();
    write(dir.path(), "jobs.jsonl", &jobs_file);
    ok(dir.path(), &["jobs", "enqueue", "--file", "jobs.jsonl"]);
    let out = sluice(dir.path(), &["jobs", "cancel", "--kind", "even"]);
    assert!(text(&out.stderr).contains("3 jobs match the filter"));
    assert_eq!(text(&out.stdout).matches(": cancelled").count(), 3);
    let listed = ok(
        dir.path(),
        &["jobs", "list", "--args", "user.id=4", "--json"],
    );
    let job: Value = serde_json::from_str(listed.trim()).expect("one job");
    assert_eq!(job["state"], "cancelled");
    assert_eq!(
        ok(
            dir.path(),
            &["jobs", "retry", "--state", "cancelled", "--queue", "a"]
        )
        .trim(),
        "2 jobs made available",
        "jobs 0 and 2"
    );
    assert_eq!(
        ok(dir.path(), &["jobs", "discard", "--state", "cancelled"]).trim(),
        "1 jobs deleted"
    );
    assert_eq!(jobs(dir.path()).len(), 5);
    let out = sluice(dir.path(), &["jobs", "discard", "1", "--queue", "a"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("not both"),
        "{}",
        text(&out.stderr)
    );
    let out = sluice(dir.path(), &["jobs", "cancel"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("by id, or give a filter"),
        "{}",
        text(&out.stderr)
    );
    let out = sluice(dir.path(), &["jobs", "list", "--args", "user.id"]);
    assert!(text(&out.stderr).contains("expected PATH=VALUE"));
    assert_eq!(jobs(dir.path()).len(), 5, "refused requests change nothing");
}

#[test]
fn a_succeeded_jobs_result_is_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = ok(dir.path(), &["jobs", "enqueue", "report"])
        .trim()
        .to_owned();
    let url = format!("sqlite://{}", dir.path().join("sluice-jobs.db").display());
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            use sluice_jobs::store::{ClaimParams, Completion, Outcome};
            let store = sluice_jobs::store::open(&url).await.expect("store");
            let claimed = store
                .claim(ClaimParams {
                    queue: "default".to_owned(),
                    limit: 1,
                    worker: "w".to_owned(),
                    lease: Duration::from_secs(30),
                    partition_limit: None,
                    rate: None,
                })
                .await
                .expect("claim");
            store
                .complete(vec![Completion {
                    id: claimed[0].id,
                    worker: "w".to_owned(),
                    outcome: Outcome::Succeeded,
                    discard: false,
                    result: Some(
                        serde_json::value::to_raw_value(&serde_json::json!({"rows": 3}))
                            .expect("JSON"),
                    ),
                }])
                .await
                .expect("complete");
        });
    let shown = ok(dir.path(), &["jobs", "show", &id]);
    assert!(shown.contains("result:        {\"rows\":3}"), "{shown}");
    let job: Value =
        serde_json::from_str(&ok(dir.path(), &["jobs", "show", &id, "--json"])).expect("JSON");
    assert_eq!(job["result"], serde_json::json!({"rows": 3}));
}

#[test]
fn workflows_and_batches_run_from_their_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    write(
        path,
        "worker.yaml",
        "kinds:\n  ok: { handler: { type: exec, command: 'true' } }\n",
    );
    write(
        path,
        "bad.yaml",
        "steps:\n  - { name: a, kind: ok }\n  - { name: b, kind: ok, depends_on: [z] }\n",
    );
    let refused = sluice(path, &["jobs", "workflow", "bad.yaml"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("bad.yaml:3:") && text(&refused.stderr).contains("`z`"),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        jobs(path).is_empty(),
        "nothing of a refused workflow is enqueued"
    );

    write(
        path,
        "flow.yaml",
        "steps:\n  - { name: a, kind: ok }\n  - { name: b, kind: ok, depends_on: [a] }\n  - { name: c, kind: ok, depends_on: [a, b] }\n",
    );
    let flow: Value = serde_json::from_str(&ok(path, &["jobs", "workflow", "flow.yaml", "--json"]))
        .expect("JSON");
    let shown = ok(path, &["jobs", "show", &flow["steps"]["c"].to_string()]);
    assert!(
        shown.contains("(step `c`)") && shown.contains("2 not ended"),
        "{shown}"
    );

    write(
        path,
        "batch.yaml",
        "jobs:\n  - { kind: ok }\n  - { kind: ok }\non_complete: { kind: ok, queue: after, args: { campaign: 7 } }\nopen: true\n",
    );
    let batch: Value = serde_json::from_str(&ok(
        path,
        &["jobs", "batch", "enqueue", "batch.yaml", "--json"],
    ))
    .expect("JSON");
    let id = batch["id"].to_string();
    write(path, "more.jsonl", "{\"kind\": \"ok\"}\n");
    ok(path, &["jobs", "batch", "add", &id, "--file", "more.jsonl"]);
    ok(
        path,
        &["worker", "--config", "worker.yaml", "--exit-when-idle"],
    );
    let steps = ok(
        path,
        &[
            "jobs",
            "list",
            "--workflow",
            &flow["id"].to_string(),
            "--json",
        ],
    );
    assert_eq!(
        steps.matches("\"state\":\"succeeded\"").count(),
        3,
        "every step ran: {steps}"
    );
    let shown = ok(path, &["jobs", "batch", "show", &id]);
    assert!(
        shown.contains("ended:         3 of 3 (3 succeeded)") && shown.contains("open"),
        "{shown}"
    );
    ok(path, &["jobs", "batch", "close", &id]);
    let closed_again = sluice(path, &["jobs", "batch", "close", &id]);
    assert!(!closed_again.status.success(), "closed already");
    let status: Value =
        serde_json::from_str(&ok(path, &["jobs", "batch", "show", &id, "--json"])).expect("JSON");
    let callback = status["callbacks"]["enqueued"][0].to_string();
    let job: Value =
        serde_json::from_str(&ok(path, &["jobs", "show", &callback, "--json"])).expect("JSON");
    assert_eq!(
        (job["queue"].as_str(), &job["args"]),
        (
            Some("after"),
            &serde_json::json!({"campaign": 7, "batch": batch["id"]})
        )
    );
}

/// A pipeline whose `jobs` sink enqueues each event as a job on `store`, one event refused
/// (its key expression fails) to the dead letters; then a worker runs the jobs.
fn pipeline_enqueues_jobs(store: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    write(
        path,
        "enqueue.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, count: 5 }}\n\
             sinks:\n  enqueue:\n    type: jobs\n    inputs: [numbers]\n    store: \"{store}\"\n    \
             kind: ok\n    queue: piped\n    \
             unique_key: 'if .seq == 3 then error(\"no key for 3\") else \"n\" + (.seq | tostring) end'\n  \
             dead:\n    type: file\n    inputs: [enqueue.errors]\n    path: dead.jsonl\n"
        ),
    );
    write(
        path,
        "worker.yaml",
        "queues:\n  piped: { concurrency: 2 }\nkinds:\n  ok: { handler: { type: exec, command: 'true' } }\n",
    );
    ok(path, &["jobs", "--store", store, "migrate"]);
    ok(path, &["run", "enqueue.yaml"]);
    let listed: Vec<Value> = ok(
        path,
        &[
            "jobs", "--store", store, "list", "--queue", "piped", "--json",
        ],
    )
    .lines()
    .map(|l| serde_json::from_str(l).expect("JSON job"))
    .collect();
    let mut keys: Vec<&str> = listed
        .iter()
        .filter_map(|j| j["unique_key"].as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["n0", "n1", "n2", "n4"], "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|j| j["kind"] == "ok" && j["args"]["seq"].is_u64())
    );
    let dead = lines(&path.join("dead.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].to_string().contains("no key for 3"),
        "the reason is kept: {}",
        dead[0]
    );
    ok(
        path,
        &[
            "worker",
            "--store",
            store,
            "--config",
            "worker.yaml",
            "--exit-when-idle",
        ],
    );
    assert_eq!(
        common::queue_counts(path, store, "piped"),
        serde_json::json!({"succeeded": 4})
    );
}

#[test]
fn a_pipeline_enqueues_jobs_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    pipeline_enqueues_jobs(&format!(
        "sqlite://{}",
        dir.path().join("jobs.db").display()
    ));
}

#[test]
fn a_pipeline_enqueues_jobs_on_postgres() {
    pipeline_enqueues_jobs(&common::fresh_postgres_store("sluice_piped"));
}

/// A pipeline drains queue `piped` of `store` through its `jobs` source: each job ends with its
/// event, succeeded when it was written and dead, with the pipeline's reason, when it was
/// dead-lettered.
fn pipeline_consumes_jobs(store: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    let queued: String = (0..6)
        .map(|n| {
            format!("{{\"kind\": \"export\", \"queue\": \"piped\", \"args\": {{\"n\": {n}}}}}\n")
        })
        .collect();
    write(path, "queued.jsonl", &queued);
    ok(path, &["jobs", "--store", store, "migrate"]);
    ok(
        path,
        &[
            "jobs",
            "--store",
            store,
            "enqueue",
            "--file",
            "queued.jsonl",
        ],
    );
    write(
        path,
        "drain.yaml",
        &format!(
            "sources:\n  work:\n    type: jobs\n    store: \"{store}\"\n    queue: piped\n    \
             batch: 4\n    until_empty: true\n\
             transforms:\n  check:\n    type: jq\n    inputs: [work]\n    \
             program: 'if .n == 3 then error(\"three is refused\") else . end'\n\
             sinks:\n  out:\n    type: file\n    inputs: [check]\n    path: out.jsonl\n  \
             dead:\n    type: file\n    inputs: [check.errors]\n    path: dead.jsonl\n"
        ),
    );
    ok(path, &["run", "drain.yaml"]);
    let mut written: Vec<u64> = lines(&path.join("out.jsonl"))
        .iter()
        .filter_map(|e| e["n"].as_u64())
        .collect();
    written.sort_unstable();
    assert_eq!(written, vec![0, 1, 2, 4, 5]);
    assert_eq!(lines(&path.join("dead.jsonl")).len(), 1);
    assert_eq!(
        common::queue_counts(path, store, "piped"),
        serde_json::json!({"succeeded": 5, "dead": 1})
    );
    let dead: Vec<Value> = ok(
        path,
        &[
            "jobs", "--store", store, "list", "--state", "dead", "--json",
        ],
    )
    .lines()
    .map(|l| serde_json::from_str(l).expect("JSON job"))
    .collect();
    assert_eq!(dead[0]["args"], serde_json::json!({"n": 3}));
    assert!(
        dead[0]["errors"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("dead-lettered") && e.contains("three is refused")),
        "{}",
        dead[0]
    );
}

#[test]
fn a_pipeline_consumes_jobs_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    pipeline_consumes_jobs(&format!(
        "sqlite://{}",
        dir.path().join("jobs.db").display()
    ));
}

#[test]
fn a_pipeline_consumes_jobs_on_redis() {
    common::on_redis_store("sluice-piped", pipeline_consumes_jobs);
}

#[test]
fn an_exec_handler_that_prints_json_returns_a_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    write(
        path,
        "worker.yaml",
        "kinds:\n  sum:\n    handler: { type: exec, command: 'cat >/dev/null; echo \"{\\\"total\\\": 6}\"' }\n  \
         log:\n    handler: { type: exec, command: 'echo done' }\n",
    );
    let sum = ok(path, &["jobs", "enqueue", "sum", "[1, 2, 3]"])
        .trim()
        .to_owned();
    let log = ok(path, &["jobs", "enqueue", "log"]).trim().to_owned();
    ok(
        path,
        &["worker", "--config", "worker.yaml", "--exit-when-idle"],
    );
    let job: Value =
        serde_json::from_str(&ok(path, &["jobs", "show", &sum, "--json"])).expect("JSON");
    assert_eq!(job["result"], serde_json::json!({"total": 6}), "{job}");
    let job: Value =
        serde_json::from_str(&ok(path, &["jobs", "show", &log, "--json"])).expect("JSON");
    assert_eq!(
        (job["state"].as_str(), job.get("result")),
        (Some("succeeded"), None),
        "output that is not JSON is no result"
    );
}
