//! Job throughput and pickup latency on one store, as `bench/jobs.sh` compares them with
//! graphile-worker and BullMQ:
//!
//! 1. enqueue JOBS no-op jobs in batches of 1,000 (inserts/s);
//! 2. start a worker and work them down (jobs worked/s);
//! 3. with the worker idle, enqueue one job every 5 ms, SAMPLES times, and measure from enqueue
//!    to the handler's start (p50/p99 pickup latency).
//!
//! With `SLUICE_BENCH_TUNED=1` the worker is set up as the peers are for throughput, and the
//! variant is named `sluice_STORE_tuned`: the queue keeps no succeeded jobs (retention zero,
//! each deleted as it is recorded, as graphile-worker always does and BullMQ does with
//! `removeOnComplete`), and claims up to four times its concurrency ahead (prefetch, as
//! graphile-worker's local queue of five times its concurrency).
//!
//! `SLUICE_BENCH_AFTER_INSERT`, if set, is a shell command run between 1 and 2: `bench/jobs.sh`
//! has PostgreSQL `ANALYZE` the table there, as it does for every PostgreSQL engine, so that
//! each plans its claims with the same statistics.
//!
//! ```text
//! cargo bench -p sluice-jobs --bench throughput -- sqlite:///tmp/bench.db
//! SLUICE_BENCH_JOBS=100000 SLUICE_BENCH_CONCURRENCY=100 cargo bench … -- postgres://…?schema=bench
//! ```
//! Prints one line: `variant=sluice_STORE inserts_per_s=… items_per_s=… p50_ms=… p99_ms=…`.

#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sluice_jobs::{Action, JobContext, JobState, NewJob, QueueConfig, Retention, Worker};
use tokio_util::sync::CancellationToken;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sqlite:///tmp/sluice-bench-jobs.db".to_owned());
    let jobs = setting("SLUICE_BENCH_JOBS", 100_000);
    let concurrency = setting("SLUICE_BENCH_CONCURRENCY", 100);
    let samples = setting("SLUICE_BENCH_SAMPLES", 500);
    let tuned = setting("SLUICE_BENCH_TUNED", 0) == 1;
    let store = sluice_jobs::store::open(&url).await?;
    store.migrate().await?;
    let kind = if tuned {
        format!("{}_tuned", store.kind())
    } else {
        store.kind().to_owned()
    };

    let started = Instant::now();
    let batch: Vec<NewJob> = (0..1000)
        .map(|i| NewJob::new("noop", json!({"i": i})))
        .collect();
    for _ in 0..jobs / 1000 {
        store.enqueue(batch.clone()).await?;
    }
    let inserts_per_s = jobs as f64 / started.elapsed().as_secs_f64();
    if let Ok(command) = std::env::var("SLUICE_BENCH_AFTER_INSERT") {
        let status = std::process::Command::new("sh")
            .args(["-c", &command])
            .status()?;
        if !status.success() {
            return Err(format!("`{command}` failed: {status}").into());
        }
    }

    let done = Arc::new(AtomicUsize::new(0));
    let waits = Arc::new(Mutex::new(Vec::with_capacity(samples)));
    let worker = {
        let done = done.clone();
        let waits = waits.clone();
        Worker::builder(store.clone())
            .queue(
                QueueConfig::new("default")
                    .concurrency(concurrency)
                    .prefetch(if tuned { 4 * concurrency } else { 0 })
                    .poll_interval(Duration::from_secs(1)),
            )
            .retention(Retention {
                state: JobState::Succeeded,
                queue: None,
                keep: if tuned {
                    Duration::ZERO
                } else {
                    Duration::from_secs(24 * 3600)
                },
            })
            .handler("noop", move |job: JobContext| {
                let done = done.clone();
                let waits = waits.clone();
                async move {
                    if let Some(sent) = job.args()["sent_us"].as_u64() {
                        let waited = micros_now().saturating_sub(sent) as f64 / 1000.0;
                        waits
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(waited);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    Ok(Action::Complete)
                }
            })
            .build()?
    };
    let stop = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(worker.run(stop.clone()));
    while done.load(Ordering::Relaxed) < jobs {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let worked_per_s = jobs as f64 / started.elapsed().as_secs_f64();

    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..samples {
        store
            .enqueue(vec![NewJob::new("noop", json!({"sent_us": micros_now()}))])
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while done.load(Ordering::Relaxed) < jobs + samples {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    running.await?;
    let mut waits = waits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    waits.sort_by(f64::total_cmp);
    println!(
        "variant=sluice_{kind} jobs={jobs} concurrency={concurrency} inserts_per_s={inserts_per_s:.0} \
         items_per_s={worked_per_s:.0} p50_ms={:.2} p99_ms={:.2}",
        percentile(&waits, 0.5),
        percentile(&waits, 0.99)
    );
    Ok(())
}
