//! `sluice dead-letters inspect` on what a pipeline's error outputs wrote: every failure
//! counted under its stage and error, with samples; a missing file is a clear error.

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
