//! Batches: a set of jobs with callbacks enqueued exactly once when the set is done.
//!
//! A batch counts its jobs as they end, in the same transaction (or Redis script) as each end.
//! Once it is closed and every job has ended, the end (or the close) that finds it so enqueues
//! its callbacks, under the batch's row lock: `on_complete` always, `on_success` when every job
//! succeeded. So they run once, never while jobs may still be added, and never twice however
//! many jobs end at the same instant. A batch enqueued open takes more jobs
//! ([`Queue::add_to_batch`](crate::store::Queue::add_to_batch)) until it is closed.
//!
//! ```no_run
//! use serde_json::json;
//! use sluice_jobs::batch::Batch;
//! use sluice_jobs::{NewJob, store};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = store::open("sqlite://jobs.db").await?;
//! let emails = (0..100).map(|i| NewJob::new("email", json!({"user": i}))).collect();
//! let batch = Batch::new(emails).on_complete(NewJob::new("report", json!({"campaign": 7})));
//! let enqueued = store.enqueue_batch(batch).await?;
//! // Later: how far it is.
//! if let Some(status) = store.batch(enqueued.id).await? {
//!     println!("{} of {} done", status.ended, status.total);
//! }
//! # Ok(())
//! # }
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::job::BatchId;
use crate::job::{JobId, NewJob};

/// A batch to enqueue: its jobs and callbacks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// What it is, for the people who look at it.
    #[serde(default)]
    pub description: Option<String>,
    /// Its jobs.
    #[serde(default)]
    pub jobs: Vec<NewJob>,
    /// Enqueued once every job has succeeded.
    #[serde(default)]
    pub on_success: Option<NewJob>,
    /// Enqueued once every job has ended (succeeded, dead or cancelled).
    #[serde(default)]
    pub on_complete: Option<NewJob>,
    /// Whether it stays open for more jobs, until closed.
    #[serde(default)]
    pub open: bool,
}

impl Batch {
    /// A closed batch of `jobs` without callbacks yet.
    pub fn new(jobs: Vec<NewJob>) -> Batch {
        Batch {
            jobs,
            ..Batch::default()
        }
    }

    /// Says what it is.
    pub fn description(mut self, text: impl Into<String>) -> Batch {
        self.description = Some(text.into());
        self
    }

    /// Enqueues `job` once every job has succeeded.
    pub fn on_success(mut self, job: NewJob) -> Batch {
        self.on_success = Some(job);
        self
    }

    /// Enqueues `job` once every job has ended.
    pub fn on_complete(mut self, job: NewJob) -> Batch {
        self.on_complete = Some(job);
        self
    }

    /// Keeps it open: more jobs may be added until it is closed.
    pub fn open(mut self) -> Batch {
        self.open = true;
        self
    }

    /// Checks what a store cannot take: jobs with unique keys (a duplicate would not be a
    /// member), callbacks with a time to run or args other than an object without `batch` (a
    /// callback runs when the batch is done, and its args gain the batch's id as `batch`), a
    /// closed batch without jobs.
    pub fn check(&self) -> Result<(), String> {
        if self.jobs.is_empty() && !self.open {
            return Err("a closed batch needs at least one job (or enqueue it open)".to_owned());
        }
        check_members(&self.jobs)?;
        for (name, callback) in [
            ("on_success", &self.on_success),
            ("on_complete", &self.on_complete),
        ] {
            let Some(job) = callback else { continue };
            if job.run_at.is_some() || job.unique_key.is_some() {
                return Err(format!(
                    "`{name}` has a run time or a unique key; a callback runs once, when the \
                     batch is done"
                ));
            }
            let keyed = job
                .args
                .as_object()
                .is_some_and(|a| a.contains_key("batch"));
            if !(job.args.is_null() || job.args.is_object()) || keyed {
                return Err(format!(
                    "`{name}`'s args must be an object without a `batch` key (or null): the \
                     callback finds the batch's id there"
                ));
            }
        }
        Ok(())
    }
}

/// Checks jobs for a batch: none with a unique key.
pub(crate) fn check_members(jobs: &[NewJob]) -> Result<(), String> {
    if jobs.iter().any(|j| j.unique_key.is_some()) {
        return Err(
            "a batch's jobs cannot have unique keys: a duplicate would not be one of them"
                .to_owned(),
        );
    }
    Ok(())
}

/// Why jobs cannot be added to batch `batch`: it is closed, or unknown.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn not_open(batch: BatchId) -> String {
    format!("batch {batch} is closed or does not exist: jobs are added only to an open batch")
}

/// A callback as enqueued when its batch is done: its args with the batch's id as `batch`.
pub fn callback_args(args: &Value, batch: BatchId) -> Value {
    let mut fields = args.as_object().cloned().unwrap_or_else(Map::new);
    fields.insert("batch".to_owned(), Value::from(batch));
    Value::Object(fields)
}

/// A batch as enqueued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueuedBatch {
    /// Its id.
    pub id: BatchId,
    /// Its jobs' ids, in order.
    pub jobs: Vec<JobId>,
}

/// How far a batch is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStatus {
    /// Its id.
    pub id: BatchId,
    /// What it is.
    pub description: Option<String>,
    /// Its jobs so far.
    pub total: u64,
    /// How many of them have ended (succeeded, dead or cancelled).
    pub ended: u64,
    /// How many of them succeeded.
    pub succeeded: u64,
    /// Whether it takes more jobs.
    pub open: bool,
    /// Whether it has an `on_success` callback, and an `on_complete` one.
    pub callbacks: Callbacks,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it was done (closed, every job ended) and its callbacks were enqueued.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A batch's callbacks: whether it has each, and the job enqueued for it once done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callbacks {
    /// Whether it has an `on_success` callback.
    pub on_success: bool,
    /// Whether it has an `on_complete` callback.
    pub on_complete: bool,
    /// The callbacks enqueued when it was done (none if it is not, or had none that applied).
    pub enqueued: Vec<JobId>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn callbacks_must_be_able_to_take_the_batch_id() {
        let job = || NewJob::new("k", Value::Null);
        assert!(Batch::new(vec![job()]).check().is_ok());
        assert!(Batch::new(Vec::new()).check().is_err());
        assert!(Batch::new(Vec::new()).open().check().is_ok());
        let keyed = Batch::new(vec![job().unique_key("u")]);
        assert!(keyed.check().expect_err("unique").contains("unique keys"));
        let listy = Batch::new(vec![job()]).on_success(NewJob::new("cb", json!([1])));
        assert!(
            listy
                .check()
                .expect_err("args")
                .contains("must be an object")
        );
        let later =
            Batch::new(vec![job()]).on_complete(job().run_in(std::time::Duration::from_secs(60)));
        assert!(later.check().expect_err("run_at").contains("run time"));
        assert_eq!(
            callback_args(&json!({"campaign": 7}), 12),
            json!({"campaign": 7, "batch": 12})
        );
        assert_eq!(callback_args(&Value::Null, 3), json!({"batch": 3}));
    }
}
