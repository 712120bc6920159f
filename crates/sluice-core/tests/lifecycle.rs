//! Running, shutting down, backpressure and metrics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{AckLog, acked_range};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sluice_core::{Error, Flow, Operators, Outcome, Pipeline, PipelineConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_an_endless_source_and_drains() {
    let p = Pipeline::new("endless");
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let run = tokio::spawn(p.from_iter(0u64..).map(|x| x + 1).for_each(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    while seen.load(Ordering::Relaxed) < 10_000 {
        tokio::task::yield_now().await;
    }
    p.shutdown();
    let report = run.await.expect("join").expect("drained");
    assert!(report.cancelled);
    let source = report.stage("source").expect("source");
    let sink = report.stage("for_each").expect("sink");
    assert_eq!(
        source.items_out, sink.items_in,
        "everything pulled was drained"
    );
    assert_eq!(sink.items_in, seen.load(Ordering::Relaxed));
}

#[tokio::test(start_paused = true)]
async fn shutdown_deadline_aborts_and_leaves_items_unfinished() {
    let log = AckLog::default();
    let p = Pipeline::with_config(
        "stuck",
        PipelineConfig::default().shutdown_timeout(Duration::from_secs(5)),
    );
    let run = tokio::spawn(
        p.source("s")
            .from_acked_stream(acked_range(&log, 3))
            .call(3, |_: &u64| {
                std::future::pending::<Result<u64, std::io::Error>>()
            })
            .run(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.shutdown();
    let result = run.await.expect("join");
    match result {
        Err(Error::ShutdownTimeout { stages, .. }) => {
            assert!(stages.contains(&"call".to_owned()), "{stages:?}");
        }
        other => panic!("expected a shutdown timeout, got {other:?}"),
    }
    for id in 0..3 {
        assert_eq!(
            log.outcome(id),
            Outcome::Unfinished,
            "never acknowledged and lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_bounds_every_queue() {
    let p = Pipeline::with_config("bounded", PipelineConfig::default().capacity(64));
    let report = p
        .from_iter(0..20_000u32)
        .map(|x| x * 2)
        .stage("slow")
        .call(4, |x: &u32| {
            let x = *x;
            async move {
                if x.is_multiple_of(1000) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Ok::<_, std::io::Error>(x)
            }
        })
        .run()
        .await
        .expect("ran");
    for stage in &report.stages {
        assert!(
            stage.queue_max <= 64,
            "{} held {} items",
            stage.name,
            stage.queue_max
        );
    }
    assert_eq!(report.stage("drain").expect("drain").items_in, 20_000);
}

/// A megabyte that counts how many of its kind are alive, and the most ever at once.
struct Blob(#[allow(dead_code)] Vec<u8>);

static ALIVE: AtomicU64 = AtomicU64::new(0);
static MOST_ALIVE: AtomicU64 = AtomicU64::new(0);

impl Blob {
    fn new() -> Blob {
        let alive = ALIVE.fetch_add(1, Ordering::SeqCst) + 1;
        MOST_ALIVE.fetch_max(alive, Ordering::SeqCst);
        Blob(vec![0; 1 << 20])
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_bounds_the_bytes_queued_whatever_the_item_count() {
    sluice_core::weigh::register::<Blob>(|b| b.0.len());
    // 8 MiB over three channels (the last carries numbers): 2.7 MiB each, so batches of three
    // blobs; items alone would let 200 wait.
    let p = Pipeline::with_config("weighed", PipelineConfig::default().memory_limit(8 << 20));
    let report = p
        .from_iter((0..200).map(|_| Blob::new()))
        .map(|b| b)
        .stage("slow")
        .call(1, |b: &Blob| {
            let n = b.0.len();
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, std::io::Error>(n)
            }
        })
        .run()
        .await
        .expect("ran");
    assert_eq!(report.stage("drain").expect("drain").items_in, 200);
    let most = MOST_ALIVE.load(Ordering::SeqCst);
    // Queued: a batch of three in each of the two channels of blobs; in hand: the batch the
    // source waits to send, the map's and the call's, and the one the call takes next.
    assert!(most <= 16, "{most} blobs of 1 MiB were alive at once");
}

#[test]
fn stages_export_metrics_through_the_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let p = Pipeline::new("observed");
            p.from_iter(0..100u32)
                .stage("evens")
                .filter(|x| x % 2 == 0)
                .run()
                .await
                .expect("ran");
        });
    });
    let mut found = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<_> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        if labels.contains(&("stage".to_owned(), "evens".to_owned())) {
            found.insert(key.key().name().to_owned(), value);
        }
    }
    assert_eq!(
        found.get("sluice_stage_items_in_total"),
        Some(&DebugValue::Counter(100))
    );
    assert_eq!(
        found.get("sluice_stage_items_out_total"),
        Some(&DebugValue::Counter(50))
    );
    for name in [
        "sluice_stage_errors_total",
        "sluice_stage_retries_total",
        "sluice_stage_busy_microseconds_total",
        "sluice_stage_latency_seconds",
        "sluice_stage_queue_depth",
        "sluice_stage_queue_depth_max",
        "sluice_stage_queue_capacity",
        "sluice_stage_in_flight",
        "sluice_stage_busy_ratio",
    ] {
        assert!(found.contains_key(name), "{name} is exported");
    }
}

#[test]
fn a_stage_with_a_circuit_breaker_exports_its_state() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let p = Pipeline::new("guarded");
            let (errors, failed) = p.error_output::<u32>();
            let rejected = tokio::spawn(failed.count());
            let breaker = sluice_core::CircuitBreaker::new(sluice_core::BreakerConfig {
                min_calls: 2,
                window: 2,
                ..sluice_core::BreakerConfig::default()
            });
            p.from_iter(0..10u32)
                .stage("service")
                .circuit_breaker(breaker)
                .errors_to(errors)
                .call(1, |_: &u32| async {
                    Err::<u32, _>("503 service unavailable")
                })
                .run()
                .await
                .expect("ran");
            assert_eq!(rejected.await.expect("joined").expect("counted"), 10);
        });
    });
    let state = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == "sluice_stage_circuit_state")
        .map(|(.., value)| value);
    assert_eq!(
        state,
        Some(DebugValue::Gauge(1.0.into())),
        "open after two failures of two"
    );
}

#[tokio::test]
async fn report_prints_one_row_per_stage() {
    let p = Pipeline::new("summary");
    p.from_iter(0..10u32)
        .stage("double")
        .map(|x| x * 2)
        .run()
        .await
        .expect("ran");
    let text = p.report().expect("report").to_string();
    assert!(text.starts_with("pipeline `summary` ran"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("double") && l.contains("map")),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2 + 3, "title, header, three stages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_terminals_wait_for_the_whole_graph() {
    let p = Pipeline::new("wired");
    let (errors, failed) = p.error_output::<u32>();
    // Spawned first, while the rest of the graph is still being built.
    let dead = tokio::spawn(failed.count());
    let first = tokio::spawn(p.from_iter(0..3u32).count());
    tokio::task::yield_now().await;
    let second = p
        .from_iter(0..5u32)
        .stage("odd")
        .errors_to(errors)
        .try_map(|x: &u32| if x % 2 == 1 { Err("odd") } else { Ok(*x) })
        .count()
        .await
        .expect("ran");
    assert_eq!(first.await.expect("join").expect("ran"), 3);
    assert_eq!(second, 3);
    assert_eq!(dead.await.expect("join").expect("ran"), 2);

    let late = p.from_iter(0..1u32);
    assert!(
        matches!(late.count().await, Err(Error::NotRun(_))),
        "the run is over"
    );
}

#[tokio::test]
async fn flows_from_separate_pipelines_merge_into_one() {
    let a = Flow::from_iter(0..3u32);
    let b = Flow::from_iter(10..13u32);
    let mut all = a.merge_with([b]).collect().await.expect("ran");
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 10, 11, 12]);
}
