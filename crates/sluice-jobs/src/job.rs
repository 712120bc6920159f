//! The job: what it is, and the states it moves through.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A job's id: increasing in the order jobs were enqueued in one store.
pub type JobId = i64;

/// A [batch](crate::batch)'s id.
pub type BatchId = i64;

/// Where a job is in its life.
///
/// ```text
///   ┌─────────┐ its last dependency ended (a workflow step)
///   │ blocked ├──────────────────────────────────┐
///   └─────────┘                                  │
///             enqueue (run_at in the future)     ▼  enqueue (now)
///  ┌──────────┐  due: worker promotes  ┌───────────┐  claim  ┌─────────┐  success  ┌───────────┐
///  │scheduled ├───────────────────────►│ available ├────────►│ running ├──────────►│ succeeded │
///  └──────────┘                        └─────▲─────┘         └┬──┬──┬──┘           └───────────┘
///                                            │ due            │  │  │ error, no attempts left ┌──────┐
///                                      ┌─────┴─────┐  error   │  │  └────────────────────────►│ dead │
///                                      │ retryable │◄─────────┘  │                             └──────┘
///                                      └───────────┘             │ cancel       ┌───────────┐
///                                                                └─────────────►│ cancelled │
///                                                                               └───────────┘
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// A workflow step waiting for the steps it depends on to end. The end of its last
    /// dependency moves it to `available` (or `scheduled`, if it was given a later time); the
    /// death or cancellation of one cancels it, unless it runs on dependency failure.
    Blocked,
    /// Enqueued to run at a later time. A worker moves it to `available` when it is due (at
    /// claim time).
    Scheduled,
    /// Ready to run. A worker's claim moves it to `running`.
    Available,
    /// Claimed by a worker, which holds a lease on it and renews it by heartbeat. The worker
    /// moves it to `succeeded`, `retryable`, `dead` or `cancelled`; if the worker dies, the lease
    /// expires and any worker's rescuer moves it to `retryable` (or `dead`, if that was the last
    /// attempt).
    Running,
    /// Failed, and waiting for its next attempt at `run_at` (after a backoff). A worker moves it
    /// to `available` when it is due.
    Retryable,
    /// Done. Pruned after the queue's retention.
    Succeeded,
    /// Failed its last attempt (or its handler cancelled it for good). Kept, with every attempt's
    /// error, until retried by hand or pruned.
    Dead,
    /// Cancelled by request before it could finish.
    Cancelled,
}

impl JobState {
    /// Every state, in the order of a job's life.
    pub const ALL: [JobState; 8] = [
        JobState::Blocked,
        JobState::Scheduled,
        JobState::Available,
        JobState::Running,
        JobState::Retryable,
        JobState::Succeeded,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// The state's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Blocked => "blocked",
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job is still to run or running (so a unique key still holds).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            JobState::Blocked
                | JobState::Scheduled
                | JobState::Available
                | JobState::Running
                | JobState::Retryable
        )
    }

    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        !self.is_pending()
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<JobState, String> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "`{s}` is not a job state; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One failed attempt, kept on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// Which attempt (from 1).
    pub attempt: u32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// Why.
    pub error: String,
}

/// The attempts a job is allowed: its own `max_attempts`, or its kind's `cap` when lower.
pub fn attempt_limit(max_attempts: u32, cap: Option<u32>) -> u32 {
    cap.map_or(max_attempts, |cap| cap.min(max_attempts))
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The queue it is in.
    pub queue: String,
    /// What kind of work it is: selects the handler.
    pub kind: String,
    /// The handler's input.
    pub args: Value,
    /// Higher runs first among available jobs of a queue.
    pub priority: i16,
    /// Where it is in its life.
    pub state: JobState,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// When it may run (next).
    pub run_at: DateTime<Utc>,
    /// While running: when the worker's lease ends unless renewed.
    pub lease_until: Option<DateTime<Utc>>,
    /// While running: the worker holding it.
    pub worker: Option<String>,
    /// Every failed attempt's error, oldest first.
    pub errors: Vec<AttemptError>,
    /// At most one pending job per unique key.
    pub unique_key: Option<String>,
    /// How long the unique key stays held after the job succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "humane")]
    pub unique_for: Option<Duration>,
    /// Jobs with the same partition key share a concurrency limit (a tenant, say).
    pub partition_key: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it ended (succeeded, dead or cancelled).
    pub finished_at: Option<DateTime<Utc>>,
    /// The W3C trace context of its enqueueing (`00-TRACE_ID-SPAN_ID-FLAGS`): the parent of its
    /// first attempt's span, and linked from later attempts'. Set when tracing is on, or when
    /// the job was enqueued with one.
    pub traceparent: Option<String>,
    /// What its handler returned when it succeeded ([`Action::CompleteWith`]), kept with the
    /// job under the same retention.
    ///
    /// [`Action::CompleteWith`]: crate::Action::CompleteWith
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Its place in a workflow, if it is a step of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// The batch it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchId>,
}

/// What a workflow step does when one of its dependencies ends dead or cancelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyFailure {
    /// It is cancelled too, and so are the steps that would wait on it in turn.
    #[default]
    Cancel,
    /// It counts the dependency as ended and runs once all have ended.
    Run,
}

impl DependencyFailure {
    /// Its name, as stored and written in workflow files.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyFailure::Cancel => "cancel",
            DependencyFailure::Run => "run",
        }
    }
}

impl FromStr for DependencyFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<DependencyFailure, String> {
        match s {
            "cancel" => Ok(DependencyFailure::Cancel),
            "run" => Ok(DependencyFailure::Run),
            _ => Err(format!(
                "`{s}` is not a dependency failure; expected cancel or run"
            )),
        }
    }
}

/// A job's place in a workflow ([`Workflow`](crate::workflow::Workflow)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The workflow: the id of its first step.
    pub workflow: JobId,
    /// The step's name, unique in its workflow.
    pub name: String,
    /// The jobs it waits for, by id.
    pub depends_on: Vec<JobId>,
    /// How many of them have not ended yet.
    pub waiting_on: u32,
    /// What it does when one of them ends dead or cancelled.
    pub on_dependency_failure: DependencyFailure,
}

/// A job to enqueue: `NewJob::new("send_email", json!({...})).queue("mail").run_in(…)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// What kind of work it is.
    pub kind: String,
    /// The handler's input. Defaults to `null`.
    #[serde(default)]
    pub args: Value,
    /// The queue. Defaults to `default`.
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Higher runs first. Defaults to 0.
    #[serde(default)]
    pub priority: i16,
    /// Attempts allowed in all. Defaults to 25.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// When to run it. Defaults to now.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// A key of which at most one job may be pending (scheduled, available, running or
    /// retryable): enqueueing another while one is pending returns the pending one. Defaults to
    /// none.
    #[serde(default)]
    pub unique_key: Option<String>,
    /// How long the unique key stays held after the job succeeded, so that an enqueue within
    /// that time returns the succeeded job (`"1h"`, `"30s"`). Defaults to none: the key is free
    /// once the job ended.
    #[serde(default, with = "humane")]
    pub unique_for: Option<Duration>,
    /// Until when the unique key is held: until the job ends (`end`, the default) or only until
    /// it starts (`start`: a job enqueued while it runs is added).
    #[serde(default, skip_serializing_if = "UniqueUntil::is_end")]
    pub unique_until: UniqueUntil,
    /// A key whose jobs share a concurrency limit set on the worker. Defaults to none.
    #[serde(default)]
    pub partition_key: Option<String>,
    /// The W3C trace context the job belongs to (`00-TRACE_ID-SPAN_ID-FLAGS`). With tracing on,
    /// enqueueing starts a span under it (or under the current span, without one) and stores
    /// that span's context instead. Defaults to none.
    #[serde(default)]
    pub traceparent: Option<String>,
}

/// Until when a job's unique key is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueUntil {
    /// Until the job ends (while it is scheduled, available, running or retryable).
    #[default]
    End,
    /// Until the job starts: while it waits to run, not while it runs or waits to retry.
    Start,
}

impl UniqueUntil {
    fn is_end(&self) -> bool {
        *self == UniqueUntil::End
    }
}

/// The queue a job goes to when none is named: `default`.
pub fn default_queue() -> String {
    "default".to_owned()
}

/// The attempts a job is allowed in all when none are set: 25.
pub fn default_attempts() -> u32 {
    25
}

impl NewJob {
    /// A job of `kind` with `args`, in the default queue, to run now.
    pub fn new(kind: impl Into<String>, args: Value) -> NewJob {
        NewJob {
            kind: kind.into(),
            args,
            queue: default_queue(),
            priority: 0,
            max_attempts: default_attempts(),
            run_at: None,
            unique_key: None,
            unique_for: None,
            unique_until: UniqueUntil::End,
            partition_key: None,
            traceparent: None,
        }
    }

    /// Why a store would refuse it, if it would: a key released when the job starts cannot also
    /// be held after it succeeded.
    pub fn check(&self) -> Result<(), String> {
        if self.unique_until == UniqueUntil::Start && self.unique_for.is_some() {
            return Err(format!(
                "a `{}` job's unique key is held until it starts (unique_until: start), so it \
                 cannot be held after it succeeded too: drop unique_for or unique_until",
                self.kind
            ));
        }
        Ok(())
    }

    /// Puts it in `queue`.
    pub fn queue(mut self, queue: impl Into<String>) -> NewJob {
        self.queue = queue.into();
        self
    }

    /// Sets its priority (higher first).
    pub fn priority(mut self, priority: i16) -> NewJob {
        self.priority = priority;
        self
    }

    /// Allows `attempts` attempts in all.
    pub fn max_attempts(mut self, attempts: u32) -> NewJob {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Runs it at `at`.
    pub fn run_at(mut self, at: DateTime<Utc>) -> NewJob {
        self.run_at = Some(at);
        self
    }

    /// Runs it after `delay`.
    pub fn run_in(self, delay: Duration) -> NewJob {
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        self.run_at(at)
    }

    /// Makes it unique by `key` while pending.
    pub fn unique_key(mut self, key: impl Into<String>) -> NewJob {
        self.unique_key = Some(key.into());
        self
    }

    /// Keeps its unique key held for `period` after it succeeded: an enqueue with the key
    /// within that time returns it instead of adding a job.
    pub fn unique_for(mut self, period: Duration) -> NewJob {
        self.unique_for = Some(period);
        self
    }

    /// Holds its unique key only until it starts, not until it ends: an enqueue with the key
    /// while it runs adds a job.
    pub fn unique_until(mut self, until: UniqueUntil) -> NewJob {
        self.unique_until = until;
        self
    }

    /// Puts it in a concurrency partition.
    pub fn partition_key(mut self, key: impl Into<String>) -> NewJob {
        self.partition_key = Some(key.into());
        self
    }

    /// Makes it part of the trace `traceparent` names (a W3C `traceparent`).
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> NewJob {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// The state it starts in at `now`.
    pub fn initial_state(&self, now: DateTime<Utc>) -> JobState {
        match self.run_at {
            Some(at) if at > now => JobState::Scheduled,
            _ => JobState::Available,
        }
    }
}

/// Durations as people write them (`90s`, `1h`), for `unique_for`.
mod humane {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_str(&humantime::format_duration(*d).to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                humantime::parse_duration(&text).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not a duration ({e}); write one such as `90s` or `1h`"
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_their_names() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        assert!(
            "done"
                .parse::<JobState>()
                .expect_err("not a state")
                .contains("expected one of blocked, scheduled")
        );
    }

    #[test]
    fn new_jobs_start_scheduled_only_in_the_future() {
        let now = Utc::now();
        let job = NewJob::new("k", Value::Null);
        assert_eq!(job.initial_state(now), JobState::Available);
        let later = job.run_in(Duration::from_secs(60));
        assert_eq!(later.initial_state(now), JobState::Scheduled);
    }

    #[test]
    fn new_jobs_read_from_json_with_defaults() {
        let job: NewJob =
            serde_json::from_str(r#"{"kind": "email", "args": {"to": "a@b"}}"#).expect("json");
        assert_eq!(
            (job.queue.as_str(), job.max_attempts, job.priority),
            ("default", 25, 0)
        );
        let err =
            serde_json::from_str::<NewJob>(r#"{"kind": "x", "retries": 3}"#).expect_err("unknown");
        assert!(err.to_string().contains("unknown field `retries`"), "{err}");
    }
}
