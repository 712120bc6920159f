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
//!
//! The address may name a schema: `postgres://host/db?schema=jobs` keeps the tables there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::policy::Reconnect;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::Notify;

use super::sql::{self, FINAL, PENDING, RETRIABLE};
use super::{
    Cancelled, ClaimParams, Completion, Enqueued, Heartbeat, ListParams, PruneParams, QueueStats,
    RetryParams, StoreError,
};
use crate::clock::{Clock, SystemClock, after};
use crate::job::{AttemptError, Job, JobId, NewJob};
use crate::migrate;

/// The columns of a job, as [`job`] reads them.
const COLUMNS: &str = "id, queue, kind, args, priority, state, attempt, max_attempts, run_at, lease_until, \
     worker, errors, unique_key, partition_key, created_at, finished_at";

/// A key for the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x736c_7569_6365;

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

/// Notifications received, counted per queue, and what each waiting queue has seen.
#[derive(Default)]
struct Wakes {
    state: StdMutex<WakeState>,
    notify: Notify,
}

#[derive(Default)]
struct WakeState {
    /// Whether a listener task runs.
    listening: bool,
    /// Whether its connection is up (waits poll while it is not).
    connected: bool,
    /// Notifications per queue; a reconnect counts as one for every queue.
    received: HashMap<String, u64>,
    reconnects: u64,
    seen: HashMap<String, (u64, u64)>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER@HOST/DB[?schema=NAME]`). Run
    /// [`Store::migrate`] (or `sluice jobs migrate`) once before use.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let (url, schema) = super::take_param(url, "schema");
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
    /// store.enqueue_in(&mut tx, vec![sluice_jobs::NewJob::new("ship", serde_json::json!({"order": 42}))]).await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_in(
        &self,
        conn: &mut PgConnection,
        jobs: Vec<NewJob>,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let now = self.now();
        let mut queues: Vec<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        sqlx::query("SELECT pg_notify('sluice_jobs', $1 || q) FROM unnest($2::text[]) AS q")
            .bind(&self.prefix)
            .bind(&queues)
            .execute(&mut *conn)
            .await
            .map_err(sql::error)?;
        let mut results = vec![Enqueued::Inserted(0); jobs.len()];
        let (unique, plain): (Vec<_>, Vec<_>) = jobs
            .iter()
            .enumerate()
            .partition(|(_, j)| j.unique_key.is_some());
        if !plain.is_empty() {
            let column = |f: &dyn Fn(&NewJob) -> String| {
                plain.iter().map(|(_, j)| f(j)).collect::<Vec<String>>()
            };
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, partition_key, \
                     created_at) \
                 SELECT queue, kind, args, priority, state, max_attempts, run_at, partition_key, $9 \
                 FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::text[], $6::int[], \
                     $7::timestamptz[], $8::text[]) WITH ORDINALITY \
                     AS t(queue, kind, args, priority, state, max_attempts, run_at, partition_key, n) \
                 ORDER BY n RETURNING id",
            )
            .bind(column(&|j| j.queue.clone()))
            .bind(column(&|j| j.kind.clone()))
            .bind(plain.iter().map(|(_, j)| Json(&j.args)).collect::<Vec<_>>())
            .bind(plain.iter().map(|(_, j)| j.priority).collect::<Vec<i16>>())
            .bind(column(&|j| j.initial_state(now).as_str().to_owned()))
            .bind(plain.iter().map(|(_, j)| attempts(j.max_attempts)).collect::<Vec<i32>>())
            .bind(plain.iter().map(|(_, j)| j.run_at.unwrap_or(now)).collect::<Vec<_>>())
            .bind(plain.iter().map(|(_, j)| j.partition_key.clone()).collect::<Vec<Option<String>>>())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql::error)?;
            ids.sort_unstable();
            for ((index, _), id) in plain.iter().zip(ids) {
                results[*index] = Enqueued::Inserted(id);
            }
        }
        for (index, job) in unique {
            let inserted: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                "INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, unique_key, \
                     partition_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN {PENDING} DO NOTHING \
                 RETURNING id"
            )))
            .bind(&job.queue)
            .bind(&job.kind)
            .bind(Json(&job.args))
            .bind(job.priority)
            .bind(job.initial_state(now).as_str())
            .bind(attempts(job.max_attempts))
            .bind(job.run_at.unwrap_or(now))
            .bind(&job.unique_key)
            .bind(&job.partition_key)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql::error)?;
            results[index] = match inserted {
                Some(id) => Enqueued::Inserted(id),
                None => Enqueued::Duplicate(
                    sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT id FROM sluice_jobs WHERE unique_key = $1 AND state IN {PENDING}"
                    )))
                    .bind(&job.unique_key)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(sql::error)?,
                ),
            };
        }
        Ok(results)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn migrate_schema(&self) -> Result<(), StoreError> {
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
        sqlx::query("CREATE TABLE IF NOT EXISTS sluice_schema (version BIGINT PRIMARY KEY)")
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        let current: i64 =
            sqlx::query_scalar("SELECT coalesce(max(version), 0)::bigint FROM sluice_schema")
                .fetch_one(&mut *tx)
                .await
                .map_err(sql::error)?;
        for migration in migrate::POSTGRES.iter().filter(|m| m.version > current) {
            for stmt in migrate::statements(migration.sql) {
                sqlx::query(AssertSqlSafe(stmt))
                    .execute(&mut *tx)
                    .await
                    .map_err(sql::error)?;
            }
            sqlx::query("INSERT INTO sluice_schema (version) VALUES ($1)")
                .bind(migration.version)
                .execute(&mut *tx)
                .await
                .map_err(sql::error)?;
        }
        tx.commit().await.map_err(sql::error)
    }

    async fn enqueue_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        let results = self.enqueue_in(&mut tx, jobs).await?;
        tx.commit().await.map_err(sql::error)?;
        Ok(results)
    }

    /// Moves due scheduled and retryable jobs of `queue` to available, when
    /// [`sql::Promotions`] says it is time.
    async fn promote(&self, queue: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if !self.promotions.due(queue, now) {
            return Ok(());
        }
        sqlx::query(
            "UPDATE sluice_jobs SET state = 'available' WHERE id IN ( \
                 SELECT id FROM sluice_jobs WHERE queue = $1 AND state IN ('scheduled', 'retryable') \
                 AND run_at <= $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(queue)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(sql::error)?;
        Ok(())
    }

    async fn claim_jobs(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        self.promote(&params.queue, now).await?;
        let lease_until = after(now, params.lease);
        let rows = match params.partition_limit {
            None => sqlx::query(AssertSqlSafe(format!(
                "UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = $3, lease_until = $4 \
                 WHERE id IN (SELECT id FROM sluice_jobs WHERE queue = $1 AND state = 'available' \
                     ORDER BY priority DESC, run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING {COLUMNS}"
            )))
            .bind(&params.queue)
            .bind(i64::from(params.limit))
            .bind(&params.worker)
            .bind(lease_until)
            .fetch_all(&self.pool)
            .await
            .map_err(sql::error)?,
            Some(per_partition) => {
                let mut tx = self.pool.begin().await.map_err(sql::error)?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sluice.partitions.' || $1, 0))")
                    .bind(&params.queue)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql::error)?;
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "WITH RECURSIVE keys(k) AS ( \
                         (SELECT partition_key FROM sluice_jobs WHERE queue = $1 AND state = 'available' \
                             AND partition_key IS NOT NULL ORDER BY partition_key LIMIT 1) \
                         UNION ALL \
                         SELECT (SELECT partition_key FROM sluice_jobs WHERE queue = $1 AND state = 'available' \
                             AND partition_key > keys.k ORDER BY partition_key LIMIT 1) \
                         FROM keys WHERE keys.k IS NOT NULL), \
                     busy(k, n) AS ( \
                         SELECT partition_key, count(*) FROM sluice_jobs \
                         WHERE state = 'running' AND partition_key IN (SELECT k FROM keys) GROUP BY partition_key), \
                     candidates AS ( \
                         SELECT c.id, c.priority, c.run_at FROM keys LEFT JOIN busy USING (k) \
                         CROSS JOIN LATERAL (SELECT id, priority, run_at FROM sluice_jobs \
                             WHERE queue = $1 AND state = 'available' AND partition_key = keys.k \
                             ORDER BY priority DESC, run_at, id \
                             LIMIT greatest($5 - coalesce(busy.n, 0), 0)) c \
                         WHERE keys.k IS NOT NULL \
                         UNION ALL \
                         (SELECT id, priority, run_at FROM sluice_jobs \
                             WHERE queue = $1 AND state = 'available' AND partition_key IS NULL \
                             ORDER BY priority DESC, run_at, id LIMIT $2)) \
                     UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = $3, \
                         lease_until = $4 \
                     WHERE state = 'available' AND id IN ( \
                         SELECT id FROM candidates ORDER BY priority DESC, run_at, id LIMIT $2) \
                     RETURNING {COLUMNS}"
                )))
                .bind(&params.queue)
                .bind(i64::from(params.limit))
                .bind(&params.worker)
                .bind(lease_until)
                .bind(i64::from(per_partition))
                .fetch_all(&mut *tx)
                .await
                .map_err(sql::error)?;
                tx.commit().await.map_err(sql::error)?;
                rows
            }
        };
        let mut jobs = rows.iter().map(job).collect::<Result<Vec<_>, _>>()?;
        sql::claim_order(&mut jobs);
        Ok(jobs)
    }

    async fn complete_jobs(&self, completions: Vec<Completion>) -> Result<u64, StoreError> {
        let now = self.now();
        let rows = super::completion_rows(completions);
        let applied: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "WITH c AS ( \
                 SELECT * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], \
                     $8::bool[]) AS c(id, worker, state, run_at, error, discard)), \
             discarded AS ( \
                 DELETE FROM sluice_jobs AS j USING c \
                 WHERE c.discard AND j.id = c.id AND j.state = 'running' AND j.worker = c.worker \
                 RETURNING 1), \
             changed AS ( \
                 UPDATE sluice_jobs AS j SET \
                     state = c.state, \
                     run_at = coalesce(c.run_at, j.run_at), \
                     finished_at = CASE WHEN c.state IN {FINAL} THEN $1::timestamptz END, \
                     attempt = CASE WHEN c.state IN ('scheduled', 'available') THEN j.attempt - 1 ELSE j.attempt END, \
                     worker = CASE WHEN c.state = 'available' THEN NULL ELSE j.worker END, \
                     lease_until = NULL, \
                     errors = CASE WHEN c.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array( \
                         jsonb_build_object('attempt', j.attempt, 'at', $2::text, 'error', c.error)) END \
                 FROM c \
                 WHERE NOT c.discard AND j.id = c.id AND j.state = 'running' AND j.worker = c.worker \
                 RETURNING 1) \
             SELECT (SELECT count(*) FROM discarded) + (SELECT count(*) FROM changed)"
        )))
        .bind(now)
        .bind(now.to_rfc3339())
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.worker.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.run_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.discard).collect::<Vec<_>>())
        .fetch_one(&self.pool)
        .await
        .map_err(sql::error)?;
        Ok(u64::try_from(applied).unwrap_or_default())
    }

    async fn heartbeat_jobs(
        &self,
        worker: &str,
        ids: &[JobId],
        lease: Duration,
    ) -> Result<Heartbeat, StoreError> {
        if ids.is_empty() {
            return Ok(Heartbeat::default());
        }
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "UPDATE sluice_jobs SET lease_until = $1 \
             WHERE id = ANY($2) AND state = 'running' AND worker = $3 \
             RETURNING id, cancel_requested",
        )
        .bind(after(self.now(), lease))
        .bind(ids)
        .bind(worker)
        .fetch_all(&self.pool)
        .await
        .map_err(sql::error)?;
        Ok(rows.into_iter().collect())
    }

    async fn rescue_jobs(&self) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sluice_jobs SET \
                 state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'retryable' END, \
                 finished_at = CASE WHEN attempt >= max_attempts THEN $1::timestamptz END, \
                 run_at = $1, lease_until = NULL, \
                 errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', $2::text, \
                     'error', $3::text)) \
             WHERE state = 'running' AND lease_until < $1 RETURNING id",
        )
        .bind(now)
        .bind(now.to_rfc3339())
        .bind(super::LEASE_EXPIRED)
        .fetch_all(&self.pool)
        .await
        .map_err(sql::error)?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sluice_jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql::error)?;
        row.as_ref().map(job).transpose()
    }

    async fn list_jobs(&self, params: ListParams) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sluice_jobs \
             WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR state = $2) \
                 AND ($3::text IS NULL OR kind = $3) \
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(params.queue)
        .bind(params.state.map(crate::job::JobState::as_str))
        .bind(params.kind)
        .bind(i64::from(params.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(sql::error)?;
        rows.iter().map(job).collect()
    }

    async fn retry_jobs(&self, params: RetryParams) -> Result<u64, StoreError> {
        let (ids, queue, all_dead) = match params {
            RetryParams::Ids(ids) => (Some(ids), None, false),
            RetryParams::AllDead { queue } => (None, queue, true),
        };
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        let queues: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "UPDATE sluice_jobs AS j SET state = 'available', run_at = $1, finished_at = NULL, \
                 cancel_requested = FALSE, max_attempts = greatest(max_attempts, attempt + 1) \
             WHERE state IN {RETRIABLE} \
                 AND ($2::bigint[] IS NULL OR id = ANY($2)) \
                 AND (NOT $3 OR (state = 'dead' AND ($4::text IS NULL OR queue = $4))) \
                 AND (unique_key IS NULL OR NOT EXISTS (SELECT 1 FROM sluice_jobs p \
                     WHERE p.unique_key = j.unique_key AND p.id <> j.id AND p.state IN {PENDING})) \
             RETURNING queue"
        )))
        .bind(self.now())
        .bind(ids)
        .bind(all_dead)
        .bind(queue)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql::error)?;
        let mut woken = queues.clone();
        woken.sort_unstable();
        woken.dedup();
        sqlx::query("SELECT pg_notify('sluice_jobs', $1 || q) FROM unnest($2::text[]) AS q")
            .bind(&self.prefix)
            .bind(&woken)
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        tx.commit().await.map_err(sql::error)?;
        Ok(queues.len() as u64)
    }

    async fn cancel_jobs(&self, ids: &[JobId]) -> Result<Vec<(JobId, Cancelled)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "WITH waiting AS ( \
                 UPDATE sluice_jobs SET state = 'cancelled', finished_at = $2 \
                 WHERE id = ANY($1) AND state IN ('scheduled', 'available', 'retryable') RETURNING id), \
             running AS ( \
                 UPDATE sluice_jobs SET cancel_requested = TRUE \
                 WHERE id = ANY($1) AND state = 'running' RETURNING id) \
             SELECT id, 'cancelled' FROM waiting UNION ALL SELECT id, 'requested' FROM running",
        )
        .bind(ids)
        .bind(self.now())
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

    async fn discard_jobs(&self, ids: &[JobId]) -> Result<u64, StoreError> {
        let result = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM sluice_jobs WHERE id = ANY($1) AND state IN {FINAL}"
        )))
        .bind(ids)
        .execute(&self.pool)
        .await
        .map_err(sql::error)?;
        Ok(result.rows_affected())
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let rows = sqlx::query_as(sql::STATS)
            .fetch_all(&self.pool)
            .await
            .map_err(sql::error)?;
        Ok(sql::stats(rows))
    }

    async fn prune_jobs(&self, params: PruneParams) -> Result<u64, StoreError> {
        let states = params.final_states();
        let result = sqlx::query(
            "DELETE FROM sluice_jobs WHERE id IN ( \
                 SELECT id FROM sluice_jobs WHERE state = ANY($1) AND finished_at < $2 \
                 AND ($3::text IS NULL OR queue = $3) LIMIT $4)",
        )
        .bind(states)
        .bind(params.finished_before)
        .bind(params.queue)
        .bind(i64::from(params.limit))
        .execute(&self.pool)
        .await
        .map_err(sql::error)?;
        Ok(result.rows_affected())
    }

    async fn fire_schedule(
        &self,
        name: &str,
        tick: DateTime<Utc>,
        job: NewJob,
    ) -> Result<Option<Enqueued>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(sql::error)?;
        let advanced = sqlx::query(
            "INSERT INTO sluice_schedules (name, last_tick) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET last_tick = EXCLUDED.last_tick \
             WHERE sluice_schedules.last_tick < EXCLUDED.last_tick",
        )
        .bind(name)
        .bind(tick)
        .execute(&mut *tx)
        .await
        .map_err(sql::error)?;
        if advanced.rows_affected() == 0 {
            return Ok(None);
        }
        let mut enqueued = self.enqueue_in(&mut tx, vec![job]).await?;
        tx.commit().await.map_err(sql::error)?;
        Ok(enqueued.pop())
    }

    async fn wait_for_jobs(&self, queue: &str, timeout: Duration) {
        self.ensure_listener();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.wakes.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let connected = {
                let mut state = self
                    .wakes
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = (
                    state.received.get(queue).copied().unwrap_or(0),
                    state.reconnects,
                );
                let before = state.seen.insert(queue.to_owned(), now);
                if before.is_some_and(|b| b != now) {
                    return;
                }
                state.connected
            };
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return;
            }
            // Without a listening connection, poll.
            let nap = if connected {
                remaining
            } else {
                remaining.min(Duration::from_millis(250))
            };
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {
                    if !connected {
                        return;
                    }
                }
            }
        }
    }

    /// Starts the task that listens for enqueue notifications, once.
    fn ensure_listener(&self) {
        {
            let mut state = self
                .wakes
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.listening {
                return;
            }
            state.listening = true;
        }
        let pool = self.pool.clone();
        let prefix = self.prefix.clone();
        let wakes = Arc::downgrade(&self.wakes);
        tokio::spawn(async move {
            let mut pause = Reconnect::default();
            while wakes.strong_count() > 0 {
                if let Err(e) = listen(&pool, &prefix, &wakes).await {
                    tracing::warn!(error = %e, "job notifications lost; polling until reconnected");
                }
                if let Some(wakes) = wakes.upgrade() {
                    let mut state = wakes
                        .state
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if state.connected {
                        // It was listening: reconnect quickly.
                        pause.reset();
                    }
                    state.connected = false;
                    state.reconnects += 1;
                    drop(state);
                    wakes.notify.notify_waiters();
                }
                tokio::time::sleep(pause.after_failure()).await;
            }
        });
    }
}

/// Listens for notifications that begin with `prefix` and counts them per queue until the
/// connection breaks or the store is dropped.
async fn listen(
    pool: &PgPool,
    prefix: &str,
    wakes: &std::sync::Weak<Wakes>,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen("sluice_jobs").await?;
    if let Some(wakes) = wakes.upgrade() {
        let mut state = wakes
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.connected = true;
        // Notifications sent while no one listened are lost: wake everyone once.
        state.reconnects += 1;
        drop(state);
        wakes.notify.notify_waiters();
    }
    loop {
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        let Some(wakes) = wakes.upgrade() else {
            return Ok(());
        };
        let Some(queue) = notification.payload().strip_prefix(prefix) else {
            continue;
        };
        let mut state = wakes
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state.received.entry(queue.to_owned()).or_default() += 1;
        drop(state);
        wakes.notify.notify_waiters();
    }
}

/// An attempt count as stored.
fn attempts(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A job from a row of [`COLUMNS`].
fn job(row: &PgRow) -> Result<Job, StoreError> {
    let get_count = |name: &str| {
        row.try_get::<i32, _>(name)
            .map(|n| u32::try_from(n).unwrap_or(0))
    };
    let decode = || -> Result<Job, sqlx::Error> {
        let state: String = row.try_get("state")?;
        let Json(args): Json<Value> = row.try_get("args")?;
        let Json(errors): Json<Vec<AttemptError>> = row.try_get("errors")?;
        Ok(Job {
            id: row.try_get("id")?,
            queue: row.try_get("queue")?,
            kind: row.try_get("kind")?,
            args,
            priority: row.try_get("priority")?,
            state: state
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            attempt: get_count("attempt")?,
            max_attempts: get_count("max_attempts")?,
            run_at: row.try_get("run_at")?,
            lease_until: row.try_get("lease_until")?,
            worker: row.try_get("worker")?,
            errors,
            unique_key: row.try_get("unique_key")?,
            partition_key: row.try_get("partition_key")?,
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    };
    decode().map_err(sql::error)
}

store_impl!(PostgresStore, "postgres");
