//! The registrar: every few seconds, reports the worker to the store's registry (its host,
//! queues and busy slots, kinds and schedules) with the minute counts that changed; a last
//! report when it stops marks it stopped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::store::registry::{KindInfo, WorkerBeat, WorkerInfo, WorkerQueue};
use crate::worker::state::{Inner, Slots, nap};

/// Reports at once and every `inner.beat_every` until `stop`, then once more as stopped.
pub(crate) async fn register_loop(
    inner: Arc<Inner>,
    slots: Vec<(String, usize, Slots)>,
    stop: CancellationToken,
) {
    let started_at = inner.clock.now();
    let mut stopped_at = None;
    loop {
        let minutes = inner.tally.changed(inner.clock.now());
        let beat = WorkerBeat {
            info: info(&inner, &slots, started_at, stopped_at),
            minutes,
        };
        let sent = beat.minutes.clone();
        if let Err(e) = inner.call("beat", inner.store.beat(beat)).await {
            tracing::debug!(error = %e, "cannot report to the store's registry");
            inner.tally.unsent(&sent);
        }
        if stopped_at.is_some() {
            return;
        }
        if !nap(inner.beat_every, &stop).await {
            stopped_at = Some(inner.clock.now());
        }
    }
}

fn info(
    inner: &Inner,
    slots: &[(String, usize, Slots)],
    started_at: DateTime<Utc>,
    stopped_at: Option<DateTime<Utc>>,
) -> WorkerInfo {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    WorkerInfo {
        name: inner.name.clone(),
        host: super::super::builder::hostname(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        queues: slots
            .iter()
            .map(|(name, concurrency, slots)| WorkerQueue {
                name: name.clone(),
                slots: count(*concurrency),
                busy: count(concurrency.saturating_sub(slots.running.available_permits())),
            })
            .collect(),
        kinds: inner
            .kinds
            .iter()
            .map(|(kind, (_, config))| {
                (
                    kind.clone(),
                    KindInfo {
                        max_attempts: config.max_attempts,
                    },
                )
            })
            .collect(),
        schedules: inner.schedules.iter().map(crate::Schedule::info).collect(),
        started_at,
        beat_at: inner.clock.now(),
        stopped_at,
    }
}
