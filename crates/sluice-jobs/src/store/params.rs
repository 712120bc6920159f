//! The store's vocabulary: what its methods take and give back.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::rate::SharedRate;
use crate::job::{JobId, JobState, NewJob};

/// What became of one job given to [`Store::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "id")]
pub enum Enqueued {
    /// A new job.
    Inserted(JobId),
    /// A job holds the same unique key (pending, or succeeded within its `unique_for`); this is
    /// its id.
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
    /// A limit on the jobs of the queue started per window (of the whole queue, or of each
    /// kind or partition key in it), shared by every worker. Defaults to none.
    pub rate: Option<SharedRate>,
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
#[derive(Debug, Clone)]
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
    /// What its handler returned, as JSON text (serialized once, by the worker that checked
    /// its size), kept if the job succeeded.
    pub result: Option<Box<RawValue>>,
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

/// Which jobs [`Store::list`] returns, newest first: those matching every filter given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs with this unique key.
    pub unique_key: Option<String>,
    /// Only jobs with this partition key.
    pub partition_key: Option<String>,
    /// Only the steps of this workflow (the id of its first step).
    pub workflow: Option<JobId>,
    /// Only jobs whose args hold this value at this path.
    pub args: Option<ArgsMatch>,
    /// Only jobs older than this one (smaller ids): the page after a page that ended with it.
    pub before: Option<JobId>,
    /// Only jobs newer than this one (larger ids): bounds how far back a search reads.
    pub after: Option<JobId>,
    /// At most this many.
    pub limit: u32,
}

/// A value inside a job's args: `user.id=42` matches `{"user": {"id": 42}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgsMatch {
    /// Object keys (or array indexes, for arrays) from the top of the args.
    pub path: Vec<String>,
    /// The value found there: a string, number, boolean or null.
    pub value: Value,
}

impl FromStr for ArgsMatch {
    type Err = String;

    /// Reads `PATH=VALUE`: PATH is keys joined by dots (none empty, none with `"`); VALUE is a
    /// JSON string, number, boolean or null (`42`, `true`, `"42"`), or else a string (so
    /// `to=ada@example.com` and `tag={x}` compare with those strings).
    fn from_str(text: &str) -> Result<ArgsMatch, String> {
        let expected = "expected PATH=VALUE, such as `user.id=42` or `to=ada@example.com`";
        let (path, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` has no `=`; {expected}"))?;
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        if path.iter().any(|key| key.is_empty() || key.contains('"')) {
            return Err(format!(
                "`{text}` has an empty key, or a key with `\"`, in its path; {expected}"
            ));
        }
        let value = serde_json::from_str::<Value>(value.trim())
            .ok()
            .filter(|v| !v.is_object() && !v.is_array())
            .unwrap_or_else(|| Value::String(value.to_owned()));
        Ok(ArgsMatch { path, value })
    }
}

impl ArgsMatch {
    /// The path as SQLite's JSON functions read it: `$."user"."id"`, array indexes as `[0]`.
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite_path(&self) -> String {
        let mut path = String::from("$");
        for key in &self.path {
            if key.bytes().all(|b| b.is_ascii_digit()) {
                path = format!("{path}[{key}]");
            } else {
                path = format!("{path}.\"{key}\"");
            }
        }
        path
    }

    /// The path as a JSON array of its keys (PostgreSQL's `#>` reads it; so does Redis's list
    /// script).
    #[cfg(any(feature = "postgres", feature = "redis"))]
    pub(crate) fn json_path(&self) -> String {
        Value::from(self.path.clone()).to_string()
    }
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
    /// ...of this queue, or of all...
    pub queue: Option<String>,
    /// ...of this kind, or of all...
    pub kind: Option<String>,
    /// ...but none of these kinds (those with a retention of their own).
    pub except_kinds: Vec<String>,
    /// At most this many (prune in batches to keep transactions short).
    pub limit: u32,
}

impl PruneParams {
    /// The states asked for that are final (no other state is ever pruned), as stored.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    pub(crate) fn final_states(&self) -> Vec<&'static str> {
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
    /// When the oldest available job was due: how long the queue keeps work waiting. `None`
    /// when no job is available.
    pub oldest_available: Option<DateTime<Utc>>,
    /// Since when the queue is paused; `None` while it runs. (Filled by
    /// [`Store::queue_stats`](super::Store::queue_stats); [`Admin::stats`](super::Admin::stats)
    /// leaves it `None`.)
    pub paused_since: Option<DateTime<Utc>>,
}

/// Parameters of [`Queue::heartbeat`](super::Queue::heartbeat).
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatParams<'a> {
    /// The worker holding the leases.
    pub worker: &'a str,
    /// The jobs whose leases to renew.
    pub ids: &'a [JobId],
    /// For how long from now.
    pub lease: Duration,
}

/// Parameters of [`Maintenance::fire`](super::Maintenance::fire).
#[derive(Debug, Clone)]
pub struct FireParams {
    /// The schedule.
    pub name: String,
    /// The tick being fired.
    pub tick: DateTime<Utc>,
    /// The job it enqueues.
    pub job: NewJob,
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
/// Gathers `(queue, state, count)` rows, ordered by queue, into one [`QueueStats`] per queue.
pub(crate) fn group_stats(
    rows: impl IntoIterator<Item = (String, String, u64, Option<i64>)>,
) -> Vec<QueueStats> {
    let mut stats: Vec<QueueStats> = Vec::new();
    for (queue, state, count, oldest) in rows {
        if stats.last().is_none_or(|s| s.queue != queue) {
            stats.push(QueueStats {
                queue,
                ..QueueStats::default()
            });
        }
        if let Some(last) = stats.last_mut() {
            if state == JobState::Available.as_str() {
                last.oldest_available = oldest.and_then(DateTime::from_timestamp_millis);
            }
            *last.counts.entry(state).or_default() += count;
        }
    }
    stats
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
/// The error recorded when a lease expires.
pub(crate) const LEASE_EXPIRED: &str =
    "lease expired: its worker stopped renewing it (crashed, killed or cut off)";

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
/// One completion as the stores' batched completion statements read it.
pub(crate) struct CompletionRow {
    pub(crate) id: JobId,
    pub(crate) worker: String,
    /// The state the job moves to.
    pub(crate) state: JobState,
    /// Its next run time, for the states that have one.
    pub(crate) run_at: Option<DateTime<Utc>>,
    /// The error to record, if any.
    pub(crate) error: Option<String>,
    /// Whether the job is deleted instead (a final state its queue does not keep).
    pub(crate) discard: bool,
    /// The result to keep, as JSON text: only for a job that succeeded.
    pub(crate) result: Option<String>,
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
/// What each completion does to its job: its new state, next run time and recorded error. The
/// stores' completion statements apply these rows, set `finished_at` on final states, give back
/// the attempt of snoozed and released jobs, and clear the worker of released ones.
pub(crate) fn completion_rows(completions: Vec<Completion>) -> Vec<CompletionRow> {
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
                result: done
                    .result
                    .filter(|_| state == JobState::Succeeded)
                    .map(|r| String::from(Box::<str>::from(r))),
                state,
                run_at,
                error,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_rows_group_by_queue() {
        let rows = [
            ("a", "available", 2, Some(1_700_000_000_000)),
            ("a", "dead", 1, Some(1)),
            ("b", "running", 3, Some(2)),
        ]
        .map(|(q, s, n, t)| (q.to_owned(), s.to_owned(), n, t));
        let stats = group_stats(rows);
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].counts.get("dead"), Some(&1));
        assert_eq!(
            stats[0].oldest_available.map(|t| t.timestamp_millis()),
            Some(1_700_000_000_000),
            "the oldest available job's due time, not another state's"
        );
        assert_eq!(stats[1].queue, "b");
        assert_eq!(stats[1].oldest_available, None);
    }
}
