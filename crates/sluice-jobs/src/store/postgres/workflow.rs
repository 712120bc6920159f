//! Enqueuing a workflow's steps on PostgreSQL: ids taken first, every row written once.

use serde_json::Value;
use sqlx::types::Json;

use super::{PostgresStore, attempts};
use crate::job::{JobId, NewJob};
use crate::store::error::StoreError;
use crate::store::sql;
use crate::workflow::Graph;

/// Inserts `graph`'s steps in one transaction; returns their ids, in the graph's order.
pub(super) async fn insert(store: &PostgresStore, graph: &Graph) -> Result<Vec<JobId>, StoreError> {
    let now = store.now();
    let mut tx = store.pool.begin().await.map_err(sql::error)?;
    let ids: Vec<i64> = sqlx::query_scalar(include_str!("queries/take_ids.sql"))
        .bind(i64::try_from(graph.len()).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(sql::error)?;
    let jobs = &graph.jobs;
    let texts = |f: &dyn Fn(usize) -> String| (0..jobs.len()).map(f).collect::<Vec<String>>();
    let optional =
        |f: &dyn Fn(&NewJob) -> Option<String>| jobs.iter().map(f).collect::<Vec<Option<String>>>();
    let id_list = |steps: &[usize]| Value::from(Graph::ids(steps, &ids)).to_string();
    sqlx::query(include_str!("queries/insert_workflow.sql"))
        .bind(&ids)
        .bind(texts(&|i| jobs[i].queue.clone()))
        .bind(texts(&|i| jobs[i].kind.clone()))
        .bind(jobs.iter().map(|j| Json(&j.args)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.priority).collect::<Vec<i16>>())
        .bind(texts(&|i| graph.initial_state(i, now).as_str().to_owned()))
        .bind(
            jobs.iter()
                .map(|j| attempts(j.max_attempts))
                .collect::<Vec<i32>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.run_at.unwrap_or(now))
                .collect::<Vec<_>>(),
        )
        .bind(optional(&|j| j.partition_key.clone()))
        .bind(optional(&|j| j.traceparent.clone()))
        .bind(&graph.names)
        .bind(texts(&|i| id_list(&graph.depends_on[i])))
        .bind(texts(&|i| id_list(&graph.dependents[i])))
        .bind(
            graph
                .depends_on
                .iter()
                .map(|d| attempts(u32::try_from(d.len()).unwrap_or(u32::MAX)))
                .collect::<Vec<i32>>(),
        )
        .bind(texts(&|i| graph.on_failure[i].as_str().to_owned()))
        .bind(now)
        .bind(ids.first().copied())
        .execute(&mut *tx)
        .await
        .map_err(sql::error)?;
    store
        .notify(&mut tx, jobs.iter().map(|j| j.queue.as_str()))
        .await?;
    tx.commit().await.map_err(sql::error)?;
    Ok(ids)
}
