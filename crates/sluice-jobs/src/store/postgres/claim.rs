//! Claims that need a transaction on PostgreSQL: under a partition limit or a shared rate.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};

use crate::metrics;
use crate::store::error::StoreError;
use crate::store::params::ClaimParams;
use crate::store::rate::{self, Candidate, RateScope, SharedRate};
use crate::store::sql;

/// A claim under a partition limit or a shared rate, in transaction `conn`: the queue's window
/// row taken first (so claims at once wait for each other's count), the claim capped by what
/// the window has left, and the window counted. Under a rate per kind or per key, see
/// [`claim_scoped`].
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
        if rate.by != RateScope::Queue {
            return claim_scoped(conn, params, &rate, now, lease_until).await;
        }
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

/// A claim under a rate per kind or per partition key, in transaction `conn` holding the
/// queue's window row: candidates in claim order without the kinds or keys whose window is used
/// up (nor, with a partition limit, the keys running their most), those their windows still
/// allow started, and their windows counted.
async fn claim_scoped(
    conn: &mut PgConnection,
    params: &ClaimParams,
    rate: &SharedRate,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<PgRow>, StoreError> {
    let window = rate.window(now);
    let used: HashMap<String, i64> = sqlx::query_as(include_str!("queries/rate_scopes.sql"))
        .bind(&params.queue)
        .bind(window)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql::error)?
        .into_iter()
        .collect();
    let mut running = HashMap::new();
    if params.partition_limit.is_some() {
        sqlx::query(include_str!("queries/lock_partitions.sql"))
            .bind(&params.queue)
            .execute(&mut *conn)
            .await
            .map_err(sql::error)?;
        running = sqlx::query_as(include_str!("queries/running_partitions.sql"))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql::error)?
            .into_iter()
            .collect();
    }
    let (kinds, keys) = rate::excluded(rate, &used, params.partition_limit, &running);
    let candidates: Vec<(i64, String, Option<String>)> =
        sqlx::query_as(include_str!("queries/rate_candidates.sql"))
            .bind(&params.queue)
            .bind(&kinds)
            .bind(&keys)
            .bind(i64::from(params.limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql::error)?;
    let candidates: Vec<Candidate> = candidates
        .into_iter()
        .map(|(id, kind, partition_key)| Candidate {
            id,
            kind,
            partition_key,
        })
        .collect();
    let chosen = rate::choose(
        rate,
        &candidates,
        &used,
        params.partition_limit,
        &running,
        params.limit,
    );
    if chosen.capped {
        metrics::rate_limited(&params.queue);
    }
    if chosen.ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(include_str!("queries/claim_ids.sql"))
        .bind(&chosen.ids)
        .bind(&params.worker)
        .bind(lease_until)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql::error)?;
    let (scopes, counts): (Vec<String>, Vec<i32>) = chosen
        .counted
        .into_iter()
        .map(|(scope, n)| (scope, i32::try_from(n).unwrap_or(i32::MAX)))
        .unzip();
    sqlx::query(include_str!("queries/rate_scopes_used.sql"))
        .bind(&params.queue)
        .bind(window)
        .bind(&scopes)
        .bind(&counts)
        .execute(&mut *conn)
        .await
        .map_err(sql::error)?;
    Ok(rows)
}
