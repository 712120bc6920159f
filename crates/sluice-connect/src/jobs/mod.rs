//! Pipelines and jobs together, through the job store's public API (SQLite, PostgreSQL or
//! Redis: the stores of `sluice-jobs`): the `jobs` sink turns each event into a durable job, and
//! the `jobs` source turns a queue's jobs into events, each job ending with its event.

mod sink;
mod source;

pub use sink::JobsSink;
pub use source::JobsSource;

/// The store a `jobs` component uses when it names none: the one `sluice jobs` and `sluice
/// worker` use by default.
fn default_store() -> String {
    "sqlite://sluice-jobs.db".to_owned()
}
