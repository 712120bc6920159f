//! The registry of both SQL stores: the same tables (times in milliseconds, JSON as text) and
//! the same statements (`queries/`), run by these functions for either database.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::error;
use crate::clock::{from_millis, millis};
use crate::store::error::StoreError;
use crate::store::registry::{
    MinuteStats, Paused, REGISTRY_KEEP, WorkerBeat, WorkerInfo, from_json, merge_minutes, to_json,
};

/// Pauses (`pause`) or resumes `queue` as of `now`; whether that changed anything.
pub(crate) async fn set_paused<DB>(
    pool: &Pool<DB>,
    queue: &str,
    pause: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let query = if pause {
        sqlx::query_as::<DB, (String,)>(include_str!("queries/pause.sql"))
            .bind(queue.to_owned())
            .bind(millis(now))
    } else {
        sqlx::query_as::<DB, (String,)>(include_str!("queries/resume.sql")).bind(queue.to_owned())
    };
    let changed = query.fetch_optional(pool).await.map_err(error)?;
    Ok(changed.is_some())
}

/// The paused queues.
pub(crate) async fn paused<DB>(pool: &Pool<DB>) -> Result<Vec<Paused>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<(String, i64)> = sqlx::query_as::<DB, _>(include_str!("queries/paused.sql"))
        .fetch_all(pool)
        .await
        .map_err(error)?;
    Ok(rows
        .into_iter()
        .map(|(queue, since)| Paused {
            queue,
            since: from_millis(since),
        })
        .collect())
}

/// Records `beat` at `now`, and forgets what is older than [`REGISTRY_KEEP`], in one
/// transaction.
pub(crate) async fn beat<DB>(
    pool: &Pool<DB>,
    beat: WorkerBeat,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let WorkerBeat { mut info, minutes } = beat;
    info.beat_at = now;
    let mut tx = pool.begin().await.map_err(error)?;
    sqlx::query::<DB>(include_str!("queries/beat_worker.sql"))
        .bind(info.name.clone())
        .bind(to_json(&info)?)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(error)?;
    for minute in minutes {
        sqlx::query::<DB>(include_str!("queries/beat_minute.sql"))
            .bind(minute.queue)
            .bind(millis(minute.minute))
            .bind(info.name.clone())
            .bind(i64::try_from(minute.succeeded).unwrap_or(i64::MAX))
            .bind(i64::try_from(minute.failed).unwrap_or(i64::MAX))
            .bind(to_json(&minute.waits)?)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
    }
    let cutoff = millis(now - REGISTRY_KEEP);
    for forget in [
        include_str!("queries/forget_workers.sql"),
        include_str!("queries/forget_minutes.sql"),
    ] {
        sqlx::query::<DB>(forget)
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
    }
    tx.commit().await.map_err(error)
}

/// Every worker kept, by name, each with the time of its last report.
pub(crate) async fn workers<DB>(pool: &Pool<DB>) -> Result<Vec<WorkerInfo>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<(String, i64)> = sqlx::query_as::<DB, _>(include_str!("queries/workers.sql"))
        .fetch_all(pool)
        .await
        .map_err(error)?;
    rows.into_iter()
        .map(|(info, beat_at)| {
            let mut info: WorkerInfo = from_json("sluice_workers.info", &info)?;
            info.beat_at = from_millis(beat_at);
            Ok(info)
        })
        .collect()
}

/// Each queue's minutes from `since` on, summed over workers.
pub(crate) async fn minutes<DB>(
    pool: &Pool<DB>,
    since: DateTime<Utc>,
) -> Result<Vec<MinuteStats>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (String, i64, i64, i64, String): for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<(String, i64, i64, i64, String)> =
        sqlx::query_as::<DB, _>(include_str!("queries/minutes.sql"))
            .bind(millis(since))
            .fetch_all(pool)
            .await
            .map_err(error)?;
    let rows = rows
        .into_iter()
        .map(|(queue, minute, succeeded, failed, waits)| {
            Ok(MinuteStats {
                queue,
                minute: from_millis(minute),
                succeeded: u64::try_from(succeeded).unwrap_or(0),
                failed: u64::try_from(failed).unwrap_or(0),
                waits: from_json("sluice_minutes.waits", &waits)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(merge_minutes(rows))
}

/// The last tick of each schedule, by `query` (the dialect's): rows of name and milliseconds.
pub(crate) async fn ticks<DB>(
    pool: &Pool<DB>,
    query: &'static str,
) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<(String, i64)> = sqlx::query_as::<DB, _>(query)
        .fetch_all(pool)
        .await
        .map_err(error)?;
    Ok(rows
        .into_iter()
        .map(|(name, tick)| (name, from_millis(tick)))
        .collect())
}
