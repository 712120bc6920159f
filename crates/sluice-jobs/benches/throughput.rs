//! Job throughput and pickup latency on one store, as `bench/jobs.sh` compares them with
//! graphile-worker, pg-boss, BullMQ and apalis:
//!
//! 1. enqueue JOBS no-op jobs in batches of 1,000 (inserts/s);
//! 2. start PROCESSES worker processes and work them down (jobs worked/s);
//! 3. with one worker idle, enqueue one job every 5 ms, SAMPLES times, and measure from enqueue
//!    to the handler's start (p50/p99 pickup latency).
//!
//! With `SLUICE_BENCH_TUNED=1` the worker is set up as the peers are for throughput, and the
//! variant is named `sluice_STORE_tuned`: the queue keeps no succeeded jobs (retention zero,
//! each deleted as it is recorded, as graphile-worker always does and BullMQ does with
//! `removeOnComplete`), and claims up to four times its concurrency ahead (prefetch, as
//! graphile-worker's local queue of five times its concurrency).
//!
//! `SLUICE_BENCH_PROCESSES=2` works the jobs down with two processes: this one and a copy of
//! it started with `SLUICE_BENCH_ROLE=helper`, which builds the same worker, says `ready`,
//! starts on a `start` line, reports `done N` on its stdout and stops when its stdin closes.
//!
//! `SLUICE_BENCH_AFTER_INSERT`, if set, is a shell command run between 1 and 2: `bench/jobs.sh`
//! has PostgreSQL `ANALYZE` the table there, as it does for every PostgreSQL engine, so that
//! each plans its claims with the same statistics.
//!
//! `SLUICE_BENCH_CEILING=1` measures instead what the store itself does at most for this work:
//! for batches of 100 and 500 and 1, 2 and 4 loops, JOBS jobs are enqueued and then claimed and
//! completed (deleted) back to back by the loops, with no worker in between. Each line is
//! `variant=ceiling_STORE batch=… clients=… items_per_s=…`.
//!
//! ```text
//! cargo bench -p sluice-jobs --bench throughput -- sqlite:///tmp/bench.db
//! SLUICE_BENCH_JOBS=100000 SLUICE_BENCH_CONCURRENCY=100 cargo bench … -- postgres://…?schema=bench
//! ```
//! Prints one line: `variant=sluice_STORE processes=… inserts_per_s=… items_per_s=… p50_ms=…
//! p99_ms=…`.

#![allow(clippy::print_stdout)]

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sluice_jobs::store::{ClaimParams, Completion, Outcome};
use sluice_jobs::{Action, JobContext, JobState, NewJob, QueueConfig, Retention, Store, Worker};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

type Error = Box<dyn std::error::Error + Send + Sync>;

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

/// What every process of a run counts: jobs handled, and the pickup waits of sampled jobs.
#[derive(Clone, Default)]
struct Tally {
    done: Arc<AtomicUsize>,
    waits: Arc<Mutex<Vec<f64>>>,
}

/// The worker every process of a run builds.
fn worker(store: Arc<dyn Store>, concurrency: usize, tuned: bool, tally: &Tally) -> Result<Worker, Error> {
    let tally = tally.clone();
    Ok(Worker::builder(store)
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
            let tally = tally.clone();
            async move {
                if let Some(sent) = job.args()["sent_us"].as_u64() {
                    let waited = micros_now().saturating_sub(sent) as f64 / 1000.0;
                    tally
                        .waits
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(waited);
                }
                tally.done.fetch_add(1, Ordering::Relaxed);
                Ok(Action::Complete)
            }
        })
        .build()?)
}

/// Enqueues `jobs` no-op jobs in batches of 1,000; returns how many per second.
async fn insert(store: &Arc<dyn Store>, jobs: usize) -> Result<f64, Error> {
    let started = Instant::now();
    let batch: Vec<NewJob> = (0..1000)
        .map(|i| NewJob::new("noop", json!({"i": i})))
        .collect();
    for _ in 0..jobs / 1000 {
        store.enqueue(batch.clone()).await?;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// The helper process: the same worker, started and stopped by the main process.
async fn helper(store: Arc<dyn Store>, concurrency: usize, tuned: bool) -> Result<(), Error> {
    let tally = Tally::default();
    let worker = worker(store, concurrency, tuned, &tally)?;
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    if lines.next_line().await?.as_deref() != Some("start") {
        return Ok(());
    }
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));
    let report = {
        let done = tally.done.clone();
        tokio::spawn(async move {
            let mut said = 0;
            loop {
                let now = done.load(Ordering::Relaxed);
                if now != said {
                    println!("done {now}");
                    said = now;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    while lines.next_line().await?.is_some() {}
    report.abort();
    stop.cancel();
    running.await?;
    println!("done {}", tally.done.load(Ordering::Relaxed));
    Ok(())
}

/// A helper process, ready to start, and what it has reported done.
struct Helper {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    done: Arc<AtomicUsize>,
    stdout: Option<tokio::io::Lines<BufReader<tokio::process::ChildStdout>>>,
}

async fn spawn_helper() -> Result<Helper, Error> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(std::env::args().skip(1))
        .env("SLUICE_BENCH_ROLE", "helper")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take().ok_or("helper without stdin")?;
    let stdout = child.stdout.take().ok_or("helper without stdout")?;
    let mut stdout = BufReader::new(stdout).lines();
    if stdout.next_line().await?.as_deref() != Some("ready") {
        return Err("the helper process did not get ready".into());
    }
    Ok(Helper {
        child,
        stdin,
        done: Arc::default(),
        stdout: Some(stdout),
    })
}

/// The store's ceiling: claim and complete back to back, no worker in between.
async fn ceiling(store: Arc<dyn Store>, jobs: usize, kind: &str) -> Result<(), Error> {
    for batch in [100u32, 500] {
        for clients in [1usize, 2, 4] {
            insert(&store, jobs).await?;
            let started = Instant::now();
            let loops = (0..clients).map(|client| {
                let store = store.clone();
                tokio::spawn(async move {
                    let worker = format!("ceiling-{client}");
                    let mut worked = 0usize;
                    loop {
                        let claimed = store
                            .claim(ClaimParams {
                                queue: "default".to_owned(),
                                limit: batch,
                                worker: worker.clone(),
                                lease: Duration::from_secs(30),
                                partition_limit: None,
                            })
                            .await?;
                        if claimed.is_empty() {
                            return Ok::<usize, sluice_jobs::StoreError>(worked);
                        }
                        worked += claimed.len();
                        let completions = claimed
                            .into_iter()
                            .map(|job| Completion {
                                id: job.id,
                                worker: worker.clone(),
                                outcome: Outcome::Succeeded,
                                discard: true,
                            })
                            .collect();
                        store.complete(completions).await?;
                    }
                })
            });
            let mut worked = 0;
            for handle in loops.collect::<Vec<_>>() {
                worked += handle.await??;
            }
            let per_s = worked as f64 / started.elapsed().as_secs_f64();
            println!("variant=ceiling_{kind} batch={batch} clients={clients} items_per_s={per_s:.0}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sqlite:///tmp/sluice-bench-jobs.db".to_owned());
    let jobs = setting("SLUICE_BENCH_JOBS", 100_000);
    let concurrency = setting("SLUICE_BENCH_CONCURRENCY", 100);
    let samples = setting("SLUICE_BENCH_SAMPLES", 500);
    let processes = setting("SLUICE_BENCH_PROCESSES", 1).max(1);
    let tuned = setting("SLUICE_BENCH_TUNED", 0) == 1;
    let store = sluice_jobs::store::open(&url).await?;
    store.migrate().await?;
    if std::env::var("SLUICE_BENCH_ROLE").as_deref() == Ok("helper") {
        return helper(store, concurrency, tuned).await;
    }
    if setting("SLUICE_BENCH_CEILING", 0) == 1 {
        return ceiling(store.clone(), jobs, store.kind()).await;
    }
    let kind = if tuned {
        format!("{}_tuned", store.kind())
    } else {
        store.kind().to_owned()
    };

    let inserts_per_s = insert(&store, jobs).await?;
    if let Ok(command) = std::env::var("SLUICE_BENCH_AFTER_INSERT") {
        let status = std::process::Command::new("sh")
            .args(["-c", &command])
            .status()?;
        if !status.success() {
            return Err(format!("`{command}` failed: {status}").into());
        }
    }

    let mut helpers = Vec::new();
    for _ in 1..processes {
        helpers.push(spawn_helper().await?);
    }
    let tally = Tally::default();
    let worker = worker(store.clone(), concurrency, tuned, &tally)?;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(worker.run(stop.clone()));
    let mut readers = Vec::new();
    for helper in &mut helpers {
        helper.stdin.write_all(b"start\n").await?;
        helper.stdin.flush().await?;
    }
    for helper in &mut helpers {
        let done = helper.done.clone();
        let mut stdout = helper.stdout.take().ok_or("helper without stdout")?;
        readers.push(tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(n) = line.strip_prefix("done ").and_then(|n| n.parse().ok()) {
                    done.store(n, Ordering::Relaxed);
                }
            }
        }));
    }
    let worked = || {
        tally.done.load(Ordering::Relaxed)
            + helpers
                .iter()
                .map(|h| h.done.load(Ordering::Relaxed))
                .sum::<usize>()
    };
    while worked() < jobs {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let worked_per_s = jobs as f64 / started.elapsed().as_secs_f64();
    let mut counts = Vec::new();
    for helper in helpers {
        drop(helper.stdin);
        let mut child = helper.child;
        child.wait().await?;
        counts.push(helper.done);
    }
    for reader in readers {
        reader.await?;
    }
    let helped: usize = counts.iter().map(|d| d.load(Ordering::Relaxed)).sum();

    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..samples {
        store
            .enqueue(vec![NewJob::new("noop", json!({"sent_us": micros_now()}))])
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while tally.done.load(Ordering::Relaxed) + helped < jobs + samples {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    running.await?;
    let mut waits = tally
        .waits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    waits.sort_by(f64::total_cmp);
    println!(
        "variant=sluice_{kind} processes={processes} jobs={jobs} concurrency={concurrency} \
         inserts_per_s={inserts_per_s:.0} items_per_s={worked_per_s:.0} p50_ms={:.2} p99_ms={:.2}",
        percentile(&waits, 0.5),
        percentile(&waits, 0.99)
    );
    Ok(())
}
