//! The reads both SQL stores run alike, each with its own query text and row reader: one job,
//! a listing, and the counts per queue and state.

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use super::error;
use crate::job::{Job, JobId};
use crate::store::error::StoreError;
use crate::store::params::{ArgsMatch, ListParams, QueueStats};

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

/// How a dialect writes a listing's filter on a value inside the args.
pub(crate) struct ArgsFilter {
    /// The condition, with `{path}` and `{value}` where the placeholders of the path and of
    /// the value (JSON text) go.
    pub(crate) condition: &'static str,
    /// The path as the condition reads it.
    pub(crate) path: fn(&ArgsMatch) -> String,
}

/// A value bound to a listing's statement.
enum Bind {
    Text(String),
    Number(i64),
}

/// The jobs `params` picks, newest first. The statement names only the filters given (the
/// state as a literal, one of a fixed set), so that each database plans it with the indexes
/// that serve those filters, partial ones included.
pub(crate) async fn list<DB>(
    pool: &Pool<DB>,
    args: &ArgsFilter,
    params: ListParams,
    job: RowReader<DB>,
) -> Result<Vec<Job>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
{
    let mut sql = String::from("SELECT * FROM sluice_jobs WHERE TRUE");
    let mut binds = Vec::new();
    let mut placeholder = |bind: Bind| {
        binds.push(bind);
        format!("${}", binds.len())
    };
    if let Some(state) = params.state {
        sql.push_str(&format!(" AND state = '{}'", state.as_str()));
    }
    for (column, value) in [
        ("queue", params.queue),
        ("kind", params.kind),
        ("unique_key", params.unique_key),
        ("partition_key", params.partition_key),
    ] {
        if let Some(value) = value {
            sql.push_str(&format!(
                " AND {column} = {}",
                placeholder(Bind::Text(value))
            ));
        }
    }
    if let Some(matching) = &params.args {
        let path = placeholder(Bind::Text((args.path)(matching)));
        let value = placeholder(Bind::Text(matching.value.to_string()));
        let condition = args
            .condition
            .replace("{path}", &path)
            .replace("{value}", &value);
        sql.push_str(&format!(" AND {condition}"));
    }
    if let Some(workflow) = params.workflow {
        sql.push_str(&format!(
            " AND workflow_id = {}",
            placeholder(Bind::Number(workflow))
        ));
    }
    if let Some(before) = params.before {
        sql.push_str(&format!(" AND id < {}", placeholder(Bind::Number(before))));
    }
    if let Some(after) = params.after {
        sql.push_str(&format!(" AND id > {}", placeholder(Bind::Number(after))));
    }
    let limit = placeholder(Bind::Number(i64::from(params.limit)));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(sql));
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text),
            Bind::Number(n) => query.bind(n),
        };
    }
    let rows = query.fetch_all(pool).await.map_err(error)?;
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
