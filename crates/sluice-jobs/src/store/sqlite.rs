//! The SQLite store: one file, no server, created and migrated on first use.
//!
//! The file is in WAL mode with `synchronous = NORMAL`: a committed job survives the crash or
//! kill of any process (not the loss of power of the machine). Writers take the write lock at
//! the start of their transaction (`BEGIN IMMEDIATE`), so several processes (a worker and
//! `sluice jobs enqueue`, say) share the file and wait for each other instead of failing.
//! Waiting workers learn of other processes' commits from `PRAGMA data_version`, and of their
//! own process's at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Row};
use tokio::sync::{Mutex, Notify};

use super::sql::{self, FINAL, PENDING, RETRIABLE};
use super::{
    Cancelled, ClaimParams, Completion, Enqueued, Heartbeat, ListParams, PruneParams, QueueStats,
    RetryParams, StoreError,
};
use crate::clock::{Clock, SystemClock, after, from_millis, millis};
use crate::job::{Job, JobId, NewJob};
use crate::migrate;

/// The columns of a job, in [`job`]'s order.
const COLUMNS: &str = "id, queue, kind, args, priority, state, attempt, max_attempts, run_at, lease_until, \
     worker, errors, unique_key, partition_key, created_at, finished_at";

/// How often a waiting worker looks for other processes' commits.
const WATCH_INTERVAL: Duration = Duration::from_millis(5);

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
        store.migrate_schema().await?;
        Ok(store)
    }

    /// Reads the time from `clock` (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> SqliteStore {
        self.clock = clock;
        self
    }

    async fn migrate_schema(&self) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::error)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS sluice_schema (version BIGINT PRIMARY KEY)")
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        let current: i64 =
            sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM sluice_schema")
                .fetch_one(&mut *tx)
                .await
                .map_err(sql::error)?;
        for migration in migrate::SQLITE.iter().filter(|m| m.version > current) {
            for stmt in migrate::statements(migration.sql) {
                sqlx::query(AssertSqlSafe(stmt))
                    .execute(&mut *tx)
                    .await
                    .map_err(sql::error)?;
            }
            sqlx::query("INSERT INTO sluice_schema (version) VALUES (?)")
                .bind(migration.version)
                .execute(&mut *tx)
                .await
                .map_err(sql::error)?;
        }
        tx.commit().await.map_err(sql::error)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn enqueue_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::error)?;
        let results = insert(&mut tx, &jobs, self.now()).await?;
        tx.commit().await.map_err(sql::error)?;
        self.enqueued.notify_waiters();
        crate::metrics::enqueued(&jobs, &results);
        Ok(results)
    }
    async fn claim_jobs(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::error)?;
        if self.promotions.due(&params.queue, now) {
            sqlx::query(
                "UPDATE sluice_jobs SET state = 'available' \
                 WHERE queue = ? AND state IN ('scheduled', 'retryable') AND run_at <= ?",
            )
            .bind(&params.queue)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
        }
        // Which jobs: the first available ones, or the partition-aware pick; `?3` is the queue
        // or the picked ids.
        let (chosen, arg) = match params.partition_limit {
            None => (
                format!(
                    "SELECT id FROM sluice_jobs WHERE queue = ?3 AND state = 'available' \
                     ORDER BY priority DESC, run_at, id LIMIT {}",
                    params.limit
                ),
                params.queue.clone(),
            ),
            Some(per_partition) => {
                let ids =
                    partitioned_candidates(&mut tx, &params.queue, params.limit, per_partition)
                        .await?;
                (
                    "SELECT value FROM json_each(?3)".to_owned(),
                    Value::from(ids).to_string(),
                )
            }
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = ?1, lease_until = ?2 \
             WHERE id IN ({chosen}) RETURNING {COLUMNS}"
        )))
        .bind(&params.worker)
        .bind(millis(after(now, params.lease)))
        .bind(arg)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql::error)?;
        if rows.is_empty() {
            tx.rollback().await.map_err(sql::error)?;
            return Ok(Vec::new());
        }
        tx.commit().await.map_err(sql::error)?;
        let mut jobs = rows.iter().map(job).collect::<Result<Vec<_>, _>>()?;
        sql::claim_order(&mut jobs);
        Ok(jobs)
    }

    /// Completions grouped by what they do (worker, new state, run time, error, discard): one
    /// statement per group over its ids, usually one for a whole batch.
    async fn complete_jobs(&self, completions: Vec<Completion>) -> Result<u64, StoreError> {
        let now = self.now();
        type Group = (String, &'static str, Option<i64>, Option<String>, bool);
        let mut groups: HashMap<Group, Vec<JobId>> = HashMap::new();
        for row in super::completion_rows(completions) {
            let key = (
                row.worker,
                row.state.as_str(),
                row.run_at.map(millis),
                row.error,
                row.discard,
            );
            groups.entry(key).or_default().push(row.id);
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::error)?;
        let mut applied = 0;
        for ((worker, state, run_at, error, discard), ids) in groups {
            let ids = Value::from(ids).to_string();
            let statement = if discard {
                sqlx::query(
                    "DELETE FROM sluice_jobs WHERE state = 'running' AND worker = ? \
                     AND id IN (SELECT value FROM json_each(?))",
                )
                .bind(worker)
                .bind(ids)
            } else {
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE sluice_jobs SET \
                         state = ?3, \
                         run_at = coalesce(?4, run_at), \
                         finished_at = CASE WHEN ?3 IN {FINAL} THEN ?1 END, \
                         attempt = CASE WHEN ?3 IN ('scheduled', 'available') THEN attempt - 1 ELSE attempt END, \
                         worker = CASE WHEN ?3 = 'available' THEN NULL ELSE worker END, \
                         lease_until = NULL, \
                         errors = CASE WHEN ?5 IS NULL THEN errors ELSE json_insert(errors, '$[#]', \
                             json_object('attempt', attempt, 'at', ?2, 'error', ?5)) END \
                     WHERE state = 'running' AND worker = ?6 AND id IN (SELECT value FROM json_each(?7))"
                )))
                .bind(millis(now))
                .bind(now.to_rfc3339())
                .bind(state)
                .bind(run_at)
                .bind(error)
                .bind(worker)
                .bind(ids)
            };
            applied += statement
                .execute(&mut *tx)
                .await
                .map_err(sql::error)?
                .rows_affected();
        }
        tx.commit().await.map_err(sql::error)?;
        Ok(applied)
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
        let rows = sqlx::query(
            "UPDATE sluice_jobs SET lease_until = ? \
             WHERE id IN (SELECT value FROM json_each(?)) AND state = 'running' AND worker = ? \
             RETURNING id, cancel_requested",
        )
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

    async fn rescue_jobs(&self) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sluice_jobs SET \
                 state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'retryable' END, \
                 finished_at = CASE WHEN attempt >= max_attempts THEN ?1 END, \
                 run_at = ?1, lease_until = NULL, \
                 errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?2, 'error', ?3)) \
             WHERE state = 'running' AND lease_until < ?1 RETURNING id",
        )
        .bind(millis(now))
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
            "SELECT {COLUMNS} FROM sluice_jobs WHERE id = ?"
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
             WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR kind = ?3) \
             ORDER BY id DESC LIMIT ?4"
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
        let now = millis(self.now());
        let update = format!(
            "UPDATE OR IGNORE sluice_jobs AS j SET state = 'available', run_at = ?1, finished_at = NULL, \
                 cancel_requested = 0, max_attempts = max(max_attempts, attempt + 1) \
             WHERE state IN {RETRIABLE} AND (unique_key IS NULL OR NOT EXISTS ( \
                 SELECT 1 FROM sluice_jobs p WHERE p.unique_key = j.unique_key AND p.id <> j.id \
                 AND p.state IN {PENDING}))"
        );
        let query = match &params {
            RetryParams::Ids(ids) => sqlx::query(AssertSqlSafe(format!(
                "{update} AND id IN (SELECT value FROM json_each(?2))"
            )))
            .bind(now)
            .bind(Value::from(ids.clone()).to_string()),
            RetryParams::AllDead { queue } => sqlx::query(AssertSqlSafe(format!(
                "{update} AND state = 'dead' AND (?2 IS NULL OR queue = ?2)"
            )))
            .bind(now)
            .bind(queue.clone()),
        };
        let result = query.execute(&self.pool).await.map_err(sql::error)?;
        if result.rows_affected() > 0 {
            self.enqueued.notify_waiters();
        }
        Ok(result.rows_affected())
    }

    async fn cancel_jobs(&self, ids: &[JobId]) -> Result<Vec<(JobId, Cancelled)>, StoreError> {
        let now = millis(self.now());
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::error)?;
        let mut results = Vec::with_capacity(ids.len());
        for &id in ids {
            let cancelled = sqlx::query(
                "UPDATE sluice_jobs SET state = 'cancelled', finished_at = ? \
                 WHERE id = ? AND state IN ('scheduled', 'available', 'retryable')",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
            let outcome = if cancelled.rows_affected() > 0 {
                Cancelled::Cancelled
            } else {
                let requested = sqlx::query("UPDATE sluice_jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'")
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
        tx.commit().await.map_err(sql::error)?;
        Ok(results)
    }

    async fn discard_jobs(&self, ids: &[JobId]) -> Result<u64, StoreError> {
        let result = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM sluice_jobs WHERE id IN (SELECT value FROM json_each(?)) AND state IN {FINAL}"
        )))
        .bind(Value::from(ids.to_vec()).to_string())
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
                 SELECT id FROM sluice_jobs WHERE state IN (SELECT value FROM json_each(?1)) \
                 AND finished_at < ?2 AND (?3 IS NULL OR queue = ?3) LIMIT ?4)",
        )
        .bind(serde_json::to_string(&states).unwrap_or_default())
        .bind(millis(params.finished_before))
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::error)?;
        let advanced = sqlx::query(
            "INSERT INTO sluice_schedules (name, last_tick) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET last_tick = ?2 WHERE last_tick < ?2",
        )
        .bind(name)
        .bind(millis(tick))
        .execute(&mut *tx)
        .await
        .map_err(sql::error)?;
        if advanced.rows_affected() == 0 {
            return Ok(None);
        }
        let jobs = [job];
        let enqueued = insert(&mut tx, &jobs, self.now()).await?;
        tx.commit().await.map_err(sql::error)?;
        self.enqueued.notify_waiters();
        crate::metrics::enqueued(&jobs, &enqueued);
        Ok(enqueued.first().copied())
    }

    async fn wait_for_jobs(&self, queue: &str, timeout: Duration) {
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

/// Up to `limit` available jobs of `queue`, at most `per_partition` running per partition key
/// (counting those running already), in claim order: each partition's first jobs, found by a
/// skip scan over the partition index, so a partition with a long backlog never hides others.
async fn partitioned_candidates(
    tx: &mut SqliteConnection,
    queue: &str,
    limit: u32,
    per_partition: u32,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "WITH RECURSIVE keys(k) AS ( \
             SELECT min(partition_key) FROM sluice_jobs \
                 WHERE queue = ?1 AND state = 'available' AND partition_key IS NOT NULL \
             UNION ALL \
             SELECT (SELECT min(partition_key) FROM sluice_jobs \
                 WHERE queue = ?1 AND state = 'available' AND partition_key > keys.k) \
             FROM keys WHERE keys.k IS NOT NULL), \
         busy(k, n) AS ( \
             SELECT partition_key, count(*) FROM sluice_jobs \
             WHERE state = 'running' AND partition_key IN (SELECT k FROM keys) GROUP BY partition_key), \
         ranked AS ( \
             SELECT j.id, j.priority, j.run_at, \
                 row_number() OVER (PARTITION BY j.partition_key ORDER BY j.priority DESC, j.run_at, j.id) \
                     + coalesce(busy.n, 0) AS slot \
             FROM keys JOIN sluice_jobs j ON j.id IN ( \
                 SELECT id FROM sluice_jobs WHERE queue = ?1 AND state = 'available' AND partition_key = keys.k \
                 ORDER BY priority DESC, run_at, id LIMIT ?2) \
             LEFT JOIN busy ON busy.k = keys.k \
             WHERE keys.k IS NOT NULL) \
         SELECT id, priority, run_at FROM ranked WHERE slot <= ?2 \
         UNION ALL \
         SELECT * FROM (SELECT id, priority, run_at FROM sluice_jobs \
             WHERE queue = ?1 AND state = 'available' AND partition_key IS NULL \
             ORDER BY priority DESC, run_at, id LIMIT ?3) \
         ORDER BY 2 DESC, 3, 1 LIMIT ?3"
    )
    .bind(queue)
    .bind(i64::from(per_partition))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(sql::error)?;
    Ok(rows.into_iter().map(|(id, _, _)| id).collect())
}

/// Inserts `jobs` in order on `conn` (in its transaction), all but the pending duplicates of a
/// unique key in one statement.
async fn insert(
    conn: &mut SqliteConnection,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>, StoreError> {
    let mut results = vec![Enqueued::Inserted(0); jobs.len()];
    let (unique, plain): (Vec<_>, Vec<_>) = jobs
        .iter()
        .enumerate()
        .partition(|(_, j)| j.unique_key.is_some());
    if !plain.is_empty() {
        let rows: Vec<Value> = plain.iter().map(|(_, job)| row_json(job, now)).collect();
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, \
                 partition_key, created_at) \
             SELECT value->>'queue', value->>'kind', value->'args', value->>'priority', value->>'state', \
                 value->>'max_attempts', value->>'run_at', value->>'partition_key', ? \
             FROM json_each(?) ORDER BY key \
             RETURNING id",
        )
        .bind(millis(now))
        .bind(Value::Array(rows).to_string())
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
            "INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, \
                 unique_key, partition_key, created_at) \
             VALUES (?, ?, json(?), ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN {PENDING} DO NOTHING \
             RETURNING id"
        )))
        .bind(&job.queue)
        .bind(&job.kind)
        .bind(job.args.to_string())
        .bind(job.priority)
        .bind(job.initial_state(now).as_str())
        .bind(i64::from(job.max_attempts))
        .bind(millis(job.run_at.unwrap_or(now)))
        .bind(&job.unique_key)
        .bind(&job.partition_key)
        .bind(millis(now))
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql::error)?;
        results[index] = match inserted {
            Some(id) => Enqueued::Inserted(id),
            None => Enqueued::Duplicate(
                sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT id FROM sluice_jobs WHERE unique_key = ? AND state IN {PENDING}"
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

/// A new job as the JSON object the bulk insert reads.
fn row_json(job: &NewJob, now: DateTime<Utc>) -> Value {
    serde_json::json!({
        "queue": job.queue,
        "kind": job.kind,
        "args": job.args,
        "priority": job.priority,
        "state": job.initial_state(now).as_str(),
        "max_attempts": job.max_attempts,
        "run_at": millis(job.run_at.unwrap_or(now)),
        "partition_key": job.partition_key,
    })
}

/// A job from a row of [`COLUMNS`].
fn job(row: &SqliteRow) -> Result<Job, StoreError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(sql::error);
    let number = |name: &str| row.try_get::<i64, _>(name).map_err(sql::error);
    let time = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map(|t| t.map(from_millis))
            .map_err(sql::error)
    };
    let json = |name: &str| -> Result<Value, StoreError> {
        serde_json::from_str(&text(name)?)
            .map_err(|e| StoreError::Schema(format!("column {name}: {e}")))
    };
    Ok(Job {
        id: number("id")?,
        queue: text("queue")?,
        kind: text("kind")?,
        args: json("args")?,
        priority: i16::try_from(number("priority")?).unwrap_or_default(),
        state: sql::state(&text("state")?)?,
        attempt: u32::try_from(number("attempt")?).unwrap_or_default(),
        max_attempts: u32::try_from(number("max_attempts")?).unwrap_or_default(),
        run_at: from_millis(number("run_at")?),
        lease_until: time("lease_until")?,
        worker: row.try_get("worker").map_err(sql::error)?,
        errors: serde_json::from_value(json("errors")?)
            .map_err(|e| StoreError::Schema(format!("column errors: {e}")))?,
        unique_key: row.try_get("unique_key").map_err(sql::error)?,
        partition_key: row.try_get("partition_key").map_err(sql::error)?,
        created_at: from_millis(number("created_at")?),
        finished_at: time("finished_at")?,
    })
}

store_impl!(
    SqliteStore,
    "sqlite",
    fn concurrent_claims(&self) -> bool {
        false
    }
);
