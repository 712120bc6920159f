//! Where jobs live: the [`Store`] trait and its three implementations.
//!
//! - [`SqliteStore`]: one file, no server; the default.
//! - [`PostgresStore`]: shared by workers on many machines; claims with `FOR UPDATE SKIP
//!   LOCKED`, wakes workers with `LISTEN/NOTIFY`, enqueues inside the caller's transaction.
//! - [`RedisStore`]: shared through Redis; every transition is one Lua script, workers wait
//!   with blocking pops.
//!
//! Every store passes one conformance suite (`tests/conformance/`), run against each.
//!
//! # Guarantees
//! Claiming is atomic: a job is running for one worker at a time. A running job's worker holds
//! a lease it renews by heartbeat; completions are accepted only from the worker that holds the
//! lease, so a job rescued after its worker vanished is never completed by that worker when it
//! comes back. Delivery is at least once: a job whose worker dies after doing the work but
//! before completing it runs again.

/// Implements [`Store`] for a store type through its inherent async methods of the same
/// meaning (`migrate_schema`, `enqueue_jobs`, `claim_jobs`, …, `wait_for_jobs`), boxing their
/// futures; `$extra` are overrides of the trait's provided methods.
macro_rules! store_impl {
    ($store:ty, $kind:literal $(, $extra:item)* $(,)?) => {
        impl $crate::store::Store for $store {
            fn kind(&self) -> &'static str {
                $kind
            }

            $($extra)*

            fn migrate(&self) -> $crate::store::StoreFuture<'_, ()> {
                Box::pin(self.migrate_schema())
            }

            fn enqueue(
                &self,
                jobs: Vec<$crate::job::NewJob>,
            ) -> $crate::store::StoreFuture<'_, Vec<$crate::store::Enqueued>> {
                Box::pin(self.enqueue_jobs(jobs))
            }

            fn claim(
                &self,
                params: $crate::store::ClaimParams,
            ) -> $crate::store::StoreFuture<'_, Vec<$crate::job::Job>> {
                Box::pin(self.claim_jobs(params))
            }

            fn complete(
                &self,
                completions: Vec<$crate::store::Completion>,
            ) -> $crate::store::StoreFuture<'_, u64> {
                Box::pin(self.complete_jobs(completions))
            }

            fn heartbeat<'a>(
                &'a self,
                worker: &'a str,
                ids: &'a [$crate::job::JobId],
                lease: std::time::Duration,
            ) -> $crate::store::StoreFuture<'a, $crate::store::Heartbeat> {
                Box::pin(self.heartbeat_jobs(worker, ids, lease))
            }

            fn rescue(&self) -> $crate::store::StoreFuture<'_, Vec<$crate::job::JobId>> {
                Box::pin(self.rescue_jobs())
            }

            fn get(
                &self,
                id: $crate::job::JobId,
            ) -> $crate::store::StoreFuture<'_, Option<$crate::job::Job>> {
                Box::pin(self.get_job(id))
            }

            fn list(
                &self,
                params: $crate::store::ListParams,
            ) -> $crate::store::StoreFuture<'_, Vec<$crate::job::Job>> {
                Box::pin(self.list_jobs(params))
            }

            fn retry(
                &self,
                params: $crate::store::RetryParams,
            ) -> $crate::store::StoreFuture<'_, u64> {
                Box::pin(self.retry_jobs(params))
            }

            fn cancel<'a>(
                &'a self,
                ids: &'a [$crate::job::JobId],
            ) -> $crate::store::StoreFuture<'a, Vec<($crate::job::JobId, $crate::store::Cancelled)>>
            {
                Box::pin(self.cancel_jobs(ids))
            }

            fn discard<'a>(
                &'a self,
                ids: &'a [$crate::job::JobId],
            ) -> $crate::store::StoreFuture<'a, u64> {
                Box::pin(self.discard_jobs(ids))
            }

            fn stats(&self) -> $crate::store::StoreFuture<'_, Vec<$crate::store::QueueStats>> {
                Box::pin(self.queue_stats())
            }

            fn prune(
                &self,
                params: $crate::store::PruneParams,
            ) -> $crate::store::StoreFuture<'_, u64> {
                Box::pin(self.prune_jobs(params))
            }

            fn fire<'a>(
                &'a self,
                name: &'a str,
                tick: chrono::DateTime<chrono::Utc>,
                job: $crate::job::NewJob,
            ) -> $crate::store::StoreFuture<'a, Option<$crate::store::Enqueued>> {
                Box::pin(self.fire_schedule(name, tick, job))
            }

            fn wait<'a>(
                &'a self,
                queue: &'a str,
                timeout: std::time::Duration,
            ) -> futures::future::BoxFuture<'a, ()> {
                Box::pin(self.wait_for_jobs(queue, timeout))
            }
        }
    };
}

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;

use crate::job::{Job, JobId, JobState, NewJob};

/// What a store call returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database or server could not be reached, or the connection broke. Workers back off
    /// and try again.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request (a constraint, a malformed value).
    #[error("store rejected the request: {0}")]
    Rejected(String),
    /// The store's contents are not what this version expects (run `sluice jobs migrate`).
    #[error("store schema: {0}")]
    Schema(String),
    /// The address of the store is not understood.
    #[error("`{url}` is not a store address: {reason}")]
    Address {
        /// What was given.
        url: String,
        /// What is expected.
        reason: String,
    },
}

/// What became of one job given to [`Store::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "id")]
pub enum Enqueued {
    /// A new job.
    Inserted(JobId),
    /// A job with the same unique key is pending; this is its id.
    Duplicate(JobId),
}

impl Enqueued {
    /// The id of the job that now stands for the request.
    pub fn id(self) -> JobId {
        match self {
            Enqueued::Inserted(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// Parameters of [`Store::claim`].
#[derive(Debug, Clone)]
pub struct ClaimParams {
    /// The queue.
    pub queue: String,
    /// At most this many jobs.
    pub limit: u32,
    /// The claiming worker.
    pub worker: String,
    /// How long the lease lasts before a heartbeat must renew it.
    pub lease: Duration,
    /// At most this many running jobs per partition key, counting those already running
    /// anywhere. Defaults to no limit.
    pub partition_limit: Option<u32>,
}

/// How a running job ended, as its worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It succeeded.
    Succeeded,
    /// It failed; with a time, it runs again then, without one it is dead.
    Failed {
        /// Why.
        error: String,
        /// When to retry; `None` when no attempt is left (or the failure is final).
        retry_at: Option<DateTime<Utc>>,
    },
    /// Its handler asked to run it again later without counting this attempt.
    Snoozed {
        /// When.
        until: DateTime<Utc>,
    },
    /// It was cancelled (by request or by its handler).
    Cancelled {
        /// Why.
        reason: String,
    },
    /// Its worker stopped before it finished (shutdown): it is available again and this
    /// attempt does not count.
    Released,
}

impl Outcome {
    /// The state this outcome leaves its job in.
    pub fn state(&self) -> JobState {
        match self {
            Outcome::Succeeded => JobState::Succeeded,
            Outcome::Failed {
                retry_at: Some(_), ..
            } => JobState::Retryable,
            Outcome::Failed { retry_at: None, .. } => JobState::Dead,
            Outcome::Snoozed { .. } => JobState::Scheduled,
            Outcome::Cancelled { .. } => JobState::Cancelled,
            Outcome::Released => JobState::Available,
        }
    }
}

/// One finished job, for [`Store::complete`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The job.
    pub id: JobId,
    /// The worker that ran it; the completion is ignored if another holds the job now.
    pub worker: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Delete the job at once if the outcome is final, rather than keep it in its final state
    /// until the pruner comes (for queues that keep no finished jobs of that state).
    pub discard: bool,
}

/// What [`Store::heartbeat`] learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// Jobs whose lease was renewed.
    pub held: Vec<JobId>,
    /// Jobs whose cancellation was requested: their handlers should stop.
    pub cancel: Vec<JobId>,
}

impl FromIterator<(JobId, bool)> for Heartbeat {
    /// From `(job, cancellation requested)` for each job whose lease was renewed; sorted.
    fn from_iter<I: IntoIterator<Item = (JobId, bool)>>(renewed: I) -> Heartbeat {
        let mut beat = Heartbeat::default();
        for (id, cancel) in renewed {
            beat.held.push(id);
            if cancel {
                beat.cancel.push(id);
            }
        }
        beat.held.sort_unstable();
        beat.cancel.sort_unstable();
        beat
    }
}

/// What [`Store::cancel`] did to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cancelled {
    /// It was waiting and is now cancelled.
    Cancelled,
    /// It is running; its worker will stop it at its next heartbeat.
    Requested,
    /// It had already ended (or does not exist).
    NotPending,
}

/// Which jobs [`Store::list`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// Which jobs [`Store::retry`] makes available again.
#[derive(Debug, Clone)]
pub enum RetryParams {
    /// These (dead, cancelled, retryable or scheduled) jobs.
    Ids(Vec<JobId>),
    /// Every dead job, of one queue or of all.
    AllDead {
        /// The queue, or all.
        queue: Option<String>,
    },
}

/// Which jobs [`Store::prune`] deletes.
#[derive(Debug, Clone)]
pub struct PruneParams {
    /// Jobs in these (final) states...
    pub states: Vec<JobState>,
    /// ...that ended before this...
    pub finished_before: DateTime<Utc>,
    /// ...of this queue, or of all.
    pub queue: Option<String>,
    /// At most this many (prune in batches to keep transactions short).
    pub limit: u32,
}

impl PruneParams {
    /// The states asked for that are final (no other state is ever pruned), as stored.
    fn final_states(&self) -> Vec<&'static str> {
        self.states
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect()
    }
}

/// How many jobs a queue has in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Jobs per state (states with none are left out).
    pub counts: BTreeMap<String, u64>,
}

/// A place jobs live. Methods are named for what they do to jobs; every one is atomic.
pub trait Store: Send + Sync + 'static {
    /// `sqlite`, `postgres` or `redis`.
    fn kind(&self) -> &'static str;

    /// Whether two claims at once both make progress, so that a busy worker keeps one on its
    /// way while the jobs of the other start. A single-writer store says no.
    fn concurrent_claims(&self) -> bool {
        true
    }

    /// Creates or upgrades the schema. Idempotent.
    fn migrate(&self) -> StoreFuture<'_, ()>;

    /// Adds jobs, in order; a job whose unique key is pending is not added.
    fn enqueue(&self, jobs: Vec<NewJob>) -> StoreFuture<'_, Vec<Enqueued>>;

    /// Moves up to `limit` runnable jobs of a queue (available, or scheduled and retryable jobs
    /// that are due) to running for `worker`, highest priority first, then oldest.
    fn claim(&self, params: ClaimParams) -> StoreFuture<'_, Vec<Job>>;

    /// Records how running jobs ended; returns how many completions were applied (one whose
    /// worker no longer holds the job is ignored).
    fn complete(&self, completions: Vec<Completion>) -> StoreFuture<'_, u64>;

    /// Renews `worker`'s leases on `ids` for `lease`.
    fn heartbeat<'a>(
        &'a self,
        worker: &'a str,
        ids: &'a [JobId],
        lease: Duration,
    ) -> StoreFuture<'a, Heartbeat>;

    /// Takes back running jobs whose lease expired (their worker died): retryable, or dead
    /// if that was their last attempt. Returns their ids.
    fn rescue(&self) -> StoreFuture<'_, Vec<JobId>>;

    /// One job.
    fn get(&self, id: JobId) -> StoreFuture<'_, Option<Job>>;

    /// Jobs matching `params`, newest first.
    fn list(&self, params: ListParams) -> StoreFuture<'_, Vec<Job>>;

    /// Makes jobs available to run now, with at least one attempt left, keeping their errors;
    /// returns how many. A job whose unique key is held by another pending job stays as it is.
    fn retry(&self, params: RetryParams) -> StoreFuture<'_, u64>;

    /// Cancels jobs: waiting ones at once, running ones at their worker's next heartbeat.
    fn cancel<'a>(&'a self, ids: &'a [JobId]) -> StoreFuture<'a, Vec<(JobId, Cancelled)>>;

    /// Deletes jobs that have ended; returns how many.
    fn discard<'a>(&'a self, ids: &'a [JobId]) -> StoreFuture<'a, u64>;

    /// Job counts per queue and state.
    fn stats(&self) -> StoreFuture<'_, Vec<QueueStats>>;

    /// Deletes ended jobs matching `params`; returns how many.
    fn prune(&self, params: PruneParams) -> StoreFuture<'_, u64>;

    /// Enqueues `job` as tick `tick` of the schedule `name`, unless that tick or a later one
    /// was fired already (by any worker); returns `None` then. So a tick fires once however
    /// many workers run the schedule.
    fn fire<'a>(
        &'a self,
        name: &'a str,
        tick: DateTime<Utc>,
        job: NewJob,
    ) -> StoreFuture<'a, Option<Enqueued>>;

    /// Waits until jobs may have arrived in `queue` since the last wait for it, or `timeout`
    /// passes.
    fn wait<'a>(&'a self, queue: &'a str, timeout: Duration) -> BoxFuture<'a, ()>;
}

/// Gathers `(queue, state, count)` rows, ordered by queue, into one [`QueueStats`] per queue.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "redis")),
    allow(dead_code)
)]
fn group_stats(rows: impl IntoIterator<Item = (String, String, u64)>) -> Vec<QueueStats> {
    let mut stats: Vec<QueueStats> = Vec::new();
    for (queue, state, count) in rows {
        if stats.last().is_none_or(|s| s.queue != queue) {
            stats.push(QueueStats {
                queue,
                counts: BTreeMap::new(),
            });
        }
        if let Some(last) = stats.last_mut() {
            *last.counts.entry(state).or_default() += count;
        }
    }
    stats
}

/// Opens the store at `url`: `sqlite://PATH` (created if missing), `postgres://…`,
/// `redis://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::connect(url).await?)),
        #[cfg(feature = "redis")]
        "redis" | "rediss" => Ok(Arc::new(RedisStore::connect(url).await?)),
        _ => Err(StoreError::Address {
            url: url.to_owned(),
            reason: "expected sqlite://PATH, postgres://USER@HOST/DB or redis://HOST:PORT"
                .to_owned(),
        }),
    }
}

/// The error recorded when a lease expires.
const LEASE_EXPIRED: &str =
    "lease expired: its worker stopped renewing it (crashed, killed or cut off)";

/// One completion as the stores' batched completion statements read it.
struct CompletionRow {
    id: JobId,
    worker: String,
    /// The state the job moves to.
    state: JobState,
    /// Its next run time, for the states that have one.
    run_at: Option<DateTime<Utc>>,
    /// The error to record, if any.
    error: Option<String>,
    /// Whether the job is deleted instead (a final state its queue does not keep).
    discard: bool,
}

/// What each completion does to its job: its new state, next run time and recorded error. The
/// stores' completion statements apply these rows, set `finished_at` on final states, give back
/// the attempt of snoozed and released jobs, and clear the worker of released ones.
fn completion_rows(completions: Vec<Completion>) -> Vec<CompletionRow> {
    completions
        .into_iter()
        .map(|done| {
            let state = done.outcome.state();
            let (run_at, error) = match done.outcome {
                Outcome::Succeeded | Outcome::Released => (None, None),
                Outcome::Failed { error, retry_at } => (retry_at, Some(error)),
                Outcome::Snoozed { until } => (Some(until), None),
                Outcome::Cancelled { reason } => (None, Some(reason)),
            };
            CompletionRow {
                id: done.id,
                worker: done.worker,
                discard: done.discard && state.is_final(),
                state,
                run_at,
                error,
            }
        })
        .collect()
}

/// Removes the query parameter `name` from `url`, returning the rest of the address and the
/// parameter's value (for options of ours that the drivers do not know).
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((key, v)) if key == name => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_parameters_are_taken_out_of_addresses() {
        assert_eq!(
            take_param("postgres://h/db", "schema"),
            ("postgres://h/db".to_owned(), None)
        );
        assert_eq!(
            take_param("postgres://h/db?schema=jobs", "schema"),
            ("postgres://h/db".to_owned(), Some("jobs".to_owned()))
        );
        assert_eq!(
            take_param(
                "postgres://h/db?sslmode=require&schema=jobs&application_name=x",
                "schema"
            ),
            (
                "postgres://h/db?sslmode=require&application_name=x".to_owned(),
                Some("jobs".to_owned())
            )
        );
    }

    #[test]
    fn stats_rows_group_by_queue() {
        let rows = [("a", "available", 2), ("a", "dead", 1), ("b", "running", 3)]
            .map(|(q, s, n)| (q.to_owned(), s.to_owned(), n));
        let stats = group_stats(rows);
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].counts.get("dead"), Some(&1));
        assert_eq!(stats[1].queue, "b");
    }
}
