//! The jobs console in a real browser, against a real worker on each store: the scenarios of
//! `tests/browser/console.mjs` (Playwright driving Debian's Chromium), which `scripts/services.sh
//! browser` installs. Screenshots go to `target/console/`. And its API against its OpenAPI
//! document, by schemathesis (`scripts/services.sh schemathesis`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{DATABASE, free_port, jobs, psql, run_to_end, start_in, text, wait_until, write};

const WORKER: &str = "\
queues:
  default: { concurrency: 4 }
  slow: { concurrency: 2 }
kinds:
  ok:
    handler: { type: exec, command: 'true' }
  junk:
    handler: { type: exec, command: 'true' }
  flaky:
    handler: { type: exec, command: 'test -f flag' }
    max_attempts: 1
schedules:
  nightly:
    cron: '0 3 * * *'
    timezone: Europe/Paris
    job: { kind: ok }
";

const TOKEN: &str = "console-test-token";

fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
}

fn count(dir: &Path, store: &str, queue: &str, state: &str) -> u64 {
    common::queue_counts(dir, store, queue)[state]
        .as_u64()
        .unwrap_or(0)
}

/// Seeds `store`, starts a worker serving the console on it, and runs the browser scenarios.
fn console_scenarios(name: &str, store: &str) {
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/services.sh browser"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "worker.yaml", WORKER);
    write(
        dir.path(),
        "jobs.jsonl",
        "{\"kind\": \"junk\"}\n{\"kind\": \"junk\"}\n{\"kind\": \"junk\"}\n{\"kind\": \"ok\"}\n{\"kind\": \"ok\"}\n{\"kind\": \"flaky\"}\n",
    );
    jobs(dir.path(), store, &["migrate"]);
    jobs(dir.path(), store, &["enqueue", "--file", "jobs.jsonl"]);
    let addr = format!("127.0.0.1:{}", free_port());
    let worker = start_in(
        dir.path(),
        &[
            "worker",
            "--config",
            "worker.yaml",
            "--store",
            store,
            "--admin-addr",
            &addr,
        ],
        &[("SLUICE_ADMIN_TOKEN", TOKEN)],
    );
    wait_until(
        Duration::from_secs(30),
        || {
            count(dir.path(), store, "default", "succeeded") == 5
                && count(dir.path(), store, "default", "dead") == 1
        },
        || jobs(dir.path(), store, &["stats"]),
    );
    let shots = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/console"));
    let node = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .env("CONSOLE_URL", format!("http://{addr}"))
        .env("TOKEN", TOKEN)
        .env("SLUICE", common::SLUICE)
        .env("STORE", store)
        .env("WORKDIR", dir.path())
        .env("SHOTS", shots)
        .env("NAME", name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let out = run_to_end(node, Duration::from_secs(240));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    drop(worker);
}

#[test]
fn the_console_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    console_scenarios(
        "sqlite",
        &format!("sqlite://{}/jobs.db", dir.path().display()),
    );
}

#[test]
fn the_console_on_postgres() {
    let schema = "sluice_console";
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    console_scenarios("postgres", &format!("{DATABASE}?schema={schema}"));
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

#[test]
fn the_console_on_redis() {
    let prefix = format!("sluice-console-{}", std::process::id());
    console_scenarios("redis", &format!("redis://127.0.0.1:6379?prefix={prefix}"));
}

/// Every request schemathesis makes from the OpenAPI document, with and without the token, gets
/// an answer the document describes, and never a 5xx.
#[test]
fn the_api_keeps_to_its_openapi_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}/jobs.db", dir.path().display());
    write(
        dir.path(),
        "jobs.jsonl",
        "{\"kind\": \"a\", \"args\": {\"user\": {\"id\": 1}}, \"unique_key\": \"u1\"}\n{\"kind\": \"b\", \"queue\": \"q\", \"run_at\": \"2100-01-01T00:00:00Z\"}\n",
    );
    jobs(dir.path(), &store, &["enqueue", "--file", "jobs.jsonl"]);
    let token = write(dir.path(), "token", TOKEN);
    let addr = format!("127.0.0.1:{}", free_port());
    let _ui = start_in(
        dir.path(),
        &[
            "ui",
            "--store",
            &store,
            "--addr",
            &addr,
            "--admin-token-file",
            &token,
        ],
        &[],
    );
    let url = format!("http://{addr}/api/v1/openapi.json");
    wait_until(
        Duration::from_secs(20),
        || std::net::TcpStream::connect(&addr).is_ok(),
        || "the console does not answer".to_owned(),
    );
    common::schemathesis(dir.path(), &url, TOKEN, &[]);
}
