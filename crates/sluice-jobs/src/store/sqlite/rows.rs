//! How jobs are written to rows and read back from them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::super::error::StoreError;
use super::super::params::Enqueued;
use super::super::sql;
use crate::batch::BatchId;
use crate::clock::{from_millis, millis, period_millis};
use crate::job::{Job, JobId, NewJob, Step, UniqueUntil};
use crate::workflow::Graph;

/// Inserts `jobs` in order on `conn` (in its transaction), all but the pending duplicates of a
/// unique key in one statement, as members of `batch` if given.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    jobs: &[NewJob],
    now: DateTime<Utc>,
    batch: Option<BatchId>,
) -> Result<Vec<Enqueued>, StoreError> {
    let mut results = vec![Enqueued::Inserted(0); jobs.len()];
    let (unique, plain): (Vec<_>, Vec<_>) = jobs
        .iter()
        .enumerate()
        .partition(|(_, j)| j.unique_key.is_some());
    if !plain.is_empty() {
        let rows: Vec<Value> = plain.iter().map(|(_, job)| row_json(job, now)).collect();
        let mut ids: Vec<i64> = sqlx::query_scalar(include_str!("queries/insert.sql"))
            .bind(millis(now))
            .bind(Value::Array(rows).to_string())
            .bind(batch)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql::error)?;
        ids.sort_unstable();
        for ((index, _), id) in plain.iter().zip(ids) {
            results[*index] = Enqueued::Inserted(id);
        }
    }
    for (index, job) in unique {
        // A key's holder may end between the two statements; then the insert is tried again.
        results[index] = loop {
            let holder: Option<i64> = sqlx::query_scalar(include_str!("queries/holder.sql"))
                .bind(&job.unique_key)
                .bind(millis(now))
                .fetch_optional(&mut *conn)
                .await
                .map_err(sql::error)?;
            if let Some(id) = holder {
                break Enqueued::Duplicate(id);
            }
            let inserted: Option<i64> =
                sqlx::query_scalar(include_str!("queries/insert_unique.sql"))
                    .bind(&job.queue)
                    .bind(&job.kind)
                    .bind(job.args.to_string())
                    .bind(job.priority)
                    .bind(job.initial_state(now).as_str())
                    .bind(i64::from(job.max_attempts))
                    .bind(millis(job.run_at.unwrap_or(now)))
                    .bind(&job.unique_key)
                    .bind(&job.partition_key)
                    .bind(&job.traceparent)
                    .bind(millis(now))
                    .bind(job.unique_for.map(period_millis))
                    .bind((job.unique_until == UniqueUntil::Start).then_some("start"))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(sql::error)?;
            if let Some(id) = inserted {
                break Enqueued::Inserted(id);
            }
        };
    }
    Ok(results)
}

/// A new job as the JSON object the bulk insert reads.
fn row_json(job: &NewJob, now: DateTime<Utc>) -> Value {
    serde_json::json!({
        "queue": job.queue,
        "kind": job.kind,
        "args": job.args,
        "priority": job.priority,
        "state": job.initial_state(now).as_str(),
        "max_attempts": job.max_attempts,
        "run_at": millis(job.run_at.unwrap_or(now)),
        "partition_key": job.partition_key,
        "traceparent": job.traceparent,
    })
}

/// Step `i` of `graph` as the JSON object the workflow insert reads, given every step's id.
fn step_json(graph: &Graph, i: usize, ids: &[JobId], now: DateTime<Utc>) -> Value {
    let mut row = row_json(&graph.jobs[i], now);
    let list = |steps: &[usize]| {
        (!steps.is_empty()).then(|| Value::from(Graph::ids(steps, ids)).to_string())
    };
    if let Value::Object(fields) = &mut row {
        fields.extend([
            ("id".to_owned(), Value::from(ids[i])),
            (
                "state".to_owned(),
                Value::from(graph.initial_state(i, now).as_str()),
            ),
            ("workflow_id".to_owned(), Value::from(ids.first().copied())),
            ("step".to_owned(), Value::from(graph.names[i].as_str())),
            (
                "depends_on".to_owned(),
                Value::from(list(&graph.depends_on[i]).unwrap_or_else(|| "[]".to_owned())),
            ),
            (
                "dependents".to_owned(),
                Value::from(list(&graph.dependents[i])),
            ),
            (
                "waiting_on".to_owned(),
                Value::from(graph.depends_on[i].len()),
            ),
            (
                "on_dependency_failure".to_owned(),
                Value::from(graph.on_failure[i].as_str()),
            ),
        ]);
    }
    row
}

/// Inserts `graph`'s steps on `conn` (in its write transaction) with the ids that follow the
/// last one taken; returns them.
pub(super) async fn insert_workflow(
    conn: &mut SqliteConnection,
    graph: &Graph,
    now: DateTime<Utc>,
) -> Result<Vec<JobId>, StoreError> {
    let first: i64 = sqlx::query_scalar(include_str!("queries/next_id.sql"))
        .fetch_one(&mut *conn)
        .await
        .map_err(sql::error)?;
    let ids: Vec<JobId> = (first..).take(graph.len()).collect();
    let rows: Vec<Value> = (0..graph.len())
        .map(|i| step_json(graph, i, &ids, now))
        .collect();
    sqlx::query(include_str!("queries/insert_workflow.sql"))
        .bind(millis(now))
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await
        .map_err(sql::error)?;
    Ok(ids)
}

/// A job from a row of `sluice_jobs`.
pub(super) fn job(row: &SqliteRow) -> Result<Job, StoreError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(sql::error);
    let number = |name: &str| row.try_get::<i64, _>(name).map_err(sql::error);
    let time = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map(|t| t.map(from_millis))
            .map_err(sql::error)
    };
    let json = |name: &str| -> Result<Value, StoreError> {
        serde_json::from_str(&text(name)?)
            .map_err(|e| StoreError::Schema(format!("column {name}: {e}")))
    };
    Ok(Job {
        id: number("id")?,
        queue: text("queue")?,
        kind: text("kind")?,
        args: json("args")?,
        priority: i16::try_from(number("priority")?).unwrap_or_default(),
        state: sql::state(&text("state")?)?,
        attempt: u32::try_from(number("attempt")?).unwrap_or_default(),
        max_attempts: u32::try_from(number("max_attempts")?).unwrap_or_default(),
        run_at: from_millis(number("run_at")?),
        lease_until: time("lease_until")?,
        worker: row.try_get("worker").map_err(sql::error)?,
        errors: serde_json::from_value(json("errors")?)
            .map_err(|e| StoreError::Schema(format!("column errors: {e}")))?,
        unique_key: row.try_get("unique_key").map_err(sql::error)?,
        partition_key: row.try_get("partition_key").map_err(sql::error)?,
        created_at: from_millis(number("created_at")?),
        finished_at: time("finished_at")?,
        traceparent: row.try_get("traceparent").map_err(sql::error)?,
        result: row
            .try_get::<Option<String>, _>("result")
            .map_err(sql::error)?
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| StoreError::Schema(format!("column result: {e}")))?,
        step: step(row)?,
        batch: row.try_get("batch_id").map_err(sql::error)?,
        unique_for: row
            .try_get::<Option<i64>, _>("unique_for_ms")
            .map_err(sql::error)?
            .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
    })
}

/// A job's place in its workflow, from a row of `sluice_jobs`.
fn step(row: &SqliteRow) -> Result<Option<Step>, StoreError> {
    let Some(workflow) = row
        .try_get::<Option<i64>, _>("workflow_id")
        .map_err(sql::error)?
    else {
        return Ok(None);
    };
    let text = |name: &str| {
        row.try_get::<Option<String>, _>(name)
            .map_err(sql::error)
            .map(Option::unwrap_or_default)
    };
    Ok(Some(Step {
        workflow,
        name: text("step")?,
        depends_on: serde_json::from_str(&text("depends_on")?)
            .map_err(|e| StoreError::Schema(format!("column depends_on: {e}")))?,
        waiting_on: u32::try_from(row.try_get::<i64, _>("waiting_on").map_err(sql::error)?)
            .unwrap_or(0),
        on_dependency_failure: text("on_dependency_failure")?
            .parse()
            .map_err(StoreError::Schema)?,
    }))
}
