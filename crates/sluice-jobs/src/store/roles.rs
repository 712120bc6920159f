//! The store's roles, one trait each.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use super::params::{
    Cancelled, ClaimParams, Completion, Enqueued, FireParams, Heartbeat, HeartbeatParams,
    ListParams, PruneParams, QueueStats, RetryParams,
};
use super::registry::{MinuteStats, Paused, WorkerBeat, WorkerInfo};
use crate::batch::{Batch, BatchId, BatchStatus, EnqueuedBatch, check_members};
use crate::job::{Job, JobId, JobState, NewJob};
use crate::workflow::{EnqueuedWorkflow, Graph};
use crate::{metrics, trace};

/// A job's life as producers and workers drive it.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Adds jobs, in order; a job whose unique key is held is not added, and none is if one is
    /// refused ([`NewJob::check`]). Counts them in
    /// `sluice_jobs_enqueued_total` and, with tracing on, starts a producer span for each
    /// (docs/observability.md). (Stores implement [`insert`](Self::insert).)
    async fn enqueue(&self, mut jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError> {
        for job in &jobs {
            job.check().map_err(StoreError::Rejected)?;
        }
        let producing = trace::produce(&mut jobs);
        let results = self.insert(&jobs).await;
        produced(producing, &jobs, results)
    }

    /// Adds jobs, in order, as [`enqueue`](Self::enqueue) does, without counting them.
    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError>;

    /// Adds a workflow's steps, all or none: those without dependencies ready to run, the
    /// others blocked until theirs end (see [`workflow`](crate::workflow)). Counts and traces
    /// them as [`enqueue`](Self::enqueue) does. (Stores implement
    /// [`insert_workflow`](Self::insert_workflow).)
    async fn enqueue_workflow(&self, mut graph: Graph) -> Result<EnqueuedWorkflow, StoreError> {
        let producing = trace::produce(&mut graph.jobs);
        let results = self.insert_workflow(&graph).await.map(inserted);
        let results = produced(producing, &graph.jobs, results)?;
        Ok(EnqueuedWorkflow {
            id: results.first().map_or(0, |r| r.id()),
            steps: graph
                .names
                .into_iter()
                .zip(results.iter().map(|r| r.id()))
                .collect(),
        })
    }

    /// Adds a workflow's steps as [`enqueue_workflow`](Self::enqueue_workflow) does, without
    /// counting them; returns their ids, in the graph's order (increasing).
    async fn insert_workflow(&self, graph: &Graph) -> Result<Vec<JobId>, StoreError>;

    /// Adds a batch: its jobs, counted as they end, and its callbacks, enqueued once when it is
    /// closed and every job has ended (see [`batch`](crate::batch)). Counts and traces its jobs
    /// as [`enqueue`](Self::enqueue) does. A batch [`Batch::check`] refuses is not added.
    /// (Stores implement [`insert_batch`](Self::insert_batch).)
    async fn enqueue_batch(&self, mut batch: Batch) -> Result<EnqueuedBatch, StoreError> {
        batch.check().map_err(StoreError::Rejected)?;
        let producing = trace::produce(&mut batch.jobs);
        let results = self.insert_batch(&batch).await;
        let id = results.as_ref().map_or(0, |b| b.id);
        let results = results.map(|b| inserted(b.jobs));
        let jobs = produced(producing, &batch.jobs, results)?;
        Ok(EnqueuedBatch {
            id,
            jobs: jobs.into_iter().map(Enqueued::id).collect(),
        })
    }

    /// Adds a batch as [`enqueue_batch`](Self::enqueue_batch) does, without checking or
    /// counting it.
    async fn insert_batch(&self, batch: &Batch) -> Result<EnqueuedBatch, StoreError>;

    /// Adds jobs to open batch `batch`; refused (and nothing added) if it is closed or unknown.
    /// Counts and traces them as [`enqueue`](Self::enqueue) does.
    async fn add_to_batch(
        &self,
        batch: BatchId,
        mut jobs: Vec<NewJob>,
    ) -> Result<Vec<JobId>, StoreError> {
        check_members(&jobs).map_err(StoreError::Rejected)?;
        let producing = trace::produce(&mut jobs);
        let results = self.insert_into_batch(batch, &jobs).await.map(inserted);
        let results = produced(producing, &jobs, results)?;
        Ok(results.into_iter().map(Enqueued::id).collect())
    }

    /// Adds jobs to an open batch as [`add_to_batch`](Self::add_to_batch) does, without
    /// checking or counting them.
    async fn insert_into_batch(
        &self,
        batch: BatchId,
        jobs: &[NewJob],
    ) -> Result<Vec<JobId>, StoreError>;

    /// Closes batch `batch`: it takes no more jobs, and its callbacks are enqueued now if
    /// every job has ended already. Returns whether it was open.
    async fn close_batch(&self, batch: BatchId) -> Result<bool, StoreError>;

    /// Moves up to `limit` runnable jobs of a queue (available, or scheduled and retryable jobs
    /// that are due) to running for `worker`, highest priority first, then oldest; none while
    /// the queue is paused.
    async fn claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError>;

    /// Records how running jobs ended; returns how many completions were applied (one whose
    /// worker no longer holds the job is ignored).
    async fn complete(&self, completions: Vec<Completion>) -> Result<u64, StoreError>;

    /// Renews a worker's leases on its running jobs, and says which were asked to stop.
    async fn heartbeat(&self, params: HeartbeatParams<'_>) -> Result<Heartbeat, StoreError>;

    /// Waits until jobs may have arrived in `queue` since the last wait for it, or `timeout`
    /// passes.
    async fn wait(&self, queue: &str, timeout: Duration);
}

/// The worker's chores.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Takes back running jobs whose lease expired (their worker died): retryable, or dead
    /// if that was their last attempt. Returns their ids.
    async fn rescue(&self) -> Result<Vec<JobId>, StoreError>;

    /// Enqueues the job of tick `tick` of schedule `name`, unless that tick or a later one was
    /// fired already (by any worker); returns `None` then. So a tick fires once however many
    /// workers run the schedule.
    async fn fire(&self, params: FireParams) -> Result<Option<Enqueued>, StoreError>;

    /// Deletes ended jobs matching `params`; returns how many.
    async fn prune(&self, params: PruneParams) -> Result<u64, StoreError>;

    /// Deletes up to `limit` batches done before `finished_before` (their jobs are pruned
    /// under their own retention); returns how many.
    async fn prune_batches(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Keeps the store fast while jobs churn through it; returns whether there was work.
    /// PostgreSQL vacuums its jobs table once enough rows died (each claimed or ended job
    /// leaves one, and claims would read past them until a vacuum); the other stores have
    /// nothing to do.
    async fn tidy(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// What an operator does to jobs.
#[async_trait]
pub trait Admin: Send + Sync {
    /// One job.
    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Jobs matching `params`, newest first.
    async fn list(&self, params: ListParams) -> Result<Vec<Job>, StoreError>;

    /// How far batch `id` is: its counts, whether it is open, its callbacks.
    async fn batch(&self, id: BatchId) -> Result<Option<BatchStatus>, StoreError>;

    /// The latest `limit` batches, newest first.
    async fn batches(&self, limit: u32) -> Result<Vec<BatchStatus>, StoreError>;

    /// Job counts per queue and state.
    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError>;

    /// Job counts per queue of the states that can still run (blocked, available, scheduled,
    /// retryable, running): what a worker samples for its gauges. Unlike [`stats`](Self::stats),
    /// it reads only the indexes of those states, however many finished jobs are kept.
    async fn pending_stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let mut stats = self.stats().await?;
        for queue in &mut stats {
            queue
                .counts
                .retain(|state, _| state.parse::<JobState>().is_ok_and(|s| !s.is_final()));
        }
        Ok(stats)
    }

    /// Makes jobs available to run now, with at least one attempt left, keeping their errors;
    /// returns how many. A job whose unique key is held by another pending job stays as it is.
    async fn retry(&self, params: RetryParams) -> Result<u64, StoreError>;

    /// Cancels jobs: waiting ones at once, running ones at their worker's next heartbeat.
    async fn cancel(&self, ids: &[JobId]) -> Result<Vec<(JobId, Cancelled)>, StoreError>;

    /// Deletes jobs that have ended; returns how many.
    async fn discard(&self, ids: &[JobId]) -> Result<u64, StoreError>;
}

/// What a store keeps beside jobs for the people who operate them (see
/// [`registry`](super::registry)): paused queues, workers, their minute counts, schedule ticks.
#[async_trait]
pub trait Registry: Send + Sync {
    /// Pauses `queue`: from the next claim on, claims of it take nothing; running jobs finish.
    /// Returns whether it was running (not paused already).
    async fn pause(&self, queue: &str) -> Result<bool, StoreError>;

    /// Resumes `queue` and wakes the workers waiting on it. Returns whether it was paused.
    async fn resume(&self, queue: &str) -> Result<bool, StoreError>;

    /// The paused queues, by name.
    async fn paused(&self) -> Result<Vec<Paused>, StoreError>;

    /// Records a worker's report of itself and its latest minute counts (replacing what it
    /// reported before for the same minutes); forgets workers and minutes older than
    /// [`REGISTRY_KEEP`](super::registry::REGISTRY_KEEP).
    async fn beat(&self, beat: WorkerBeat) -> Result<(), StoreError>;

    /// The workers that reported within [`REGISTRY_KEEP`](super::registry::REGISTRY_KEEP), by
    /// name, live or gone.
    async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError>;

    /// Each queue's minutes from `since` on, summed over workers, by queue then minute.
    async fn minutes(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>, StoreError>;

    /// The last tick fired of each cron schedule.
    async fn ticks(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError>;
}

/// How a job [awaited](Store::await_job) turned out.
#[derive(Debug, Clone, PartialEq)]
pub enum Awaited {
    /// It ended (succeeded, dead or cancelled): the job as stored, with its result or errors.
    Ended(Job),
    /// It is not in the store: deleted as it ended (its queue keeps no jobs of that state),
    /// discarded, or never there.
    Gone,
    /// It had not ended when the wait ran out: the job as it was then.
    Pending(Job),
}

/// A place jobs live: every role, its kind and its schema.
#[async_trait]
pub trait Store: Queue + Maintenance + Admin + Registry + 'static {
    /// `sqlite`, `postgres` or `redis`.
    fn kind(&self) -> &'static str;

    /// Whether two claims at once both make progress, so that a busy worker keeps one on its
    /// way while the jobs of the other start. A single-writer store says no.
    fn concurrent_claims(&self) -> bool {
        true
    }

    /// Creates or upgrades the schema. Idempotent.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Waits up to `timeout` for job `id` to end (succeed, die or be cancelled) and says how
    /// it turned out: with its result, or every attempt's error. Reads the job every few
    /// milliseconds at first, then every quarter second.
    async fn await_job(&self, id: JobId, timeout: Duration) -> Result<Awaited, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let Some(job) = self.get(id).await? else {
                return Ok(Awaited::Gone);
            };
            if job.state.is_final() {
                return Ok(Awaited::Ended(job));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Awaited::Pending(job));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Job counts per queue and state with each queue's pause, paused queues without jobs
    /// included, by queue.
    async fn queue_stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        Ok(with_pauses(self.stats().await?, self.paused().await?))
    }

    /// [`pending_stats`](Admin::pending_stats) with each queue's pause, as
    /// [`queue_stats`](Self::queue_stats) gives them.
    async fn pending_queue_stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        Ok(with_pauses(
            self.pending_stats().await?,
            self.paused().await?,
        ))
    }
}

/// Ends the producer spans of an enqueue of `jobs` and counts the jobs inserted.
fn produced(
    producing: Option<trace::Producing>,
    jobs: &[NewJob],
    results: Result<Vec<Enqueued>, StoreError>,
) -> Result<Vec<Enqueued>, StoreError> {
    if let Some(producing) = producing {
        producing.finish(results.as_deref());
    }
    let results = results?;
    metrics::enqueued(jobs, &results);
    Ok(results)
}

/// New jobs' ids as the results of an enqueue.
fn inserted(ids: Vec<JobId>) -> Vec<Enqueued> {
    ids.into_iter().map(Enqueued::Inserted).collect()
}

/// `stats` with each queue's pause, paused queues without jobs included, by queue.
fn with_pauses(mut stats: Vec<QueueStats>, pauses: Vec<Paused>) -> Vec<QueueStats> {
    for paused in pauses {
        match stats.iter_mut().find(|s| s.queue == paused.queue) {
            Some(queue) => queue.paused_since = Some(paused.since),
            None => stats.push(QueueStats {
                queue: paused.queue,
                paused_since: Some(paused.since),
                ..QueueStats::default()
            }),
        }
    }
    stats.sort_by(|a, b| a.queue.cmp(&b.queue));
    stats
}
