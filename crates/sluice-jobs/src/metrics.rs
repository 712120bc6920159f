//! Every metric the job engine emits, through the [`metrics`] facade (Prometheus in the
//! `sluice` binary, on the same registry as pipelines).
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `sluice_jobs_enqueued_total` | counter | queue, kind, result | jobs inserted, or refused as duplicates of a pending unique key |
//! | `sluice_jobs_claimed_total` | counter | queue, kind | attempts started |
//! | `sluice_jobs_succeeded_total` | counter | queue, kind | jobs that succeeded |
//! | `sluice_jobs_failed_total` | counter | queue, kind | failed attempts (errors, panics, timeouts) |
//! | `sluice_jobs_retried_total` | counter | queue, kind | failed attempts that will run again |
//! | `sluice_jobs_dead_total` | counter | queue, kind | jobs out of attempts |
//! | `sluice_jobs_cancelled_total` | counter | queue, kind | running jobs cancelled |
//! | `sluice_jobs_snoozed_total` | counter | queue, kind | attempts put off by their handler |
//! | `sluice_jobs_released_total` | counter | queue, kind | running jobs given back at shutdown |
//! | `sluice_jobs_rescued_total` | counter | | jobs taken back from workers whose lease expired |
//! | `sluice_jobs_store_errors_total` | counter | op | failed store calls (the worker backs off) |
//! | `sluice_jobs_store_tidied_total` | counter | | times this worker tidied the store (PostgreSQL: vacuumed the jobs table) |
//! | `sluice_jobs_rate_limited_total` | counter | queue | claims a queue's shared rate limit cut short: its window's starts were used up, and the jobs wait for the next |
//! | `sluice_jobs_running` | gauge | queue | jobs this worker runs now |
//! | `sluice_jobs` | gauge | queue, state | jobs in the store per state that can still run: blocked, available, scheduled, retryable, running (sampled) |
//! | `sluice_jobs_oldest_available_age_seconds` | gauge | queue | how long the oldest available job has been due (sampled) |
//! | `sluice_jobs_queue_paused` | gauge | queue | 1 while the queue is paused (sampled) |
//! | `sluice_worker_slots` | gauge | queue | jobs this worker may run at once |
//! | `sluice_job_wait_seconds` | histogram | queue | from due to started |
//! | `sluice_job_run_seconds` | histogram | queue, kind | handler run time |

//!
//! A Prometheus recorder renders a histogram as a summary unless it is given buckets: give it
//! [`WAIT_BUCKETS`] and [`RUN_BUCKETS`] (the `sluice` binary does).

use std::time::Duration;

use metrics::{counter, gauge, histogram};

/// The buckets of `sluice_job_wait_seconds`, in seconds: from an idle worker's pickup (1 ms) to
/// a backlog of hours.
pub const WAIT_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3_600.0, 14_400.0,
];

/// The buckets of `sluice_job_run_seconds`, in seconds: from a no-op (100 µs) to an hour.
pub const RUN_BUCKETS: &[f64] = &[
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3_600.0,
];

use crate::job::NewJob;
use crate::store::params::{Enqueued, QueueStats};

/// Counts an enqueue's results.
pub(crate) fn enqueued(jobs: &[NewJob], results: &[Enqueued]) {
    for (job, result) in jobs.iter().zip(results) {
        let result = match result {
            Enqueued::Inserted(_) => "inserted",
            Enqueued::Duplicate(_) => "duplicate",
        };
        counter!("sluice_jobs_enqueued_total", "queue" => job.queue.clone(), "kind" => job.kind.clone(), "result" => result)
            .increment(1);
    }
}

/// What happened to one attempt, for its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Claimed,
    Succeeded,
    Failed,
    Retried,
    Dead,
    Cancelled,
    Snoozed,
    Released,
}

/// Counts one `event` of a job of `kind` in `queue`.
pub(crate) fn job_event(queue: &str, kind: &str, event: Event) {
    let name = match event {
        Event::Claimed => "sluice_jobs_claimed_total",
        Event::Succeeded => "sluice_jobs_succeeded_total",
        Event::Failed => "sluice_jobs_failed_total",
        Event::Retried => "sluice_jobs_retried_total",
        Event::Dead => "sluice_jobs_dead_total",
        Event::Cancelled => "sluice_jobs_cancelled_total",
        Event::Snoozed => "sluice_jobs_snoozed_total",
        Event::Released => "sluice_jobs_released_total",
    };
    counter!(name, "queue" => queue.to_owned(), "kind" => kind.to_owned()).increment(1);
}

/// Counts rescued jobs.
pub(crate) fn rescued(n: usize) {
    counter!("sluice_jobs_rescued_total").increment(n as u64);
}

/// Counts a claim that a queue's shared rate limit cut short.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn rate_limited(queue: &str) {
    counter!("sluice_jobs_rate_limited_total", "queue" => queue.to_owned()).increment(1);
}

/// Counts a tidying of the store.
pub(crate) fn tidied() {
    counter!("sluice_jobs_store_tidied_total").increment(1);
}

/// Counts a failed store call.
pub(crate) fn store_error(op: &'static str) {
    counter!("sluice_jobs_store_errors_total", "op" => op).increment(1);
}

/// Sets the number of jobs this worker runs in `queue`.
pub(crate) fn running(queue: &str, n: usize) {
    gauge!("sluice_jobs_running", "queue" => queue.to_owned()).set(n as f64);
}

/// Sets how many jobs this worker may run at once in `queue`.
pub(crate) fn slots(queue: &str, n: usize) {
    gauge!("sluice_worker_slots", "queue" => queue.to_owned()).set(n as f64);
}

/// Records how long a job waited past its due time before it started.
pub(crate) fn waited(queue: &str, wait: Duration) {
    histogram!("sluice_job_wait_seconds", "queue" => queue.to_owned()).record(wait.as_secs_f64());
}

/// Records how long a handler ran.
pub(crate) fn ran(queue: &str, kind: &str, run: Duration) {
    histogram!("sluice_job_run_seconds", "queue" => queue.to_owned(), "kind" => kind.to_owned())
        .record(run.as_secs_f64());
}

/// Publishes the store's job counts per queue and state.
pub(crate) fn states(stats: &[QueueStats]) {
    for queue in stats {
        for state in crate::job::JobState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
        {
            let n = queue.counts.get(state.as_str()).copied().unwrap_or(0);
            gauge!("sluice_jobs", "queue" => queue.queue.clone(), "state" => state.as_str())
                .set(n as f64);
        }
        let age = queue.oldest_available.map_or(0.0, |due| {
            (chrono::Utc::now() - due).num_milliseconds().max(0) as f64 / 1000.0
        });
        gauge!("sluice_jobs_oldest_available_age_seconds", "queue" => queue.queue.clone()).set(age);
        gauge!("sluice_jobs_queue_paused", "queue" => queue.queue.clone()).set(
            if queue.paused_since.is_some() {
                1.0
            } else {
                0.0
            },
        );
    }
}
