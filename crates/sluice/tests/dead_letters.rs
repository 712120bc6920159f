//! `sluice dead-letters inspect` on what a pipeline's error outputs wrote: every failure
//! counted under its stage and error, with samples; a missing file is a clear error. And
//! `replay`: the dead letters of a fixed pipeline sent back, through a SIGKILL.

// The replay's figures are the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

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

/// A pipeline whose jq step fails one event in ten, then fixed and its dead letters replayed
/// through a rate limit, the replay killed (SIGKILL) half way and started again: every event
/// reaches the sink, and the dead letters are gone.
#[test]
fn a_replay_killed_half_way_resumes_and_every_dead_letter_reaches_the_sink() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = |name: &str, program: &str, paced: bool| {
        let (step, into) = if paced {
            (
                "  paced: { type: rate_limit, inputs: [check], rate: 200, per: 1s }\n",
                "paced",
            )
        } else {
            ("", "check")
        };
        write(
            dir.path(),
            name,
            &format!(
                "sources:\n  numbers: {{ type: generator, count: 2000 }}\n\
                 transforms:\n  check: {{ type: jq, inputs: [numbers], program: '{program}' }}\n{step}\
                 sinks:\n  out: {{ type: file, inputs: [{into}], path: out.jsonl }}\n  \
                 dead: {{ type: file, inputs: [check.errors], path: dead.jsonl }}\n"
            ),
        )
    };
    let broken = pipeline(
        "broken.yaml",
        "if .seq % 10 == 0 then error(\"poison\") else . end",
        false,
    );
    let fixed = pipeline("fixed.yaml", ".fixed = true", true);
    let out = common::run_in(
        dir.path(),
        &["run", "--quiet", &broken],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let received = dir.path().join("out.jsonl");
    assert_eq!(common::seqs(&received).len(), 1800);
    assert_eq!(common::lines(&dir.path().join("dead.jsonl")).len(), 200);

    let replay = ["dead-letters", "replay", fixed.as_str(), "--from", "dead"];
    let first = common::start_in(dir.path(), &replay, &[]);
    common::wait_until(
        Duration::from_secs(30),
        || common::seqs(&received).len() >= 1850,
        || format!("{} events so far", common::seqs(&received).len()),
    );
    first.kill();
    assert!(
        dir.path().join("dead.jsonl.replaying").exists(),
        "the file aside is kept for the next replay"
    );
    let out = common::run_in(dir.path(), &replay, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("resuming the replay"),
        "{}",
        text(&out.stderr)
    );
    let seqs = common::seqs(&received);
    assert_eq!(seqs.len(), 2000, "every event reached the sink");
    let lines = common::lines(&received).len();
    eprintln!(
        "replayed 200 dead letters through a SIGKILL: {} lines for 2000 events ({} written twice)",
        lines,
        lines - 2000
    );
    assert!(!dir.path().join("dead.jsonl.replaying").exists());
    assert!(!dir.path().join("dead.jsonl.replaying.checkpoint").exists());
    assert_eq!(
        std::fs::metadata(dir.path().join("dead.jsonl")).map_or(0, |m| m.len()),
        0,
        "no dead letter is left"
    );
}
