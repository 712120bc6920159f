//! Jobs: lists and searches, one job's page, and the actions on one job, a selection, or every
//! job a filter matches.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_jobs::store::registry::{WorkerInfo, attempts_allowed};
use sluice_jobs::store::{ArgsMatch, Cancelled, ListParams, RetryParams, select};
use sluice_jobs::{Job, JobId, JobState};

use super::{ApiError, rejected};
use crate::Console;
use crate::auth::may_change;

/// The largest page a listing returns.
pub(crate) const MAX_PAGE: u32 = 500;

/// The most ids one action names.
const MAX_IDS: usize = 10_000;

/// How many ids one page of a search by a value in the args spans at most. Such a search reads
/// every job in its span (no index serves it), so a page answers in bounded time however large
/// the store; when it finds fewer jobs than asked, its `next_before` goes on below its span.
const SEARCH_SPAN: JobId = 100_000;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/api/v1/jobs", get(list))
        .route("/api/v1/jobs/{id}", get(show))
        .route("/api/v1/jobs/actions/{action}", post(act))
        .route("/api/v1/batches", get(batches))
}

/// Which jobs: those matching every field given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    queue: Option<String>,
    state: Option<JobState>,
    kind: Option<String>,
    unique_key: Option<String>,
    partition_key: Option<String>,
    /// The steps of one workflow.
    workflow: Option<JobId>,
    /// `PATH=VALUE`, a value inside the args.
    args: Option<String>,
}

impl Filter {
    fn params(self, limit: u32) -> Result<ListParams, ApiError> {
        let args = self
            .args
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<ArgsMatch>())
            .transpose()
            .map_err(ApiError::BadRequest)?;
        let given = |v: Option<String>| v.filter(|v| !v.is_empty());
        Ok(ListParams {
            queue: given(self.queue),
            state: self.state,
            kind: given(self.kind),
            unique_key: given(self.unique_key),
            partition_key: given(self.partition_key),
            workflow: self.workflow,
            args,
            before: None,
            after: None,
            limit,
        })
    }
}

/// The query of a listing: a filter, and the page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    queue: Option<String>,
    state: Option<JobState>,
    kind: Option<String>,
    unique_key: Option<String>,
    partition_key: Option<String>,
    workflow: Option<JobId>,
    args: Option<String>,
    before: Option<JobId>,
    limit: Option<u32>,
}

/// A page's size: `limit`, 50 by default, refused outside 1 to [`MAX_PAGE`] with what to ask
/// for (`what`: "jobs", say).
fn page_limit(limit: Option<u32>, what: &str) -> Result<u32, ApiError> {
    match limit.unwrap_or(50) {
        limit @ 1..=MAX_PAGE => Ok(limit),
        limit => Err(ApiError::BadRequest(format!(
            "limit {limit} is out of range: ask for 1 to {MAX_PAGE} {what}"
        ))),
    }
}

/// The query of the batches listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchesQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/batches`: the latest batches, newest first, each with its progress.
async fn batches(
    State(console): State<Console>,
    query: Result<Query<BatchesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(rejected)?;
    let limit = page_limit(q.limit, "batches")?;
    let batches = console.jobs()?.store.batches(limit).await?;
    Ok(Json(json!({ "batches": batches })))
}

/// A job with what the console adds: the attempt limit that applies and its trace id.
#[derive(Serialize)]
struct JobView<'a> {
    #[serde(flatten)]
    job: &'a Job,
    attempts_allowed: u32,
    trace_id: Option<&'a str>,
}

impl<'a> JobView<'a> {
    fn new(job: &'a Job, workers: &[WorkerInfo]) -> JobView<'a> {
        JobView {
            job,
            attempts_allowed: attempts_allowed(&job.kind, job.max_attempts, workers),
            trace_id: job
                .traceparent
                .as_deref()
                .and_then(|tp| tp.split('-').nth(1)),
        }
    }
}

/// `GET /api/v1/jobs`: a page of jobs, newest first, and the `before` of the next page (for a
/// search by args, the next span when this one held fewer jobs than asked).
async fn list(
    State(console): State<Console>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(rejected)?;
    let limit = page_limit(q.limit, "jobs, and page with `before`")?;
    let filter = Filter {
        queue: q.queue,
        state: q.state,
        kind: q.kind,
        unique_key: q.unique_key,
        partition_key: q.partition_key,
        workflow: q.workflow,
        args: q.args,
    };
    let mut params = ListParams {
        before: q.before,
        ..filter.params(limit)?
    };
    if params.args.is_some() {
        let top = match q.before {
            Some(before) => before,
            None => newest(&console).await? + 1,
        };
        params.after = Some(top.saturating_sub(SEARCH_SPAN)).filter(|&after| after > 0);
    }
    let jobs = console.jobs()?.store.list(params.clone()).await?;
    let workers = console.jobs()?.store.workers().await?;
    let next = match (jobs.len() == limit as usize, jobs.last(), params.after) {
        (true, Some(last), _) => Some(last.id),
        (_, _, Some(after)) => Some(after + 1),
        _ => None,
    };
    let views: Vec<JobView<'_>> = jobs.iter().map(|j| JobView::new(j, &workers)).collect();
    Ok(Json(json!({ "jobs": views, "next_before": next })))
}

/// The id of the newest job, 0 with none.
async fn newest(console: &Console) -> Result<JobId, ApiError> {
    let newest = console
        .jobs()?
        .store
        .list(ListParams {
            limit: 1,
            ..ListParams::default()
        })
        .await?;
    Ok(newest.first().map_or(0, |job| job.id))
}

/// `GET /api/v1/jobs/{id}`: the job, the worker it ran on, and the schedules that enqueue jobs
/// like it.
async fn show(
    State(console): State<Console>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(rejected)?;
    let id: JobId = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`{id}` is not a job id (a number)")))?;
    let job = console
        .jobs()?
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no job {id}")))?;
    let workers = console.jobs()?.store.workers().await?;
    let now = chrono::Utc::now();
    let ran_on = job.worker.as_ref().and_then(|name| {
        workers
            .iter()
            .find(|w| &w.name == name)
            .map(|w| json!({"name": w.name, "host": w.host, "pid": w.pid, "live": w.live(now)}))
    });
    let mut schedules: Vec<&str> = workers
        .iter()
        .flat_map(|w| &w.schedules)
        .filter(|s| s.job.kind == job.kind && s.job.queue == job.queue && s.job.args == job.args)
        .map(|s| s.name.as_str())
        .collect();
    schedules.sort_unstable();
    schedules.dedup();
    let batch = match job.batch {
        Some(batch) => console.jobs()?.store.batch(batch).await?,
        None => None,
    };
    Ok(Json(json!({
        "job": JobView::new(&job, &workers),
        "ran_on": ran_on,
        "schedules": schedules,
        "batch": batch,
    })))
}

/// Which jobs an action applies to: named by id, or every job a filter matches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    ids: Option<Vec<JobId>>,
    filter: Option<Filter>,
}

/// `POST /api/v1/jobs/actions/{retry|cancel|discard|run-now}`.
async fn act(
    State(console): State<Console>,
    headers: HeaderMap,
    action: Result<Path<String>, PathRejection>,
    body: Result<Json<Selection>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(action) = action.map_err(rejected)?;
    if !["retry", "cancel", "discard", "run-now"].contains(&action.as_str()) {
        return Err(ApiError::NotFound(format!(
            "`{action}` is not an action on jobs; expected retry, cancel, discard or run-now"
        )));
    }
    may_change(console.token.as_ref(), &headers)?;
    let Json(selection) = body.map_err(rejected)?;
    let store = console.jobs()?.store.as_ref();
    let ids = match (selection.ids, selection.filter) {
        (Some(ids), None) if ids.len() <= MAX_IDS => ids,
        (Some(ids), None) => {
            return Err(ApiError::BadRequest(format!(
                "{} ids is too many for one request: name at most {MAX_IDS}, or use a filter",
                ids.len()
            )));
        }
        (None, Some(filter)) => {
            let params = filter.params(0)?;
            if action == "run-now" {
                due_now(store, params).await?
            } else {
                select::matching(store, &params).await?
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give either `ids` (a list of job ids) or `filter` (an object such as {\"state\": \"dead\", \"queue\": \"mail\"})".to_owned(),
            ));
        }
    };
    let matched = ids.len();
    let answer = match action.as_str() {
        "retry" => {
            json!({"matched": matched, "changed": store.retry(RetryParams::Ids(ids)).await?})
        }
        "run-now" => {
            let mut waiting = Vec::with_capacity(ids.len());
            for id in ids {
                if store
                    .get(id)
                    .await?
                    .is_some_and(|j| matches!(j.state, JobState::Scheduled | JobState::Retryable))
                {
                    waiting.push(id);
                }
            }
            json!({"matched": matched, "changed": store.retry(RetryParams::Ids(waiting)).await?})
        }
        "discard" => json!({"matched": matched, "changed": store.discard(&ids).await?}),
        _ => {
            let results = store.cancel(&ids).await?;
            let count = |what: Cancelled| results.iter().filter(|(_, c)| *c == what).count();
            json!({
                "matched": matched,
                "changed": count(Cancelled::Cancelled) + count(Cancelled::Requested),
                "cancelled": count(Cancelled::Cancelled),
                "requested": count(Cancelled::Requested),
            })
        }
    };
    console.jobs()?.counts.forget();
    tracing::info!(%action, matched, "console: jobs changed");
    Ok(Json(answer))
}

/// The jobs `params` matches that wait for a time (scheduled or retryable): what "run now"
/// applies to; none when the filter names another state.
async fn due_now(
    store: &dyn sluice_jobs::Store,
    params: ListParams,
) -> Result<Vec<JobId>, ApiError> {
    let states = match params.state {
        None => vec![JobState::Scheduled, JobState::Retryable],
        Some(state @ (JobState::Scheduled | JobState::Retryable)) => vec![state],
        Some(_) => Vec::new(),
    };
    let mut ids = Vec::new();
    for state in states {
        let params = ListParams {
            state: Some(state),
            ..params.clone()
        };
        ids.extend(select::matching(store, &params).await?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_limit_is_50_by_default_and_refused_outside_its_range() {
        assert_eq!(page_limit(None, "jobs").ok(), Some(50));
        assert_eq!(page_limit(Some(MAX_PAGE), "jobs").ok(), Some(MAX_PAGE));
        for wrong in [0, MAX_PAGE + 1] {
            let Err(ApiError::BadRequest(message)) = page_limit(Some(wrong), "batches") else {
                panic!("{wrong} is refused");
            };
            assert!(message.contains("ask for 1 to 500 batches"), "{message}");
        }
    }
}
