//! A running pipeline seen from outside, through `sluice run --admin-addr`: its live graph
//! in the console's API (every component, rates that move, the deliberately slow stage marked
//! the bottleneck), `sluice tap` (the events it prints are the stage's events; its dead letters
//! from the `errors` output; refused without the token), and `sluice top` under tmux (every
//! component listed, figures changing, the bottleneck marked; its message when the address is
//! dead); and the graph in a real browser (`tests/browser/pipeline.mjs`: Playwright driving
//! Debian's Chromium, screenshots in `target/console/`). tmux comes from `scripts/services.sh
//! terminal`, the browser from `scripts/services.sh browser`. And the pipeline calls of the
//! console's API against its OpenAPI document, by schemathesis; and a pipeline with a worker in
//! one process (`sluice run --worker`), both in the console and in `sluice top`.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{SLUICE, free_port, request, start_in, text, wait_until, write};
use serde_json::Value;

const TOKEN: &str = "live-test-token";

/// A generator as fast as it goes -> `tag` -> `slow` (a jq program that counts to 3,000 for
/// every event, and fails every 50th) -> a file; the failures -> another file.
const PIPELINE: &str = "\
pipeline: { name: orders }
sources:
  numbers: { type: generator }
transforms:
  tag: { type: jq, inputs: [numbers], program: '.tagged = true' }
  slow:
    type: jq
    inputs: [tag]
    program: '.n = ([range(0; 3000)] | length) | if .seq % 50 == 0 then error(\"poison\") else . end'
sinks:
  out: { type: file, inputs: [slow], path: out.jsonl }
  dead: { type: file, inputs: [slow.errors], path: dead.jsonl }
";

/// The pipeline running in `dir` with its admin server at the address returned.
fn start_pipeline(dir: &Path) -> (common::Running, String) {
    write(dir, "pipeline.yaml", PIPELINE);
    let addr = format!("127.0.0.1:{}", free_port());
    let running = start_in(
        dir,
        &["run", "--quiet", "--admin-addr", &addr, "pipeline.yaml"],
        &[("SLUICE_ADMIN_TOKEN", TOKEN)],
    );
    wait_until(
        Duration::from_secs(30),
        || overview(&addr).is_some(),
        || "the admin server never answered".to_owned(),
    );
    (running, addr)
}

/// The running pipeline's graph, from the console's API.
fn overview(addr: &str) -> Option<Value> {
    let (status, body) = request("GET", addr, "/api/v1/pipelines", b"").ok()?;
    let value: Value = serde_json::from_str(&body).ok()?;
    (status == 200).then(|| value["pipelines"][0].clone())
}

fn component<'a>(graph: &'a Value, name: &str) -> &'a Value {
    graph["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

fn tap(addr: &str, args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(SLUICE);
    command
        .arg("tap")
        .arg(addr)
        .args(args)
        .env_remove("SLUICE_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("SLUICE_ADMIN_TOKEN", token);
    }
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sluice tap");
    common::run_to_end(child, Duration::from_secs(60))
}

#[test]
fn the_live_graph_shows_every_component_and_marks_the_slow_one_the_bottleneck() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, addr) = start_pipeline(dir.path());
    let graph = overview(&addr).expect("the graph");
    let names: Vec<&str> = graph["components"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["numbers", "tag", "slow", "out", "dead"]);
    let edges: Vec<(String, String)> = graph["edges"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| {
                    let from = match e["output"].as_str() {
                        Some(o) => format!("{}.{o}", e["from"].as_str().unwrap_or_default()),
                        None => e["from"].as_str().unwrap_or_default().to_owned(),
                    };
                    (from, e["to"].as_str().unwrap_or_default().to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        edges,
        [
            ("numbers", "tag"),
            ("tag", "slow"),
            ("slow", "out"),
            ("slow.errors", "dead")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let mut seen = Vec::new();
    wait_until(
        Duration::from_secs(30),
        || {
            let Some(graph) = overview(&addr) else {
                return false;
            };
            let slow = component(&graph, "slow");
            seen.push(slow["events_out"].as_u64().unwrap_or(0));
            graph["bottleneck"] == "slow"
                && slow["bottleneck"] == true
                && slow["busy"].as_f64().unwrap_or(0.0) > 0.5
                && slow["out_per_sec"].as_f64().unwrap_or(0.0) > 0.0
                && slow["dead_letters_per_sec"].as_f64().unwrap_or(0.0) > 0.0
                && component(&graph, "dead")["in_per_sec"]
                    .as_f64()
                    .unwrap_or(0.0)
                    > 0.0
                && seen.windows(2).any(|w| w[1] > w[0])
        },
        || format!("{:#}", overview(&addr).unwrap_or_default()),
    );
    let (status, body) = request(
        "GET",
        &addr,
        "/api/v1/pipelines/orders/components/slow",
        b"",
    )
    .expect("answer");
    assert_eq!(status, 200, "{body}");
    let details: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        details["settings"]["program"]
            .as_str()
            .map(|p| p.contains("range(0; 3000)")),
        Some(true)
    );
    assert!(
        details["history"].as_array().is_some_and(|h| !h.is_empty()),
        "{details:#}"
    );
    assert!(details["p99_ms"].as_f64().is_some(), "{details:#}");
    let (status, _) = request(
        "GET",
        &addr,
        "/api/v1/pipelines/orders/components/nope",
        b"",
    )
    .expect("answer");
    assert_eq!(status, 404);
}

#[test]
fn a_tap_prints_the_stage_events_and_needs_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, addr) = start_pipeline(dir.path());
    let out = tap(&addr, &["slow", "--limit", "20"], Some(TOKEN));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(events.len(), 20);
    for e in &events {
        assert_eq!(e["tagged"], true, "{e}");
        assert_eq!(e["n"], 3000, "{e}");
        assert_ne!(e["seq"].as_u64().map(|s| s % 50), Some(0), "{e}");
    }
    let out = tap(
        &addr,
        &["orders/slow", "--output", "errors", "--limit", "3"],
        Some(TOKEN),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in text(&out.stdout).lines() {
        let dead: Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(dead["stage"], "slow", "{dead}");
        assert_eq!(
            dead["event"]["seq"].as_u64().map(|s| s % 50),
            Some(0),
            "{dead}"
        );
    }
    let out = tap(&addr, &["slow", "--limit", "1"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    let out = tap(&addr, &["slow", "--limit", "1"], Some("wrong"));
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    let out = tap(&addr, &["nope"], Some(TOKEN));
    assert!(
        text(&out.stderr).contains("orders/slow"),
        "lists the components: {}",
        text(&out.stderr)
    );
    let out = tap(&addr, &["slow", "--output", "nope"], Some(TOKEN));
    assert!(text(&out.stderr).contains("404"), "{}", text(&out.stderr));
}

/// A tmux session running `sluice top ADDR`, killed when dropped.
struct Tmux(String);

impl Tmux {
    fn start(addr: &str) -> Tmux {
        let name = format!("sluice-top-{}-{}", std::process::id(), free_port());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "160", "-y", "30"])
            .arg(format!("{SLUICE} top {addr}"))
            .status()
            .expect("tmux runs: scripts/services.sh terminal installs it");
        assert!(status.success());
        Tmux(name)
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("tmux capture-pane");
        text(&out.stdout)
    }

    fn keys(&self, keys: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.0, keys])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// A component's row on the screen.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.trim_start_matches(['│', ' ', '▶'])
            .split_whitespace()
            .next()
            == Some(name)
    })
}

#[test]
fn top_lists_every_component_with_moving_figures_and_marks_the_bottleneck() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, addr) = start_pipeline(dir.path());
    let top = Tmux::start(&addr);
    let mut rows = Vec::new();
    wait_until(
        Duration::from_secs(30),
        || {
            let screen = top.screen();
            let listed = ["numbers", "tag", "slow", "out", "dead"]
                .iter()
                .all(|n| row(&screen, n).is_some());
            if let Some(slow) = row(&screen, "slow") {
                rows.push(slow.to_owned());
            }
            listed
                && row(&screen, "slow").is_some_and(|r| r.contains("▶ slow"))
                && screen.contains("bottleneck slow")
                && rows.windows(2).any(|w| w[0] != w[1])
        },
        || top.screen(),
    );
    top.keys("s");
    wait_until(
        Duration::from_secs(10),
        || top.screen().contains("sorted by IN/s descending"),
        || top.screen(),
    );
    top.keys("q");
    wait_until(
        Duration::from_secs(10),
        || !top.screen().contains("sluice top"),
        || top.screen(),
    );
}

#[test]
fn a_pipeline_and_a_worker_in_one_process_are_both_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("jobs.db").display());
    common::enqueue_records(dir.path(), &store, "", 30);
    write(dir.path(), "pipeline.yaml", PIPELINE);
    let addr = format!("127.0.0.1:{}", free_port());
    let _running = start_in(
        dir.path(),
        &[
            "run",
            "--quiet",
            "--admin-addr",
            &addr,
            "pipeline.yaml",
            "--worker",
            "worker.yaml",
            "--store",
            &store,
        ],
        &[],
    );
    wait_until(
        Duration::from_secs(30),
        || {
            request("GET", &addr, "/api/v1/info", b"")
                .ok()
                .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
                .is_some_and(|info| {
                    info["store"] == "sqlite" && info["pipelines"] == serde_json::json!(["orders"])
                })
        },
        || "the console never showed both".to_owned(),
    );
    let runs = dir.path().join("runs.jsonl");
    wait_until(
        Duration::from_secs(60),
        || common::lines(&runs).len() >= 30,
        || format!("{} jobs worked", common::lines(&runs).len()),
    );
    let top = Tmux::start(&addr);
    wait_until(
        Duration::from_secs(30),
        || {
            let screen = top.screen();
            screen.contains("job queues")
                && row(&screen, "default").is_some_and(|r| r.contains("30"))
                && row(&screen, "slow").is_some()
        },
        || top.screen(),
    );
    top.keys("q");
}

#[test]
fn top_says_when_the_address_does_not_answer_and_keeps_trying() {
    let addr = format!("127.0.0.1:{}", free_port());
    let top = Tmux::start(&addr);
    wait_until(
        Duration::from_secs(20),
        || {
            let screen = top.screen().replace('\n', " ");
            screen.contains("nothing answers there") && screen.contains("retrying")
        },
        || top.screen(),
    );
    // Once the address answers, the figures appear.
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "pipeline.yaml", PIPELINE);
    let _running = start_in(
        dir.path(),
        &["run", "--quiet", "--admin-addr", &addr, "pipeline.yaml"],
        &[],
    );
    wait_until(
        Duration::from_secs(30),
        || row(&top.screen(), "slow").is_some() && !top.screen().contains("nothing answers"),
        || top.screen(),
    );
}

#[test]
fn the_graph_in_a_browser_marks_the_bottleneck_and_samples_a_stage() {
    let browser = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"));
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/services.sh browser"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, addr) = start_pipeline(dir.path());
    let shots = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/console"));
    let node = Command::new("node")
        .arg(browser.join("pipeline.mjs"))
        .env("CONSOLE_URL", format!("http://{addr}"))
        .env("TOKEN", TOKEN)
        .env("SHOTS", shots)
        .env("NAME", "pipeline")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let out = common::run_to_end(node, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every request schemathesis makes from the OpenAPI document to a console over a running
/// pipeline gets an answer the document describes, never a 5xx (the job calls: 404).
#[test]
fn the_pipeline_api_keeps_to_its_openapi_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, addr) = start_pipeline(dir.path());
    common::schemathesis(
        dir.path(),
        &format!("http://{addr}/api/v1/openapi.json"),
        TOKEN,
        &["tap"],
    );
}
