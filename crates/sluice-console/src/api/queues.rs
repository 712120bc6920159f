//! Queues: the overview (jobs by state, throughput, wait times, the oldest available job,
//! pauses), throughput over time, and pausing and resuming.

use std::collections::BTreeMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_jobs::store::registry::{MinuteStats, minute_of, wait_quantile};

use super::{ApiError, rejected};
use crate::Console;
use crate::auth::may_change;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/api/v1/queues", get(overview))
        .route("/api/v1/throughput", get(throughput))
        .route("/api/v1/queues/{queue}/{action}", post(pause_or_resume))
}

/// Sums `minutes` of one queue: jobs succeeded and failed, and the wait quantiles.
fn summary<'a>(minutes: impl Iterator<Item = &'a MinuteStats>) -> Value {
    let mut sum = MinuteStats::default();
    for minute in minutes {
        sum.add(minute);
    }
    json!({
        "succeeded": sum.succeeded,
        "failed": sum.failed,
        "wait_p50_ms": wait_quantile(&sum.waits, 0.5),
        "wait_p99_ms": wait_quantile(&sum.waits, 0.99),
    })
}

/// `GET /api/v1/queues`: every queue with jobs, a pause, a live worker or a minute counted in
/// the last day.
async fn overview(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let store = console.jobs()?.store.as_ref();
    let now = Utc::now();
    let jobs = console.jobs()?;
    let (stats, counted_at) = jobs.counts.get(&jobs.store).await?;
    let minutes = store.minutes(now - Duration::days(1)).await?;
    let workers = store.workers().await?;
    let mut names: Vec<&str> = stats.iter().map(|s| s.queue.as_str()).collect();
    names.extend(minutes.iter().map(|m| m.queue.as_str()));
    names.extend(
        workers
            .iter()
            .filter(|w| w.live(now))
            .flat_map(|w| w.queues.iter().map(|q| q.name.as_str())),
    );
    names.sort_unstable();
    names.dedup();
    let hour_ago = now - Duration::hours(1);
    let queues: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let stat = stats.iter().find(|s| s.queue == name);
            let of_queue = || minutes.iter().filter(move |m| m.queue == name);
            let served_by = workers
                .iter()
                .filter(|w| w.live(now) && w.queues.iter().any(|q| q.name == name))
                .count();
            json!({
                "name": name,
                "counts": stat.map(|s| s.counts.clone()).unwrap_or_default(),
                "oldest_available": stat.and_then(|s| s.oldest_available),
                "paused_since": stat.and_then(|s| s.paused_since),
                "last_hour": summary(of_queue().filter(|m| m.minute >= hour_ago)),
                "last_day": summary(of_queue()),
                "live_workers": served_by,
            })
        })
        .collect();
    let live = workers.iter().filter(|w| w.live(now)).count();
    Ok(Json(
        json!({ "at": now, "counted_at": counted_at, "queues": queues, "live_workers": live }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThroughputQuery {
    /// `hour` (by minute) or `day` (by 15 minutes).
    window: Option<String>,
}

/// `GET /api/v1/throughput?window=hour|day`: per queue, jobs succeeded and failed and the wait
/// quantiles in each step of the window, oldest first, steps without jobs included.
async fn throughput(
    State(console): State<Console>,
    query: Result<Query<ThroughputQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(rejected)?;
    let (span, step) = match q.window.as_deref().unwrap_or("hour") {
        "hour" => (Duration::hours(1), Duration::minutes(1)),
        "day" => (Duration::days(1), Duration::minutes(15)),
        other => {
            return Err(ApiError::BadRequest(format!(
                "window `{other}` is not known; expected hour or day"
            )));
        }
    };
    let now = Utc::now();
    let steps = (span.num_seconds() / step.num_seconds()) as usize;
    // The first step starts so that the last one holds the current minute.
    let first = minute_of(now) + Duration::minutes(1) - step * i32::try_from(steps).unwrap_or(0);
    let minutes = console.jobs()?.store.minutes(first).await?;
    let mut series: BTreeMap<&str, Vec<MinuteStats>> = BTreeMap::new();
    for minute in &minutes {
        let buckets = series.entry(minute.queue.as_str()).or_insert_with(|| {
            (0..steps)
                .map(|i| {
                    MinuteStats::new(&minute.queue, first + step * i32::try_from(i).unwrap_or(0))
                })
                .collect()
        });
        let index = bucket(first, step, minute.minute);
        if let Some(sum) = index.and_then(|i| buckets.get_mut(i)) {
            sum.add(minute);
        }
    }
    let series: Vec<Value> = series
        .into_iter()
        .map(|(queue, buckets)| {
            let points: Vec<Value> = buckets
                .iter()
                .map(|b| {
                    json!({
                        "at": b.minute,
                        "succeeded": b.succeeded,
                        "failed": b.failed,
                        "wait_p50_ms": wait_quantile(&b.waits, 0.5),
                        "wait_p99_ms": wait_quantile(&b.waits, 0.99),
                    })
                })
                .collect();
            json!({"queue": queue, "points": points})
        })
        .collect();
    Ok(Json(json!({
        "from": first,
        "step_seconds": step.num_seconds(),
        "series": series,
    })))
}

/// Which step of `step`s from `first` holds `at`.
fn bucket(first: DateTime<Utc>, step: Duration, at: DateTime<Utc>) -> Option<usize> {
    let offset = (at - first).num_seconds();
    (offset >= 0).then(|| (offset / step.num_seconds()) as usize)
}

/// `POST /api/v1/queues/{queue}/pause` or `…/resume`.
async fn pause_or_resume(
    State(console): State<Console>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((queue, action)) = path.map_err(rejected)?;
    let pause = match action.as_str() {
        "pause" => true,
        "resume" => false,
        other => {
            return Err(ApiError::NotFound(format!(
                "`{other}` is not an action on queues; expected pause or resume"
            )));
        }
    };
    may_change(console.token.as_ref(), &headers)?;
    if queue.is_empty() || queue.len() > 200 {
        return Err(ApiError::BadRequest(
            "a queue name is 1 to 200 characters".to_owned(),
        ));
    }
    let store = console.jobs()?.store.as_ref();
    let changed = if pause {
        store.pause(&queue).await?
    } else {
        store.resume(&queue).await?
    };
    console.jobs()?.counts.forget();
    tracing::info!(%queue, %action, changed, "console: queue changed");
    Ok(Json(
        json!({ "queue": queue, "paused": pause, "changed": changed }),
    ))
}
