//! The conformance suite every store passes: each function takes a fresh, empty store whose
//! clock the test moves by hand. `tests/sqlite.rs`, `tests/postgres.rs` and `tests/redis.rs`
//! run it on their store through [`conformance!`].

mod batches;
mod rates;
mod registry;
mod workflows;

pub(crate) use batches::{
    batch_callbacks_fire_once_under_concurrent_completion,
    batch_callbacks_fire_once_when_every_job_ended, cancelled_and_expired_batch_jobs_count,
    open_batches_fire_only_once_closed,
};
pub(crate) use rates::{
    rates_per_key_leave_other_keys_alone, rates_per_kind_hold_across_claimers,
    shared_rates_hold_across_claimers,
};
pub(crate) use registry::{
    listings_filter_by_keys_and_args_and_page, paused_queues_claim_nothing_until_resumed,
    schedule_ticks_are_read_back, workers_report_with_their_minute_counts,
};
pub(crate) use workflows::{
    a_failed_dependency_cancels_its_dependents_down_the_graph,
    cancelled_and_expired_steps_settle_their_dependents,
    dependencies_ending_at_once_release_a_step_once, workflow_steps_wait_for_their_dependencies,
};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::future::BoxFuture;
use serde_json::json;
use sluice_jobs::store::{
    Cancelled, ClaimParams, Completion, Enqueued, FireParams, HeartbeatParams, ListParams, Outcome,
    PruneParams, QueueStats, RetryParams, StoreError,
};
use sluice_jobs::{Clock, Job, JobId, JobState, ManualClock, NewJob, Store, UniqueUntil};

/// A store under test and the clock it reads.
pub(crate) struct Harness {
    /// The store, empty.
    pub(crate) store: Arc<dyn Store>,
    /// Its clock, which starts at 2030-01-01T00:00:00Z.
    pub(crate) clock: ManualClock,
    /// Opens another handle on the same store (another process, as far as the store can tell).
    pub(crate) reopen:
        Box<dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn Store>> + Send + Sync>,
}

/// The clock every harness starts at.
pub(crate) fn start_clock() -> ManualClock {
    ManualClock::new(
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("valid date"),
    )
}

/// Opens a fresh, empty store for the named case, reading `clock`; calling it again with the
/// same name and `fresh = false` opens another handle on the same store.
pub(crate) type Open = fn(String, Arc<dyn Clock>, bool) -> BoxFuture<'static, Arc<dyn Store>>;

/// A fresh store for `case` from `open`, on a clock of its own.
pub(crate) async fn harness(open: Open, case: &str) -> Harness {
    let clock = start_clock();
    let store = open(case.to_owned(), Arc::new(clock.clone()), true).await;
    let (case, reopen_clock) = (case.to_owned(), clock.clone());
    Harness {
        store,
        clock,
        reopen: Box::new(move || open(case.clone(), Arc::new(reopen_clock.clone()), false)),
    }
}

/// Generates one test per conformance case, each on a fresh store opened by `$open`.
#[macro_export]
macro_rules! conformance {
    ($open:path) => {
        $crate::conformance!(@cases $open;
            enqueue_and_get, claims_in_priority_then_time_order, scheduled_jobs_wait_until_due,
            outcomes_move_jobs_to_their_states, completions_from_other_workers_are_ignored,
            heartbeats_renew_leases_and_carry_cancellation, expired_leases_are_rescued,
            unique_keys_hold_while_pending, concurrent_unique_enqueues_insert_once,
            partition_limits_cap_running_jobs_per_key, a_flooded_partition_never_hides_others,
            cancel_waiting_and_running_jobs, retry_and_discard_by_hand, list_and_stats,
            prune_deletes_old_final_jobs_in_batches, schedules_fire_once_per_tick,
            concurrent_claims_never_share_a_job, wait_wakes_on_enqueue_from_another_handle,
            bulk_enqueue_keeps_order, discarding_completions_delete_final_jobs,
            the_trace_context_is_kept_with_the_job, stats_give_the_oldest_available_job,
            paused_queues_claim_nothing_until_resumed, listings_filter_by_keys_and_args_and_page,
            workers_report_with_their_minute_counts, schedule_ticks_are_read_back,
            pending_stats_count_the_states_that_can_run, results_are_kept_with_succeeded_jobs,
            workflow_steps_wait_for_their_dependencies,
            a_failed_dependency_cancels_its_dependents_down_the_graph,
            cancelled_and_expired_steps_settle_their_dependents,
            dependencies_ending_at_once_release_a_step_once,
            batch_callbacks_fire_once_when_every_job_ended, open_batches_fire_only_once_closed,
            cancelled_and_expired_batch_jobs_count,
            batch_callbacks_fire_once_under_concurrent_completion,
            unique_keys_can_hold_for_a_period_after_success, shared_rates_hold_across_claimers,
            rates_per_kind_hold_across_claimers, rates_per_key_leave_other_keys_alone,
            unique_keys_can_be_held_until_the_job_starts);
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                conformance::$case(conformance::harness($open, stringify!($case)).await).await;
            }
        )*
    };
}

pub(crate) fn claim(queue: &str, limit: u32, worker: &str) -> ClaimParams {
    ClaimParams {
        queue: queue.to_owned(),
        limit,
        worker: worker.to_owned(),
        lease: Duration::from_secs(30),
        partition_limit: None,
        rate: None,
    }
}

pub(crate) fn done(id: JobId, worker: &str, outcome: Outcome) -> Completion {
    Completion {
        id,
        worker: worker.to_owned(),
        outcome,
        discard: false,
        result: None,
    }
}

/// Enqueues `n` jobs of kind `k` and claims them all for worker `w`; returns their ids.
async fn running(store: &dyn Store, n: u32) -> Vec<JobId> {
    let ids = enqueue_all(store, (0..n).map(|i| NewJob::new("k", json!(i))).collect()).await;
    store.claim(claim("default", n, "w")).await.expect("claim");
    ids
}

pub(crate) async fn enqueue_one(store: &dyn Store, job: NewJob) -> JobId {
    enqueue_all(store, vec![job]).await[0]
}

/// Enqueues `jobs`; their ids (or their holders'), in order.
pub(crate) async fn enqueue_all(store: &dyn Store, jobs: Vec<NewJob>) -> Vec<JobId> {
    store
        .enqueue(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(Enqueued::id)
        .collect()
}

/// The job `id`, which must exist.
pub(crate) async fn fetch(store: &dyn Store, id: JobId) -> Job {
    store.get(id).await.expect("get").expect("the job exists")
}

pub(crate) async fn state_of(store: &dyn Store, id: JobId) -> JobState {
    fetch(store, id).await.state
}

pub(crate) async fn enqueue_and_get(h: Harness) {
    let store = h.store.as_ref();
    let first = enqueue_one(
        store,
        NewJob::new("email", json!({"to": "a@example.com"}))
            .queue("mail")
            .priority(3),
    )
    .await;
    let second = enqueue_one(store, NewJob::new("email", json!(null))).await;
    assert!(second > first, "ids increase: {first} then {second}");
    let job = fetch(store, first).await;
    assert_eq!(
        (job.kind.as_str(), job.queue.as_str(), job.priority),
        ("email", "mail", 3)
    );
    assert_eq!(job.args, json!({"to": "a@example.com"}));
    assert_eq!(
        (job.state, job.attempt, job.max_attempts),
        (JobState::Available, 0, 25)
    );
    assert_eq!(job.created_at, h.clock_now());
    assert!(job.errors.is_empty() && job.worker.is_none() && job.finished_at.is_none());
    assert!(store.get(second + 1000).await.expect("get").is_none());
}

pub(crate) async fn claims_in_priority_then_time_order(h: Harness) {
    let store = h.store.as_ref();
    let low = enqueue_one(store, NewJob::new("k", json!(1))).await;
    h.clock.advance(Duration::from_secs(1));
    let high = enqueue_one(store, NewJob::new("k", json!(2)).priority(5)).await;
    let low2 = enqueue_one(store, NewJob::new("k", json!(3))).await;
    let other = enqueue_one(store, NewJob::new("k", json!(4)).queue("other")).await;
    let jobs = store.claim(claim("default", 2, "w1")).await.expect("claim");
    assert_eq!(
        jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![high, low]
    );
    let job = &jobs[0];
    assert_eq!(
        (job.state, job.attempt, job.worker.as_deref()),
        (JobState::Running, 1, Some("w1"))
    );
    assert_eq!(
        job.lease_until,
        Some(h.clock_now() + chrono::Duration::seconds(30))
    );
    let rest = store
        .claim(claim("default", 10, "w1"))
        .await
        .expect("claim");
    assert_eq!(rest.iter().map(|j| j.id).collect::<Vec<_>>(), vec![low2]);
    assert!(
        store
            .claim(claim("default", 10, "w1"))
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(state_of(store, other).await, JobState::Available);
}

pub(crate) async fn scheduled_jobs_wait_until_due(h: Harness) {
    let store = h.store.as_ref();
    let at = h.clock_now() + chrono::Duration::seconds(60);
    let id = enqueue_one(store, NewJob::new("k", json!(null)).run_at(at)).await;
    assert_eq!(state_of(store, id).await, JobState::Scheduled);
    assert!(
        store
            .claim(claim("default", 10, "w"))
            .await
            .expect("claim")
            .is_empty()
    );
    h.clock.advance(Duration::from_secs(59));
    assert!(
        store
            .claim(claim("default", 10, "w"))
            .await
            .expect("claim")
            .is_empty()
    );
    h.clock.advance(Duration::from_secs(1));
    let jobs = store.claim(claim("default", 10, "w")).await.expect("claim");
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
}

pub(crate) async fn outcomes_move_jobs_to_their_states(h: Harness) {
    let store = h.store.as_ref();
    let ids = enqueue_all(
        store,
        (0..6)
            .map(|i| NewJob::new("k", json!(i)).max_attempts(3))
            .collect(),
    )
    .await;
    assert_eq!(
        store
            .claim(claim("default", 6, "w"))
            .await
            .expect("claim")
            .len(),
        6
    );
    let retry_at = h.clock_now() + chrono::Duration::seconds(10);
    let applied = store
        .complete(vec![
            done(ids[0], "w", Outcome::Succeeded),
            done(
                ids[1],
                "w",
                Outcome::Failed {
                    error: "boom".into(),
                    retry_at: Some(retry_at),
                },
            ),
            done(
                ids[2],
                "w",
                Outcome::Failed {
                    error: "fatal".into(),
                    retry_at: None,
                },
            ),
            done(ids[3], "w", Outcome::Snoozed { until: retry_at }),
            done(
                ids[4],
                "w",
                Outcome::Cancelled {
                    reason: "not wanted".into(),
                },
            ),
            done(ids[5], "w", Outcome::Released),
        ])
        .await
        .expect("complete");
    assert_eq!(applied, 6);
    let now = h.clock_now();
    let succeeded = fetch(store, ids[0]).await;
    assert_eq!(
        (
            succeeded.state,
            succeeded.finished_at,
            succeeded.lease_until
        ),
        (JobState::Succeeded, Some(now), None)
    );
    let retryable = fetch(store, ids[1]).await;
    assert_eq!(
        (retryable.state, retryable.run_at, retryable.attempt),
        (JobState::Retryable, retry_at, 1)
    );
    assert_eq!(retryable.errors.len(), 1);
    assert_eq!(
        (
            retryable.errors[0].attempt,
            retryable.errors[0].error.as_str(),
            retryable.errors[0].at
        ),
        (1, "boom", now)
    );
    let dead = fetch(store, ids[2]).await;
    assert_eq!(
        (dead.state, dead.errors[0].error.as_str()),
        (JobState::Dead, "fatal")
    );
    let snoozed = fetch(store, ids[3]).await;
    assert_eq!(
        (snoozed.state, snoozed.attempt, snoozed.run_at),
        (JobState::Scheduled, 0, retry_at)
    );
    assert!(snoozed.errors.is_empty());
    let cancelled = fetch(store, ids[4]).await;
    assert_eq!(
        (cancelled.state, cancelled.errors[0].error.as_str()),
        (JobState::Cancelled, "not wanted")
    );
    let released = fetch(store, ids[5]).await;
    assert_eq!(
        (released.state, released.attempt, released.worker),
        (JobState::Available, 0, None)
    );

    // The retried job runs again when due, as attempt 2, and keeps its first error.
    h.clock.advance(Duration::from_secs(10));
    let again = store.claim(claim("default", 10, "w")).await.expect("claim");
    let retried = again
        .iter()
        .find(|j| j.id == ids[1])
        .expect("retried job claimed");
    assert_eq!((retried.attempt, retried.errors.len()), (2, 1));
    assert!(
        again.iter().any(|j| j.id == ids[3] && j.attempt == 1),
        "snoozed job runs as attempt 1"
    );
}

pub(crate) async fn completions_from_other_workers_are_ignored(h: Harness) {
    let store = h.store.as_ref();
    let id = enqueue_one(store, NewJob::new("k", json!(null))).await;
    store.claim(claim("default", 1, "w1")).await.expect("claim");
    assert_eq!(
        store
            .complete(vec![done(id, "w2", Outcome::Succeeded)])
            .await
            .expect("complete"),
        0
    );
    assert_eq!(state_of(store, id).await, JobState::Running);
    assert_eq!(
        store
            .complete(vec![done(id, "w1", Outcome::Succeeded)])
            .await
            .expect("complete"),
        1
    );
    assert_eq!(
        store
            .complete(vec![done(id, "w1", Outcome::Succeeded)])
            .await
            .expect("complete"),
        0,
        "a job completes once"
    );
}

pub(crate) async fn heartbeats_renew_leases_and_carry_cancellation(h: Harness) {
    let store = h.store.as_ref();
    let ids = enqueue_all(
        store,
        vec![NewJob::new("k", json!(1)), NewJob::new("k", json!(2))],
    )
    .await;
    store.claim(claim("default", 2, "w")).await.expect("claim");
    h.clock.advance(Duration::from_secs(20));
    let beat = store
        .heartbeat(HeartbeatParams {
            worker: "w",
            ids: &ids,
            lease: Duration::from_secs(30),
        })
        .await
        .expect("heartbeat");
    assert_eq!(
        (beat.held.clone(), beat.cancel.clone()),
        (ids.clone(), vec![])
    );
    let job = fetch(store, ids[0]).await;
    assert_eq!(
        job.lease_until,
        Some(h.clock_now() + chrono::Duration::seconds(30))
    );
    assert!(
        store
            .heartbeat(HeartbeatParams {
                worker: "intruder",
                ids: &ids,
                lease: Duration::from_secs(30),
            })
            .await
            .expect("heartbeat")
            .held
            .is_empty()
    );
    assert_eq!(
        store.cancel(&[ids[1]]).await.expect("cancel"),
        vec![(ids[1], Cancelled::Requested)]
    );
    let beat = store
        .heartbeat(HeartbeatParams {
            worker: "w",
            ids: &ids,
            lease: Duration::from_secs(30),
        })
        .await
        .expect("heartbeat");
    assert_eq!(beat.cancel, vec![ids[1]]);
    // 20 s after the first claim, the renewed leases keep the jobs from the rescuer.
    h.clock.advance(Duration::from_secs(20));
    assert!(store.rescue().await.expect("rescue").is_empty());
}

pub(crate) async fn expired_leases_are_rescued(h: Harness) {
    let store = h.store.as_ref();
    let again = enqueue_one(store, NewJob::new("k", json!(1)).max_attempts(2)).await;
    let last = enqueue_one(store, NewJob::new("k", json!(2)).max_attempts(1)).await;
    store
        .claim(claim("default", 2, "dead-worker"))
        .await
        .expect("claim");
    h.clock.advance(Duration::from_secs(30));
    assert!(
        store.rescue().await.expect("rescue").is_empty(),
        "a lease holds until it is over"
    );
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(store.rescue().await.expect("rescue"), vec![again, last]);
    let job = fetch(store, again).await;
    assert_eq!(job.state, JobState::Retryable);
    assert!(
        job.errors[0].error.contains("lease expired"),
        "{:?}",
        job.errors
    );
    assert_eq!(state_of(store, last).await, JobState::Dead);
    // The dead worker comes back: its completion is ignored, and a live worker runs the job.
    assert_eq!(
        store
            .complete(vec![done(again, "dead-worker", Outcome::Succeeded)])
            .await
            .expect("complete"),
        0
    );
    let claimed = store
        .claim(claim("default", 2, "live"))
        .await
        .expect("claim");
    assert_eq!((claimed.len(), claimed[0].attempt), (1, 2));
    assert!(
        store
            .heartbeat(HeartbeatParams {
                worker: "dead-worker",
                ids: &[again],
                lease: Duration::from_secs(30),
            })
            .await
            .expect("heartbeat")
            .held
            .is_empty()
    );
}

pub(crate) async fn unique_keys_hold_while_pending(h: Harness) {
    let store = h.store.as_ref();
    let job = || NewJob::new("report", json!({"day": 1})).unique_key("report:1");
    let results = store.enqueue(vec![job(), job()]).await.expect("enqueue");
    let id = results[0].id();
    assert_eq!(
        results,
        vec![Enqueued::Inserted(id), Enqueued::Duplicate(id)]
    );
    store.claim(claim("default", 1, "w")).await.expect("claim");
    assert_eq!(
        store.enqueue(vec![job()]).await.expect("enqueue"),
        vec![Enqueued::Duplicate(id)],
        "running holds the key"
    );
    store
        .complete(vec![done(id, "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    let next = store.enqueue(vec![job()]).await.expect("enqueue");
    assert!(
        matches!(next[0], Enqueued::Inserted(other) if other != id),
        "{next:?}"
    );
}

pub(crate) async fn concurrent_unique_enqueues_insert_once(h: Harness) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .enqueue(vec![NewJob::new("k", json!(i)).unique_key("only-one")])
                .await
                .expect("enqueue")[0]
        }));
    }
    let mut inserted = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let result = task.await.expect("task");
        inserted += usize::from(matches!(result, Enqueued::Inserted(_)));
        ids.insert(result.id());
    }
    assert_eq!((inserted, ids.len()), (1, 1));
}

pub(crate) async fn partition_limits_cap_running_jobs_per_key(h: Harness) {
    let store = h.store.as_ref();
    let mut jobs: Vec<NewJob> = (0..5)
        .map(|i| NewJob::new("k", json!(i)).partition_key("tenant-a"))
        .collect();
    jobs.push(NewJob::new("k", json!("b")).partition_key("tenant-b"));
    jobs.push(NewJob::new("k", json!("free")));
    let ids = enqueue_all(store, jobs).await;
    let limited = |worker: &str| ClaimParams {
        partition_limit: Some(2),
        ..claim("default", 10, worker)
    };
    let first: Vec<JobId> = store
        .claim(limited("w1"))
        .await
        .expect("claim")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(first, vec![ids[0], ids[1], ids[5], ids[6]]);
    assert!(
        store.claim(limited("w2")).await.expect("claim").is_empty(),
        "tenant-a has 2 running"
    );
    store
        .complete(vec![done(ids[0], "w1", Outcome::Succeeded)])
        .await
        .expect("complete");
    let next: Vec<JobId> = store
        .claim(limited("w2"))
        .await
        .expect("claim")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(next, vec![ids[2]]);
}

pub(crate) async fn a_flooded_partition_never_hides_others(h: Harness) {
    let store = h.store.as_ref();
    store
        .enqueue(
            (0..500)
                .map(|i| NewJob::new("k", json!(i)).partition_key("noisy"))
                .collect(),
        )
        .await
        .expect("enqueue");
    h.clock.advance(Duration::from_secs(1));
    let quiet = enqueue_one(store, NewJob::new("k", json!("q")).partition_key("quiet")).await;
    let params = ClaimParams {
        partition_limit: Some(1),
        ..claim("default", 5, "w")
    };
    let claimed: Vec<JobId> = store
        .claim(params.clone())
        .await
        .expect("claim")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.contains(&quiet), "{claimed:?}");
}

pub(crate) async fn cancel_waiting_and_running_jobs(h: Harness) {
    let store = h.store.as_ref();
    let running = enqueue_one(store, NewJob::new("k", json!(1))).await;
    store.claim(claim("default", 1, "w")).await.expect("claim");
    let waiting = enqueue_one(
        store,
        NewJob::new("k", json!(2)).run_at(h.clock_now() + chrono::Duration::seconds(3600)),
    )
    .await;
    let results = store
        .cancel(&[waiting, running, running + 1000])
        .await
        .expect("cancel");
    assert_eq!(
        results,
        vec![
            (waiting, Cancelled::Cancelled),
            (running, Cancelled::Requested),
            (running + 1000, Cancelled::NotPending)
        ]
    );
    assert_eq!(state_of(store, waiting).await, JobState::Cancelled);
    store
        .complete(vec![done(
            running,
            "w",
            Outcome::Cancelled {
                reason: "cancelled by request".into(),
            },
        )])
        .await
        .expect("complete");
    assert_eq!(
        store.cancel(&[running]).await.expect("cancel"),
        vec![(running, Cancelled::NotPending)]
    );
}

pub(crate) async fn retry_and_discard_by_hand(h: Harness) {
    let store = h.store.as_ref();
    let ids = enqueue_all(
        store,
        (0..3)
            .map(|i| NewJob::new("k", json!(i)).max_attempts(1).queue("q"))
            .collect(),
    )
    .await;
    store.claim(claim("q", 3, "w")).await.expect("claim");
    let fail = |id| {
        done(
            id,
            "w",
            Outcome::Failed {
                error: "no".into(),
                retry_at: None,
            },
        )
    };
    store
        .complete(ids.iter().map(|&id| fail(id)).collect())
        .await
        .expect("complete");
    assert_eq!(
        store
            .retry(RetryParams::Ids(vec![ids[0]]))
            .await
            .expect("retry"),
        1
    );
    let job = fetch(store, ids[0]).await;
    assert_eq!(
        (
            job.state,
            job.max_attempts,
            job.errors.len(),
            job.finished_at
        ),
        (JobState::Available, 2, 1, None)
    );
    assert_eq!(
        store
            .retry(RetryParams::AllDead {
                queue: Some("other".into())
            })
            .await
            .expect("retry"),
        0
    );
    assert_eq!(
        store
            .retry(RetryParams::AllDead {
                queue: Some("q".into())
            })
            .await
            .expect("retry"),
        2
    );
    let claimed = store.claim(claim("q", 3, "w")).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    assert_eq!(
        store.discard(&[ids[0]]).await.expect("discard"),
        0,
        "running jobs are not discarded"
    );
    store
        .complete(vec![done(ids[0], "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    assert_eq!(store.discard(&[ids[0]]).await.expect("discard"), 1);
    assert!(store.get(ids[0]).await.expect("get").is_none());
}

pub(crate) async fn list_and_stats(h: Harness) {
    let store = h.store.as_ref();
    store
        .enqueue(vec![
            NewJob::new("a", json!(1)),
            NewJob::new("b", json!(2)),
            NewJob::new("a", json!(3)).queue("other"),
            NewJob::new("a", json!(4)).run_at(h.clock_now() + chrono::Duration::seconds(60)),
        ])
        .await
        .expect("enqueue");
    store.claim(claim("default", 1, "w")).await.expect("claim");
    let all = store
        .list(ListParams {
            limit: 10,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let kind_a = store
        .list(ListParams {
            kind: Some("a".into()),
            queue: Some("default".into()),
            limit: 10,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert_eq!(
        kind_a.iter().map(|j| j.args.clone()).collect::<Vec<_>>(),
        vec![json!(4), json!(1)]
    );
    let running = store
        .list(ListParams {
            state: Some(JobState::Running),
            limit: 10,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert_eq!(running.len(), 1);
    let limited = store
        .list(ListParams {
            limit: 2,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert_eq!(limited.len(), 2);
    let stats = store.stats().await.expect("stats");
    let summary: Vec<(String, Vec<(String, u64)>)> = stats
        .into_iter()
        .map(|s| (s.queue, s.counts.into_iter().collect()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "default".to_owned(),
                vec![
                    ("available".to_owned(), 1),
                    ("running".to_owned(), 1),
                    ("scheduled".to_owned(), 1)
                ]
            ),
            ("other".to_owned(), vec![("available".to_owned(), 1)]),
        ]
    );
}

pub(crate) async fn prune_deletes_old_final_jobs_in_batches(h: Harness) {
    let store = h.store.as_ref();
    let ids = running(store, 5).await;
    store
        .complete(
            ids[..4]
                .iter()
                .map(|&id| done(id, "w", Outcome::Succeeded))
                .collect(),
        )
        .await
        .expect("complete");
    h.clock.advance(Duration::from_secs(3600));
    let params = |limit| PruneParams {
        states: vec![JobState::Succeeded, JobState::Running],
        finished_before: h.clock_now() - chrono::Duration::seconds(60),
        queue: None,
        kind: None,
        except_kinds: Vec::new(),
        limit,
    };
    assert_eq!(store.prune(params(3)).await.expect("prune"), 3);
    assert_eq!(store.prune(params(3)).await.expect("prune"), 1);
    assert_eq!(store.prune(params(3)).await.expect("prune"), 0);
    assert_eq!(
        state_of(store, ids[4]).await,
        JobState::Running,
        "running jobs are never pruned"
    );
    let recent = PruneParams {
        finished_before: h.clock_now() - chrono::Duration::seconds(7200),
        ..params(10)
    };
    assert_eq!(store.prune(recent).await.expect("prune"), 0);

    // By kind: a kind's own prune, and the others' leaving it alone.
    let kinds = enqueue_all(
        store,
        vec![
            NewJob::new("report", json!(1)),
            NewJob::new("email", json!(2)),
            NewJob::new("email", json!(3)),
        ],
    )
    .await;
    store.claim(claim("default", 3, "w")).await.expect("claim");
    let ends = kinds
        .iter()
        .map(|&id| done(id, "w", Outcome::Succeeded))
        .collect();
    store.complete(ends).await.expect("complete");
    h.clock.advance(Duration::from_secs(3600));
    let others = PruneParams {
        except_kinds: vec!["report".to_owned()],
        ..params(1)
    };
    assert_eq!(store.prune(others.clone()).await.expect("prune"), 1);
    assert_eq!(store.prune(others.clone()).await.expect("prune"), 1);
    assert_eq!(
        store.prune(others).await.expect("prune"),
        0,
        "the report is kept apart"
    );
    let reports = PruneParams {
        kind: Some("report".to_owned()),
        ..params(10)
    };
    assert_eq!(store.prune(reports).await.expect("prune"), 1);
    assert!(store.get(kinds[0]).await.expect("get").is_none());
}

pub(crate) async fn schedules_fire_once_per_tick(h: Harness) {
    let tick = h.clock_now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .fire(FireParams {
                    name: "nightly".to_owned(),
                    tick,
                    job: NewJob::new("report", json!(null)),
                })
                .await
                .expect("fire")
        }));
    }
    let mut fired = 0;
    for task in tasks {
        fired += usize::from(task.await.expect("task").is_some());
    }
    assert_eq!(fired, 1);
    let store = h.store.as_ref();
    let earlier = tick - chrono::Duration::seconds(60);
    assert!(
        store
            .fire(FireParams {
                name: "nightly".to_owned(),
                tick: earlier,
                job: NewJob::new("report", json!(null)),
            })
            .await
            .expect("fire")
            .is_none()
    );
    let later = tick + chrono::Duration::seconds(60);
    assert!(
        store
            .fire(FireParams {
                name: "nightly".to_owned(),
                tick: later,
                job: NewJob::new("report", json!(null)),
            })
            .await
            .expect("fire")
            .is_some()
    );
    assert!(
        store
            .fire(FireParams {
                name: "hourly".to_owned(),
                tick,
                job: NewJob::new("report", json!(null)),
            })
            .await
            .expect("fire")
            .is_some()
    );
    assert_eq!(
        store
            .list(ListParams {
                limit: 10,
                ..ListParams::default()
            })
            .await
            .expect("list")
            .len(),
        3
    );
}

pub(crate) async fn concurrent_claims_never_share_a_job(h: Harness) {
    h.store
        .enqueue((0..400).map(|i| NewJob::new("k", json!(i))).collect())
        .await
        .expect("enqueue");
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = store
                    .claim(claim("default", 7, &format!("w{w}")))
                    .await
                    .expect("claim");
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.expect("task") {
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 400);
}

pub(crate) async fn wait_wakes_on_enqueue_from_another_handle(h: Harness) {
    let other = (h.reopen)().await;
    h.store.wait("default", Duration::from_millis(1)).await;
    let waiter = {
        let store = h.store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            store.wait("default", Duration::from_secs(20)).await;
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    other
        .enqueue(vec![NewJob::new("k", json!(null))])
        .await
        .expect("enqueue");
    let waited = waiter.await.expect("task");
    assert!(waited < Duration::from_secs(10), "woke after {waited:?}");
}

pub(crate) async fn bulk_enqueue_keeps_order(h: Harness) {
    let store = h.store.as_ref();
    let jobs: Vec<NewJob> = (0..1000)
        .map(|i| {
            let job = NewJob::new("k", json!({"i": i}));
            if i % 100 == 7 {
                job.unique_key(format!("u{}", i % 200))
            } else {
                job
            }
        })
        .collect();
    let results = store.enqueue(jobs).await.expect("enqueue");
    assert_eq!(results.len(), 1000);
    for (i, result) in results.iter().enumerate() {
        let job = fetch(store, result.id()).await;
        let expected = if i % 100 == 7 && i >= 200 {
            (i % 200) as i64
        } else {
            i as i64
        };
        assert_eq!(job.args["i"], json!(expected), "result {i}");
    }
}

impl Harness {
    /// The store's clock now.
    pub(crate) fn clock_now(&self) -> chrono::DateTime<Utc> {
        use sluice_jobs::Clock;
        self.clock.now()
    }
}

pub(crate) async fn discarding_completions_delete_final_jobs(h: Harness) {
    let store = h.store.as_ref();
    let ids = enqueue_all(
        store,
        vec![
            NewJob::new("a", json!(1)).unique_key("only-one"),
            NewJob::new("a", json!(2)).partition_key("tenant"),
            NewJob::new("a", json!(3)),
        ],
    )
    .await;
    store.claim(claim("default", 3, "w")).await.expect("claim");
    let discard = |id, outcome| Completion {
        discard: true,
        ..done(id, "w", outcome)
    };
    let retry_at = h.clock_now() + chrono::Duration::seconds(5);
    let applied = store
        .complete(vec![
            discard(ids[0], Outcome::Succeeded),
            discard(
                ids[1],
                Outcome::Failed {
                    error: "final".into(),
                    retry_at: None,
                },
            ),
            discard(
                ids[2],
                Outcome::Failed {
                    error: "again".into(),
                    retry_at: Some(retry_at),
                },
            ),
            discard(ids[2] + 1000, Outcome::Succeeded),
        ])
        .await
        .expect("complete");
    assert_eq!(applied, 3, "the unknown job is not counted");
    assert!(store.get(ids[0]).await.expect("get").is_none());
    assert!(store.get(ids[1]).await.expect("get").is_none());
    assert_eq!(
        state_of(store, ids[2]).await,
        JobState::Retryable,
        "a job that is not final is kept"
    );
    let again = store
        .enqueue(vec![NewJob::new("a", json!(4)).unique_key("only-one")])
        .await
        .expect("enqueue");
    assert!(matches!(again[0], Enqueued::Inserted(_)), "{again:?}");
    let stats = store.stats().await.expect("stats");
    let counts: Vec<(&str, u64)> = stats
        .iter()
        .flat_map(|s| s.counts.iter().map(|(state, n)| (state.as_str(), *n)))
        .collect();
    assert_eq!(
        counts,
        vec![("available", 1), ("retryable", 1)],
        "{stats:?}"
    );
    let mut partitioned = claim("default", 5, "w2");
    partitioned.partition_limit = Some(1);
    store
        .enqueue(vec![NewJob::new("a", json!(5)).partition_key("tenant")])
        .await
        .expect("enqueue");
    let got = store.claim(partitioned).await.expect("claim");
    assert_eq!(
        got.len(),
        2,
        "the discarded job no longer holds its partition"
    );
}

pub(crate) async fn the_trace_context_is_kept_with_the_job(h: Harness) {
    let store = h.store.as_ref();
    let given = |n: u8| format!("00-4bf92f3577b34da6a3ce929d0e0e47{n:02x}-00f067aa0ba902b7-01");
    let results = store
        .enqueue(vec![
            NewJob::new("plain", json!(1)).traceparent(given(1)),
            NewJob::new("unique", json!(2))
                .unique_key("k")
                .traceparent(given(2)),
            NewJob::new("untraced", json!(3)),
        ])
        .await
        .expect("enqueue");
    let fired = store
        .fire(FireParams {
            name: "traced".to_owned(),
            tick: h.clock_now(),
            job: NewJob::new("cron", json!(4)).traceparent(given(4)),
        })
        .await
        .expect("fire")
        .expect("fired");
    let mut ids: Vec<JobId> = results.iter().map(|r| r.id()).collect();
    ids.push(fired.id());
    let mut kept = Vec::new();
    for id in &ids {
        kept.push(fetch(store, *id).await.traceparent);
    }
    assert_eq!(
        kept,
        vec![Some(given(1)), Some(given(2)), None, Some(given(4))]
    );
    let claimed = store.claim(claim("default", 10, "w")).await.expect("claim");
    let mut seen: Vec<(JobId, Option<String>)> = claimed
        .into_iter()
        .map(|job| (job.id, job.traceparent))
        .collect();
    seen.sort();
    let mut expected: Vec<(JobId, Option<String>)> = ids.into_iter().zip(kept).collect();
    expected.sort();
    assert_eq!(seen, expected, "claims carry it");
}

pub(crate) async fn stats_give_the_oldest_available_job(h: Harness) {
    let store = h.store.as_ref();
    let now = h.clock_now();
    let ago = |secs: i64| now - chrono::Duration::seconds(secs);
    store
        .enqueue(vec![
            NewJob::new("old", json!(1)).queue("aged").run_at(ago(120)),
            NewJob::new("urgent", json!(2))
                .queue("aged")
                .priority(5)
                .run_at(ago(30)),
            NewJob::new("low", json!(3))
                .queue("aged")
                .priority(-3)
                .run_at(ago(60)),
            NewJob::new("later", json!(4))
                .queue("aged")
                .run_at(ago(-3600)),
            NewJob::new("later", json!(5))
                .queue("idle")
                .run_at(ago(-3600)),
        ])
        .await
        .expect("enqueue");
    let stats = store.stats().await.expect("stats");
    let oldest = |queue: &str| {
        stats
            .iter()
            .find(|s| s.queue == queue)
            .map(|s| s.oldest_available.map(|t| t.timestamp_millis()))
    };
    assert_eq!(
        oldest("aged"),
        Some(Some(ago(120).timestamp_millis())),
        "the earliest due time among every priority: {stats:?}"
    );
    assert_eq!(oldest("idle"), Some(None), "no job available: {stats:?}");
}

pub(crate) async fn pending_stats_count_the_states_that_can_run(h: Harness) {
    let store = h.store.as_ref();
    let later = h.clock_now() + chrono::Duration::seconds(60);
    enqueue_one(store, NewJob::new("k", json!("later")).run_at(later)).await;
    enqueue_one(store, NewJob::new("k", json!("other")).queue("other")).await;
    let ids = enqueue_all(store, (0..6).map(|i| NewJob::new("k", json!(i))).collect()).await;
    store.claim(claim("default", 4, "w")).await.expect("claim");
    let failed = |retry_at| Outcome::Failed {
        error: "boom".into(),
        retry_at,
    };
    store
        .complete(vec![
            done(ids[0], "w", Outcome::Succeeded),
            done(ids[1], "w", failed(Some(later))),
            done(ids[2], "w", failed(None)),
        ])
        .await
        .expect("complete");
    // Per queue: its counts above zero, and whether it has an oldest available job.
    type Summary = Vec<(String, Vec<(String, u64)>, bool)>;
    let counts = |stats: Vec<QueueStats>| -> Summary {
        stats
            .into_iter()
            .map(|s| {
                let counts = s.counts.into_iter().filter(|(_, n)| *n > 0).collect();
                (s.queue, counts, s.oldest_available.is_some())
            })
            .collect()
    };
    let pending = counts(store.pending_stats().await.expect("pending stats"));
    assert_eq!(
        pending,
        vec![
            (
                "default".to_owned(),
                vec![
                    ("available".to_owned(), 2),
                    ("retryable".to_owned(), 1),
                    ("running".to_owned(), 1),
                    ("scheduled".to_owned(), 1)
                ],
                true
            ),
            ("other".to_owned(), vec![("available".to_owned(), 1)], true),
        ]
    );
    let mut all = store.stats().await.expect("stats");
    for queue in &mut all {
        queue
            .counts
            .retain(|state, _| !["succeeded", "dead", "cancelled"].contains(&state.as_str()));
    }
    assert_eq!(
        counts(all),
        pending,
        "the same as the full counts of those states"
    );
    let oldest = |stats: Vec<QueueStats>| {
        stats
            .into_iter()
            .map(|s| s.oldest_available)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        oldest(store.pending_stats().await.expect("pending stats")),
        oldest(store.stats().await.expect("stats"))
    );
}

pub(crate) async fn results_are_kept_with_succeeded_jobs(h: Harness) {
    let store = h.store.as_ref();
    let ids = running(store, 3).await;
    let with = |id, outcome, result: serde_json::Value| Completion {
        result: Some(serde_json::value::to_raw_value(&result).expect("JSON")),
        ..done(id, "w", outcome)
    };
    store
        .complete(vec![
            with(
                ids[0],
                Outcome::Succeeded,
                json!({"total": 3, "items": ["a", "b"]}),
            ),
            with(
                ids[1],
                Outcome::Failed {
                    error: "boom".into(),
                    retry_at: None,
                },
                json!("ignored"),
            ),
            with(ids[2], Outcome::Succeeded, json!(null)),
        ])
        .await
        .expect("complete");
    let result = |job: Job| (job.state, job.result);
    assert_eq!(
        result(fetch(store, ids[0]).await),
        (
            JobState::Succeeded,
            Some(json!({"total": 3, "items": ["a", "b"]}))
        )
    );
    assert_eq!(
        result(fetch(store, ids[1]).await),
        (JobState::Dead, None),
        "only a success keeps a result"
    );
    assert_eq!(
        result(fetch(store, ids[2]).await).0,
        JobState::Succeeded,
        "a null result is a success like any other"
    );
    let listed = store
        .list(ListParams {
            state: Some(JobState::Succeeded),
            limit: 10,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert!(
        listed
            .iter()
            .any(|j| j.result == Some(json!({"total": 3, "items": ["a", "b"]}))),
        "listings carry results too"
    );
}

/// A key held until its job starts: duplicates are refused while it waits, added once it runs
/// (then held by the new job), and a job asking for both this and a period is refused.
pub(crate) async fn unique_keys_can_be_held_until_the_job_starts(h: Harness) {
    let store = h.store.as_ref();
    let job = |n: i64| {
        NewJob::new("refresh", json!(n))
            .unique_key("cache-9")
            .unique_until(UniqueUntil::Start)
    };
    let first = enqueue_one(store, job(1)).await;
    assert_eq!(
        store.enqueue(vec![job(2)]).await.expect("enqueue"),
        vec![Enqueued::Duplicate(first)],
        "held while it waits"
    );
    let claimed = store.claim(claim("default", 1, "w")).await.expect("claim");
    assert_eq!(claimed[0].id, first);
    assert_eq!(claimed[0].unique_key, None, "let go of when it started");
    let second = store.enqueue(vec![job(3)]).await.expect("enqueue")[0];
    assert!(
        matches!(second, Enqueued::Inserted(id) if id > first),
        "added while the first runs: {second:?}"
    );
    assert_eq!(
        store.enqueue(vec![job(4)]).await.expect("enqueue"),
        vec![Enqueued::Duplicate(second.id())],
        "now held by the new job"
    );
    store
        .complete(vec![done(first, "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    assert_eq!(
        store.enqueue(vec![job(5)]).await.expect("enqueue"),
        vec![Enqueued::Duplicate(second.id())],
        "the first's end does not free the second's key"
    );
    let both = job(6).unique_for(Duration::from_secs(60));
    assert!(
        matches!(store.enqueue(vec![both]).await, Err(StoreError::Rejected(e)) if e.contains("unique_for")),
        "held until start and after success at once is refused"
    );
}

pub(crate) async fn unique_keys_can_hold_for_a_period_after_success(h: Harness) {
    let store = h.store.as_ref();
    let job = || {
        NewJob::new("sync", json!(null))
            .unique_key("account-7")
            .unique_for(Duration::from_secs(60))
    };
    let first = enqueue_one(store, job()).await;
    assert_eq!(
        fetch(store, first).await.unique_for,
        Some(Duration::from_secs(60))
    );
    store.claim(claim("default", 1, "w")).await.expect("claim");
    store
        .complete(vec![done(first, "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    h.clock.advance(Duration::from_secs(59));
    assert_eq!(
        store.enqueue(vec![job()]).await.expect("enqueue"),
        vec![Enqueued::Duplicate(first)],
        "held for a minute after it succeeded"
    );
    h.clock.advance(Duration::from_secs(2));
    let second = store.enqueue(vec![job()]).await.expect("enqueue")[0];
    assert!(
        matches!(second, Enqueued::Inserted(id) if id > first),
        "{second:?}"
    );

    // A job that dies holds nothing, nor does a key without a period.
    store.claim(claim("default", 1, "w")).await.expect("claim");
    store
        .complete(vec![done(
            second.id(),
            "w",
            Outcome::Failed {
                error: "no".into(),
                retry_at: None,
            },
        )])
        .await
        .expect("complete");
    assert!(matches!(
        store.enqueue(vec![job()]).await.expect("enqueue")[0],
        Enqueued::Inserted(_)
    ));
    let plain = || NewJob::new("sync", json!(null)).unique_key("plain");
    let once = enqueue_one(store, plain()).await;
    store.claim(claim("default", 10, "w")).await.expect("claim");
    store
        .complete(vec![done(once, "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    assert!(matches!(
        store.enqueue(vec![plain()]).await.expect("enqueue")[0],
        Enqueued::Inserted(_)
    ));
}
