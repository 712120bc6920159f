//! Batches on PostgreSQL: a row counting their jobs, changed under its lock by the statements
//! that end them (`sluice_batch_ended`), and the callbacks it fires once (`sluice_batch_fire`).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::PostgresStore;
use crate::batch::{Batch, BatchId, BatchStatus, Callbacks, EnqueuedBatch, not_open};
use crate::job::{JobId, NewJob};
use crate::store::error::StoreError;
use crate::store::params::Enqueued;
use crate::store::sql;

/// Inserts the batch row and its jobs in one transaction.
pub(super) async fn insert(
    store: &PostgresStore,
    batch: &Batch,
) -> Result<EnqueuedBatch, StoreError> {
    let mut tx = store.pool.begin().await.map_err(sql::error)?;
    let id: i64 = sqlx::query_scalar(include_str!("queries/batch_insert.sql"))
        .bind(&batch.description)
        .bind(count(batch.jobs.len()))
        .bind(batch.open)
        .bind(batch.on_success.as_ref().map(Json))
        .bind(batch.on_complete.as_ref().map(Json))
        .bind(store.now())
        .fetch_one(&mut *tx)
        .await
        .map_err(sql::error)?;
    let jobs = store.insert_in(&mut tx, &batch.jobs, Some(id)).await?;
    tx.commit().await.map_err(sql::error)?;
    Ok(EnqueuedBatch {
        id,
        jobs: jobs.into_iter().map(Enqueued::id).collect(),
    })
}

/// Adds jobs to an open batch: its row locked while they are inserted, so a close waits.
pub(super) async fn add(
    store: &PostgresStore,
    batch: BatchId,
    jobs: &[NewJob],
) -> Result<Vec<JobId>, StoreError> {
    let mut tx = store.pool.begin().await.map_err(sql::error)?;
    let open: Option<i64> = sqlx::query_scalar(include_str!("queries/batch_add.sql"))
        .bind(batch)
        .bind(count(jobs.len()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql::error)?;
    if open.is_none() {
        return Err(StoreError::Rejected(not_open(batch)));
    }
    let added = store.insert_in(&mut tx, jobs, Some(batch)).await?;
    tx.commit().await.map_err(sql::error)?;
    Ok(added.into_iter().map(Enqueued::id).collect())
}

/// Closes a batch, and fires it if every job has ended already.
pub(super) async fn close(store: &PostgresStore, batch: BatchId) -> Result<bool, StoreError> {
    let mut tx = store.pool.begin().await.map_err(sql::error)?;
    let closed: Option<i64> = sqlx::query_scalar(include_str!("queries/batch_close.sql"))
        .bind(batch)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql::error)?;
    if closed.is_some() {
        sqlx::query(include_str!("queries/batch_fire.sql"))
            .bind(batch)
            .bind(store.now())
            .bind(&store.prefix)
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
    }
    tx.commit().await.map_err(sql::error)?;
    Ok(closed.is_some())
}

/// A batch's row, read as its status.
pub(super) async fn get(
    store: &PostgresStore,
    batch: BatchId,
) -> Result<Option<BatchStatus>, StoreError> {
    let row = sqlx::query(include_str!("queries/batch_get.sql"))
        .bind(batch)
        .fetch_optional(&store.pool)
        .await
        .map_err(sql::error)?;
    row.as_ref().map(status).transpose()
}

/// The latest `limit` batches, newest first.
pub(super) async fn list(
    store: &PostgresStore,
    limit: u32,
) -> Result<Vec<BatchStatus>, StoreError> {
    sqlx::query(include_str!("queries/batch_list.sql"))
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(sql::error)?
        .iter()
        .map(status)
        .collect()
}

/// A row of `sluice_batches`, as a batch's status.
fn status(row: &PgRow) -> Result<BatchStatus, StoreError> {
    let decode = || -> Result<BatchStatus, sqlx::Error> {
        let number = |name: &str| {
            row.try_get::<i32, _>(name)
                .map(|n| u64::try_from(n).unwrap_or(0))
        };
        let present = |name: &str| {
            row.try_get::<Option<Json<NewJob>>, _>(name)
                .map(|job| job.is_some())
        };
        Ok(BatchStatus {
            id: row.try_get("id")?,
            description: row.try_get("description")?,
            total: number("total")?,
            ended: number("ended")?,
            succeeded: number("succeeded")?,
            open: row.try_get("open")?,
            callbacks: Callbacks {
                on_success: present("on_success")?,
                on_complete: present("on_complete")?,
                enqueued: row.try_get("callbacks")?,
            },
            created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    };
    decode().map_err(sql::error)
}

/// A count of jobs as stored.
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
