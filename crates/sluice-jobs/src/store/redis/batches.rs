//! Batches on Redis: a hash counting their jobs, changed by the scripts that end them, and the
//! callbacks it fires once (`batch_fire` in `lua/lib.lua`).

use std::collections::HashMap;

use redis::AsyncCommands;

use super::{RedisStore, error, job_args};
use crate::batch::{Batch, BatchId, BatchStatus, Callbacks, EnqueuedBatch, not_open};
use crate::clock::{from_millis, millis};
use crate::job::{JobId, NewJob};
use crate::store::error::StoreError;

/// A callback's job arguments as the batch scripts keep them (a JSON array of strings), or ''.
fn callback(job: &Option<NewJob>) -> String {
    job.as_ref().map_or_else(String::new, |job| {
        serde_json::Value::from(vec![
            job.queue.clone(),
            job.kind.clone(),
            job.args.to_string(),
            job.priority.to_string(),
            job.max_attempts.to_string(),
            job.partition_key.clone().unwrap_or_default(),
            job.traceparent.clone().unwrap_or_default(),
        ])
        .to_string()
    })
}

/// Writes the batch and its jobs in one script.
pub(super) async fn insert(store: &RedisStore, batch: &Batch) -> Result<EnqueuedBatch, StoreError> {
    let now = store.now();
    let mut args = vec![
        millis(now).to_string(),
        batch.description.clone().unwrap_or_default(),
        if batch.open { "1" } else { "" }.to_owned(),
        callback(&batch.on_success),
        callback(&batch.on_complete),
    ];
    for job in &batch.jobs {
        args.extend(job_args(job, now));
    }
    let ids: Vec<i64> = store.run(&store.scripts.batch, args).await?;
    let (id, jobs) = ids
        .split_first()
        .ok_or_else(|| StoreError::Schema("the batch script returned nothing".to_owned()))?;
    Ok(EnqueuedBatch {
        id: *id,
        jobs: jobs.to_vec(),
    })
}

/// Adds jobs to an open batch in one script.
pub(super) async fn add(
    store: &RedisStore,
    batch: BatchId,
    jobs: &[NewJob],
) -> Result<Vec<JobId>, StoreError> {
    let now = store.now();
    let mut args = vec![millis(now).to_string(), batch.to_string()];
    for job in jobs {
        args.extend(job_args(job, now));
    }
    let out: Vec<i64> = store.run(&store.scripts.batch_add, args).await?;
    match out.split_first() {
        Some((1, ids)) => Ok(ids.to_vec()),
        _ => Err(StoreError::Rejected(not_open(batch))),
    }
}

/// Closes a batch, firing it if every job has ended; returns whether it was open.
pub(super) async fn close(store: &RedisStore, batch: BatchId) -> Result<bool, StoreError> {
    let args = vec![millis(store.now()).to_string(), batch.to_string()];
    let closed: i64 = store.run(&store.scripts.batch_close, args).await?;
    Ok(closed == 1)
}

/// A batch's hash, read as its status.
pub(super) async fn get(
    store: &RedisStore,
    batch: BatchId,
) -> Result<Option<BatchStatus>, StoreError> {
    let mut conn = store.conn.clone();
    let fields: HashMap<String, String> = conn
        .hgetall(format!("{}:batch:{batch}", store.prefix))
        .await
        .map_err(error)?;
    if fields.is_empty() {
        return Ok(None);
    }
    let text = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let number = |name: &str| {
        text(name)
            .parse::<u64>()
            .map_err(|e| StoreError::Schema(format!("batch field `{name}`: {e}")))
    };
    let time = |name: &str| text(name).parse::<i64>().ok().map(from_millis);
    Ok(Some(BatchStatus {
        id: batch,
        description: Some(text("description").to_owned()).filter(|d| !d.is_empty()),
        total: number("total")?,
        ended: number("ended")?,
        succeeded: number("succeeded")?,
        open: text("open") == "1",
        callbacks: Callbacks {
            on_success: !text("on_success").is_empty(),
            on_complete: !text("on_complete").is_empty(),
            enqueued: serde_json::from_str(text("callbacks"))
                .map_err(|e| StoreError::Schema(format!("batch field `callbacks`: {e}")))?,
        },
        created_at: time("created_at")
            .ok_or_else(|| StoreError::Schema("batch hash lacks `created_at`".to_owned()))?,
        finished_at: time("finished_at"),
    }))
}

/// The latest `limit` batches, newest first: read down from the last id taken.
pub(super) async fn list(store: &RedisStore, limit: u32) -> Result<Vec<BatchStatus>, StoreError> {
    let mut conn = store.conn.clone();
    let last: Option<i64> = conn
        .get(format!("{}:batch_seq", store.prefix))
        .await
        .map_err(error)?;
    let mut out = Vec::new();
    let mut id = last.unwrap_or(0);
    while id > 0 && out.len() < limit as usize {
        if let Some(status) = get(store, id).await? {
            out.push(status);
        }
        id -= 1;
    }
    Ok(out)
}
