//! Batches on SQLite: a row counting their jobs, changed in the transactions that end them
//! (the single writer keeps the count exact), and the callbacks it fires once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};

use super::rows::insert as insert_jobs;
use crate::batch::{
    Batch, BatchId, BatchStatus, Callbacks, EnqueuedBatch, callback_args, not_open,
};
use crate::clock::{from_millis, millis};
use crate::job::{JobId, NewJob};
use crate::store::error::StoreError;
use crate::store::params::Enqueued;
use crate::store::sql;

/// Inserts the batch row and its jobs in one transaction.
pub(super) async fn insert(
    pool: &SqlitePool,
    batch: &Batch,
    now: DateTime<Utc>,
) -> Result<EnqueuedBatch, StoreError> {
    let json = |job: &Option<NewJob>| {
        job.as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Rejected(e.to_string()))
    };
    let mut tx = super::write(pool).await?;
    let id: i64 = sqlx::query_scalar(include_str!("queries/batch_insert.sql"))
        .bind(&batch.description)
        .bind(i64::try_from(batch.jobs.len()).unwrap_or(i64::MAX))
        .bind(batch.open)
        .bind(json(&batch.on_success)?)
        .bind(json(&batch.on_complete)?)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(sql::error)?;
    let jobs = insert_jobs(&mut tx, &batch.jobs, now, Some(id)).await?;
    tx.commit().await.map_err(sql::error)?;
    Ok(EnqueuedBatch {
        id,
        jobs: jobs.into_iter().map(Enqueued::id).collect(),
    })
}

/// Adds jobs to an open batch.
pub(super) async fn add(
    pool: &SqlitePool,
    batch: BatchId,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<Vec<JobId>, StoreError> {
    let mut tx = super::write(pool).await?;
    let open: Option<i64> = sqlx::query_scalar(include_str!("queries/batch_add.sql"))
        .bind(batch)
        .bind(i64::try_from(jobs.len()).unwrap_or(i64::MAX))
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql::error)?;
    if open.is_none() {
        return Err(StoreError::Rejected(not_open(batch)));
    }
    let added = insert_jobs(&mut tx, jobs, now, Some(batch)).await?;
    tx.commit().await.map_err(sql::error)?;
    Ok(added.into_iter().map(Enqueued::id).collect())
}

/// Closes a batch, and fires it if every job has ended already; returns whether it was open
/// and whether it fired.
pub(super) async fn close(
    pool: &SqlitePool,
    batch: BatchId,
    now: DateTime<Utc>,
) -> Result<(bool, bool), StoreError> {
    let mut tx = super::write(pool).await?;
    let closed: Option<i64> = sqlx::query_scalar(include_str!("queries/batch_close.sql"))
        .bind(batch)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql::error)?;
    let fired = match closed {
        Some(_) => fire(&mut tx, batch, now).await?,
        None => false,
    };
    tx.commit().await.map_err(sql::error)?;
    Ok((closed.is_some(), fired))
}

/// Enqueues batch `batch`'s callbacks if it is closed, every job has ended and it has not
/// fired: `on_complete`, and `on_success` if every job succeeded, each with the batch's id in
/// its args. Runs in the caller's write transaction, so it fires once. Returns whether it did.
pub(super) async fn fire(
    conn: &mut SqliteConnection,
    batch: BatchId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done: Option<(Option<String>, Option<String>, bool)> =
        sqlx::query_as(include_str!("queries/batch_fire.sql"))
            .bind(batch)
            .bind(millis(now))
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql::error)?;
    let Some((on_success, on_complete, all_succeeded)) = done else {
        return Ok(false);
    };
    let mut callbacks = Vec::new();
    for (job, applies) in [(on_complete, true), (on_success, all_succeeded)] {
        let Some(text) = job.filter(|_| applies) else {
            continue;
        };
        let mut job: NewJob = serde_json::from_str(&text)
            .map_err(|e| StoreError::Schema(format!("a batch callback: {e}")))?;
        job.args = callback_args(&job.args, batch);
        callbacks.push(job);
    }
    let ids: Vec<JobId> = insert_jobs(conn, &callbacks, now, None)
        .await?
        .into_iter()
        .map(Enqueued::id)
        .collect();
    sqlx::query(include_str!("queries/batch_fired.sql"))
        .bind(batch)
        .bind(Value::from(ids).to_string())
        .execute(&mut *conn)
        .await
        .map_err(sql::error)?;
    Ok(true)
}

/// A batch's row, read as its status.
pub(super) async fn get(
    pool: &SqlitePool,
    batch: BatchId,
) -> Result<Option<BatchStatus>, StoreError> {
    let row = sqlx::query(include_str!("queries/batch_get.sql"))
        .bind(batch)
        .fetch_optional(pool)
        .await
        .map_err(sql::error)?;
    row.as_ref().map(status).transpose()
}

/// The latest `limit` batches, newest first.
pub(super) async fn list(pool: &SqlitePool, limit: u32) -> Result<Vec<BatchStatus>, StoreError> {
    sqlx::query(include_str!("queries/batch_list.sql"))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(sql::error)?
        .iter()
        .map(status)
        .collect()
}

/// A row of `sluice_batches`, as a batch's status.
fn status(row: &SqliteRow) -> Result<BatchStatus, StoreError> {
    let number = |name: &str| {
        row.try_get::<i64, _>(name)
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(sql::error)
    };
    let present = |name: &str| {
        row.try_get::<Option<String>, _>(name)
            .map(|job| job.is_some())
            .map_err(sql::error)
    };
    let callbacks: String = row.try_get("callbacks").map_err(sql::error)?;
    Ok(BatchStatus {
        id: row.try_get("id").map_err(sql::error)?,
        description: row.try_get("description").map_err(sql::error)?,
        total: number("total")?,
        ended: number("ended")?,
        succeeded: number("succeeded")?,
        open: row.try_get("open").map_err(sql::error)?,
        callbacks: Callbacks {
            on_success: present("on_success")?,
            on_complete: present("on_complete")?,
            enqueued: serde_json::from_str(&callbacks)
                .map_err(|e| StoreError::Schema(format!("column callbacks: {e}")))?,
        },
        created_at: from_millis(row.try_get("created_at").map_err(sql::error)?),
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")
            .map_err(sql::error)?
            .map(from_millis),
    })
}
