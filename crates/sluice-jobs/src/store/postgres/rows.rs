//! How jobs are read back from rows of `sluice_jobs`.

use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::super::error::StoreError;
use super::super::sql;
use crate::job::{AttemptError, Job, Step};

/// A job from a row of `sluice_jobs`.
pub(super) fn job(row: &PgRow) -> Result<Job, StoreError> {
    let get_count = |name: &str| {
        row.try_get::<i32, _>(name)
            .map(|n| u32::try_from(n).unwrap_or(0))
    };
    let decode = || -> Result<Job, sqlx::Error> {
        let state: String = row.try_get("state")?;
        let Json(args): Json<Value> = row.try_get("args")?;
        let Json(errors): Json<Vec<AttemptError>> = row.try_get("errors")?;
        Ok(Job {
            id: row.try_get("id")?,
            queue: row.try_get("queue")?,
            kind: row.try_get("kind")?,
            args,
            priority: row.try_get("priority")?,
            state: state
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            attempt: get_count("attempt")?,
            max_attempts: get_count("max_attempts")?,
            run_at: row.try_get("run_at")?,
            lease_until: row.try_get("lease_until")?,
            worker: row.try_get("worker")?,
            errors,
            unique_key: row.try_get("unique_key")?,
            partition_key: row.try_get("partition_key")?,
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
            traceparent: row.try_get("traceparent")?,
            result: row
                .try_get::<Option<Json<Value>>, _>("result")?
                .map(|Json(result)| result),
            step: step(row)?,
            batch: row.try_get("batch_id")?,
            unique_for: row
                .try_get::<Option<i64>, _>("unique_for_ms")?
                .map(|ms| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        })
    };
    decode().map_err(sql::error)
}

/// A job's place in its workflow, from a row of `sluice_jobs`.
fn step(row: &PgRow) -> Result<Option<Step>, sqlx::Error> {
    let Some(workflow) = row.try_get::<Option<i64>, _>("workflow_id")? else {
        return Ok(None);
    };
    let failure: Option<String> = row.try_get("on_dependency_failure")?;
    Ok(Some(Step {
        workflow,
        name: row
            .try_get::<Option<String>, _>("step")?
            .unwrap_or_default(),
        depends_on: row
            .try_get::<Option<Vec<i64>>, _>("depends_on")?
            .unwrap_or_default(),
        waiting_on: u32::try_from(row.try_get::<i32, _>("waiting_on")?).unwrap_or(0),
        on_dependency_failure: failure
            .as_deref()
            .unwrap_or("cancel")
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
    }))
}
