//! The SQLite store: one file, no server, created and migrated on first use.
//!
//! The file is in WAL mode with `synchronous = NORMAL`: a committed job survives the crash or
//! kill of any process (not the loss of power of the machine). Writers take the write lock at
//! the start of their transaction (`BEGIN IMMEDIATE`), so several processes (a worker and
//! `sluice jobs enqueue`, say) share the file and wait for each other instead of failing.
//! Waiting workers learn of other processes' commits from `PRAGMA data_version`, and of their
//! own process's at once.

mod batches;
mod claim;
mod registry;
mod rows;
mod settle;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row, Sqlite};
use tokio::sync::{Mutex, Notify};

use super::error::StoreError;
use super::params::{
    ArgsMatch, Cancelled, ClaimParams, Completion, Enqueued, FireParams, Heartbeat,
    HeartbeatParams, ListParams, PruneParams, QueueStats, RetryParams,
};
use super::params::{LEASE_EXPIRED, completion_rows};
use super::roles::{Admin, Maintenance, Queue, Store};
use super::sql::{self, migrate};
use crate::batch::{Batch, BatchId, BatchStatus, EnqueuedBatch};
use crate::clock::{Clock, SystemClock, after, millis};
use crate::job::{Job, JobId, JobState, NewJob};
use crate::workflow::Graph;
use rows::{insert, job};
use settle::Settlement;

/// How often a waiting worker looks for other processes' commits.
const WATCH_INTERVAL: Duration = Duration::from_millis(5);

/// How listings filter on a value inside the args.
const ARGS_FILTER: sql::read::ArgsFilter = sql::read::ArgsFilter {
    condition: "json_type(args, {path}) IS json_type({value}, '$') AND json_extract(args, {path}) IS json_extract({value}, '$')",
    path: ArgsMatch::sqlite_path,
};

/// Jobs kept in one file. See the [module docs](self).
pub struct SqliteStore {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    enqueued: Notify,
    watcher: Mutex<Watcher>,
    promotions: sql::Promotions,
}

/// A connection that reads `PRAGMA data_version`, which changes when another connection
/// commits, and the version each waiting queue last saw.
struct Watcher {
    conn: SqliteConnection,
    seen: HashMap<String, i64>,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`: `sqlite://PATH` or
    /// `sqlite::memory:` (for tests; one connection).
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let address = |reason: String| StoreError::Address {
            url: url.to_owned(),
            reason,
        };
        let options: SqliteConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| address(e.to_string()))?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory");
        let memory = url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .min_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        let conn = if memory {
            pool.acquire().await.map_err(sql::error)?.detach()
        } else {
            options.connect().await.map_err(sql::error)?
        };
        let store = SqliteStore {
            pool,
            clock: Arc::new(SystemClock),
            enqueued: Notify::new(),
            watcher: Mutex::new(Watcher {
                conn,
                seen: HashMap::new(),
            }),
            promotions: sql::Promotions::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Reads the time from `clock` (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> SqliteStore {
        self.clock = clock;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether anything was committed since `queue` last asked.
    async fn data_changed(&self, queue: &str) -> bool {
        let mut watcher = self.watcher.lock().await;
        let Ok(version) = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut watcher.conn)
            .await
        else {
            return true;
        };
        watcher
            .seen
            .insert(queue.to_owned(), version)
            .is_some_and(|seen| seen != version)
    }
}

#[async_trait]
impl Queue for SqliteStore {
    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = write(&self.pool).await?;
        let results = insert(&mut tx, jobs, self.now(), None).await?;
        tx.commit().await.map_err(sql::error)?;
        self.enqueued.notify_waiters();
        Ok(results)
    }

    async fn insert_workflow(&self, graph: &Graph) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let mut tx = write(&self.pool).await?;
        let ids = rows::insert_workflow(&mut tx, graph, now).await?;
        tx.commit().await.map_err(sql::error)?;
        self.enqueued.notify_waiters();
        Ok(ids)
    }

    async fn insert_batch(&self, batch: &Batch) -> Result<EnqueuedBatch, StoreError> {
        let enqueued = batches::insert(&self.pool, batch, self.now()).await?;
        self.enqueued.notify_waiters();
        Ok(enqueued)
    }

    async fn insert_into_batch(
        &self,
        batch: BatchId,
        jobs: &[NewJob],
    ) -> Result<Vec<JobId>, StoreError> {
        let added = batches::add(&self.pool, batch, jobs, self.now()).await?;
        self.enqueued.notify_waiters();
        Ok(added)
    }

    async fn close_batch(&self, batch: BatchId) -> Result<bool, StoreError> {
        let (closed, fired) = batches::close(&self.pool, batch, self.now()).await?;
        if fired {
            self.enqueued.notify_waiters();
        }
        Ok(closed)
    }

    async fn claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let mut tx = write(&self.pool).await?;
        // Read under the write lock: claims count in windows in the order they commit, so a
        // shared rate's window never returns.
        let now = self.now();
        if self.promotions.due(&params.queue, now) {
            sqlx::query(include_str!("queries/promote.sql"))
                .bind(&params.queue)
                .bind(millis(now))
                .execute(&mut *tx)
                .await
                .map_err(sql::error)?;
        }
        let rows = claim::claim_in(&mut tx, &params, now).await?;
        if rows.is_empty() {
            tx.rollback().await.map_err(sql::error)?;
            return Ok(Vec::new());
        }
        tx.commit().await.map_err(sql::error)?;
        let mut jobs = rows.iter().map(job).collect::<Result<Vec<_>, _>>()?;
        sql::claim_order(&mut jobs);
        Ok(jobs)
    }

    /// Completions grouped by what they do (worker, new state, run time, error, discard, result): one
    /// statement per group over its ids, usually one for a whole batch.
    async fn complete(&self, completions: Vec<Completion>) -> Result<u64, StoreError> {
        let now = self.now();
        // Completions alike are applied by one statement; each result is a group of its own.
        type Group = (
            String,
            &'static str,
            Option<i64>,
            Option<String>,
            bool,
            Option<String>,
        );
        let mut groups: HashMap<Group, Vec<JobId>> = HashMap::new();
        for row in completion_rows(completions) {
            let key = (
                row.worker,
                row.state.as_str(),
                row.run_at.map(millis),
                row.error,
                row.discard,
                row.result,
            );
            groups.entry(key).or_default().push(row.id);
        }
        let mut tx = write(&self.pool).await?;
        let mut applied = 0;
        let mut ended = Settlement::default();
        for ((worker, state, run_at, error, discard, result), ids) in groups {
            let ids = Value::from(ids).to_string();
            let statement = if discard {
                sqlx::query_as(include_str!("queries/complete_discard.sql"))
                    .bind(worker)
                    .bind(ids)
            } else {
                sqlx::query_as(include_str!("queries/complete.sql"))
                    .bind(millis(now))
                    .bind(now.to_rfc3339())
                    .bind(state)
                    .bind(run_at)
                    .bind(error)
                    .bind(worker)
                    .bind(ids)
                    .bind(result)
            };
            let rows: Vec<(Option<String>, Option<BatchId>)> =
                statement.fetch_all(&mut *tx).await.map_err(sql::error)?;
            applied += rows.len() as u64;
            for (dependents, batch) in rows {
                ended.ended(state, dependents.as_deref(), batch)?;
            }
        }
        let woken = ended.settle(&mut tx, now).await?;
        tx.commit().await.map_err(sql::error)?;
        if woken {
            self.enqueued.notify_waiters();
        }
        Ok(applied)
    }

    async fn heartbeat(&self, params: HeartbeatParams<'_>) -> Result<Heartbeat, StoreError> {
        let HeartbeatParams { worker, ids, lease } = params;
        if ids.is_empty() {
            return Ok(Heartbeat::default());
        }
        let rows = sqlx::query(include_str!("queries/heartbeat.sql"))
            .bind(millis(after(self.now(), lease)))
            .bind(Value::from(ids.to_vec()).to_string())
            .bind(worker)
            .fetch_all(&self.pool)
            .await
            .map_err(sql::error)?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("cancel_requested")?)))
            .collect::<Result<Heartbeat, sqlx::Error>>()
            .map_err(sql::error)
    }

    async fn wait(&self, queue: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.enqueued.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.data_changed(queue).await || tokio::time::Instant::now() >= deadline {
                return;
            }
            let nap =
                WATCH_INTERVAL.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            tokio::select! {
                () = changed => return,
                () = tokio::time::sleep(nap) => {}
            }
        }
    }
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn rescue(&self) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let mut tx = write(&self.pool).await?;
        let rows: Vec<(i64, String, Option<String>, Option<BatchId>)> =
            sqlx::query_as(include_str!("queries/rescue.sql"))
                .bind(millis(now))
                .bind(now.to_rfc3339())
                .bind(LEASE_EXPIRED)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql::error)?;
        let mut ended = Settlement::default();
        let mut ids = Vec::with_capacity(rows.len());
        for (id, state, dependents, batch) in rows {
            ended.ended(&state, dependents.as_deref(), batch)?;
            ids.push(id);
        }
        let woken = ended.settle(&mut tx, now).await?;
        tx.commit().await.map_err(sql::error)?;
        if woken {
            self.enqueued.notify_waiters();
        }
        ids.sort_unstable();
        Ok(ids)
    }

    async fn fire(&self, params: FireParams) -> Result<Option<Enqueued>, StoreError> {
        let FireParams { name, tick, job } = params;
        let mut tx = write(&self.pool).await?;
        let advanced = sqlx::query(include_str!("queries/fire.sql"))
            .bind(&name)
            .bind(millis(tick))
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        if advanced.rows_affected() == 0 {
            return Ok(None);
        }
        let enqueued = insert(&mut tx, &[job], self.now(), None).await?;
        tx.commit().await.map_err(sql::error)?;
        self.enqueued.notify_waiters();
        Ok(enqueued.first().copied())
    }

    async fn prune(&self, params: PruneParams) -> Result<u64, StoreError> {
        let states = params.final_states();
        let result = sqlx::query(include_str!("queries/prune.sql"))
            .bind(serde_json::to_string(&states).unwrap_or_default())
            .bind(millis(params.finished_before))
            .bind(params.queue)
            .bind(i64::from(params.limit))
            .bind(params.kind)
            .bind(serde_json::to_string(&params.except_kinds).unwrap_or_default())
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(result.rows_affected())
    }

    async fn prune_batches(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(include_str!("queries/batch_prune.sql"))
            .bind(millis(finished_before))
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl Admin for SqliteStore {
    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        sql::read::get(&self.pool, include_str!("queries/get.sql"), id, job).await
    }

    async fn list(&self, params: ListParams) -> Result<Vec<Job>, StoreError> {
        sql::read::list(&self.pool, &ARGS_FILTER, params, job).await
    }

    async fn batch(&self, id: BatchId) -> Result<Option<BatchStatus>, StoreError> {
        batches::get(&self.pool, id).await
    }

    async fn batches(&self, limit: u32) -> Result<Vec<BatchStatus>, StoreError> {
        batches::list(&self.pool, limit).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        sql::read::stats(&self.pool, include_str!("queries/stats.sql")).await
    }

    async fn pending_stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        sql::read::stats(&self.pool, include_str!("queries/pending_stats.sql")).await
    }

    async fn retry(&self, params: RetryParams) -> Result<u64, StoreError> {
        let (ids, queue, all_dead) = match params {
            RetryParams::Ids(ids) => (Some(Value::from(ids).to_string()), None, false),
            RetryParams::AllDead { queue } => (None, queue, true),
        };
        let result = sqlx::query(include_str!("queries/retry.sql"))
            .bind(millis(self.now()))
            .bind(ids)
            .bind(all_dead)
            .bind(queue)
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        if result.rows_affected() > 0 {
            self.enqueued.notify_waiters();
        }
        Ok(result.rows_affected())
    }

    async fn cancel(&self, ids: &[JobId]) -> Result<Vec<(JobId, Cancelled)>, StoreError> {
        let now = self.now();
        let mut tx = write(&self.pool).await?;
        let mut results = Vec::with_capacity(ids.len());
        let mut ended = Settlement::default();
        for &id in ids {
            let cancelled: Option<(Option<String>, Option<BatchId>)> =
                sqlx::query_as(include_str!("queries/cancel.sql"))
                    .bind(millis(now))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(sql::error)?;
            let outcome = if let Some((dependents, batch)) = cancelled {
                ended.ended(JobState::Cancelled.as_str(), dependents.as_deref(), batch)?;
                Cancelled::Cancelled
            } else {
                let requested = sqlx::query(include_str!("queries/cancel_running.sql"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql::error)?;
                if requested.rows_affected() > 0 {
                    Cancelled::Requested
                } else {
                    Cancelled::NotPending
                }
            };
            results.push((id, outcome));
        }
        let woken = ended.settle(&mut tx, now).await?;
        tx.commit().await.map_err(sql::error)?;
        if woken {
            self.enqueued.notify_waiters();
        }
        Ok(results)
    }

    async fn discard(&self, ids: &[JobId]) -> Result<u64, StoreError> {
        let result = sqlx::query(include_str!("queries/discard.sql"))
            .bind(Value::from(ids.to_vec()).to_string())
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    /// One writer at a time: a second claim would only wait for the first.
    fn concurrent_claims(&self) -> bool {
        false
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = write(&self.pool).await?;
        migrate::apply::<Sqlite>(&mut tx, migrate::SQLITE).await?;
        tx.commit().await.map_err(sql::error)
    }
}

/// Begins a write transaction that takes the file's write lock at once (`BEGIN IMMEDIATE`), so
/// that it never fails later on upgrading a read lock another writer holds.
async fn write(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql::error)
}
