//! The worker: claims jobs from a [`Store`], runs their handlers, records how they ended.
//!
//! One worker serves several queues, each with its own concurrency, optional partition limit
//! and rate limit. Beside the claim loops it runs:
//! - a **heartbeat** every third of the lease, which renews the leases of running jobs and
//!   learns which were cancelled (their handlers are stopped) or taken away (a worker that lost
//!   its lease stops the handler and records nothing);
//! - a **rescuer**, which takes back jobs whose worker's lease expired (any worker may rescue
//!   any job: a live worker's lease never expires, so a rescue never races it);
//! - a **scheduler** that fires cron [`Schedule`]s, once per tick across all workers;
//! - a **pruner** that deletes finished jobs after their retention, in batches;
//! - a **sampler** that publishes job counts per queue and state as gauges;
//! - a **registrar** that reports the worker to the store's registry every few seconds (its
//!   queues and busy slots, kinds, schedules, and per-minute counts of jobs ended and waits),
//!   for the console.
//!
//! Completions are sent to the store in batches by one task, which retries them while the
//! store is away. Shutdown stops claiming, lets running jobs finish until a deadline, then
//! stops the rest and gives them back (`released`: available again, the attempt not counted).
//!
//! A handler's error fails the attempt: the job runs again after the kind's backoff while
//! attempts remain, and is `dead` after. A handler that panics, or runs past the kind's
//! timeout, fails its attempt the same way; other jobs are not affected.

mod builder;
mod claim;
mod complete;
mod config;
mod execute;
mod handler;
mod maintenance;
mod state;
mod tally;

pub use builder::{DEFAULT_MAX_RESULT_SIZE, WorkerBuilder, WorkerError};
pub use config::{QueueConfig, Retention};
pub use handler::{Action, Handler, HandlerError, JobContext, KindConfig};
pub use state::Worker;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use claim::{TWO_CLAIMERS, claim_loop};
use complete::complete_loop;
use maintenance::{
    heartbeat_loop, prune_loop, register_loop, rescue_loop, schedule_loop, stats_loop, tidy_loop,
};
use state::{Slots, Stop};

/// What a worker did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Attempts that failed (and will be retried, or left the job dead).
    pub failed: u64,
    /// Jobs that ran out of attempts.
    pub dead: u64,
    /// Jobs cancelled while running.
    pub cancelled: u64,
    /// Attempts put off by their handler.
    pub snoozed: u64,
    /// Jobs given back at shutdown.
    pub released: u64,
    /// Jobs stopped because another worker took them (their lease had expired).
    pub lost: u64,
    /// Completions the store never accepted before shutdown (those jobs are rescued and run
    /// again when their leases expire).
    pub unrecorded: u64,
}

impl Worker {
    /// The worker's name, as recorded on the jobs it runs.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until<F: Future>(self, shutdown: F) -> WorkerReport {
        let token = CancellationToken::new();
        let stopper = {
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        };
        let (report, ()) = tokio::join!(self.run(token.clone()), async {
            tokio::select! {
                () = stopper => {}
                () = token.cancelled() => {}
            }
        });
        report
    }

    /// Runs until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> WorkerReport {
        let inner = self.inner;
        tracing::info!(worker = %inner.name, store = inner.store.kind(),
            queues = ?inner.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(), "worker started");
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let completer = tokio::spawn(complete_loop(inner.clone(), done_rx));
        let background = CancellationToken::new();
        let chores = vec![
            tokio::spawn(heartbeat_loop(inner.clone(), background.clone())),
            tokio::spawn(rescue_loop(inner.clone(), background.clone())),
            tokio::spawn(schedule_loop(inner.clone(), background.clone())),
            tokio::spawn(prune_loop(inner.clone(), background.clone())),
            tokio::spawn(tidy_loop(inner.clone(), background.clone())),
            tokio::spawn(stats_loop(inner.clone(), background.clone())),
        ];
        let tasks = TaskTracker::new();
        // Zero from the start, so that a rate over it is 0 rather than missing.
        crate::metrics::rescued(0);
        let slots: Vec<(QueueConfig, Slots)> = inner
            .queues
            .iter()
            .map(|queue| {
                crate::metrics::slots(&queue.name, queue.concurrency);
                let slots = Slots {
                    held: Arc::new(Semaphore::new(queue.concurrency + queue.prefetch)),
                    running: Arc::new(Semaphore::new(queue.concurrency)),
                    recording: Arc::new(Semaphore::new(queue.concurrency)),
                };
                (queue.clone(), slots)
            })
            .collect();
        let registrar = tokio::spawn(register_loop(
            inner.clone(),
            slots
                .iter()
                .map(|(queue, slots)| (queue.name.clone(), queue.concurrency, slots.clone()))
                .collect(),
            background.clone(),
        ));
        let claimers: Vec<_> = slots
            .into_iter()
            .flat_map(|(queue, slots)| {
                let two = queue.concurrency >= TWO_CLAIMERS && inner.store.concurrent_claims();
                let loops = if two { 2 } else { 1 };
                (0..loops).map(move |_| (queue.clone(), slots.clone()))
            })
            .map(|(queue, slots)| {
                tokio::spawn(claim_loop(
                    inner.clone(),
                    queue,
                    slots,
                    shutdown.clone(),
                    done_tx.clone(),
                    tasks.clone(),
                ))
            })
            .collect();
        drop(done_tx);
        shutdown.cancelled().await;
        tracing::info!(worker = %inner.name, "worker stopping: no more claims; waiting for running jobs");
        for claimer in claimers {
            let _ = claimer.await;
        }
        tasks.close();
        if tokio::time::timeout(inner.shutdown_timeout, tasks.wait())
            .await
            .is_err()
        {
            let stopped = {
                let running = inner
                    .running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for job in running.values() {
                    let _ = job.stop.set(Stop::Shutdown);
                    job.token.cancel();
                }
                running.len()
            };
            tracing::warn!(worker = %inner.name, jobs = stopped, "shutdown deadline passed; releasing running jobs");
            tasks.wait().await;
        }
        if tokio::time::timeout(inner.shutdown_timeout, completer)
            .await
            .is_err()
        {
            tracing::error!(worker = %inner.name, "the store did not take the last completions before the deadline");
        }
        background.cancel();
        for chore in chores {
            let _ = chore.await;
        }
        // Its last report, marking it stopped, carries the counts of its last jobs.
        let _ = registrar.await;
        let c = &inner.counters;
        let report = WorkerReport {
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dead: c.dead.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            snoozed: c.snoozed.load(Ordering::Relaxed),
            released: c.released.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            unrecorded: c.unrecorded.load(Ordering::Relaxed),
        };
        tracing::info!(worker = %inner.name, ?report, "worker stopped");
        report
    }
}
