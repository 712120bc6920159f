//! Claims that need a transaction on PostgreSQL: under a partition limit or a shared rate.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool, PgRow};

use crate::metrics;
use crate::store::error::StoreError;
use crate::store::params::ClaimParams;
use crate::store::rate::SharedRate;
use crate::store::sql;

/// A claim under a partition limit or a shared rate, in transaction `conn`: the queue's window
/// row taken first (so claims at once wait for each other's count), the claim capped by what
/// the window has left, and the window counted.
pub(super) async fn claim_in(
    conn: &mut PgConnection,
    params: &ClaimParams,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<PgRow>, StoreError> {
    let mut limit = params.limit;
    if let Some(rate) = params.rate {
        let used: i32 = sqlx::query_scalar(include_str!("queries/rate_take.sql"))
            .bind(&params.queue)
            .bind(rate.window(now))
            .fetch_one(&mut *conn)
            .await
            .map_err(sql::error)?;
        limit = rate.cap(&params.queue, i64::from(used), params.limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
    }
    let rows = match params.partition_limit {
        None => sqlx::query(include_str!("queries/claim.sql"))
            .bind(&params.queue)
            .bind(i64::from(limit))
            .bind(&params.worker)
            .bind(lease_until)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql::error)?,
        Some(per_partition) => {
            sqlx::query(include_str!("queries/lock_partitions.sql"))
                .bind(&params.queue)
                .execute(&mut *conn)
                .await
                .map_err(sql::error)?;
            sqlx::query(include_str!("queries/claim_partitioned.sql"))
                .bind(&params.queue)
                .bind(i64::from(limit))
                .bind(&params.worker)
                .bind(lease_until)
                .bind(i64::from(per_partition))
                .fetch_all(&mut *conn)
                .await
                .map_err(sql::error)?
        }
    };
    if params.rate.is_some() && !rows.is_empty() {
        sqlx::query(include_str!("queries/rate_used.sql"))
            .bind(&params.queue)
            .bind(i32::try_from(rows.len()).unwrap_or(i32::MAX))
            .execute(&mut *conn)
            .await
            .map_err(sql::error)?;
    }
    Ok(rows)
}

/// A claim under a rate per kind or per partition key: one call of the function
/// `sluice_claim_scoped` (migration 11), which starts what the windows allow and counts them,
/// then the rows of the jobs it started.
pub(super) async fn claim_scoped(
    pool: &PgPool,
    params: &ClaimParams,
    rate: &SharedRate,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<PgRow>, StoreError> {
    let (ids, capped): (Vec<i64>, bool) = sqlx::query_as(include_str!("queries/claim_scoped.sql"))
        .bind(&params.queue)
        .bind(i32::try_from(params.limit).unwrap_or(i32::MAX))
        .bind(&params.worker)
        .bind(lease_until)
        .bind(
            params
                .partition_limit
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        )
        .bind(i32::try_from(rate.limit).unwrap_or(i32::MAX))
        .bind(rate.by.as_str())
        .bind(rate.window(now))
        .fetch_one(pool)
        .await
        .map_err(sql::error)?;
    if capped {
        metrics::rate_limited(&params.queue);
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(include_str!("queries/get_many.sql"))
        .bind(&ids)
        .fetch_all(pool)
        .await
        .map_err(sql::error)
}
