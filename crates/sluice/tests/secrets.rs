//! Secrets stay secret: a pipeline whose configuration holds a bearer token (the `http`
//! source), a database password (the `postgres` sink, working) and another (a `postgres` sink
//! whose server is down, so its errors are logged and shown by `/ready`) runs with debug logs
//! in JSON, takes requests, dead-letters events, and is scraped; then every byte it wrote
//! (logs, `/metrics`, `/ready`, the dead-letter file, the answers) is searched for the secrets.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    DATABASE, SLUICE, free_port, interrupt, lines, psql, raw, request, text, wait_until, write,
};

const TOKEN: &str = "tok-3n-Zq81-secret";
const PASSWORD: &str = "pw-Vv29x-secret";
const DOWN_PASSWORD: &str = "pw-Kk77y-secret";

#[test]
fn no_secret_reaches_logs_metrics_readiness_or_dead_letters() {
    let table = format!("secrets_{}", std::process::id());
    psql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (num bigint PRIMARY KEY)"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, admin) = (free_port(), free_port());
    let closed = free_port();
    let dead = dir.path().join("dead.jsonl");
    let working = DATABASE.replace("postgres@", &format!("postgres:{PASSWORD}@"));
    let pipeline = write(
        dir.path(),
        "secrets.yaml",
        &format!(
            r#"
pipeline: {{ shutdown_timeout: 2s }}
sources:
  hooks:
    type: http
    address: "127.0.0.1:{port}"
    acknowledgements: false
    auth: {{ type: bearer, token: "${{HOOK_TOKEN}}" }}
transforms:
  check:
    type: jq
    inputs: [hooks]
    program: 'if .n % 2 == 0 then . else error("odd \(.n)") end'
sinks:
  db:
    type: postgres
    inputs: [check]
    url: "{working}"
    table: {table}
    columns: {{ num: "n" }}
  down:
    type: postgres
    inputs: [check]
    url: "postgres://postgres:${{DOWN_PASSWORD}}@127.0.0.1:{closed}/test"
    table: {table}
    columns: {{ num: "n" }}
  dead:
    type: file
    inputs: [check.errors, db.errors, down.errors]
    path: "{}"
"#,
            dead.display()
        ),
    );
    let child = Command::new(SLUICE)
        .args(["--log-format", "json", "run", &pipeline])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
        .env("HOOK_TOKEN", TOKEN)
        .env("DOWN_PASSWORD", DOWN_PASSWORD)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice");
    let hooks = format!("127.0.0.1:{port}");
    let admin = format!("127.0.0.1:{admin}");
    wait_until(
        Duration::from_secs(20),
        || request("GET", &admin, "/health", b"").is_ok(),
        || "the admin server never answered".to_owned(),
    );
    let mut seen = String::new();
    for n in 0..10 {
        let event = format!("{{\"n\":{n}}}");
        let body = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{event}",
            event.len()
        );
        seen.push_str(&raw(&hooks, body.as_bytes(), Duration::from_secs(10)));
    }
    // A wrong token and a body that is not JSON.
    seen.push_str(&raw(
        &hooks,
        b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        Duration::from_secs(10),
    ));
    wait_until(
        Duration::from_secs(30),
        || dead.exists() && !lines(&dead).is_empty(),
        || "nothing was dead-lettered".to_owned(),
    );
    let ready = || request("GET", &admin, "/ready", b"").map_or_else(|e| e.to_string(), |r| r.1);
    wait_until(
        Duration::from_secs(30),
        || ready().contains("down: "),
        || format!("the down sink never showed in /ready: {}", ready()),
    );
    seen.push_str(&ready());
    seen.push_str(&request("GET", &admin, "/metrics", b"").expect("metrics").1);
    let output = interrupt(child);
    seen.push_str(&text(&output.stdout));
    seen.push_str(&text(&output.stderr));
    seen.push_str(&std::fs::read_to_string(&dead).expect("dead letters"));
    assert!(
        text(&output.stderr).contains("connector down"),
        "the outage was logged"
    );
    for secret in [TOKEN, PASSWORD, DOWN_PASSWORD] {
        assert!(!seen.contains(secret), "{secret} leaked:\n{seen}");
    }
    assert_eq!(psql(&format!("SELECT count(*) FROM {table}")).trim(), "5");
}
