//! The PostgreSQL store: shared by workers on many machines.
//!
//! - Claims are one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`: concurrent
//!   workers never wait on each other's rows, and the select reads a partial index that holds
//!   only available jobs, so millions of finished rows do not slow it.
//! - Completions of a batch are one `UPDATE … FROM unnest(…)`, guarded by `state = 'running'`
//!   and the worker's name.
//! - Enqueues of a batch are one `INSERT … SELECT FROM unnest(…)`; [`PostgresStore::enqueue_in`]
//!   enqueues inside the caller's transaction, so a job exists only if that transaction commits.
//! - Waiting workers `LISTEN sluice_jobs`; an enqueue's transaction sends one `NOTIFY` per queue when it
//!   commits (PostgreSQL folds repeats within a transaction). If the listening connection
//!   breaks, waits fall back to polling until it is back.
//! - Claims with a partition limit take a transaction-scoped advisory lock per queue, so two
//!   claimers never both see a partition below its limit.
//! - Claims under a shared rate are one call of a PL/pgSQL function that takes the queue's rate
//!   row, reads its windows, starts what they allow and counts it.
//!
//! The address may name a schema: `postgres://host/db?schema=jobs` keeps the tables there.

mod listen;

mod batches;
mod claim;
mod registry;
mod rows;
mod workflow;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Postgres};

use self::listen::Wakes;
use super::error::StoreError;
use super::params::{
    ArgsMatch, Cancelled, ClaimParams, Completion, Enqueued, FireParams, Heartbeat,
    HeartbeatParams, ListParams, PruneParams, QueueStats, RetryParams,
};
use super::params::{LEASE_EXPIRED, completion_rows};
use super::roles::{Admin, Maintenance, Queue, Store};
use super::sql::{self, migrate};
use crate::batch::{Batch, BatchId, BatchStatus, EnqueuedBatch};
use crate::clock::{Clock, SystemClock, after, period_millis};
use crate::job::{Job, JobId, NewJob, UniqueUntil};
use crate::metrics;
use crate::workflow::Graph;
use rows::job;

/// A key for the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x736c_7569_6365;

/// How listings filter on a value inside the args.
const ARGS_FILTER: sql::read::ArgsFilter = sql::read::ArgsFilter {
    condition: "args #> ARRAY(SELECT jsonb_array_elements_text({path}::text::jsonb)) = {value}::text::jsonb",
    path: ArgsMatch::json_path,
};

/// Jobs kept in PostgreSQL. See the [module docs](self).
pub struct PostgresStore {
    pool: PgPool,
    schema: String,
    /// What notifications of this schema's queues begin with: `SCHEMA:` (the queue follows).
    prefix: String,
    clock: Arc<dyn Clock>,
    promotions: sql::Promotions,
    wakes: Arc<Wakes>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER@HOST/DB[?schema=NAME]`). Run
    /// [`Store::migrate`] (or `sluice jobs migrate`) once before use.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let (url, schema) = super::address::take_param(url, "schema");
        let schema = schema.unwrap_or_else(|| "public".to_owned());
        if !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || schema.is_empty()
        {
            return Err(StoreError::Address {
                url,
                reason: format!("schema `{schema}` must be letters, digits and `_`"),
            });
        }
        let options: PgConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::Address {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let options = options.options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(PostgresStore {
            pool,
            prefix: format!("{schema}:"),
            schema,
            clock: Arc::new(SystemClock),
            promotions: sql::Promotions::default(),
            wakes: Arc::new(Wakes::default()),
        })
    }

    /// Reads the time from `clock` (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> PostgresStore {
        self.clock = clock;
        self
    }

    /// The connection pool (to open the transactions given to [`PostgresStore::enqueue_in`]).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Enqueues `jobs` on `conn`, inside whatever transaction it is in: they exist, and workers
    /// hear of them, only if that transaction commits.
    ///
    /// ```no_run
    /// # async fn demo(store: &sluice_jobs::store::PostgresStore) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = store.pool().begin().await?;
    /// sqlx::query("INSERT INTO orders (id) VALUES (42)").execute(&mut *tx).await?;
    /// store.enqueue_in(&mut tx, &[sluice_jobs::NewJob::new("ship", serde_json::json!({"order": 42}))]).await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_in(
        &self,
        conn: &mut PgConnection,
        jobs: &[NewJob],
    ) -> Result<Vec<Enqueued>, StoreError> {
        let results = self.insert_in(conn, jobs, None).await?;
        metrics::enqueued(jobs, &results);
        Ok(results)
    }

    /// [`enqueue_in`](Self::enqueue_in) without counting the jobs (the callers count them),
    /// as members of `batch` if given.
    async fn insert_in(
        &self,
        conn: &mut PgConnection,
        jobs: &[NewJob],
        batch: Option<BatchId>,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let now = self.now();
        self.notify(conn, jobs.iter().map(|j| j.queue.as_str()))
            .await?;
        let mut results = vec![Enqueued::Inserted(0); jobs.len()];
        let (unique, plain): (Vec<_>, Vec<_>) = jobs
            .iter()
            .enumerate()
            .partition(|(_, j)| j.unique_key.is_some());
        if !plain.is_empty() {
            let column = |f: &dyn Fn(&NewJob) -> String| {
                plain.iter().map(|(_, j)| f(j)).collect::<Vec<String>>()
            };
            let mut ids: Vec<i64> = sqlx::query_scalar(include_str!("queries/insert.sql"))
                .bind(column(&|j| j.queue.clone()))
                .bind(column(&|j| j.kind.clone()))
                .bind(plain.iter().map(|(_, j)| Json(&j.args)).collect::<Vec<_>>())
                .bind(plain.iter().map(|(_, j)| j.priority).collect::<Vec<i16>>())
                .bind(column(&|j| j.initial_state(now).as_str().to_owned()))
                .bind(
                    plain
                        .iter()
                        .map(|(_, j)| attempts(j.max_attempts))
                        .collect::<Vec<i32>>(),
                )
                .bind(
                    plain
                        .iter()
                        .map(|(_, j)| j.run_at.unwrap_or(now))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    plain
                        .iter()
                        .map(|(_, j)| j.partition_key.clone())
                        .collect::<Vec<Option<String>>>(),
                )
                .bind(
                    plain
                        .iter()
                        .map(|(_, j)| j.traceparent.clone())
                        .collect::<Vec<Option<String>>>(),
                )
                .bind(now)
                .bind(batch)
                .fetch_all(&mut *conn)
                .await
                .map_err(sql::error)?;
            ids.sort_unstable();
            for ((index, _), id) in plain.iter().zip(ids) {
                results[*index] = Enqueued::Inserted(id);
            }
        }
        for (index, job) in unique {
            // A key's holder may end between the two statements; then the insert is tried again.
            results[index] = loop {
                let holder: Option<i64> = sqlx::query_scalar(include_str!("queries/holder.sql"))
                    .bind(&job.unique_key)
                    .bind(now)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(sql::error)?;
                if let Some(id) = holder {
                    break Enqueued::Duplicate(id);
                }
                let inserted: Option<i64> =
                    sqlx::query_scalar(include_str!("queries/insert_unique.sql"))
                        .bind(&job.queue)
                        .bind(&job.kind)
                        .bind(Json(&job.args))
                        .bind(job.priority)
                        .bind(job.initial_state(now).as_str())
                        .bind(attempts(job.max_attempts))
                        .bind(job.run_at.unwrap_or(now))
                        .bind(&job.unique_key)
                        .bind(&job.partition_key)
                        .bind(&job.traceparent)
                        .bind(now)
                        .bind(job.unique_for.map(period_millis))
                        .bind((job.unique_until == UniqueUntil::Start).then_some("start"))
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(sql::error)?;
                if let Some(id) = inserted {
                    break Enqueued::Inserted(id);
                }
            };
        }
        Ok(results)
    }

    /// Wakes the workers waiting on `queues` when the transaction on `conn` commits.
    async fn notify<'q>(
        &self,
        conn: &mut PgConnection,
        queues: impl Iterator<Item = &'q str>,
    ) -> Result<(), StoreError> {
        let mut queues: Vec<&str> = queues.collect();
        queues.sort_unstable();
        queues.dedup();
        sqlx::query(include_str!("queries/notify.sql"))
            .bind(&self.prefix)
            .bind(&queues)
            .execute(conn)
            .await
            .map_err(sql::error)?;
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves due scheduled and retryable jobs of `queue` to available, when
    /// [`sql::Promotions`] says it is time.
    async fn promote(&self, queue: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if !self.promotions.due(queue, now) {
            return Ok(());
        }
        sqlx::query(include_str!("queries/promote.sql"))
            .bind(queue)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(())
    }
}

#[async_trait]
impl Queue for PostgresStore {
    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        let results = self.insert_in(&mut tx, jobs, None).await?;
        tx.commit().await.map_err(sql::error)?;
        Ok(results)
    }

    async fn insert_workflow(&self, graph: &Graph) -> Result<Vec<JobId>, StoreError> {
        workflow::insert(self, graph).await
    }

    async fn insert_batch(&self, batch: &Batch) -> Result<EnqueuedBatch, StoreError> {
        batches::insert(self, batch).await
    }

    async fn insert_into_batch(
        &self,
        batch: BatchId,
        jobs: &[NewJob],
    ) -> Result<Vec<JobId>, StoreError> {
        batches::add(self, batch, jobs).await
    }

    async fn close_batch(&self, batch: BatchId) -> Result<bool, StoreError> {
        batches::close(self, batch).await
    }

    async fn claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        self.promote(&params.queue, now).await?;
        let lease_until = after(now, params.lease);
        let rows = match (params.rate, params.partition_limit) {
            (Some(rate), _) => {
                claim::claim_rated(&self.pool, &params, &rate, now, lease_until).await?
            }
            (None, Some(per_partition)) => {
                let mut tx = self.pool.begin().await.map_err(sql::error)?;
                let rows =
                    claim::claim_partitioned(&mut tx, &params, per_partition, lease_until).await?;
                tx.commit().await.map_err(sql::error)?;
                rows
            }
            (None, None) => sqlx::query(include_str!("queries/claim.sql"))
                .bind(&params.queue)
                .bind(i64::from(params.limit))
                .bind(&params.worker)
                .bind(lease_until)
                .fetch_all(&self.pool)
                .await
                .map_err(sql::error)?,
        };
        let mut jobs = rows.iter().map(job).collect::<Result<Vec<_>, _>>()?;
        sql::claim_order(&mut jobs);
        Ok(jobs)
    }

    async fn complete(&self, completions: Vec<Completion>) -> Result<u64, StoreError> {
        let now = self.now();
        let rows = completion_rows(completions);
        let (applied, _settled, _fired): (i64, Option<i32>, Option<i32>) =
            sqlx::query_as(include_str!("queries/complete.sql"))
                .bind(now)
                .bind(now.to_rfc3339())
                .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.worker.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.run_at).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.discard).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.result.as_deref()).collect::<Vec<_>>())
                .bind(&self.prefix)
                .fetch_one(&self.pool)
                .await
                .map_err(sql::error)?;
        Ok(u64::try_from(applied).unwrap_or_default())
    }

    async fn heartbeat(&self, params: HeartbeatParams<'_>) -> Result<Heartbeat, StoreError> {
        let HeartbeatParams { worker, ids, lease } = params;
        if ids.is_empty() {
            return Ok(Heartbeat::default());
        }
        let rows: Vec<(i64, bool)> = sqlx::query_as(include_str!("queries/heartbeat.sql"))
            .bind(after(self.now(), lease))
            .bind(ids)
            .bind(worker)
            .fetch_all(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(rows.into_iter().collect())
    }

    async fn wait(&self, queue: &str, timeout: Duration) {
        self.wakes
            .wait(&self.pool, &self.prefix, queue, timeout)
            .await;
    }
}

#[async_trait]
impl Maintenance for PostgresStore {
    async fn rescue(&self) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let rows: Vec<(i64, Option<i32>, Option<i32>)> =
            sqlx::query_as(include_str!("queries/rescue.sql"))
                .bind(now)
                .bind(now.to_rfc3339())
                .bind(LEASE_EXPIRED)
                .bind(&self.prefix)
                .fetch_all(&self.pool)
                .await
                .map_err(sql::error)?;
        let mut ids: Vec<i64> = rows.into_iter().map(|(id, _, _)| id).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn fire(&self, params: FireParams) -> Result<Option<Enqueued>, StoreError> {
        let FireParams { name, tick, job } = params;
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        let advanced = sqlx::query(include_str!("queries/fire.sql"))
            .bind(&name)
            .bind(tick)
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        if advanced.rows_affected() == 0 {
            return Ok(None);
        }
        let mut enqueued = self.insert_in(&mut tx, &[job], None).await?;
        tx.commit().await.map_err(sql::error)?;
        Ok(enqueued.pop())
    }

    async fn prune(&self, params: PruneParams) -> Result<u64, StoreError> {
        let states = params.final_states();
        let result = sqlx::query(include_str!("queries/prune.sql"))
            .bind(states)
            .bind(params.finished_before)
            .bind(params.queue)
            .bind(i64::from(params.limit))
            .bind(params.kind)
            .bind(params.except_kinds)
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
            .bind(finished_before)
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(result.rows_affected())
    }

    async fn tidy(&self) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(sql::error)?;
        let due: bool = sqlx::query_scalar(include_str!("queries/vacuum_due.sql"))
            .fetch_one(&mut *conn)
            .await
            .map_err(sql::error)?;
        if !due {
            return Ok(false);
        }
        // One worker at a time: the others find the lock taken and leave it.
        let locked: bool = sqlx::query_scalar(include_str!("queries/vacuum_lock.sql"))
            .fetch_one(&mut *conn)
            .await
            .map_err(sql::error)?;
        if !locked {
            return Ok(false);
        }
        // VACUUM runs outside any transaction, so as a simple query; SKIP_LOCKED leaves the
        // table to an autovacuum already at it.
        let vacuumed = sqlx::raw_sql("VACUUM (SKIP_LOCKED) sluice_jobs")
            .execute(&mut *conn)
            .await
            .map_err(sql::error);
        sqlx::query(include_str!("queries/vacuum_unlock.sql"))
            .execute(&mut *conn)
            .await
            .map_err(sql::error)?;
        vacuumed.map(|_| true)
    }
}

#[async_trait]
impl Admin for PostgresStore {
    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        sql::read::get(&self.pool, include_str!("queries/get.sql"), id, job).await
    }

    async fn list(&self, params: ListParams) -> Result<Vec<Job>, StoreError> {
        sql::read::list(&self.pool, &ARGS_FILTER, params, job).await
    }

    async fn batch(&self, id: BatchId) -> Result<Option<BatchStatus>, StoreError> {
        batches::get(self, id).await
    }

    async fn batches(&self, limit: u32) -> Result<Vec<BatchStatus>, StoreError> {
        batches::list(self, limit).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        sql::read::stats(&self.pool, include_str!("queries/stats.sql")).await
    }

    async fn pending_stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        sql::read::stats(&self.pool, include_str!("queries/pending_stats.sql")).await
    }

    async fn retry(&self, params: RetryParams) -> Result<u64, StoreError> {
        let (ids, queue, all_dead) = match params {
            RetryParams::Ids(ids) => (Some(ids), None, false),
            RetryParams::AllDead { queue } => (None, queue, true),
        };
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        let queues: Vec<String> = sqlx::query_scalar(include_str!("queries/retry.sql"))
            .bind(self.now())
            .bind(ids)
            .bind(all_dead)
            .bind(queue)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql::error)?;
        self.notify(&mut tx, queues.iter().map(String::as_str))
            .await?;
        tx.commit().await.map_err(sql::error)?;
        Ok(queues.len() as u64)
    }

    async fn cancel(&self, ids: &[JobId]) -> Result<Vec<(JobId, Cancelled)>, StoreError> {
        let now = self.now();
        let rows: Vec<(i64, String)> = sqlx::query_as(include_str!("queries/cancel.sql"))
            .bind(ids)
            .bind(now)
            .bind(now.to_rfc3339())
            .bind(&self.prefix)
            .fetch_all(&self.pool)
            .await
            .map_err(sql::error)?;
        let found: HashMap<i64, String> = rows.into_iter().collect();
        Ok(ids
            .iter()
            .map(|&id| {
                let outcome = match found.get(&id).map(String::as_str) {
                    Some("cancelled") => Cancelled::Cancelled,
                    Some(_) => Cancelled::Requested,
                    None => Cancelled::NotPending,
                };
                (id, outcome)
            })
            .collect())
    }

    async fn discard(&self, ids: &[JobId]) -> Result<u64, StoreError> {
        let result = sqlx::query(include_str!("queries/discard.sql"))
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            self.schema
        )))
        .execute(&mut *tx)
        .await
        .map_err(sql::error)?;
        migrate::apply::<Postgres>(&mut tx, migrate::POSTGRES).await?;
        tx.commit().await.map_err(sql::error)
    }
}

/// An attempt count as stored.
fn attempts(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
