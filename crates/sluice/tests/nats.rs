//! The `nats` source and sink end to end, on the machine's NATS server with JetStream
//! (`scripts/services.sh` starts it): a consumer pipeline creates the stream and its durable
//! consumer, a producer pipeline publishes 2,000 events, and the consumer is killed (SIGKILL)
//! mid-stream and started again. With `max_deliver: 1`, what the killed process held and had
//! not acknowledged comes back once more and is dead-lettered with the reason: every event ends
//! up processed or dead-lettered, none lost.

// The counts are the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::{lines, run, seqs, start, text, wait_until, write};

const EVENTS: u64 = 2000;

#[test]
fn a_consumer_killed_mid_stream_loses_nothing_and_redeliveries_past_the_limit_are_dead_lettered() {
    let stream = format!("SLTEST{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let received = dir.path().join("received.jsonl");
    let dead = dir.path().join("dead.jsonl");
    let consumer = write(
        dir.path(),
        "consumer.yaml",
        &format!(
            "sources:\n  orders:\n    type: nats\n    stream: {stream}\n    subjects: [{stream}.orders]\n\
             \x20   consumer: readers\n    ack_wait: 2s\n    max_deliver: 1\n    batch_size: 100\n\
             transforms:\n  paced:\n    type: rate_limit\n    inputs: [orders]\n    rate: 1000\n    per: 1s\n\
             sinks:\n  out:\n    type: file\n    inputs: [paced]\n    path: {}\n\
             \x20 dead:\n    type: file\n    inputs: [orders.errors]\n    path: {}\n",
            received.display(),
            dead.display()
        ),
    );
    let producer = write(
        dir.path(),
        "producer.yaml",
        &format!(
            "sources:\n  seq:\n    type: generator\n    count: {EVENTS}\n\
             sinks:\n  publish:\n    type: nats\n    inputs: [seq]\n    subject: {stream}.orders\n\
             \x20   retry: {{ max_attempts: 20, initial: 250ms }}\n"
        ),
    );
    let first = start(&consumer);
    let out = run(&producer, Duration::from_secs(60));
    assert!(out.status.success(), "producer: {}", text(&out.stderr));

    wait_until(
        Duration::from_secs(30),
        || seqs(&received).len() >= 300,
        || "nothing read".to_owned(),
    );
    first.kill();

    let second = start(&consumer);
    let all = || {
        let mut seen = seqs(&received);
        seen.extend(
            lines(&dead)
                .iter()
                .filter_map(|r| r["raw"].as_str())
                .filter_map(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
                .filter_map(|v| v["seq"].as_u64()),
        );
        seen
    };
    wait_until(
        Duration::from_secs(60),
        || all().len() >= EVENTS as usize,
        || {
            format!(
                "only {} of {EVENTS} events processed or dead-lettered after the restart",
                all().len()
            )
        },
    );
    let out = second.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = lines(&dead);
    assert!(
        records.iter().all(|r| r["error"]
            .as_str()
            .is_some_and(|e| e.contains("without finishing (max_deliver 1)"))),
        "{records:?}"
    );
    eprintln!(
        "nats: {EVENTS} events, one SIGKILL: {} processed, {} dead-lettered after a redelivery",
        seqs(&received).len(),
        records.len()
    );
}
