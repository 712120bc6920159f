//! Pipelines and jobs together: the `jobs` sink turns each event into a durable job in a job
//! store (SQLite, PostgreSQL or Redis: the stores of `sluice-jobs`), through the store's public
//! API.

mod sink;

pub use sink::JobsSink;

/// The store a `jobs` component uses when it names none: the one `sluice jobs` and `sluice
/// worker` use by default.
fn default_store() -> String {
    "sqlite://sluice-jobs.db".to_owned()
}
