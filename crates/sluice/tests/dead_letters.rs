//! `sluice dead-letters inspect` on what a pipeline's error outputs wrote: every failure
//! counted under its stage and error, with samples; a missing file is a clear error. And
//! `replay`: the dead letters of a fixed pipeline sent back from a file, a Kafka topic (the
//! broker at 127.0.0.1:9092 that `scripts/services.sh` starts), a PostgreSQL table and a Redis
//! stream (the machine's servers), through a SIGKILL.

// The replay's figures are the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{SLUICE, run, text, write};

#[test]
fn inspect_counts_each_stage_and_error_with_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    write(
        dir.path(),
        "input.jsonl",
        "{\"n\": 1}\nnot json\n{\"n\": 2}\n",
    );
    let pipeline = write(
        dir.path(),
        "pipeline.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, count: 1000 }}\n  lines: {{ type: file, path: {} }}\n\
             transforms:\n  check: {{ type: jq, inputs: [numbers], program: 'if .seq % 100 == 0 then error(\"poison\") else . end' }}\n\
             sinks:\n  out: {{ type: blackhole, inputs: [check, lines] }}\n  \
             dead: {{ type: file, inputs: [check.errors, lines.errors], path: {} }}\n",
            dir.path().join("input.jsonl").display(),
            dead.display()
        ),
    );
    let out = run(&pipeline, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new(SLUICE)
        .args(["dead-letters", "inspect", "--samples", "2"])
        .arg(&dead)
        .output()
        .expect("sluice");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("11 dead letters (10 events, 1 raw records that did not decode)"),
        "{summary}"
    );
    assert!(summary.contains("stage check: 10"), "{summary}");
    assert!(summary.contains("      10  poison"), "{summary}");
    assert!(summary.contains("e.g. {\"seq\":0}"), "{summary}");
    assert!(summary.contains("stage lines.decode: 1"), "{summary}");
    assert!(summary.contains("e.g. not json"), "{summary}");

    let out = Command::new(SLUICE)
        .args(["dead-letters", "inspect", "--json"])
        .arg(&dead)
        .output()
        .expect("sluice");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["stages"]["check"]["poison"]["count"], 10);

    let out = Command::new(SLUICE)
        .args(["dead-letters", "inspect", "missing.jsonl"])
        .current_dir(dir.path())
        .output()
        .expect("sluice");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot open missing.jsonl"),
        "{}",
        text(&out.stderr)
    );
}

/// Writes the pipeline `name` in `dir`: 2,000 generated events through `check` (the jq
/// `program`), paced at 200 a second when `paced`, into `out.jsonl`; `check`'s failures into
/// the sink `dead` (`dead` is its type and options).
fn pipeline(dir: &Path, name: &str, program: &str, paced: bool, dead: &str) -> String {
    let (step, into) = if paced {
        (
            "  paced: { type: rate_limit, inputs: [check], rate: 200, per: 1s }\n",
            "paced",
        )
    } else {
        ("", "check")
    };
    write(
        dir,
        name,
        &format!(
            "pipeline: {{ name: orders-{run} }}\n\
             sources:\n  numbers: {{ type: generator, count: 2000 }}\n\
             transforms:\n  check: {{ type: jq, inputs: [numbers], program: '{program}' }}\n{step}\
             sinks:\n  out: {{ type: file, inputs: [{into}], path: out.jsonl }}\n  \
             dead: {{ inputs: [check.errors], {dead} }}\n",
            // The replay's consumer group is named after the pipeline: one of this run's own.
            run = std::process::id()
        ),
    )
}

/// A pipeline whose jq step fails one event in ten writes its 200 dead letters to the sink
/// `dead`, where `inspect --from dead` counts them; fixed, the dead letters are replayed through a rate limit, the replay killed
/// (SIGKILL) a quarter of the way and run again: every event reaches the sink. Returns the
/// replay's command, to run again.
fn replay_through_a_kill(dir: &Path, dead: &str, address: Option<&str>) -> Vec<String> {
    let broken = pipeline(
        dir,
        "broken.yaml",
        "if .seq % 10 == 0 then error(\"poison\") else . end",
        false,
        dead,
    );
    let fixed = pipeline(dir, "fixed.yaml", ".fixed = true", true, dead);
    let out = common::run_in(dir, &["run", "--quiet", &broken], Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let received = dir.join("out.jsonl");
    assert_eq!(common::seqs(&received).len(), 1800);

    let counts_200 = |args: &[&str]| {
        let inspect = common::run_in(
            dir,
            &[&["dead-letters", "inspect"], args].concat(),
            Duration::from_secs(60),
        );
        assert!(
            text(&inspect.stdout).contains("200 dead letters (200 events"),
            "{args:?}: {}{}",
            text(&inspect.stdout),
            text(&inspect.stderr)
        );
    };
    counts_200(&[&fixed, "--from", "dead"]);
    // Read by its address, without the pipeline file.
    if let Some(address) = address {
        counts_200(&[address]);
    }
    let replay: Vec<String> = ["dead-letters", "replay", fixed.as_str(), "--from", "dead"]
        .map(str::to_owned)
        .to_vec();
    let args: Vec<&str> = replay.iter().map(String::as_str).collect();
    let dry = common::run_in(
        dir,
        &[&args[..], &["--dry-run"]].concat(),
        Duration::from_secs(60),
    );
    assert!(
        text(&dry.stdout).contains("to replay: 200 dead letters"),
        "{}{}",
        text(&dry.stdout),
        text(&dry.stderr)
    );
    let first = common::start_in(dir, &args, &[]);
    common::wait_until(
        Duration::from_secs(60),
        || common::seqs(&received).len() >= 1850,
        || format!("{} events so far", common::seqs(&received).len()),
    );
    first.kill();
    assert!(
        common::seqs(&received).len() < 2000,
        "killed before the end"
    );
    let out = common::run_in(dir, &args, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        common::seqs(&received).len(),
        2000,
        "every event reached the sink"
    );
    let lines = common::lines(&received).len();
    eprintln!(
        "replayed 200 dead letters through a SIGKILL: {lines} lines for 2000 events ({} written twice)",
        lines - 2000
    );
    replay
}

#[test]
fn a_file_replay_killed_half_way_resumes_and_every_dead_letter_reaches_the_sink() {
    let dir = tempfile::tempdir().expect("tempdir");
    replay_through_a_kill(dir.path(), "type: file, path: dead.jsonl", None);
    assert!(!dir.path().join("dead.jsonl.replaying").exists());
    assert!(!dir.path().join("dead.jsonl.replaying.checkpoint").exists());
    assert_eq!(
        std::fs::metadata(dir.path().join("dead.jsonl")).map_or(0, |m| m.len()),
        0,
        "no dead letter is left"
    );
}

#[test]
fn a_kafka_replay_killed_half_way_resumes_and_every_dead_letter_reaches_the_sink() {
    let topic = format!("sluice-dead-{}", std::process::id());
    kafka::create_topic(&topic, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let replay = replay_through_a_kill(
        dir.path(),
        &format!("type: kafka, brokers: {}, topic: {topic}", kafka::BROKERS),
        Some(&format!("kafka://{}/{topic}", kafka::BROKERS)),
    );
    // The group is at the end of the topic: another replay takes nothing.
    replays_nothing_more(dir.path(), &replay);
}

#[test]
fn a_postgres_replay_killed_half_way_resumes_and_deletes_what_it_replayed() {
    let table = format!("sluice_dead_{}", std::process::id());
    common::psql(&format!(
        "DROP TABLE IF EXISTS {table}; \
         CREATE TABLE {table} (id bigserial PRIMARY KEY, stage text, error text, event jsonb, \
         failed_at text, source text)"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    replay_through_a_kill(
        dir.path(),
        &format!(
            "type: postgres, url: \"{}\", table: {table}, columns: {{ stage: stage, error: error, \
             event: event, failed_at: failed_at, source: source }}",
            common::DATABASE
        ),
        Some(&format!("{}?table={table}", common::DATABASE)),
    );
    assert_eq!(
        common::psql(&format!("SELECT count(*) FROM {table}")).trim(),
        "0",
        "every replayed row is deleted"
    );
    common::psql(&format!("DROP TABLE {table}"));
}

#[test]
fn a_redis_replay_killed_half_way_resumes_and_every_dead_letter_reaches_the_sink() {
    let stream = format!("sluice-dead-{}", std::process::id());
    common::redis_cli(&["DEL", &stream]);
    let dir = tempfile::tempdir().expect("tempdir");
    let replay = replay_through_a_kill(
        dir.path(),
        &format!("type: redis_stream, stream: {stream}"),
        Some(&format!("redis://127.0.0.1:6379?stream={stream}")),
    );
    // The group is at the end of the stream: another replay takes nothing.
    replays_nothing_more(dir.path(), &replay);
    common::redis_cli(&["DEL", &stream]);
}

/// Runs the `replay` command again in `dir`: it sends nothing more to the sink.
fn replays_nothing_more(dir: &Path, replay: &[String]) {
    let received = dir.join("out.jsonl");
    let before = common::lines(&received).len();
    let args: Vec<&str> = replay.iter().map(String::as_str).collect();
    let out = common::run_in(dir, &args, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        common::lines(&received).len(),
        before,
        "{}",
        text(&out.stderr)
    );
}
