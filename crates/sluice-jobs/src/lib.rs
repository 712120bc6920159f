//! Durable background jobs for Sluice.
//!
//! A job is a kind, JSON arguments and a queue, kept in a [`Store`] (SQLite by default,
//! PostgreSQL or Redis when workers span machines) until a [`Worker`] has run it. Workers claim
//! jobs under short leases renewed by heartbeat, retry failures with backoff, move jobs that
//! run out of attempts to `dead`, fire cron schedules once per tick, and prune finished jobs.
//!
//! ```no_run
//! use std::time::Duration;
//! use sluice_jobs::{Action, NewJob, Worker, store};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = store::open("sqlite://jobs.db").await?;
//! store.migrate().await?;
//! store.enqueue(vec![NewJob::new("greet", serde_json::json!({"name": "Ada"}))]).await?;
//!
//! let worker = Worker::builder(store)
//!     .handler("greet", |job: sluice_jobs::JobContext| async move {
//!         println!("hello, {}", job.args()["name"]);
//!         Ok(Action::Complete)
//!     })
//!     .build()?;
//! // Work for a minute, then stop gracefully (finish or release running jobs).
//! let report = worker.run_until(tokio::time::sleep(Duration::from_secs(60))).await;
//! println!("{} jobs succeeded", report.succeeded);
//! # Ok(())
//! # }
//! ```

pub mod batch;
pub mod clock;
pub mod handlers;
pub mod job;
pub mod metrics;
pub mod schedule;
pub mod store;
mod trace;
pub mod worker;
pub mod workflow;

pub use clock::{Clock, ManualClock, SystemClock};
pub use job::{AttemptError, DependencyFailure, Job, JobId, JobState, NewJob, Step, UniqueUntil};
pub use schedule::Schedule;
pub use store::{Enqueued, Store, StoreError};
pub use worker::{
    Action, HandlerError, JobContext, QueueConfig, Retention, Worker, WorkerBuilder, WorkerReport,
};
pub use workflow::{EnqueuedWorkflow, Workflow, WorkflowStep};
