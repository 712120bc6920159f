//! Durable background jobs for Sluice.
//!
//! A job is a kind, JSON arguments and a queue, kept in a [`Store`] (SQLite by default,
//! PostgreSQL or Redis when workers span machines) until a [`Worker`] has run it. Workers claim
//! jobs under short leases renewed by heartbeat, retry failures with backoff, move jobs that
//! run out of attempts to `dead`, fire cron schedules once per tick, and prune finished jobs.
//!
//! ```no_run
//! use std::sync::Arc;
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
//! worker.run_until(tokio::signal::ctrl_c()).await?;
//! # Ok(())
//! # }
//! ```

pub mod clock;
pub mod job;

mod migrate;

pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use job::{AttemptError, Job, JobId, JobState, NewJob};

pub use store::{Enqueued, Store, StoreError};
