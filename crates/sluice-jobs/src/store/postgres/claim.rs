//! Claims on PostgreSQL under a partition limit or a shared rate.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool, PgRow};

use crate::metrics;
use crate::store::error::StoreError;
use crate::store::params::ClaimParams;
use crate::store::rate::SharedRate;
use crate::store::sql;

/// A claim under a partition limit, in transaction `conn`: partition-limited claims of the
/// queue one at a time, each key's first jobs up to its limit.
pub(super) async fn claim_partitioned(
    conn: &mut PgConnection,
    params: &ClaimParams,
    per_partition: u32,
    lease_until: DateTime<Utc>,
) -> Result<Vec<PgRow>, StoreError> {
    sqlx::query(include_str!("queries/lock_partitions.sql"))
        .bind(&params.queue)
        .execute(&mut *conn)
        .await
        .map_err(sql::error)?;
    sqlx::query(include_str!("queries/claim_partitioned.sql"))
        .bind(&params.queue)
        .bind(i64::from(params.limit))
        .bind(&params.worker)
        .bind(lease_until)
        .bind(i64::from(per_partition))
        .fetch_all(&mut *conn)
        .await
        .map_err(sql::error)
}

/// A claim under a shared rate (of the queue, or per kind or per key): one call of the function
/// `sluice_claim_rated` (migration 11), which starts what the windows allow and counts them.
/// A claim that comes back short counts as held back if a job waits in a used-up window.
pub(super) async fn claim_rated(
    pool: &PgPool,
    params: &ClaimParams,
    rate: &SharedRate,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<PgRow>, StoreError> {
    let rows = sqlx::query(include_str!("queries/claim_rated.sql"))
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
        .fetch_all(pool)
        .await
        .map_err(sql::error)?;
    if rows.len() < params.limit as usize {
        let held: bool = sqlx::query_scalar(include_str!("queries/rate_held.sql"))
            .bind(&params.queue)
            .bind(rate.by.as_str())
            .bind(i32::try_from(rate.limit).unwrap_or(i32::MAX))
            .fetch_one(pool)
            .await
            .map_err(sql::error)?;
        if held {
            metrics::rate_limited(&params.queue);
        }
    }
    Ok(rows)
}
