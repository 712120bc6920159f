//! The `amqp` source and sink end to end, on the machine's RabbitMQ (`scripts/services.sh`
//! starts it): a producer publishes 2,000 events with confirms; a consumer, whose jq stage
//! fails one event in a hundred with no dead-letter output wired, is killed (SIGKILL)
//! mid-stream and started again. Every good event arrives; every failed one is rejected to the
//! queue's dead-letter exchange and lands in the dead-letter queue.

// The counts are the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{free_port, lines, request, run, seqs, start, start_in, text, wait_until, write};

const EVENTS: u64 = 2000;

#[test]
fn a_consumer_killed_mid_stream_loses_nothing_and_failures_reach_the_dead_letter_queue() {
    let queue = format!("sluice-test-{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let received = dir.path().join("received.jsonl");
    let rejected = dir.path().join("rejected.jsonl");
    let dead_reader = write(
        dir.path(),
        "dead.yaml",
        &format!(
            "sources:\n  dead:\n    type: amqp\n    queue: {queue}.dead\n\
             sinks:\n  out:\n    type: file\n    inputs: [dead]\n    path: {}\n",
            rejected.display()
        ),
    );
    let consumer = write(
        dir.path(),
        "consumer.yaml",
        &format!(
            "sources:\n  orders:\n    type: amqp\n    queue: {queue}\n    prefetch: 100\n\
             \x20   dead_letter_exchange: \"\"\n    dead_letter_routing_key: {queue}.dead\n\
             transforms:\n  check:\n    type: jq\n    inputs: [orders]\n\
             \x20   program: 'if .seq % 100 == 0 then error(\"poison\") else . end'\n\
             \x20 paced:\n    type: rate_limit\n    inputs: [check]\n    rate: 1000\n    per: 1s\n\
             sinks:\n  out:\n    type: file\n    inputs: [paced]\n    path: {}\n",
            received.display()
        ),
    );
    let producer = write(
        dir.path(),
        "producer.yaml",
        &format!(
            "sources:\n  seq:\n    type: generator\n    count: {EVENTS}\n\
             sinks:\n  publish:\n    type: amqp\n    inputs: [seq]\n    routing_key: {queue}\n\
             \x20   retry: {{ max_attempts: 40, initial: 250ms, max: 1s }}\n"
        ),
    );
    // The dead-letter queue must exist before the first rejection: the broker drops a message
    // dead-lettered to a queue that does not exist yet.
    let admin = format!("127.0.0.1:{}", free_port());
    let dead = start_in(
        dir.path(),
        &["run", "--quiet", "--admin-addr", &admin, &dead_reader],
        &[],
    );
    wait_until(
        Duration::from_secs(30),
        || request("GET", &admin, "/ready", b"").is_ok_and(|(status, _)| status == 200),
        || "the dead-letter reader never became ready".to_owned(),
    );
    let first = start(&consumer);
    // The producer's retries cover the moment before the consumer has declared its queue: a
    // message no queue takes comes back and fails its batch.
    let out = run(&producer, Duration::from_secs(90));
    assert!(out.status.success(), "producer: {}", text(&out.stderr));

    wait_until(
        Duration::from_secs(30),
        || seqs(&received).len() >= 300,
        || "nothing read".to_owned(),
    );
    first.kill();

    let second = start(&consumer);
    let good: HashSet<u64> = (0..EVENTS).filter(|n| n % 100 != 0).collect();
    let poison: HashSet<u64> = (0..EVENTS).filter(|n| n % 100 == 0).collect();
    wait_until(
        Duration::from_secs(60),
        || seqs(&received) == good && seqs(&rejected) == poison,
        || {
            format!(
                "after the restart: {} of {} good events, {} of {} rejected ones",
                seqs(&received).len(),
                good.len(),
                seqs(&rejected).len(),
                poison.len()
            )
        },
    );
    for running in [second, dead] {
        let out = running.interrupt();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    eprintln!(
        "amqp: {EVENTS} events, one SIGKILL: {} good received ({} lines), {} rejected to the dead-letter queue",
        good.len(),
        lines(&received).len(),
        poison.len()
    );
}
