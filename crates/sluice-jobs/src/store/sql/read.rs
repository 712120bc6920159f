//! The reads both SQL stores run alike, each with its own query text and row reader: one job,
//! a listing, and the counts per queue and state.

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use super::error;
use crate::job::{Job, JobId};
use crate::store::params::{ArgsMatch, ListParams, QueueStats};
use crate::store::roles::StoreError;

/// Reads a job from a row of the store's own columns.
pub(crate) type RowReader<DB> = fn(&<DB as Database>::Row) -> Result<Job, StoreError>;

/// The job `id`, by `query` (`get.sql`: one parameter, the id).
pub(crate) async fn get<DB>(
    pool: &Pool<DB>,
    query: &'static str,
    id: JobId,
    job: RowReader<DB>,
) -> Result<Option<Job>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    JobId: Encode<'static, DB> + Type<DB>,
{
    let row = sqlx::query::<DB>(query)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(error)?;
    row.as_ref().map(job).transpose()
}

/// The jobs `params` picks, by `query` (`list.sql`: queue, state, kind, unique key, partition
/// key, args path and value, the id to list below, and limit; `NULL` for any), the args path
/// written as the dialect reads it by `path`.
pub(crate) async fn list<DB>(
    pool: &Pool<DB>,
    query: &'static str,
    params: ListParams,
    path: fn(&ArgsMatch) -> String,
    job: RowReader<DB>,
) -> Result<Vec<Job>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Option<String>: Encode<'static, DB> + Type<DB>,
    Option<&'static str>: Encode<'static, DB> + Type<DB>,
    Option<i64>: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
{
    let (args_path, args_value) = params
        .args
        .as_ref()
        .map(|args| (path(args), args.value.to_string()))
        .unzip();
    let rows = sqlx::query::<DB>(query)
        .bind(params.queue)
        .bind(params.state.map(crate::job::JobState::as_str))
        .bind(params.kind)
        .bind(params.unique_key)
        .bind(params.partition_key)
        .bind(args_path)
        .bind(args_value)
        .bind(params.before)
        .bind(i64::from(params.limit))
        .fetch_all(pool)
        .await
        .map_err(error)?;
    rows.iter().map(job).collect()
}

/// Jobs per queue and state, by `query` (the dialect's): rows of queue, state, count and the
/// earliest due time in milliseconds.
pub(crate) async fn stats<DB>(
    pool: &Pool<DB>,
    query: &'static str,
) -> Result<Vec<QueueStats>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (String, String, i64, Option<i64>): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as::<DB, _>(query)
        .fetch_all(pool)
        .await
        .map_err(error)?;
    Ok(crate::store::params::group_stats(rows.into_iter().map(
        |(q, s, n, oldest)| (q, s, u64::try_from(n).unwrap_or(0), oldest),
    )))
}
