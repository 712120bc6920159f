//! Connectors whose services cannot be reached: `sluice run` keeps trying, `/ready` answers
//! `503` naming each connector that is down and why, and no password from the pipeline file
//! reaches the logs, even at debug level.

mod common;

use std::time::Duration;

use common::{Running, SLUICE, free_port, interrupt, request, text, wait_until, write};

/// A password that must never be printed.
const SECRET: &str = "s3cr3t-Pa55";

#[test]
fn unreachable_services_make_the_process_unready_without_printing_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1 on the loopback refuses connections.
    let pipeline = write(
        dir.path(),
        "down.yaml",
        &format!(
            r#"pipeline: {{ shutdown_timeout: 1s }}
sources:
  ticks: {{ type: generator, count: 10 }}
  stream:
    type: redis_stream
    url: "redis://:{SECRET}@127.0.0.1:1"
    stream: s
    group: g
  queue:
    type: amqp
    url: "amqp://guest:{SECRET}@127.0.0.1:1/%2f"
    queue: q
  subjects:
    type: nats
    url: "nats://user:{SECRET}@127.0.0.1:1"
    stream: s
    consumer: c
  topic:
    type: kafka
    brokers: "127.0.0.1:1"
    topics: [t]
    group: g
    options: {{ security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: u, sasl.password: "{SECRET}" }}
sinks:
  db:
    type: postgres
    inputs: [ticks]
    url: "postgres://postgres:{SECRET}@127.0.0.1:1/test"
    table: t
    columns: {{ seq: seq }}
    retry: {{ max_attempts: 1000, initial: 100ms, max: 200ms }}
  out: {{ type: blackhole, inputs: [stream, queue, subjects, topic] }}
"#
        ),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    // Debug logs are many: they go to a file rather than a pipe that could fill up.
    let log = dir.path().join("stderr.log");
    let mut running = Running(Some(
        std::process::Command::new(SLUICE)
            .args(["run", "--admin-addr", &addr, &pipeline])
            .env("RUST_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("sluice"),
    ));
    let down = ["stream", "queue", "subjects", "topic", "db"];
    let mut last = String::new();
    wait_until(
        Duration::from_secs(60),
        || match request("GET", &addr, "/ready", b"") {
            Ok((status, body)) => {
                let all_down = status == 503
                    && serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|ready| {
                        down.iter().all(|name| {
                            ready["connectors"][name]
                                .as_str()
                                .is_some_and(|s| s.starts_with("down: "))
                        })
                    });
                last = body;
                all_down
            }
            Err(_) => false,
        },
        || "not every connector reported down".to_owned(),
    );
    assert!(!last.contains(SECRET), "{last}");
    let out = interrupt(running.0.take().expect("running"));
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(stderr.contains("reconnecting"), "{stderr}");
    assert!(!stderr.contains(SECRET), "a password reached the logs");
    assert!(
        !text(&out.stdout).contains(SECRET),
        "a password reached the output"
    );
}
