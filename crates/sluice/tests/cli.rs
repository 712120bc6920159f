//! The `sluice` command end to end: real runs of the binary on pipeline files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Running, SLUICE, free_port, lines, text};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sluice(args: &[&str]) -> Command {
    let mut cmd = Command::new(SLUICE);
    cmd.args(args).current_dir(workspace()).env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("sluice runs")
}

#[test]
fn broken_configurations_are_explained() {
    // One file per mistake; the expected message sits beside it. SLUICE_BLESS=1 rewrites them.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("broken/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "a file per mistake");
    let mut mismatches = Vec::new();
    for file in files {
        let relative = format!(
            "tests/broken/{}",
            file.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        );
        let out = Command::new(SLUICE)
            .args(["validate", &relative])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{relative} is rejected");
        let got = text(&out.stderr);
        let expected_path = file.with_extension("expected");
        if std::env::var_os("SLUICE_BLESS").is_some() {
            std::fs::write(&expected_path, &got).expect("bless");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            mismatches.push(format!(
                "{relative}:\n--- expected\n{expected}--- got\n{got}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn quickstart_runs_and_dead_letters_bad_lines() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out =
        run(sluice(&["run", "examples/quickstart.yaml"]).env("QUICKSTART_OUT", out_dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stderr);
    assert!(summary.contains("pipeline `quickstart` ran"), "{summary}");
    assert!(
        summary.lines().any(|l| l.starts_with("important ")),
        "{summary}"
    );

    let important = lines(&out_dir.path().join("important.jsonl"));
    assert_eq!(important.len(), 216);
    assert!(
        important
            .iter()
            .all(|e| e["level"] == "ERROR" || e["level"] == "WARN")
    );
    assert!(
        important
            .iter()
            .all(|e| e["slow"] == (e["latency_ms"].as_f64().unwrap_or(0.0) > 100.0))
    );
    assert!(
        important
            .iter()
            .all(|e| e["service"].as_str().is_some_and(|s| s == s.to_uppercase()))
    );

    let windows = lines(&out_dir.path().join("per_service.jsonl"));
    let counted: u64 = windows
        .iter()
        .map(|w| w["events"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 216, "every kept event is in exactly one window");

    let dead = lines(&out_dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["position"]["line"], 138);
    assert_eq!(
        dead[0]["raw"],
        r#"{"ts":"2026-01-01T00:00:13.730Z","level""#
    );
    assert_eq!(
        dead[0]["error"],
        "invalid JSON: EOF while parsing an object at line 1 column 40"
    );
    assert_eq!(
        dead[1]["raw"],
        "panic: runtime error: index out of range [3] with length 3"
    );
    assert_eq!(dead[1]["source"], "logs");

    let strict = run(sluice(&[
        "run",
        "--quiet",
        "--fail-on-dead",
        "examples/quickstart.yaml",
    ])
    .env("QUICKSTART_OUT", out_dir.path()));
    assert_eq!(
        strict.status.code(),
        Some(3),
        "dead letters fail the run when asked"
    );
}

#[test]
fn pipeline_tests_pass_and_failures_show_a_diff() {
    let out = run(&mut sluice(&["test", "examples/quickstart.yaml"]));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).ends_with("2 passed, 0 failed\n"));

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("failing.yaml");
    std::fs::write(
        &file,
        r#"
sources:
  in: { type: stdin }
transforms:
  double: { type: jq, inputs: [in], program: '.n * 2' }
sinks:
  out: { type: stdout, inputs: [double] }
tests:
  - name: doubles
    input: { events: [{ n: 1 }, { n: 2 }] }
    expect:
      - { from: double, events: [2, 5] }
"#,
    )
    .expect("write");
    let out = run(&mut sluice(&["test", &file.display().to_string()]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAIL doubles"), "{stdout}");
    assert!(stdout.contains("- 5") && stdout.contains("+ 4"), "{stdout}");
}

#[test]
fn graph_draws_mermaid_and_dot() {
    let mermaid = text(&run(&mut sluice(&["graph", "examples/quickstart.yaml"])).stdout);
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert!(
        mermaid.contains("logs -. errors .-> dead_letters"),
        "{mermaid}"
    );
    let dot = text(
        &run(&mut sluice(&[
            "graph",
            "--format",
            "dot",
            "examples/quickstart.yaml",
        ]))
        .stdout,
    );
    assert!(dot.contains("\"enrich\" -> \"per_service\";"), "{dot}");
}

#[test]
fn set_overrides_a_setting() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = run(sluice(&[
        "run",
        "--quiet",
        "--set",
        r#"transforms.important.condition=.level == "ERROR""#,
        "examples/quickstart.yaml",
    ])
    .env("QUICKSTART_OUT", out_dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let important = lines(&out_dir.path().join("important.jsonl"));
    assert!(!important.is_empty() && important.iter().all(|e| e["level"] == "ERROR"));
}

#[test]
fn stdin_to_stdout_with_a_bad_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipe.yaml");
    std::fs::write(
        &file,
        r#"
sources:
  in: { type: stdin }
transforms:
  total: { type: jq, inputs: [in], program: '{id, total: (.price * .qty)}' }
sinks:
  out: { type: stdout, inputs: [total] }
  bad: { type: stdout, inputs: [in.errors, total.errors], encoding: { format: text, field: error } }
"#,
    )
    .expect("write");
    let mut child = sluice(&["run", "--quiet", &file.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(
            b"{\"id\":1,\"price\":2.5,\"qty\":4}\nnot json\n{\"id\":2,\"price\":true,\"qty\":1}\n",
        )
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("exits");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut got: Vec<&str> = stdout.lines().collect();
    got.sort_unstable();
    assert_eq!(
        got,
        vec![
            r#"boolean (true) and number (1) cannot be multiplied"#,
            r#"invalid JSON: expected ident at line 1 column 2"#,
            r#"{"id":1,"total":10}"#,
        ]
    );
}

#[test]
fn admin_server_and_clean_shutdown_on_sigint() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("endless.yaml");
    std::fs::write(
        &file,
        r#"
sources:
  ticks: { type: generator, rate: 2000 }
transforms:
  odd: { type: filter, inputs: [ticks], condition: '.seq % 2 == 1' }
sinks:
  out: { type: blackhole, inputs: [odd] }
"#,
    )
    .expect("write");
    let addr = format!("127.0.0.1:{port}");
    let child = Running(Some(
        sluice(&[
            "run",
            "--log-format",
            "json",
            "--admin-addr",
            &addr,
            &file.display().to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts"),
    ));
    let started = Instant::now();
    let health = loop {
        match http_get(&addr, "/health") {
            Ok(body) => break body,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("admin server never answered: {e}"),
        }
    };
    assert_eq!(health, "ok\n");
    std::thread::sleep(Duration::from_millis(300));
    let metrics = http_get(&addr, "/metrics").expect("metrics");
    assert!(
        metrics.contains(r#"sluice_stage_items_in_total{pipeline="endless",stage="odd"}"#),
        "{metrics}"
    );
    // A histogram with buckets (a summary could not be summed across processes).
    assert!(
        metrics.contains(
            r#"sluice_stage_latency_seconds_bucket{pipeline="endless",stage="odd",le="0.001"}"#
        ),
        "{metrics}"
    );
    let out = child.interrupt();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(shut down)"), "{stderr}");
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["level"] == "INFO" && l["message"] == "shutting down: draining"),
        "structured logs: {stderr}"
    );
}

/// A plain HTTP/1.1 GET: the body of a 200 answer.
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    match common::request("GET", addr, path, b"")? {
        (200, body) => Ok(body),
        (status, body) => Err(std::io::Error::other(format!("{status}: {body}"))),
    }
}
