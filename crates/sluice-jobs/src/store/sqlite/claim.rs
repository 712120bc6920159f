//! Claims on SQLite, inside the claim's write transaction (which makes them one at a time):
//! plain, under a partition limit, and under a shared rate of the queue or of each kind or key.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use crate::clock::{after, millis};
use crate::metrics;
use crate::store::error::StoreError;
use crate::store::params::ClaimParams;
use crate::store::rate::{RateScope, SharedRate};
use crate::store::sql;

/// The rows of the jobs `params` claims, moved to running in transaction `tx`.
pub(super) async fn claim_in(
    tx: &mut SqliteConnection,
    params: &ClaimParams,
    now: DateTime<Utc>,
) -> Result<Vec<SqliteRow>, StoreError> {
    let lease_until = millis(after(now, params.lease));
    if let Some(rate) = params.rate {
        return claim_rated(tx, params, &rate, now, lease_until).await;
    }
    match params.partition_limit {
        None => sqlx::query(include_str!("queries/claim.sql"))
            .bind(&params.worker)
            .bind(lease_until)
            .bind(&params.queue)
            .bind(i64::from(params.limit)),
        Some(per_partition) => {
            let ids =
                partitioned_candidates(tx, &params.queue, params.limit, per_partition).await?;
            sqlx::query(include_str!("queries/claim_ids.sql"))
                .bind(&params.worker)
                .bind(lease_until)
                .bind(Value::from(ids).to_string())
        }
    }
    .fetch_all(&mut *tx)
    .await
    .map_err(sql::error)
}

/// A claim under a shared rate (of the queue, or per kind or per key): candidates in claim order
/// without the kinds or keys whose window is used up (nor, with a partition limit, the keys
/// running their most), those their windows still allow started, and their windows counted.
async fn claim_rated(
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
    let used_up: Vec<&str> = used
        .iter()
        .filter(|(_, n)| **n >= i64::from(rate.limit))
        .map(|(scope, _)| scope.as_str())
        .collect();
    let (kinds, keys) = excluded(rate, &used_up, params.partition_limit, &running);
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
    let chosen = choose(
        rate,
        &candidates,
        &used,
        params.partition_limit,
        &running,
        params.limit,
    );
    // Held back: a candidate passed over, or, the claim short, a job left out with its window.
    let held_back = chosen.capped
        || (chosen.ids.len() < params.limit as usize
            && !used_up.is_empty()
            && sqlx::query_scalar(include_str!("queries/rate_held.sql"))
                .bind(&params.queue)
                .bind(rate.by.as_str())
                .bind(Value::from(used_up).to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(sql::error)?);
    if held_back {
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

/// An available job a claim under a rate per kind or per key may start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    id: i64,
    kind: String,
    partition_key: Option<String>,
}

/// What a claim under a rate per kind or per key starts.
#[derive(Debug, Default, PartialEq, Eq)]
struct Chosen {
    /// The jobs, in claim order.
    ids: Vec<i64>,
    /// The starts to count, per kind or key.
    counted: BTreeMap<String, i64>,
    /// Whether the rate held a candidate back.
    capped: bool,
}

/// What a claim under a rate per kind or per key leaves out of its candidates: the kinds, and the
/// partition keys, whose window is used up (`used_up`) or, with a partition limit, that run
/// `partition_limit` jobs already (`running`).
fn excluded<'a>(
    rate: &SharedRate,
    used_up: &[&'a str],
    partition_limit: Option<u32>,
    running: &'a HashMap<String, i64>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let (mut kinds, mut keys) = (Vec::new(), Vec::new());
    match rate.by {
        RateScope::Queue => {}
        RateScope::Kind => kinds.extend(used_up),
        RateScope::PartitionKey => keys.extend(used_up),
    }
    if let Some(most) = partition_limit {
        keys.extend(
            running
                .iter()
                .filter(|(_, n)| **n >= i64::from(most))
                .map(|(key, _)| key.as_str()),
        );
    }
    (kinds, keys)
}

/// Picks from `candidates` (in claim order) at most `limit` jobs: each kind or key of `rate` no
/// more than its window has left (`used` holds its starts so far), and with a partition limit,
/// each key no more than `partition_limit` running (`running` holds those running now).
fn choose(
    rate: &SharedRate,
    candidates: &[Candidate],
    used: &HashMap<String, i64>,
    partition_limit: Option<u32>,
    running: &HashMap<String, i64>,
    limit: u32,
) -> Chosen {
    let mut chosen = Chosen::default();
    let mut busy: HashMap<&str, i64> = HashMap::new();
    for c in candidates {
        if chosen.ids.len() >= limit as usize {
            break;
        }
        let scope = rate.scope_of(&c.kind, c.partition_key.as_deref());
        if let Some(scope) = scope {
            let started = used.get(scope).copied().unwrap_or(0)
                + chosen.counted.get(scope).copied().unwrap_or(0);
            if started >= i64::from(rate.limit) {
                chosen.capped = true;
                continue;
            }
        }
        if let (Some(most), Some(key)) = (partition_limit, c.partition_key.as_deref()) {
            let n = busy
                .entry(key)
                .or_insert_with(|| running.get(key).copied().unwrap_or(0));
            if *n >= i64::from(most) {
                continue;
            }
            *n += 1;
        }
        if let Some(scope) = scope {
            *chosen.counted.entry(scope.to_owned()).or_insert(0) += 1;
        }
        chosen.ids.push(c.id);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::rate::RateScope;

    fn job(id: i64, kind: &str, key: Option<&str>) -> Candidate {
        Candidate {
            id,
            kind: kind.to_owned(),
            partition_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn each_kind_starts_no_more_than_its_window_has_left() {
        let rate = SharedRate::new(2, Duration::from_secs(60)).by(RateScope::Kind);
        let used = HashMap::from([("sms".to_owned(), 1)]);
        let candidates = vec![
            job(1, "sms", None),
            job(2, "sms", None),
            job(3, "mail", None),
            job(4, "mail", None),
            job(5, "mail", None),
        ];
        let chosen = choose(&rate, &candidates, &used, None, &HashMap::new(), 10);
        assert_eq!(chosen.ids, vec![1, 3, 4]);
        assert_eq!(
            chosen.counted,
            BTreeMap::from([("mail".to_owned(), 2), ("sms".to_owned(), 1)])
        );
        assert!(chosen.capped);
        assert_eq!(
            excluded(&rate, &["sms"], None, &HashMap::new()),
            (vec!["sms"], vec![])
        );
    }

    #[test]
    fn jobs_without_a_key_pass_a_rate_per_key_and_partition_limits_still_hold() {
        let rate = SharedRate::new(5, Duration::from_secs(1)).by(RateScope::PartitionKey);
        let running = HashMap::from([("acme".to_owned(), 1)]);
        let candidates = vec![
            job(1, "k", Some("acme")),
            job(2, "k", Some("acme")),
            job(3, "k", None),
            job(4, "k", Some("umbrella")),
        ];
        let chosen = choose(&rate, &candidates, &HashMap::new(), Some(2), &running, 10);
        assert_eq!(chosen.ids, vec![1, 3, 4]);
        assert!(!chosen.capped);
        let full = HashMap::from([("acme".to_owned(), 2)]);
        let (kinds, mut keys) = excluded(&rate, &["initech"], Some(2), &full);
        keys.sort_unstable();
        assert_eq!((kinds, keys), (vec![], vec!["acme", "initech"]));
        let limited = choose(
            &rate,
            &[job(1, "k", None), job(2, "k", None)],
            &HashMap::new(),
            None,
            &HashMap::new(),
            1,
        );
        assert_eq!(limited.ids, vec![1], "the claim's own limit holds");
    }
}
