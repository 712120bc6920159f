//! The file source and sink, end to end.

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use sluice_connect::component::{Sink, SinkContext, Source, SourceContext};
use sluice_connect::file::{FileSink, FileSource, WriteMode};
use sluice_core::{Operators, Pipeline, Policy};
use sluice_event::{Event, codec::Codec};

fn ctx(p: &Pipeline, name: &str, errors: bool) -> SourceContext {
    SourceContext {
        pipeline: p.clone(),
        name: name.into(),
        errors_wired: errors,
        breaker: None,
    }
}

fn source(path: &str, codec: Codec) -> FileSource {
    FileSource {
        path: path.into(),
        codec,
        follow: false,
        checkpoint: None,
        checkpoint_interval: Duration::from_secs(1),
        poll_interval: Duration::from_millis(20),
        max_line_size: 64 * 1024,
    }
}

#[tokio::test]
async fn a_line_over_the_limit_is_dead_lettered_with_its_start_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("long.jsonl");
    let long = format!("{{\"blob\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    std::fs::write(&path, format!("{{\"n\":1}}\n{long}\n{{\"n\":2}}\n")).expect("write");
    let p = Pipeline::new("long");
    let built = source(&path.display().to_string(), Codec::Json)
        .build(&ctx(&p, "in", true))
        .expect("built");
    let dead = tokio::spawn(built.errors.expect("wired").collect());
    let events: Vec<Event> = built.events.collect().await.expect("ran");
    let values: Vec<_> = events.iter().map(|e| e.value()["n"].clone()).collect();
    assert_eq!(values, vec![json!(1), json!(2)]);
    let dead = dead.await.expect("join").expect("ran");
    assert_eq!(dead.len(), 1);
    let record = dead[0].value();
    assert_eq!(record["position"]["line"], 2);
    assert_eq!(record["raw"].as_str().map(str::len), Some(1024));
    let error = record["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("a line of 3145739 bytes is longer than `max_line_size` (65536 bytes)"),
        "{error}"
    );
}

#[tokio::test]
async fn reads_globbed_files_in_order_and_dead_letters_bad_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.jsonl"), "{\"n\":1}\nnot json\n{\"n\":2}").expect("write");
    std::fs::write(dir.path().join("b.jsonl"), "{\"n\":3}\n").expect("write");
    let p = Pipeline::new("files");
    let pattern = format!("{}/*.jsonl", dir.path().display());
    let built = source(&pattern, Codec::Json)
        .build(&ctx(&p, "in", true))
        .expect("built");
    assert_eq!(
        built
            .progress
            .as_ref()
            .map(sluice_connect::component::Progress::total),
        Some(32)
    );
    let dead = tokio::spawn(built.errors.expect("wired").collect());
    let events: Vec<Event> = built.events.collect().await.expect("ran");
    let values: Vec<_> = events.iter().map(|e| e.value()["n"].clone()).collect();
    assert_eq!(values, vec![json!(1), json!(2), json!(3)]);
    let dead = dead.await.expect("join").expect("ran");
    assert_eq!(dead.len(), 1);
    let record = dead[0].value();
    assert_eq!(record["raw"], "not json");
    assert_eq!(record["position"]["line"], 2);
    assert_eq!(record["source"], "in");
    assert!(
        record["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid JSON")),
        "{record}"
    );
}

#[tokio::test]
async fn csv_rows_use_the_header_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("people.csv");
    std::fs::write(&path, "name,age\nAnn,31\n\"Bo, Jr\",7\n").expect("write");
    let p = Pipeline::new("csv");
    let built = source(&path.display().to_string(), Codec::Csv)
        .build(&ctx(&p, "people", false))
        .expect("built");
    let events = built.events.collect().await.expect("ran");
    let values: Vec<_> = events.iter().map(|e| e.value().clone()).collect();
    assert_eq!(
        values,
        vec![
            json!({"name": "Ann", "age": "31"}),
            json!({"name": "Bo, Jr", "age": "7"})
        ]
    );
}

#[tokio::test]
async fn missing_files_are_an_error_unless_following() {
    let p = Pipeline::new("missing");
    let err = source("/nonexistent/*.log", Codec::Json)
        .build(&ctx(&p, "in", false))
        .err()
        .expect("fails");
    assert_eq!(
        err.to_string(),
        "no file matches `/nonexistent/*.log` (set `follow: true` to wait for files to appear)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_with_a_checkpoint_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("checkpoint.json");
    std::fs::write(&log, "{\"n\":1}\n{\"n\":2}\n").expect("write");
    let follower = FileSource {
        follow: true,
        checkpoint: Some(checkpoint.clone()),
        ..source(&log.display().to_string(), Codec::Json)
    };

    // First run: read two lines, see a third appended, stop.
    let p = Pipeline::new("follow-1");
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let built = follower.build(&ctx(&p, "app", false)).expect("built");
    let run = tokio::spawn(built.events.for_each(move |e| {
        let _ = tx.send(e.value()["n"].clone());
    }));
    assert_eq!(seen.recv().await, Some(json!(1)));
    assert_eq!(seen.recv().await, Some(json!(2)));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(b"{\"n\":3}\n")
        .expect("append");
    assert_eq!(
        seen.recv().await,
        Some(json!(3)),
        "a followed file is read as it grows"
    );
    p.shutdown();
    run.await.expect("join").expect("ran");

    // The file grows while nothing runs; the second run starts after line 3.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(b"{\"n\":4}\n")
        .expect("append");
    let p = Pipeline::new("follow-2");
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let built = follower.build(&ctx(&p, "app", false)).expect("built");
    let run = tokio::spawn(built.events.for_each(move |e| {
        let _ = tx.send(e.value()["n"].clone());
    }));
    assert_eq!(
        seen.recv().await,
        Some(json!(4)),
        "resumed after the checkpoint"
    );
    p.shutdown();
    run.await.expect("join").expect("ran");
    let saved = std::fs::read_to_string(&checkpoint).expect("checkpoint written");
    assert!(saved.contains("\"line\": 4"), "{saved}");
}

#[tokio::test]
async fn file_sink_writes_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("nested/out.jsonl");
    let p = Pipeline::new("sink");
    let events = p.from_iter((0..3).map(|n| Event::new(json!({"n": n}))));
    let sink = FileSink {
        path: out.clone(),
        encoding: Default::default(),
        mode: WriteMode::Truncate,
        sync: false,
    };
    let ctx = SinkContext {
        pipeline: p.clone(),
        name: "out".into(),
        errors_wired: false,
        policy: Policy::new(),
        timeout: None,
    };
    let built = sink.build(events, &ctx).expect("built");
    assert!(built.errors.is_none());
    p.run().await.expect("ran");
    assert_eq!(
        std::fs::read_to_string(out).expect("written"),
        "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
    );
}
