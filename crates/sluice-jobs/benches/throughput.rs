//! Job throughput and pickup latency on one store, as `bench/jobs.sh` compares them with
//! graphile-worker, pg-boss, BullMQ and apalis: inserts/s, jobs worked/s by PROCESSES
//! processes, and p50/p99 pickup of an idle worker, measured by [`harness`].
//!
//! With `SLUICE_BENCH_TUNED=1` the worker is set up as the peers are for throughput, and the
//! variant is named `sluice_STORE_tuned`: the queue keeps no succeeded jobs (retention zero,
//! each deleted as it is recorded, as graphile-worker always does and BullMQ does with
//! `removeOnComplete`), and claims up to four times its concurrency ahead (prefetch, as
//! graphile-worker's local queue of five times its concurrency).
//!
//! `SLUICE_BENCH_PREFETCH` overrides the prefetch; `SLUICE_BENCH_LABEL` is appended to the
//! variant's name (`bench/jobs_growth.sh` names its runs so).
//!
//! `SLUICE_BENCH_CEILING=1` measures instead what the store itself does at most for this work:
//! for batches of 100 and 500 and 1, 2 and 4 loops, JOBS jobs are enqueued and then claimed and
//! completed back to back by the loops, with no worker in between: kept as succeeded, as the
//! defaults keep them (`ceiling_STORE`), or deleted with `SLUICE_BENCH_TUNED=1`
//! (`ceiling_STORE_tuned`). Each line is `variant=ceiling_… batch=… clients=… items_per_s=…`.
//!
//! `SLUICE_BENCH_WORKFLOW=WIDTH` runs instead one workflow that fans out from one step to WIDTH
//! steps and back into one (as `bench/jobs.sh` compares with a BullMQ flow): enqueued whole,
//! worked by one worker of CONCURRENCY slots with the defaults, timed from the enqueue to the
//! last step's end. The line is `variant=workflow_STORE steps=… enqueue_s=… total_s=…
//! steps_per_s=…`.
//!
//! `SLUICE_BENCH_RATE=queue|kind|partition_key` gives the queue a shared rate too high to hold
//! anything back (a billion a second), counted as named: what counting costs the claims.
//! `SLUICE_BENCH_TENANTS=N` gives the enqueued jobs N partition keys in turn (`bench/jobs_rates.sh`
//! runs both, against the same jobs without a rate).
//!
//! ```text
//! cargo bench -p sluice-jobs --bench throughput -- sqlite:///tmp/bench.db
//! SLUICE_BENCH_JOBS=100000 SLUICE_BENCH_CONCURRENCY=100 cargo bench … -- postgres://…?schema=bench
//! ```
//! Prints one line: `variant=sluice_STORE processes=… inserts_per_s=… items_per_s=… p50_ms=…
//! p99_ms=…`.

#![allow(clippy::print_stdout)]

mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Engine, Error, Settings, Tally};
use serde_json::json;
use sluice_jobs::store::{Awaited, ClaimParams, Completion, Outcome, RateScope, SharedRate};
use sluice_jobs::workflow::{Workflow, WorkflowStep};
use sluice_jobs::{
    Action, JobContext, JobState, NewJob, QueueConfig, Retention, Store, Worker, WorkerReport,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A Sluice store and the worker the bench runs on it.
struct Sluice {
    store: Arc<dyn Store>,
    concurrency: usize,
    tuned: bool,
    rate: Option<SharedRate>,
    batch: Vec<NewJob>,
    running: Option<(CancellationToken, JoinHandle<WorkerReport>)>,
}

impl Engine for Sluice {
    async fn insert_batch(&mut self) -> Result<(), Error> {
        self.store.enqueue(self.batch.clone()).await?;
        Ok(())
    }

    async fn start(&mut self, tally: Tally) -> Result<(), Error> {
        let tuned = self.tuned;
        let mut queue = QueueConfig::new("default")
            .concurrency(self.concurrency)
            .prefetch(harness::setting(
                "SLUICE_BENCH_PREFETCH",
                if tuned { 4 * self.concurrency } else { 0 },
            ))
            .poll_interval(Duration::from_secs(1));
        if let Some(rate) = self.rate {
            queue = queue.shared_rate(rate);
        }
        let worker = Worker::builder(self.store.clone())
            .queue(queue)
            .retention(Retention {
                state: JobState::Succeeded,
                queue: None,
                kind: None,
                keep: if tuned {
                    Duration::ZERO
                } else {
                    Duration::from_secs(24 * 3600)
                },
            })
            .handler("noop", move |job: JobContext| {
                tally.handled(job.args()["sent_us"].as_u64());
                async { Ok(Action::Complete) }
            })
            .build()?;
        let stop = CancellationToken::new();
        self.running = Some((stop.clone(), tokio::spawn(worker.run(stop))));
        Ok(())
    }

    async fn send(&mut self, sent_us: u64) -> Result<(), Error> {
        self.store
            .enqueue(vec![NewJob::new("noop", json!({"sent_us": sent_us}))])
            .await?;
        Ok(())
    }

    async fn halt(&mut self) -> Result<(), Error> {
        if let Some((stop, running)) = self.running.take() {
            stop.cancel();
            running.await?;
        }
        Ok(())
    }
}

/// The store's ceiling: claim and complete back to back, no worker in between.
async fn ceiling(engine: &mut Sluice, jobs: usize, name: &str) -> Result<(), Error> {
    let discard = engine.tuned;
    for batch in [100u32, 500] {
        for clients in [1usize, 2, 4] {
            for _ in 0..jobs / 1000 {
                engine.insert_batch().await?;
            }
            let started = Instant::now();
            let loops = (0..clients).map(|client| {
                let store = engine.store.clone();
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
                                rate: None,
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
                                discard,
                                result: None,
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
            println!(
                "variant=ceiling_{name} batch={batch} clients={clients} items_per_s={per_s:.0}"
            );
        }
    }
    Ok(())
}

/// One workflow of 1 -> `width` -> 1 steps, worked by one worker with `concurrency` slots.
async fn workflow(
    store: Arc<dyn Store>,
    concurrency: usize,
    width: usize,
    name: &str,
) -> Result<(), Error> {
    let step = |name: String| WorkflowStep::new(name, NewJob::new("noop", json!(null)));
    let middle: Vec<String> = (0..width).map(|i| format!("m{i}")).collect();
    let mut graph = Workflow::new().step(step("first".to_owned()));
    for name in &middle {
        graph = graph.step(step(name.clone()).after(["first"]));
    }
    let graph = graph.step(step("last".to_owned()).after(middle)).graph()?;
    let worker = Worker::builder(store.clone())
        .queue(QueueConfig::new("default").concurrency(concurrency))
        .handler("noop", |_job: JobContext| async { Ok(Action::Complete) })
        .build()?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));
    let started = Instant::now();
    let enqueued = store.enqueue_workflow(graph).await?;
    let enqueue_s = started.elapsed().as_secs_f64();
    let ended = store
        .await_job(enqueued.steps["last"], Duration::from_secs(600))
        .await?;
    let total_s = started.elapsed().as_secs_f64();
    stop.cancel();
    running.await?;
    let Awaited::Ended(last) = ended else {
        return Err(format!("the last step did not end: {ended:?}").into());
    };
    let steps = width + 2;
    println!(
        "variant=workflow_{name} steps={steps} concurrency={concurrency} state={} enqueue_s={enqueue_s:.3} total_s={total_s:.3} steps_per_s={:.0}",
        last.state,
        steps as f64 / total_s
    );
    Ok(())
}

/// The shared rate `SLUICE_BENCH_RATE` names, too high to hold anything back.
fn rate_setting() -> Result<Option<SharedRate>, Error> {
    let Ok(by) = std::env::var("SLUICE_BENCH_RATE") else {
        return Ok(None);
    };
    let by: RateScope =
        serde_json::from_value(json!(by)).map_err(|e| format!("SLUICE_BENCH_RATE: {e}"))?;
    Ok(Some(
        SharedRate::new(1_000_000_000, Duration::from_secs(1)).by(by),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sqlite:///tmp/sluice-bench-jobs.db".to_owned());
    let settings = Settings::from_env();
    let tuned = harness::setting("SLUICE_BENCH_TUNED", 0) == 1;
    let tenants = harness::setting("SLUICE_BENCH_TENANTS", 0);
    let store = sluice_jobs::store::open(&url).await?;
    store.migrate().await?;
    // `STORE` or `STORE_tuned`: what the run's lines are named after.
    let name = format!("{}{}", store.kind(), if tuned { "_tuned" } else { "" });
    let mut engine = Sluice {
        store,
        concurrency: settings.concurrency,
        tuned,
        rate: rate_setting()?,
        batch: (0..1000)
            .map(|i| {
                let job = NewJob::new("noop", json!({"i": i}));
                match tenants {
                    0 => job,
                    n => job.partition_key(format!("tenant{}", i % n)),
                }
            })
            .collect(),
        running: None,
    };
    let width = harness::setting("SLUICE_BENCH_WORKFLOW", 0);
    if width > 0 {
        return workflow(engine.store, settings.concurrency, width, &name).await;
    }
    if harness::setting("SLUICE_BENCH_CEILING", 0) == 1 {
        return ceiling(&mut engine, settings.jobs, &name).await;
    }
    let label = std::env::var("SLUICE_BENCH_LABEL").map_or(String::new(), |l| format!("_{l}"));
    if let Some(figures) = harness::run(&mut engine, &settings).await? {
        println!(
            "{}",
            figures.line(&format!("sluice_{name}{label}"), &settings)
        );
    }
    Ok(())
}
