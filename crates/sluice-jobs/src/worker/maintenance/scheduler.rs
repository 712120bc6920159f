//! The scheduler: fires each cron schedule's due ticks, once per tick across all workers.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use tokio_util::sync::CancellationToken;

use crate::store::FireParams;
use crate::worker::state::{Inner, nap};
use crate::{metrics, trace};

pub(crate) async fn schedule_loop(inner: Arc<Inner>, stop: CancellationToken) {
    if inner.schedules.is_empty() {
        return;
    }
    let started = inner.clock.now();
    let mut fired: Vec<Option<DateTime<Utc>>> = vec![None; inner.schedules.len()];
    loop {
        let now = inner.clock.now();
        for (schedule, last) in inner.schedules.iter().zip(fired.iter_mut()) {
            let Some(tick) = schedule.latest_tick(now) else {
                continue;
            };
            if tick <= started || *last == Some(tick) {
                continue;
            }
            let mut job = schedule.job().clone();
            let producing = trace::produce(std::slice::from_mut(&mut job));
            let fire = FireParams {
                name: schedule.name().to_owned(),
                tick,
                job,
            };
            let fired = inner.call("fire", inner.store.fire(fire)).await;
            if let Some(producing) = producing {
                producing.finish(fired.as_ref().map(Option::as_slice));
            }
            match fired {
                Ok(result) => {
                    *last = Some(tick);
                    if let Some(enqueued) = result {
                        metrics::enqueued(std::slice::from_ref(schedule.job()), &[enqueued]);
                        tracing::info!(schedule = schedule.name(), %tick, job = enqueued.id(), "schedule fired");
                    }
                }
                Err(e) => {
                    tracing::warn!(schedule = schedule.name(), error = %e, "cannot fire schedule");
                }
            }
        }
        if !nap(inner.schedule_every, &stop).await {
            return;
        }
    }
}
