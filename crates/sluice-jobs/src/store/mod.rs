//! Where jobs live: the store traits and their three implementations.
//!
//! - [`SqliteStore`]: one file, no server; the default.
//! - [`PostgresStore`]: shared by workers on many machines; claims with `FOR UPDATE SKIP
//!   LOCKED`, wakes workers with `LISTEN/NOTIFY`, enqueues inside the caller's transaction.
//! - [`RedisStore`]: shared through Redis; every transition is one Lua script, workers wait
//!   with blocking pops.
//!
//! Every store passes one conformance suite (`tests/conformance/`), run against each.
//!
//! # The traits
//! A store's methods are grouped by who calls them, each group a trait:
//!
//! - [`Queue`]: a job's life as producers and workers drive it: insert, claim, complete,
//!   renew leases, wait for work.
//! - [`Maintenance`]: the worker's chores: rescue jobs whose lease expired, fire schedules,
//!   prune finished jobs.
//! - [`Admin`]: what an operator does: read jobs and counts, retry, cancel, discard.
//! - [`Registry`]: what the store keeps for operators beside jobs: paused queues, the workers
//!   and their schedules, jobs ended and wait times per minute.
//! - [`Store`]: the three together, with the store's kind and schema: what `Arc<dyn Store>`
//!   holds.
//!
//! Methods are named for what they do to jobs and take parameter structs ([`params`]); every
//! one is atomic.
//!
//! # Guarantees
//! Claiming is atomic: a job is running for one worker at a time. A running job's worker holds
//! a lease it renews by heartbeat; completions are accepted only from the worker that holds the
//! lease, so a job rescued after its worker vanished is never completed by that worker when it
//! comes back. Delivery is at least once: a job whose worker dies after doing the work but
//! before completing it runs again.

mod address;
mod error;
pub mod params;
#[cfg(feature = "postgres")]
mod postgres;
pub mod rate;
#[cfg(feature = "redis")]
mod redis;
pub mod registry;
mod roles;
pub mod select;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::StoreError;
pub use params::{
    ArgsMatch, Cancelled, ClaimParams, Completion, Enqueued, FireParams, Heartbeat,
    HeartbeatParams, ListParams, Outcome, PruneParams, QueueStats, RetryParams,
};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use rate::{RateScope, SharedRate};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use roles::{Admin, Awaited, Maintenance, Queue, Registry, Store};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use std::sync::Arc;

/// Which store `url` names: `sqlite`, `postgres` or `redis`, read from its scheme without
/// opening it; an error says what is expected.
pub fn kind_of(url: &str) -> Result<&'static str, StoreError> {
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok("sqlite"),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok("postgres"),
        #[cfg(feature = "redis")]
        "redis" | "rediss" => Ok("redis"),
        _ => Err(StoreError::Address {
            url: url.to_owned(),
            reason: "expected sqlite://PATH, postgres://USER@HOST/DB or redis://HOST:PORT"
                .to_owned(),
        }),
    }
}

/// Opens the store at `url`: `sqlite://PATH` (created if missing), `postgres://…`,
/// `redis://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match kind_of(url)? {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" => Ok(Arc::new(PostgresStore::connect(url).await?)),
        #[cfg(feature = "redis")]
        "redis" => Ok(Arc::new(RedisStore::connect(url).await?)),
        kind => Err(StoreError::Address {
            url: url.to_owned(),
            reason: format!("no {kind} store in this build"),
        }),
    }
}
