//! Workers on every store: outcomes, rescue after a worker dies, cancellation, graceful
//! shutdown, partition limits across workers, cron ticks fired once by two workers, and
//! wake-ups, prefetch, results and workflows. `tests/sqlite.rs`, `tests/postgres.rs` and `tests/redis.rs` run it through
//! [`workers!`], given a function that opens a fresh store on a clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_core::policy::Backoff;
use sluice_jobs::schedule::Schedule;
use sluice_jobs::store::{Awaited, Cancelled, ListParams, SharedRate};
use sluice_jobs::worker::{KindConfig, WorkerReport};
use sluice_jobs::workflow::{Workflow, WorkflowStep};
use sluice_jobs::{
    Action, Clock, JobContext, JobId, JobState, ManualClock, NewJob, QueueConfig, Retention, Store,
    SystemClock, Worker,
};
use tokio_util::sync::CancellationToken;

use super::conformance::{Open, fetch};

/// Generates one test per worker case.
#[macro_export]
macro_rules! workers {
    ($open:ident) => {
        mod workers_suite {
            $crate::workers!(@cases $open;
                handlers_decide_outcomes, panics_and_timeouts_fail_one_attempt,
                a_dead_workers_jobs_are_rescued, running_jobs_can_be_cancelled,
                shutdown_releases_unfinished_jobs, partition_limits_hold_across_workers,
                cron_ticks_fire_once_with_two_workers, idle_workers_wake_on_enqueue,
                prefetched_jobs_wait_for_a_slot, results_are_kept_and_awaited,
                workflow_steps_read_their_dependencies_results,
                a_shared_rate_holds_across_workers);
        }
    };
    (@cases $open:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::workers::$case(super::$open).await;
            }
        )*
    };
}

fn quick() -> KindConfig {
    KindConfig {
        backoff: Backoff::constant(Duration::from_millis(20)),
        ..KindConfig::default()
    }
}

fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// Runs `worker` in the background; cancel the token to stop it.
fn spawn(worker: Worker) -> (CancellationToken, tokio::task::JoinHandle<WorkerReport>) {
    let token = CancellationToken::new();
    let handle = tokio::spawn(worker.run(token.clone()));
    (token, handle)
}

/// A handler that runs until its job is cancelled or its worker stops it.
async fn until_stopped(job: JobContext) -> Result<Action, sluice_jobs::HandlerError> {
    job.cancelled().await;
    Ok(Action::Complete)
}

async fn wait_for(store: &dyn Store, ids: &[JobId], done: impl Fn(JobState) -> bool) {
    let started = Instant::now();
    loop {
        let mut all = true;
        for &id in ids {
            let state = fetch(store, id).await.state;
            all &= done(state);
        }
        if all {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "jobs {ids:?} did not get there in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn enqueue(store: &dyn Store, jobs: Vec<NewJob>) -> Vec<JobId> {
    store
        .enqueue(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(sluice_jobs::Enqueued::id)
        .collect()
}

pub(crate) async fn handlers_decide_outcomes(open: Open) {
    let store = open("w_outcomes".into(), system(), true).await;
    let ids = enqueue(
        store.as_ref(),
        vec![
            NewJob::new("ok", json!(1)),
            NewJob::new("fail", json!(2)).max_attempts(3),
            NewJob::new("cancel", json!(3)),
            NewJob::new("snooze_once", json!(4)),
            NewJob::new("unknown", json!(5)).max_attempts(1),
        ],
    )
    .await;
    let worker =
        Worker::builder(store.clone())
            .queue(QueueConfig::new("default").concurrency(4))
            .handler("ok", |_job: JobContext| async { Ok(Action::Complete) })
            .handler_with(
                "fail",
                |job: JobContext| async move {
                    Err(format!("attempt {} failed", job.job().attempt).into())
                },
                quick(),
            )
            .handler("cancel", |_job: JobContext| async {
                Ok(Action::Cancel("not needed".into()))
            })
            .handler("snooze_once", |job: JobContext| async move {
                if job.job().run_at == job.job().created_at {
                    Ok(Action::Snooze(Duration::from_millis(50)))
                } else {
                    Ok(Action::Complete)
                }
            })
            .build()
            .expect("worker");
    let (stop, handle) = spawn(worker);
    wait_for(store.as_ref(), &ids, JobState::is_final).await;
    stop.cancel();
    let report = handle.await.expect("worker");
    assert_eq!(
        (
            report.succeeded,
            report.failed,
            report.dead,
            report.cancelled,
            report.snoozed
        ),
        (2, 4, 2, 1, 1)
    );
    let failed = fetch(store.as_ref(), ids[1]).await;
    assert_eq!((failed.state, failed.attempt), (JobState::Dead, 3));
    let errors: Vec<&str> = failed.errors.iter().map(|e| e.error.as_str()).collect();
    assert_eq!(
        errors,
        vec!["attempt 1 failed", "attempt 2 failed", "attempt 3 failed"]
    );
    let snoozed = fetch(store.as_ref(), ids[3]).await;
    assert_eq!((snoozed.state, snoozed.attempt), (JobState::Succeeded, 1));
    let unknown = fetch(store.as_ref(), ids[4]).await;
    assert!(
        unknown.errors[0]
            .error
            .contains("no handler for kind `unknown`"),
        "{:?}",
        unknown.errors
    );
}

pub(crate) async fn panics_and_timeouts_fail_one_attempt(open: Open) {
    let store = open("w_panics".into(), system(), true).await;
    let ids = enqueue(
        store.as_ref(),
        vec![
            NewJob::new("panics", json!(null)).max_attempts(1),
            NewJob::new("hangs", json!(null)).max_attempts(1),
            NewJob::new("ok", json!(null)),
        ],
    )
    .await;
    let worker = Worker::builder(store.clone())
        .handler("panics", |_job: JobContext| async { panic!("bad input") })
        .handler_with(
            "hangs",
            |_job: JobContext| async {
                std::future::pending::<()>().await;
                Ok(Action::Complete)
            },
            KindConfig {
                timeout: Some(Duration::from_millis(100)),
                ..quick()
            },
        )
        .handler("ok", |_job: JobContext| async { Ok(Action::Complete) })
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    wait_for(store.as_ref(), &ids, JobState::is_final).await;
    stop.cancel();
    handle.await.expect("worker");
    let panicked = fetch(store.as_ref(), ids[0]).await;
    assert_eq!(panicked.state, JobState::Dead);
    assert!(
        panicked.errors[0].error.contains("panicked: bad input"),
        "{:?}",
        panicked.errors
    );
    let hung = fetch(store.as_ref(), ids[1]).await;
    assert!(
        hung.errors[0].error.contains("timed out after 100ms"),
        "{:?}",
        hung.errors
    );
    assert_eq!(
        fetch(store.as_ref(), ids[2]).await.state,
        JobState::Succeeded
    );
}

pub(crate) async fn a_dead_workers_jobs_are_rescued(open: Open) {
    let store = open("w_rescue".into(), system(), true).await;
    let ids = enqueue(store.as_ref(), vec![NewJob::new("work", json!(null))]).await;
    // The doomed worker runs on a runtime of its own, with a store handle of its own, so that
    // shutting that runtime down kills it as a crash would: no release, no more heartbeats.
    let first_runs = Arc::new(AtomicUsize::new(0));
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    {
        let runs = first_runs.clone();
        doomed.spawn(async move {
            let store = open("w_rescue".into(), system(), false).await;
            let worker = Worker::builder(store)
                .name("doomed")
                .lease(Duration::from_millis(600))
                .handler("work", move |_job: JobContext| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    async {
                        std::future::pending::<()>().await;
                        Ok(Action::Complete)
                    }
                })
                .build()
                .expect("worker");
            worker.run(CancellationToken::new()).await
        });
    }
    while first_runs.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.shutdown_background();
    let killed = Instant::now();
    let rescuer = Worker::builder(store.clone())
        .name("rescuer")
        .lease(Duration::from_millis(600))
        .rescue_every(Duration::from_millis(100))
        .queue(QueueConfig::new("default").poll_interval(Duration::from_millis(50)))
        .handler_with(
            "work",
            |_job: JobContext| async { Ok(Action::Complete) },
            quick(),
        )
        .build()
        .expect("worker");
    let (stop, handle) = spawn(rescuer);
    wait_for(store.as_ref(), &ids, |s| s == JobState::Succeeded).await;
    let took = killed.elapsed();
    stop.cancel();
    handle.await.expect("worker");
    let job = fetch(store.as_ref(), ids[0]).await;
    assert_eq!((job.attempt, job.worker.as_deref()), (2, Some("rescuer")));
    assert!(
        job.errors[0].error.contains("lease expired"),
        "{:?}",
        job.errors
    );
    assert!(took < Duration::from_secs(5), "rescued after {took:?}");
}

pub(crate) async fn running_jobs_can_be_cancelled(open: Open) {
    let store = open("w_cancel".into(), system(), true).await;
    let ids = enqueue(store.as_ref(), vec![NewJob::new("long", json!(null))]).await;
    let worker = Worker::builder(store.clone())
        .lease(Duration::from_millis(600))
        .handler("long", until_stopped)
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    wait_for(store.as_ref(), &ids, |s| s == JobState::Running).await;
    assert_eq!(
        store.cancel(&ids).await.expect("cancel"),
        vec![(ids[0], Cancelled::Requested)]
    );
    wait_for(store.as_ref(), &ids, |s| s == JobState::Cancelled).await;
    stop.cancel();
    assert_eq!(handle.await.expect("worker").cancelled, 1);
}

pub(crate) async fn shutdown_releases_unfinished_jobs(open: Open) {
    let store = open("w_shutdown".into(), system(), true).await;
    let ids = enqueue(
        store.as_ref(),
        vec![
            NewJob::new("slow", json!(null)),
            NewJob::new("quick", json!(null)),
        ],
    )
    .await;
    let worker = Worker::builder(store.clone())
        .shutdown_timeout(Duration::from_millis(300))
        .handler("slow", |_job: JobContext| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Action::Complete)
        })
        .handler("quick", |_job: JobContext| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Action::Complete)
        })
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    wait_for(store.as_ref(), &ids[..1], |s| s == JobState::Running).await;
    wait_for(store.as_ref(), &ids[1..], |s| s != JobState::Available).await;
    let stopping = Instant::now();
    stop.cancel();
    let report = handle.await.expect("worker");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    assert_eq!((report.succeeded, report.released), (1, 1));
    let slow = fetch(store.as_ref(), ids[0]).await;
    assert_eq!(
        (slow.state, slow.attempt, slow.worker),
        (JobState::Available, 0, None)
    );
    assert_eq!(
        fetch(store.as_ref(), ids[1]).await.state,
        JobState::Succeeded
    );
}

pub(crate) async fn partition_limits_hold_across_workers(open: Open) {
    let store = open("w_partitions".into(), system(), true).await;
    let mut jobs: Vec<NewJob> = (0..8)
        .map(|i| NewJob::new("tenant", json!(i)).partition_key("acme"))
        .collect();
    jobs.extend((0..4).map(|i| NewJob::new("tenant", json!(i)).partition_key("globex")));
    let ids = enqueue(store.as_ref(), jobs).await;
    let now_running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let make = |name: &str| {
        let (now_running, most) = (now_running.clone(), most.clone());
        Worker::builder(store.clone())
            .name(name)
            .queue(
                QueueConfig::new("default")
                    .concurrency(6)
                    .partition_limit(2)
                    .poll_interval(Duration::from_millis(20)),
            )
            .handler("tenant", move |job: JobContext| {
                let (now_running, most) = (now_running.clone(), most.clone());
                async move {
                    if job.job().partition_key.as_deref() == Some("acme") {
                        let n = now_running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        now_running.fetch_sub(1, Ordering::SeqCst);
                    }
                    Ok(Action::Complete)
                }
            })
            .build()
            .expect("worker")
    };
    let (stop_a, a) = spawn(make("a"));
    let (stop_b, b) = spawn(make("b"));
    wait_for(store.as_ref(), &ids, |s| s == JobState::Succeeded).await;
    stop_a.cancel();
    stop_b.cancel();
    a.await.expect("worker");
    b.await.expect("worker");
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "at most 2 acme jobs ran at once, and 2 did"
    );
}

pub(crate) async fn cron_ticks_fire_once_with_two_workers(open: Open) {
    let clock =
        ManualClock::new(chrono::DateTime::from_timestamp(1_900_000_000, 0).expect("valid time"));
    let store = open("w_cron".into(), Arc::new(clock.clone()), true).await;
    let schedule = Schedule::new(
        "every-minute",
        "* * * * *",
        NewJob::new("tick", json!(null)).queue("cron"),
    )
    .and_then(|s| s.time_zone("Europe/Paris"))
    .expect("schedule");
    let make = |name: &str| {
        Worker::builder(store.clone())
            .name(name)
            .clock(Arc::new(clock.clone()))
            .queue(QueueConfig::new("none"))
            .schedule(schedule.clone())
            .schedule_every(Duration::from_millis(10))
            .build()
            .expect("worker")
    };
    let (stop_a, a) = spawn(make("a"));
    let (stop_b, b) = spawn(make("b"));
    let fired = || async {
        let params = ListParams {
            queue: Some("cron".into()),
            limit: 100,
            ..ListParams::default()
        };
        store.list(params).await.expect("list").len()
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        fired().await,
        0,
        "ticks before the workers started are not fired"
    );
    for minute in 1..=3 {
        clock.advance(Duration::from_secs(60));
        let started = Instant::now();
        while fired().await < minute && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(fired().await, minute, "one job per tick");
    }
    stop_a.cancel();
    stop_b.cancel();
    a.await.expect("worker");
    b.await.expect("worker");
}

pub(crate) async fn idle_workers_wake_on_enqueue(open: Open) {
    let store = open("w_wake".into(), system(), true).await;
    let other = open("w_wake".into(), system(), false).await;
    let worker = Worker::builder(store.clone())
        .queue(QueueConfig::new("default").poll_interval(Duration::from_secs(30)))
        .handler("k", |_job: JobContext| async { Ok(Action::Complete) })
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let enqueued = Instant::now();
    let ids = enqueue(other.as_ref(), vec![NewJob::new("k", json!(null))]).await;
    wait_for(store.as_ref(), &ids, |s| s == JobState::Succeeded).await;
    let took = enqueued.elapsed();
    stop.cancel();
    handle.await.expect("worker");
    assert!(
        took < Duration::from_secs(5),
        "picked up after {took:?} with a 30 s poll interval"
    );
}

pub(crate) async fn prefetched_jobs_wait_for_a_slot(open: Open) {
    let store = open("w_prefetch".into(), system(), true).await;
    let ids = enqueue(
        store.as_ref(),
        (0..4).map(|i| NewJob::new("step", json!(i))).collect(),
    )
    .await;
    let started = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (started, running, most) = (started.clone(), running.clone(), most.clone());
        Worker::builder(store.clone())
            .queue(QueueConfig::new("default").concurrency(1).prefetch(3))
            .retention(Retention {
                state: JobState::Succeeded,
                queue: None,
                kind: None,
                keep: Duration::ZERO,
            })
            .handler("step", move |_job: JobContext| {
                let (started, running, most) = (started.clone(), running.clone(), most.clone());
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(Action::Complete)
                }
            })
            .build()
            .expect("worker")
    };
    let (stop, handle) = spawn(worker);
    let began = Instant::now();
    while started.load(Ordering::SeqCst) == 0 {
        assert!(began.elapsed() < Duration::from_secs(20), "nothing started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held = store
        .list(ListParams {
            state: Some(JobState::Running),
            limit: 10,
            ..ListParams::default()
        })
        .await
        .expect("list");
    assert_eq!(held.len(), 4, "one running, three claimed ahead");
    while started.load(Ordering::SeqCst) < 4 || running.load(Ordering::SeqCst) > 0 {
        assert!(began.elapsed() < Duration::from_secs(20), "not all ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    let report = handle.await.expect("worker");
    assert_eq!(report.succeeded, 4);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "one slot, one job at a time"
    );
    for id in ids {
        assert!(
            store.get(id).await.expect("get").is_none(),
            "a queue that keeps no succeeded jobs deletes them as they end"
        );
    }

    let ids = enqueue(
        store.as_ref(),
        (0..3).map(|i| NewJob::new("stuck", json!(i))).collect(),
    )
    .await;
    let worker = Worker::builder(store.clone())
        .queue(QueueConfig::new("default").concurrency(1).prefetch(2))
        .shutdown_timeout(Duration::from_millis(200))
        .handler("stuck", until_stopped)
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    wait_for(store.as_ref(), &ids, |s| s == JobState::Running).await;
    stop.cancel();
    let report = handle.await.expect("worker");
    assert_eq!(
        report.released, 3,
        "the running job and the two waiting ones"
    );
    wait_for(store.as_ref(), &ids, |s| s == JobState::Available).await;
}

pub(crate) async fn results_are_kept_and_awaited(open: Open) {
    let store = open("w_results".into(), system(), true).await;
    let worker = Worker::builder(store.clone())
        .queue(QueueConfig::new("default").concurrency(2))
        .max_result_size(64)
        .handler("sum", |job: JobContext| async move {
            let numbers: Vec<i64> = serde_json::from_value(job.args().clone())?;
            Ok(Action::CompleteWith(
                json!({"sum": numbers.iter().sum::<i64>()}),
            ))
        })
        .handler("big", |_job: JobContext| async {
            Ok(Action::CompleteWith(json!("x".repeat(100))))
        })
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    let ids = enqueue(
        store.as_ref(),
        vec![
            NewJob::new("sum", json!([1, 2, 3])),
            NewJob::new("big", json!(null)).max_attempts(1),
        ],
    )
    .await;
    let wait = Duration::from_secs(20);
    let Awaited::Ended(sum) = store.await_job(ids[0], wait).await.expect("await") else {
        panic!("the job did not end");
    };
    assert_eq!(sum.state, JobState::Succeeded);
    assert_eq!(sum.result, Some(json!({"sum": 6})));
    assert_eq!(
        fetch(store.as_ref(), ids[0]).await.result,
        Some(json!({"sum": 6}))
    );

    let Awaited::Ended(big) = store.await_job(ids[1], wait).await.expect("await") else {
        panic!("the job did not end");
    };
    assert_eq!(
        big.state,
        JobState::Dead,
        "a result over the limit fails the attempt"
    );
    assert_eq!(big.result, None);
    assert!(
        big.errors[0]
            .error
            .contains("102 bytes of JSON, over the worker's limit of 64"),
        "{:?}",
        big.errors
    );

    let missing = store
        .await_job(ids[1] + 1_000_000, wait)
        .await
        .expect("await");
    assert_eq!(missing, Awaited::Gone);
    stop.cancel();
    handle.await.expect("worker");

    let later = enqueue(store.as_ref(), vec![NewJob::new("sum", json!([1]))]).await;
    let pending = store
        .await_job(later[0], Duration::from_millis(50))
        .await
        .expect("await");
    assert!(
        matches!(&pending, Awaited::Pending(job) if job.state == JobState::Available),
        "{pending:?}"
    );
}

pub(crate) async fn workflow_steps_read_their_dependencies_results(open: Open) {
    let store = open("w_workflow".into(), system(), true).await;
    let worker = Worker::builder(store.clone())
        .queue(QueueConfig::new("default").concurrency(4))
        .handler("count", |job: JobContext| async move {
            Ok(Action::CompleteWith(json!({"rows": job.args()["rows"]})))
        })
        .handler("total", |job: JobContext| async move {
            let results = job.dependency_results().await?;
            let total: i64 = results.values().filter_map(|r| r["rows"].as_i64()).sum();
            Ok(Action::CompleteWith(json!({
                "total": total,
                "from": results.keys().collect::<Vec<_>>(),
            })))
        })
        .build()
        .expect("worker");
    let (stop, handle) = spawn(worker);
    let count = |name: &str, rows: i64| {
        WorkflowStep::new(name, NewJob::new("count", json!({"rows": rows})))
    };
    let enqueued = store
        .enqueue_workflow(
            Workflow::new()
                .step(count("north", 3))
                .step(count("south", 4))
                .step(
                    WorkflowStep::new("total", NewJob::new("total", json!(null)))
                        .after(["north", "south"]),
                )
                .graph()
                .expect("valid"),
        )
        .await
        .expect("enqueue");
    let wait = Duration::from_secs(20);
    let Awaited::Ended(total) = store
        .await_job(enqueued.steps["total"], wait)
        .await
        .expect("await")
    else {
        panic!("the last step did not end");
    };
    assert_eq!(
        total.result,
        Some(json!({"total": 7, "from": ["north", "south"]}))
    );
    stop.cancel();
    handle.await.expect("worker");
}

pub(crate) async fn a_shared_rate_holds_across_workers(open: Open) {
    let store = open("w_shared_rate".into(), system(), true).await;
    enqueue(
        store.as_ref(),
        (0..40).map(|i| NewJob::new("tick", json!(i))).collect(),
    )
    .await;
    let ran = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    // The first worker starts jobs while the second opens its store: the count begins here.
    let since = Instant::now();
    for _ in 0..2 {
        let ran = ran.clone();
        let worker = Worker::builder(open("w_shared_rate".into(), system(), false).await)
            .queue(
                QueueConfig::new("default")
                    .concurrency(8)
                    .shared_rate(SharedRate::new(4, Duration::from_millis(500))),
            )
            .handler("tick", move |_job: JobContext| {
                ran.fetch_add(1, Ordering::SeqCst);
                async { Ok(Action::Complete) }
            })
            .build()
            .expect("worker");
        workers.push(spawn(worker));
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = ran.load(Ordering::SeqCst);
    // The windows the run touched, however late a loaded machine woke it: 4 starts each.
    let windows = since.elapsed().as_millis() as usize / 500 + 2;
    for (stop, handle) in workers {
        stop.cancel();
        handle.await.expect("worker");
    }
    assert!(
        (1..=4 * windows).contains(&started),
        "{started} jobs started in {windows} windows under 4 per 500 ms"
    );
}
