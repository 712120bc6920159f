//! Claims on SQLite, inside the claim's write transaction (which makes them one at a time):
//! plain, under a partition limit, and under a shared rate of the queue or of each kind or key.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use crate::clock::{after, millis};
use crate::metrics;
use crate::store::error::StoreError;
use crate::store::params::ClaimParams;
use crate::store::rate::{self, Candidate, RateScope, SharedRate};
use crate::store::sql;

/// The rows of the jobs `params` claims, moved to running in transaction `tx`: under a rate of
/// the queue, capped by what its window has left and counted in it.
pub(super) async fn claim_in(
    tx: &mut SqliteConnection,
    params: &ClaimParams,
    now: DateTime<Utc>,
) -> Result<Vec<SqliteRow>, StoreError> {
    let lease_until = millis(after(now, params.lease));
    let mut limit = params.limit;
    if let Some(rate) = params.rate {
        if rate.by != RateScope::Queue {
            return claim_scoped(tx, params, &rate, now, lease_until).await;
        }
        let used: i64 = sqlx::query_scalar(include_str!("queries/rate_take.sql"))
            .bind(&params.queue)
            .bind(rate.window(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(sql::error)?;
        limit = rate.cap(&params.queue, used, params.limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
    }
    let rows = match params.partition_limit {
        None => sqlx::query(include_str!("queries/claim.sql"))
            .bind(&params.worker)
            .bind(lease_until)
            .bind(&params.queue)
            .bind(i64::from(limit)),
        Some(per_partition) => {
            let ids = partitioned_candidates(tx, &params.queue, limit, per_partition).await?;
            sqlx::query(include_str!("queries/claim_ids.sql"))
                .bind(&params.worker)
                .bind(lease_until)
                .bind(Value::from(ids).to_string())
        }
    }
    .fetch_all(&mut *tx)
    .await
    .map_err(sql::error)?;
    if params.rate.is_some() && !rows.is_empty() {
        sqlx::query(include_str!("queries/rate_used.sql"))
            .bind(&params.queue)
            .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(sql::error)?;
    }
    Ok(rows)
}

/// A claim under a rate per kind or per partition key: candidates in claim order without the
/// kinds or keys whose window is used up (nor, with a partition limit, the keys running their
/// most), those their windows still allow started, and their windows counted.
async fn claim_scoped(
    tx: &mut SqliteConnection,
    params: &ClaimParams,
    rate: &SharedRate,
    now: DateTime<Utc>,
    lease_until: i64,
) -> Result<Vec<SqliteRow>, StoreError> {
    let window = rate.window(now);
    sqlx::query(include_str!("queries/rate_scopes_gone.sql"))
        .bind(&params.queue)
        .bind(window)
        .execute(&mut *tx)
        .await
        .map_err(sql::error)?;
    let used: HashMap<String, i64> = sqlx::query_as(include_str!("queries/rate_scopes.sql"))
        .bind(&params.queue)
        .bind(window)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql::error)?
        .into_iter()
        .collect();
    let running: HashMap<String, i64> = match params.partition_limit {
        None => HashMap::new(),
        Some(_) => sqlx::query_as(include_str!("queries/running_partitions.sql"))
            .fetch_all(&mut *tx)
            .await
            .map_err(sql::error)?
            .into_iter()
            .collect(),
    };
    let (kinds, keys) = rate::excluded(rate, &used, params.partition_limit, &running);
    let candidates: Vec<(i64, String, Option<String>)> =
        sqlx::query_as(include_str!("queries/rate_candidates.sql"))
            .bind(&params.queue)
            .bind(Value::from(kinds).to_string())
            .bind(Value::from(keys).to_string())
            .bind(i64::from(params.limit))
            .fetch_all(&mut *tx)
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
        .bind(&params.worker)
        .bind(lease_until)
        .bind(Value::from(chosen.ids).to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(sql::error)?;
    let counted: serde_json::Map<String, Value> = chosen
        .counted
        .into_iter()
        .map(|(scope, n)| (scope, Value::from(n)))
        .collect();
    sqlx::query(include_str!("queries/rate_scopes_used.sql"))
        .bind(&params.queue)
        .bind(window)
        .bind(Value::Object(counted).to_string())
        .execute(&mut *tx)
        .await
        .map_err(sql::error)?;
    Ok(rows)
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
    let rows: Vec<(i64, i64, i64)> =
        sqlx::query_as(include_str!("queries/partition_candidates.sql"))
            .bind(queue)
            .bind(i64::from(per_partition))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(sql::error)?;
    Ok(rows.into_iter().map(|(id, _, _)| id).collect())
}
