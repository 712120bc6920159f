//! A pipeline's memory limit end to end: events far larger than usual pass through a limit of
//! 1 MiB, and one heavier than the whole limit goes to its source's error output with the
//! reason, while the others go on.

mod common;

use std::time::Duration;

use common::{lines, run_in, text, write};

#[test]
fn an_event_heavier_than_the_memory_limit_is_dead_lettered_and_the_rest_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut input = String::new();
    for n in 0..20 {
        input.push_str(&format!(
            "{{\"n\": {n}, \"blob\": \"{}\"}}\n",
            "x".repeat(300_000)
        ));
        if n == 10 {
            input.push_str(&format!(
                "{{\"n\": \"huge\", \"blob\": \"{}\"}}\n",
                "y".repeat(2_000_000)
            ));
        }
    }
    write(dir.path(), "big.jsonl", &input);
    write(
        dir.path(),
        "pipeline.yaml",
        "pipeline: { memory_limit: 1MiB }\n\
         sources:\n  big: { type: file, path: big.jsonl, max_line_size: 4MiB }\n\
         transforms:\n  size: { type: jq, inputs: [big], program: '.size = (.blob | length) | del(.blob)' }\n\
         sinks:\n  out: { type: file, inputs: [size], path: out.jsonl }\n  \
         dead: { type: file, inputs: [big.errors], path: dead.jsonl }\n",
    );
    let done = run_in(
        dir.path(),
        &["run", "--quiet", "pipeline.yaml"],
        Duration::from_secs(60),
    );
    assert!(done.status.success(), "{}", text(&done.stderr));
    let out = lines(&dir.path().join("out.jsonl"));
    assert_eq!(out.len(), 20);
    assert!(out.iter().all(|e| e["size"] == 300_000), "{out:?}");
    let dead = lines(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 1);
    let error = dead[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("more than the pipeline's memory_limit of 1048576 bytes"),
        "{error}"
    );
}
