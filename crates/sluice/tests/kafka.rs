//! The `kafka` source and sink end to end, on a Kafka-protocol broker at 127.0.0.1:9092
//! (`scripts/services.sh` starts one): a producer pipeline writes 3,000 keyed events to a topic
//! of three partitions; a consumer in a group reads them all, with their metadata, and stops
//! gracefully; started again, it reads nothing twice (its offsets were committed); then two
//! consumers of a fresh group share the partitions; then a consumer SIGKILLed mid-stream is
//! followed by one that reads the rest, nothing lost.

// The counts are the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::time::Duration;

use common::{lines, run, seqs, start, text, wait_until, write};
use kafka::{BROKERS, create_topic};

const EVENTS: u64 = 3000;

fn consumer(
    dir: &std::path::Path,
    name: &str,
    topic: &str,
    group: &str,
) -> (String, std::path::PathBuf) {
    let out = dir.join(format!("{name}.jsonl"));
    let pipeline = write(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "sources:\n  orders:\n    type: kafka\n    brokers: {BROKERS}\n    topics: [{topic}]\n\
             \x20   group: {group}\n    metadata_field: _kafka\n    commit_interval: 200ms\n\
             transforms:\n  paced:\n    type: rate_limit\n    inputs: [orders]\n    rate: 2000\n    per: 1s\n\
             sinks:\n  out:\n    type: file\n    inputs: [paced]\n    path: {}\n",
            out.display()
        ),
    );
    (pipeline, out)
}

#[test]
fn a_group_reads_everything_once_and_shares_the_partitions() {
    let topic = format!("sluice-test-{}", std::process::id());
    create_topic(&topic, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = write(
        dir.path(),
        "producer.yaml",
        &format!(
            "sources:\n  seq:\n    type: generator\n    count: {EVENTS}\n\
             sinks:\n  produce:\n    type: kafka\n    inputs: [seq]\n    brokers: {BROKERS}\n\
             \x20   topic: {topic}\n    key: '\"k-\\(.seq)\"'\n"
        ),
    );
    let out = run(&producer, Duration::from_secs(60));
    assert!(out.status.success(), "producer: {}", text(&out.stderr));

    let (pipeline, received) = consumer(dir.path(), "reader", &topic, "readers");
    let first = start(&pipeline);
    wait_until(
        Duration::from_secs(60),
        || seqs(&received).len() >= EVENTS as usize,
        || format!("only {} of {EVENTS} events", seqs(&received).len()),
    );
    // Commits follow the writes; give the last ones a moment, then stop gracefully.
    std::thread::sleep(Duration::from_millis(500));
    let out = first.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second = start(&pipeline);
    std::thread::sleep(Duration::from_secs(5));
    let out = second.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = lines(&received);
    assert!(
        all.iter().all(|e| e["_kafka"]["topic"] == topic.as_str()
            && e["_kafka"]["key"] == format!("k-{}", e["seq"]).as_str()),
        "metadata: {:?}",
        all.first()
    );
    assert_eq!(
        all.len(),
        EVENTS as usize,
        "a restart after a graceful stop reads nothing again"
    );

    let (one, one_out) = consumer(dir.path(), "one", &topic, "pair");
    let (two, two_out) = consumer(dir.path(), "two", &topic, "pair");
    let (a, b) = (start(&one), start(&two));
    wait_until(
        Duration::from_secs(90),
        || seqs(&one_out).union(&seqs(&two_out)).count() == EVENTS as usize,
        || {
            format!(
                "the pair read {} and {}",
                seqs(&one_out).len(),
                seqs(&two_out).len()
            )
        },
    );
    eprintln!(
        "kafka: a group of two shared {EVENTS} events: {} and {}",
        seqs(&one_out).len(),
        seqs(&two_out).len()
    );
    for running in [a, b] {
        let out = running.interrupt();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    // A consumer killed mid-stream: its successor reads on from the committed offsets and
    // nothing is lost; what was read after the last commit is read again.
    let (crashing, crash_out) = consumer(dir.path(), "crashing", &topic, "crash");
    let killed = start(&crashing);
    wait_until(
        Duration::from_secs(60),
        || seqs(&crash_out).len() >= EVENTS as usize / 3,
        || format!("only {} events", seqs(&crash_out).len()),
    );
    killed.kill();
    let before = lines(&crash_out).len();
    // The broker gives the dead member's partitions away once its session (10 s) has expired.
    std::thread::sleep(Duration::from_secs(11));
    let successor = start(&crashing);
    wait_until(
        Duration::from_secs(90),
        || seqs(&crash_out).len() == EVENTS as usize,
        || {
            format!(
                "{} of {EVENTS} events after the kill",
                seqs(&crash_out).len()
            )
        },
    );
    let out = successor.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!(
        "kafka: killed after {before} events; all {EVENTS} read, {} of them twice",
        lines(&crash_out).len() - EVENTS as usize
    );
}
