//! What a handler is given and what it may answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use sluice_core::BoxError;
use sluice_core::policy::Backoff;
use tokio_util::sync::CancellationToken;

use crate::job::Job;
use crate::store::{Store, StoreError};

/// Why a handler failed: any error. The worker records its text (with its sources) on the job
/// and retries the job after the kind's backoff while attempts remain.
pub type HandlerError = BoxError;

/// What a handler asks of the worker when it returns without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The job is done.
    Complete,
    /// The job is done, with this result: kept with the job ([`Job::result`]) for whoever
    /// awaits it, `sluice jobs show` and the console. A result over the worker's
    /// [`max_result_size`](crate::WorkerBuilder::max_result_size) fails the attempt instead.
    ///
    /// [`Job::result`]: crate::Job::result
    CompleteWith(serde_json::Value),
    /// This attempt failed; run the job again after this delay (if attempts remain).
    RetryAfter(Duration),
    /// Run the job again after this delay without counting this attempt (waiting on something
    /// outside).
    Snooze(Duration),
    /// Stop the job for good: it is cancelled, with this reason.
    Cancel(String),
}

/// A running job, as its handler sees it.
#[derive(Clone)]
pub struct JobContext {
    job: Arc<Job>,
    store: Arc<dyn Store>,
    cancel: CancellationToken,
    traceparent: Option<String>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.job)
            .field("store", &self.store.kind())
            .field("cancelled", &self.cancel.is_cancelled())
            .field("traceparent", &self.traceparent)
            .finish()
    }
}

impl JobContext {
    pub(crate) fn new(
        job: Arc<Job>,
        store: Arc<dyn Store>,
        cancel: CancellationToken,
        traceparent: Option<String>,
    ) -> JobContext {
        JobContext {
            job,
            store,
            cancel,
            traceparent,
        }
    }

    /// The results of the jobs this workflow step depends on, by step name: each one's
    /// [`Action::CompleteWith`] value, `null` for one that returned none, or ended without
    /// succeeding (a step that [runs on dependency failure](crate::DependencyFailure::Run)).
    /// A dependency pruned or deleted as it ended (its queue keeps no succeeded jobs) is left
    /// out. Empty for a job that is not a step.
    pub async fn dependency_results(&self) -> Result<BTreeMap<String, Value>, StoreError> {
        let mut results = BTreeMap::new();
        let Some(step) = &self.job.step else {
            return Ok(results);
        };
        for &id in &step.depends_on {
            if let Some(job) = self.store.get(id).await? {
                let name = job.step.map_or_else(|| id.to_string(), |s| s.name);
                results.insert(name, job.result.unwrap_or(Value::Null));
            }
        }
        Ok(results)
    }

    /// The W3C `traceparent` of this attempt's span, to pass on to what the handler calls so
    /// that its work joins the trace; `None` while tracing is off.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// The job's arguments.
    pub fn args(&self) -> &Value {
        &self.job.args
    }

    /// The job (its id, attempt, errors of earlier attempts, …).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Resolves when the handler should stop: the job was cancelled, timed out, lost its lease
    /// or the worker is shutting down. Handlers that run long should select on it; the worker
    /// drops those that do not at their next `.await`.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Whether the handler should stop (see [`JobContext::cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Runs jobs of one kind.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt of a job.
    fn run(&self, job: JobContext) -> BoxFuture<'static, Result<Action, HandlerError>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, HandlerError>> + Send + 'static,
{
    fn run(&self, job: JobContext) -> BoxFuture<'static, Result<Action, HandlerError>> {
        Box::pin(self(job))
    }
}

/// How jobs of one kind are run.
#[derive(Debug, Clone)]
pub struct KindConfig {
    /// Delays between attempts. Defaults to exponential from 1 s, doubling up to 1 hour, with
    /// equal jitter (half the delay, plus up to the other half).
    pub backoff: Backoff,
    /// Fails an attempt that runs longer. Defaults to none.
    pub timeout: Option<Duration>,
    /// Caps the attempts of this kind below what jobs were enqueued with. Defaults to none.
    pub max_attempts: Option<u32>,
}

impl Default for KindConfig {
    fn default() -> Self {
        KindConfig {
            backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(3600))
                .jitter(sluice_core::policy::Jitter::Equal),
            timeout: None,
            max_attempts: None,
        }
    }
}
