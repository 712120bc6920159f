//! The `jobs` sink: each event becomes a job of one kind, its args the event, in batches.
//!
//! A batch is enqueued by one store call: one transaction on PostgreSQL and SQLite, one script
//! per 1,000 jobs on Redis. Its events are acknowledged once the call returned, so a job exists
//! for every acknowledged event; a batch that failed is retried under the sink's retry policy
//! (on Redis, a batch of more than 1,000 that failed halfway may then enqueue its first jobs
//! twice; a `unique_key` makes the retry find them). An event whose key expression fails goes to
//! the error output with the reason. With tracing on, each job joins its event's trace.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BoxError, Flow, WriteError};
use sluice_event::Event;
use sluice_jobs::store::{self, StoreError};
use sluice_jobs::{NewJob, Store};
use sluice_jq::Program;

use crate::component::sink::attach;
use crate::component::{BuiltSink, OptionError, Sink, SinkContext};

/// Enqueues each event as a job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSink {
    /// The job store: `sqlite://PATH`, `postgres://…` or `redis://…`. Defaults to
    /// `sqlite://sluice-jobs.db`, the store `sluice jobs` and `sluice worker` use by default.
    #[serde(default = "super::default_store")]
    pub store: String,
    /// The kind of job each event becomes (which handler runs it).
    pub kind: String,
    /// The queue. Defaults to `default`.
    #[serde(default = "sluice_jobs::job::default_queue")]
    pub queue: String,
    /// Higher runs first. Defaults to 0.
    #[serde(default)]
    pub priority: i16,
    /// Attempts allowed in all. Defaults to 25.
    #[serde(default = "sluice_jobs::job::default_attempts")]
    pub max_attempts: u32,
    /// A jq expression giving the job's unique key, such as `.order_id`: an event whose key a
    /// pending job holds adds no job (and is acknowledged). Defaults to none.
    #[serde(default)]
    pub unique_key: Option<Program>,
    /// A jq expression giving the job's partition key (a tenant, say), whose jobs share the
    /// queue's partition limit. Defaults to none.
    #[serde(default)]
    pub partition_key: Option<Program>,
}

impl JobsSink {
    /// The job `event` becomes, or why it cannot become one.
    fn job(&self, event: &Event) -> Result<NewJob, String> {
        let mut job = NewJob::new(self.kind.clone(), event.value().clone())
            .queue(self.queue.clone())
            .priority(self.priority)
            .max_attempts(self.max_attempts);
        if let Some(key) = key(self.unique_key.as_ref(), event)? {
            job = job.unique_key(key);
        }
        if let Some(key) = key(self.partition_key.as_ref(), event)? {
            job = job.partition_key(key);
        }
        if let Some(traceparent) = event.traceparent() {
            job = job.traceparent(traceparent);
        }
        Ok(job)
    }
}

/// The key `program` gives for `event`: its first output, a string as it is and anything else
/// as JSON; none for no output or `null`.
fn key(program: Option<&Program>, event: &Event) -> Result<Option<String>, String> {
    let Some(program) = program else {
        return Ok(None);
    };
    let outputs = program
        .outputs(event)
        .map_err(|e| format!("the key `{}` failed: {e}", program.code()))?;
    Ok(match outputs.into_iter().next() {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(other) => Some(other.to_string()),
    })
}

/// The sink's writer: opens (and migrates) the store on its first batch, and again after
/// losing it.
struct Enqueuer {
    config: JobsSink,
    store: Option<Arc<dyn Store>>,
}

impl Enqueuer {
    async fn store(&mut self) -> Result<Arc<dyn Store>, WriteError> {
        if let Some(store) = &self.store {
            return Ok(store.clone());
        }
        let opened = store::open(&self.config.store)
            .await
            .map_err(|e| WriteError::Batch(e.into()))?;
        opened
            .migrate()
            .await
            .map_err(|e| WriteError::Batch(e.into()))?;
        Ok(self.store.insert(opened).clone())
    }
}

impl sluice_core::Sink<Event> for Enqueuer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let store = self.store().await?;
        let mut jobs = Vec::with_capacity(events.len());
        let mut refused: Vec<(usize, BoxError)> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match self.config.job(event) {
                Ok(job) => jobs.push(job),
                Err(reason) => refused.push((index, reason.into())),
            }
        }
        if !jobs.is_empty() {
            match store.enqueue(jobs).await {
                Ok(_) => {}
                Err(StoreError::Rejected(reason)) => {
                    return Err(WriteError::refused(events.len(), reason));
                }
                Err(err) => {
                    if matches!(err, StoreError::Unavailable(_)) {
                        self.store = None;
                    }
                    return Err(WriteError::Batch(err.into()));
                }
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Items(refused))
        }
    }
}

impl Sink for JobsSink {
    fn check(&self) -> Vec<OptionError> {
        let mut problems = Vec::new();
        if self.kind.trim().is_empty() {
            problems.push(OptionError::new(
                "kind",
                "give the kind of job each event becomes",
            ));
        }
        if let Err(StoreError::Address { reason, .. }) = store::kind_of(&self.store) {
            problems.push(OptionError::new("store", reason));
        }
        problems
    }

    /// Attaches the sink; it opens the store on its first batch.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let enqueuer = Enqueuer {
            config: self.clone(),
            store: None,
        };
        Ok(attach(input, ctx, enqueuer))
    }
}
