//! The `redis_stream` source and sink end to end, on the machine's Redis (`scripts/services.sh`
//! starts it): a pipeline appends 2,000 events to a stream; another reads them in a consumer
//! group, is killed (SIGKILL) mid-stream and started again, and in the end every event arrived
//! and every entry is acknowledged. It prints how many events arrived twice.

// The count of duplicates is the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::{lines, redis_cli, run, seqs, start, text, wait_until, write};

const EVENTS: u64 = 2000;

#[test]
fn a_consumer_killed_mid_stream_loses_nothing() {
    let stream = format!("sluice-test-stream-{}", std::process::id());
    redis_cli(&["DEL", &stream]);
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = write(
        dir.path(),
        "producer.yaml",
        &format!(
            "sources:\n  seq:\n    type: generator\n    count: {EVENTS}\n\
             sinks:\n  stream:\n    type: redis_stream\n    inputs: [seq]\n    stream: {stream}\n\
             \x20   max_len: 100000\n"
        ),
    );
    let out = run(&producer, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(redis_cli(&["XLEN", &stream]).trim(), EVENTS.to_string());

    let received = dir.path().join("received.jsonl");
    let consumer = write(
        dir.path(),
        "consumer.yaml",
        &format!(
            "sources:\n  stream:\n    type: redis_stream\n    stream: {stream}\n    group: readers\n\
             \x20   consumer: reader-1\n    batch_size: 100\n    claim_idle: 2s\n\
             transforms:\n  paced:\n    type: rate_limit\n    inputs: [stream]\n    rate: 1000\n    per: 1s\n\
             sinks:\n  out:\n    type: file\n    inputs: [paced]\n    path: {}\n\
             \x20 dead:\n    type: file\n    inputs: [stream.errors]\n    path: {}\n",
            received.display(),
            dir.path().join("dead.jsonl").display()
        ),
    );
    let first = start(&consumer);
    wait_until(
        Duration::from_secs(30),
        || lines(&received).len() >= 300,
        || "nothing read".to_owned(),
    );
    first.kill();
    let before = seqs(&received);
    assert!(
        before.len() < EVENTS as usize,
        "killed before the end ({} events)",
        before.len()
    );

    let second = start(&consumer);
    wait_until(
        Duration::from_secs(60),
        || seqs(&received).len() >= EVENTS as usize,
        || {
            format!(
                "only {} of {EVENTS} events after the restart",
                seqs(&received).len()
            )
        },
    );
    // Acknowledgements follow the writes; give the last ones a moment, then stop gracefully.
    std::thread::sleep(Duration::from_millis(500));
    let out = second.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (distinct, total) = (seqs(&received), lines(&received).len());
    assert_eq!(distinct.len(), EVENTS as usize);
    eprintln!(
        "redis_stream: {EVENTS} events, one SIGKILL: all received; {} received twice",
        total - distinct.len()
    );
    let pending = redis_cli(&["XPENDING", &stream, "readers"]);
    assert!(
        pending.starts_with('0'),
        "every entry is acknowledged: {pending}"
    );
    redis_cli(&["DEL", &stream]);
}
