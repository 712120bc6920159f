//! How jobs are read back from the fields of their hashes.

use chrono::{DateTime, Utc};

use super::super::error::StoreError;
use super::FIELDS;
use crate::clock::from_millis;
use crate::job::{Job, Step};

/// A job hash's [`FIELDS`], `None` where missing.
pub(super) type Row = Vec<Option<String>>;

/// One field of a job hash: its name (for messages) and its value, if present.
type Field = (&'static str, Option<String>);

fn text((name, value): Field) -> Result<String, StoreError> {
    value.ok_or_else(|| StoreError::Schema(format!("job hash lacks `{name}`")))
}

fn optional((_, value): Field) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn parsed<T: std::str::FromStr>(field: Field) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let name = field.0;
    text(field)?
        .parse()
        .map_err(|e| StoreError::Schema(format!("job field `{name}`: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(field: Field) -> Result<T, StoreError> {
    let name = field.0;
    serde_json::from_str(&text(field)?)
        .map_err(|e| StoreError::Schema(format!("job field `{name}`: {e}")))
}

fn time(field: Field) -> Result<Option<DateTime<Utc>>, StoreError> {
    let name = field.0;
    optional(field)
        .map(|v| v.parse().map(from_millis))
        .transpose()
        .map_err(|e| StoreError::Schema(format!("job field `{name}`: {e}")))
}

/// A job from its hash's [`FIELDS`], in that order.
pub(super) fn job(row: Row) -> Result<Job, StoreError> {
    let mut values = FIELDS
        .into_iter()
        .zip(row.into_iter().chain(std::iter::repeat(None)));
    let [
        id,
        queue,
        kind,
        args,
        priority,
        state,
        attempt,
        max_attempts,
        run_at,
        lease_until,
        worker,
        errors,
        unique_key,
        partition_key,
        created_at,
        finished_at,
        traceparent,
        result,
        unique_for,
        batch_id,
        workflow_id,
        step,
        depends_on,
        waiting_on,
        on_dependency_failure,
    ]: [Field; FIELDS.len()] = std::array::from_fn(|_| values.next().unwrap_or(("", None)));
    Ok(Job {
        id: parsed(id)?,
        queue: text(queue)?,
        kind: text(kind)?,
        args: json(args)?,
        priority: parsed(priority)?,
        state: text(state)?.parse().map_err(StoreError::Schema)?,
        attempt: parsed(attempt)?,
        max_attempts: parsed(max_attempts)?,
        run_at: from_millis(parsed(run_at)?),
        lease_until: time(lease_until)?,
        worker: optional(worker),
        errors: json(errors)?,
        unique_key: optional(unique_key),
        partition_key: optional(partition_key),
        created_at: from_millis(parsed(created_at)?),
        finished_at: time(finished_at)?,
        traceparent: optional(traceparent),
        result: optional(result)
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| StoreError::Schema(format!("field result: {e}")))?,
        unique_for: optional(unique_for)
            .map(|ms| ms.parse().map(std::time::Duration::from_millis))
            .transpose()
            .map_err(|e| StoreError::Schema(format!("job field `unique_for`: {e}")))?,
        batch: optional(batch_id)
            .map(|b| b.parse())
            .transpose()
            .map_err(|e| StoreError::Schema(format!("job field `batch_id`: {e}")))?,
        step: match optional(workflow_id) {
            None => None,
            Some(workflow) => Some(Step {
                workflow: workflow
                    .parse()
                    .map_err(|e| StoreError::Schema(format!("job field `workflow_id`: {e}")))?,
                name: text(step)?,
                depends_on: json(depends_on)?,
                waiting_on: parsed(waiting_on)?,
                on_dependency_failure: parsed(on_dependency_failure)?,
            }),
        },
    })
}
