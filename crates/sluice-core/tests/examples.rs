//! Runs every example (cargo builds them before the tests) and checks what it prints.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    // This test runs from target/<profile>/deps; examples are in target/<profile>/examples.
    let deps = std::env::current_exe().expect("test path");
    let profile = deps.parent().and_then(|d| d.parent()).expect("target dir");
    profile.join("examples").join(name)
}

fn run(name: &str) -> String {
    let out = Command::new(example(name)).output().expect("example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_lines(name: &str, expected: &[&str]) {
    let out = run(name);
    for line in expected {
        assert!(
            out.lines().any(|l| l == *line),
            "{name} should print `{line}`; it printed:\n{out}"
        );
    }
}

#[test]
fn basic() {
    assert_eq!(run("basic"), "sum of squares 1..=5: 55\n");
}

#[test]
fn buffered() {
    assert_lines("buffered", &["items through: 1000"]);
}

#[test]
fn fan_out_fan_in() {
    assert_lines(
        "fan_out_fan_in",
        &[
            "in order: [(1, 0), (2, 1), (3, 7), (4, 2), (5, 5), (6, 8), (7, 16), (8, 3), (9, 19), (10, 6)]",
            "as finished: 100000 results, longest 350 steps",
        ],
    );
}

#[test]
fn errors() {
    assert_lines(
        "errors",
        &[
            "parsed: [12, 7, 40]",
            "dead letter: seven (stage `parse` failed after 1 attempt: invalid digit found in string)",
            "dead letter:  (stage `parse` failed after 1 attempt: cannot parse integer from empty string)",
            "validate failed 1 item(s) with no error output wired: counted and logged",
        ],
    );
}

#[test]
fn timeout() {
    assert_lines(
        "timeout",
        &[
            "answered within 100ms: [10, 20, 30]",
            "item 500: timed out after 100ms",
            "item 800: timed out after 100ms",
        ],
    );
}

#[test]
fn rate_limit() {
    assert_lines(
        "rate_limit",
        &["21 calls at 20/s", "took at least one second: true"],
    );
}

#[test]
fn metrics() {
    let out = run("metrics");
    for line in [
        r#"sluice_stage_items_in_total{pipeline="metrics",stage="evens"} 1000"#,
        r#"sluice_stage_items_out_total{pipeline="metrics",stage="evens"} 500"#,
        r#"sluice_stage_errors_total{pipeline="metrics",stage="parse"} 10"#,
    ] {
        assert!(out.contains(line), "metrics should export `{line}`:\n{out}");
    }
    assert!(out.contains("pipeline `metrics` ran"), "{out}");
}

#[test]
fn backpressure() {
    assert_lines(
        "backpressure",
        &["all 2000 items written; no queue grew past its bound"],
    );
}

#[test]
fn circuit_breaker() {
    assert_lines(
        "circuit_breaker",
        &[
            "answered: 19",
            "failed by the service: 2",
            "failed fast while open: 9",
            "calls made: 21 of 30",
        ],
    );
}

#[test]
fn load_balancing() {
    assert_lines(
        "load_balancing",
        &[
            r#"round-robin:  {"replica-a": 20, "replica-b": 20, "replica-c": 20}"#,
            r#"weighted:     {"replica-a": 30, "replica-b": 20, "replica-c": 10}"#,
            "least-loaded: slow replica-c got fewer calls: true",
        ],
    );
}

#[test]
fn caching() {
    assert_lines(
        "caching",
        &["service lookups: 4", "cache hits: 6, misses: 4"],
    );
}

#[test]
fn map_reduce() {
    assert_eq!(run("map_reduce"), "the: 4\ndog: 3\nbrown: 2\nfox: 2\n");
}

#[test]
fn filter_transform() {
    assert_eq!(
        run("filter_transform"),
        "[ERROR] DB: connection refused\n[WARN] API: slow response 2300ms\n"
    );
}

#[test]
fn windows() {
    assert_lines(
        "windows",
        &[
            "tumbling [ 0s, 10s): 3 events, mean 133 ms",
            "tumbling [10s, 20s): 3 events, mean 150 ms",
            "tumbling [20s, 30s): 2 events, mean 75 ms",
            "sliding  [ 5s, 15s): 3 events",
            "sliding  [25s, 35s): 1 events",
        ],
    );
}

#[test]
fn fraud_detection() {
    assert_eq!(
        run("fraud_detection"),
        "ALERT for user3: high transaction volume: $1490.00 (5 transactions, latest tx-18)\n"
    );
}

#[test]
fn batch_partial_failure() {
    assert_lines(
        "batch_partial_failure",
        &[
            "batch of 5: [1, 2, 3, 4, 5]",
            "stored 14 items: [1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20]",
            "dead letter: item 3: failed to process item 3",
            "dead letter: item 18: failed to process item 18",
        ],
    );
}

#[test]
fn dynamic_pipeline() {
    assert_eq!(
        run("dynamic_pipeline"),
        ">> PIPELINE <<\n>> CHANNELS <<\nrejected: unknown stage `reverse`; expected upper, prefix, suffix or min_len\n"
    );
}

#[test]
fn graceful_shutdown_on_sigint() {
    let mut child = Command::new(example("graceful_shutdown"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("example starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    assert_eq!(first, "running; press Ctrl-C to stop");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let started = Instant::now();
    let status = child.wait().expect("exits");
    assert!(status.success(), "exits cleanly on SIGINT: {status}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drains promptly"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(
        rest.first().map(String::as_str),
        Some("stopped cleanly: true"),
        "{rest:?}"
    );
    let last = rest.get(1).expect("counts line");
    assert!(
        last.starts_with("pulled ") && last.ends_with(", lost 0"),
        "{last}"
    );
}
