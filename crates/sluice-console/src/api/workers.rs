//! Workers (live and gone) and the cron schedules they fire, with "fire now".

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};
use sluice_jobs::Schedule;
use sluice_jobs::store::registry::ScheduleInfo;

use super::{ApiError, rejected};
use crate::Console;
use crate::auth::may_change;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/api/v1/workers", get(workers))
        .route("/api/v1/schedules", get(schedules))
        .route("/api/v1/schedules/{name}/fire", post(fire))
}

/// `GET /api/v1/workers`: every worker that reported in the last day, live ones first, each
/// `live`, `stopped` (it said so) or `gone` (it stopped reporting).
async fn workers(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let mut workers = console.jobs()?.store.workers().await?;
    workers.sort_by_key(|w| (!w.live(now), std::cmp::Reverse(w.beat_at)));
    let views: Vec<Value> = workers
        .iter()
        .map(|w| {
            let state = match (w.live(now), w.stopped_at) {
                (true, _) => "live",
                (false, Some(_)) => "stopped",
                (false, None) => "gone",
            };
            let mut view = json!(w);
            view["state"] = json!(state);
            view
        })
        .collect();
    Ok(Json(json!({ "at": now, "workers": views })))
}

/// Each schedule the workers report (live ones first), with the names of those that fire it.
async fn reported(
    console: &Console,
) -> Result<BTreeMap<String, (ScheduleInfo, Vec<String>)>, ApiError> {
    let now = Utc::now();
    let mut workers = console.jobs()?.store.workers().await?;
    workers.sort_by_key(|w| !w.live(now));
    let mut schedules: BTreeMap<String, (ScheduleInfo, Vec<String>)> = BTreeMap::new();
    for worker in &workers {
        for schedule in &worker.schedules {
            let entry = schedules
                .entry(schedule.name.clone())
                .or_insert_with(|| (schedule.clone(), Vec::new()));
            if worker.live(now) {
                entry.1.push(worker.name.clone());
            }
        }
    }
    Ok(schedules)
}

/// `GET /api/v1/schedules`: each schedule with its pattern, time zone, job, the tick it last
/// fired, the next, and the live workers that fire it; schedules that fired but that no worker
/// reports any more are listed with their last tick only.
async fn schedules(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let reported = reported(&console).await?;
    let ticks = console.jobs()?.store.ticks().await?;
    let mut names: Vec<&String> = reported.keys().chain(ticks.keys()).collect();
    names.sort_unstable();
    names.dedup();
    let views: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let last = ticks.get(name);
            match reported.get(name) {
                Some((info, workers)) => {
                    let next = Schedule::new(&info.name, &info.cron, info.job.clone())
                        .and_then(|s| s.time_zone(&info.timezone))
                        .ok()
                        .and_then(|s| s.next_tick(now));
                    json!({
                        "name": name, "cron": info.cron, "timezone": info.timezone,
                        "job": info.job, "last_fired": last, "next_fire": next,
                        "workers": workers,
                    })
                }
                None => json!({
                    "name": name, "cron": null, "timezone": null, "job": null,
                    "last_fired": last, "next_fire": null, "workers": [],
                }),
            }
        })
        .collect();
    Ok(Json(json!({ "at": now, "schedules": views })))
}

/// `POST /api/v1/schedules/{name}/fire`: enqueues the schedule's job now, outside its ticks
/// (the next tick fires as usual).
async fn fire(
    State(console): State<Console>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = name.map_err(rejected)?;
    may_change(console.token.as_ref(), &headers)?;
    let reported = reported(&console).await?;
    let (info, _) = reported.get(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no worker reports a schedule `{name}` (its job is known only to the workers that run it)"
        ))
    })?;
    let enqueued = console
        .jobs()?
        .store
        .enqueue(vec![info.job.clone()])
        .await?;
    console.jobs()?.counts.forget();
    let id = enqueued.first().map(|e| e.id());
    tracing::info!(schedule = %name, job = ?id, "console: schedule fired by hand");
    Ok(Json(json!({ "schedule": name, "job": id })))
}
