//! apalis 1.0, the Rust job library, measured by the harness Sluice's own job bench uses
//! (`crates/sluice-jobs/benches/harness`): inserts/s, jobs worked/s by PROCESSES processes and
//! p50/p99 pickup of an idle worker, on PostgreSQL or SQLite.
//!
//! Its settings, from its documentation and examples: jobs fetched in batches of APALIS_BATCH
//! (`Config::batch_size`, default here 500; its own default is 10 and its basic example uses
//! 100; on this machine PostgreSQL works 856 jobs/s with 10, 6,500 with 100 and 12,700 with
//! 500, and SQLite about 400 with any of them), handlers
//! run in parallel on tokio tasks (`parallelize(tokio::spawn)`) up to CONCURRENCY at once
//! (`concurrency`), and idle workers woken as jobs arrive (`with_pubsub` on PostgreSQL,
//! `with_callback` on SQLite) rather than by polling.
//!
//! ```text
//! cargo run --release --manifest-path bench/peers/apalis/Cargo.toml -- postgres://…
//! cargo run --release --manifest-path bench/peers/apalis/Cargo.toml -- sqlite:///tmp/apalis.db
//! ```
//! Prints one line: `variant=apalis_STORE processes=… inserts_per_s=… items_per_s=… …`.

#[path = "../../../../crates/sluice-jobs/benches/harness/mod.rs"]
mod harness;

use std::sync::OnceLock;

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use apalis_sqlite::callback::HookCallbackListener;
use harness::{Engine, Error, Settings, Tally};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A no-op job's arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    i: Option<u32>,
    sent_us: Option<u64>,
}

/// Where the handler counts jobs (a handler of apalis is a plain function).
static TALLY: OnceLock<Tally> = OnceLock::new();

async fn noop(job: Noop) -> Result<(), BoxDynError> {
    if let Some(tally) = TALLY.get() {
        tally.handled(job.sent_us);
    }
    Ok(())
}

/// The queue every process uses.
const QUEUE: &str = "noop";

/// The two stores apalis is measured on.
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool, Option<HookCallbackListener>),
}

/// A running worker: what stops it, and its task.
type Running = (oneshot::Sender<()>, JoinHandle<Result<(), WorkerError>>);

/// apalis on one store, and its worker while it runs.
struct Apalis {
    pool: Pool,
    concurrency: usize,
    running: Option<Running>,
}

impl Apalis {
    fn postgres_config(&self) -> apalis_postgres::Config {
        apalis_postgres::Config::default()
            .queue(QUEUE)
            .batch_size(harness::setting("APALIS_BATCH", 500))
    }

    fn sqlite_config(&self) -> apalis_sqlite::Config {
        apalis_sqlite::Config::default()
            .queue(QUEUE)
            .batch_size(harness::setting("APALIS_BATCH", 500))
    }

    async fn push(&self, jobs: Vec<Noop>) -> Result<(), Error> {
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut storage = PostgresStorage::new(pool).with_config(self.postgres_config());
                storage.push_bulk(jobs).await?;
            }
            Pool::Sqlite(pool, _) => {
                let mut storage = SqliteStorage::new(pool).with_config(self.sqlite_config());
                storage.push_bulk(jobs).await?;
            }
        }
        Ok(())
    }
}

impl Engine for Apalis {
    async fn insert_batch(&mut self) -> Result<(), Error> {
        let batch = (0..1000)
            .map(|i| Noop {
                i: Some(i),
                sent_us: None,
            })
            .collect();
        self.push(batch).await
    }

    async fn start(&mut self, tally: Tally) -> Result<(), Error> {
        TALLY.set(tally).map_err(|_| "started twice")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async move {
            let _ = stopped.await;
            Ok::<(), std::io::Error>(())
        };
        let name = format!("bench-{}", std::process::id());
        let concurrency = self.concurrency;
        // One worker for either store's backend (their types differ).
        macro_rules! spawn_worker {
            ($backend:expr) => {
                tokio::spawn(
                    WorkerBuilder::new(name)
                        .backend($backend)
                        .parallelize(tokio::spawn)
                        .concurrency(concurrency)
                        .build(noop)
                        .run_until(signal),
                )
            };
        }
        let running = match &mut self.pool {
            Pool::Postgres(pool) => spawn_worker!(
                PostgresStorage::new(pool)
                    .with_config(self.postgres_config())
                    .with_pubsub()
            ),
            Pool::Sqlite(pool, callback) => {
                let callback = callback.take().ok_or("started twice")?;
                spawn_worker!(
                    SqliteStorage::new(pool)
                        .with_config(self.sqlite_config())
                        .with_callback(callback)
                )
            }
        };
        self.running = Some((stop, running));
        Ok(())
    }

    async fn send(&mut self, sent_us: u64) -> Result<(), Error> {
        self.push(vec![Noop {
            i: None,
            sent_us: Some(sent_us),
        }])
        .await
    }

    async fn halt(&mut self) -> Result<(), Error> {
        if let Some((stop, running)) = self.running.take() {
            let _ = stop.send(());
            running.await??;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: apalis-peer postgres://… | sqlite://PATH")?;
    let settings = Settings::from_env();
    let (pool, store) = if url.starts_with("sqlite://") {
        let (pool, callback) = SqliteStorage::connect_with_callback(&format!("{url}?mode=rwc"))?;
        SqliteStorage::setup(&pool).await?;
        (Pool::Sqlite(pool, Some(callback)), "sqlite")
    } else {
        let pool = PgPool::connect(&url).await?;
        PostgresStorage::setup(&pool).await?;
        if !settings.helper {
            sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
                .bind(QUEUE)
                .execute(&pool)
                .await?;
        }
        (Pool::Postgres(pool), "postgres")
    };
    let mut engine = Apalis {
        pool,
        concurrency: settings.concurrency,
        running: None,
    };
    if let Some(figures) = harness::run(&mut engine, &settings).await? {
        println!("{}", figures.line(&format!("apalis_{store}"), &settings));
    }
    Ok(())
}
