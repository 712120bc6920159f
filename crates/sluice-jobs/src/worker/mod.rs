//! The worker: claims jobs from a [`Store`], runs their handlers, records how they ended.
//!
//! One worker serves several queues, each with its own concurrency, optional partition limit
//! and rate limit. Beside the claim loops it runs:
//! - a **heartbeat** every third of the lease, which renews the leases of running jobs and
//!   learns which were cancelled (their handlers are stopped) or taken away (a worker that lost
//!   its lease stops the handler and records nothing);
//! - a **rescuer**, which takes back jobs whose worker's lease expired (any worker may rescue
//!   any job: a live worker's lease never expires, so a rescue never races it);
//! - a **scheduler** that fires cron [`Schedule`]s, once per tick across all workers;
//! - a **pruner** that deletes finished jobs after their retention, in batches;
//! - a **sampler** that publishes job counts per queue and state as gauges.
//!
//! Completions are sent to the store in batches by one task, which retries them while the
//! store is away. Shutdown stops claiming, lets running jobs finish until a deadline, then
//! stops the rest and gives them back (`released`: available again, the attempt not counted).
//!
//! A handler's error fails the attempt: the job runs again after the kind's backoff while
//! attempts remain, and is `dead` after. A handler that panics, or runs past the kind's
//! timeout, fails its attempt the same way; other jobs are not affected.

mod handler;

pub use handler::{Action, Handler, HandlerError, JobContext, KindConfig};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sluice_core::policy::{RateLimit, Reconnect};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, SystemClock, after};
use crate::job::{Job, JobId, JobState};
use crate::metrics::{self, Event};
use crate::schedule::Schedule;
use crate::store::{ClaimParams, Completion, Outcome, PruneParams, Store};

/// The most jobs one claim asks for.
const MAX_CLAIM: usize = 500;

/// Queues with at least this many slots claim with two loops (on stores that take concurrent
/// claims), so that one claim is on its way to the store while the jobs of the other start.
const TWO_CLAIMERS: usize = 16;

/// The longest a claim loop under a backlog waits for more free slots before claiming.
const CLAIM_GATHER: Duration = Duration::from_millis(1);

/// The most completions sent to the store at once.
const MAX_COMPLETE: usize = 1000;

/// The most jobs one prune call deletes.
const PRUNE_BATCH: u32 = 1000;

/// How one queue is served.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The queue's name.
    pub name: String,
    /// Jobs run at once, at most. Defaults to 10.
    pub concurrency: usize,
    /// Jobs claimed ahead of free slots, at most, so that a slot that frees up starts its next
    /// job without a trip to the store. They are held (leased, heartbeated, counted against
    /// their partition) while they wait. Defaults to 0: claim only for free slots.
    pub prefetch: usize,
    /// Running jobs per partition key, at most, across all workers. Defaults to no limit.
    pub partition_limit: Option<u32>,
    /// Jobs started per unit of time, at most (for this worker). Defaults to no limit.
    pub rate_limit: Option<RateLimit>,
    /// How long an idle worker waits before looking again when the store cannot tell it of
    /// new jobs (and for scheduled jobs coming due). Defaults to 1 s.
    pub poll_interval: Duration,
}

impl QueueConfig {
    /// The queue `name`, 10 jobs at once, no limits.
    pub fn new(name: impl Into<String>) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            concurrency: 10,
            prefetch: 0,
            partition_limit: None,
            rate_limit: None,
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Runs up to `n` jobs at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> QueueConfig {
        self.concurrency = n.max(1);
        self
    }

    /// Claims up to `n` jobs ahead of free slots (see [`QueueConfig::prefetch`]).
    pub fn prefetch(mut self, n: usize) -> QueueConfig {
        self.prefetch = n;
        self
    }

    /// Runs at most `n` jobs per partition key at once, across all workers.
    pub fn partition_limit(mut self, n: u32) -> QueueConfig {
        self.partition_limit = Some(n.max(1));
        self
    }

    /// Starts at most as many jobs as `limit` allows.
    pub fn rate_limit(mut self, limit: RateLimit) -> QueueConfig {
        self.rate_limit = Some(limit);
        self
    }

    /// Looks for jobs every `interval` when idle.
    pub fn poll_interval(mut self, interval: Duration) -> QueueConfig {
        self.poll_interval = interval;
        self
    }
}

/// How long finished jobs are kept before the pruner deletes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Jobs in this final state...
    pub state: JobState,
    /// ...of this queue, or of every queue...
    pub queue: Option<String>,
    /// ...are deleted this long after they ended.
    pub keep: Duration,
}

/// Why a worker could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// What a worker did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Attempts that failed (and will be retried, or left the job dead).
    pub failed: u64,
    /// Jobs that ran out of attempts.
    pub dead: u64,
    /// Jobs cancelled while running.
    pub cancelled: u64,
    /// Attempts put off by their handler.
    pub snoozed: u64,
    /// Jobs given back at shutdown.
    pub released: u64,
    /// Jobs stopped because another worker took them (their lease had expired).
    pub lost: u64,
    /// Completions the store never accepted before shutdown (those jobs are rescued and run
    /// again when their leases expire).
    pub unrecorded: u64,
}

#[derive(Default)]
struct Counters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
    cancelled: AtomicU64,
    snoozed: AtomicU64,
    released: AtomicU64,
    lost: AtomicU64,
    unrecorded: AtomicU64,
}

/// Why a running job's handler was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    LostLease,
    Shutdown,
}

struct Running {
    token: CancellationToken,
    stop: Arc<OnceLock<Stop>>,
}

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    store: Arc<dyn Store>,
    name: Option<String>,
    queues: Vec<QueueConfig>,
    kinds: HashMap<String, (Arc<dyn Handler>, KindConfig)>,
    schedules: Vec<Schedule>,
    retention: Vec<Retention>,
    lease: Duration,
    rescue_every: Option<Duration>,
    schedule_every: Duration,
    prune_every: Duration,
    stats_every: Duration,
    shutdown_timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl WorkerBuilder {
    /// Names the worker (in the store, on the jobs it runs). Defaults to `HOST-PID-RANDOM`.
    pub fn name(mut self, name: impl Into<String>) -> WorkerBuilder {
        self.name = Some(name.into());
        self
    }

    /// Serves a queue. Without any, the worker serves `default` with 10 jobs at once.
    pub fn queue(mut self, queue: QueueConfig) -> WorkerBuilder {
        self.queues.push(queue);
        self
    }

    /// Runs jobs of `kind` with `handler`, with the default [`KindConfig`].
    pub fn handler(self, kind: impl Into<String>, handler: impl Handler) -> WorkerBuilder {
        self.handler_with(kind, handler, KindConfig::default())
    }

    /// Runs jobs of `kind` with `handler`, as `config` says.
    pub fn handler_with(
        mut self,
        kind: impl Into<String>,
        handler: impl Handler,
        config: KindConfig,
    ) -> WorkerBuilder {
        self.kinds.insert(kind.into(), (Arc::new(handler), config));
        self
    }

    /// Fires `schedule` (once per tick, however many workers fire it).
    pub fn schedule(mut self, schedule: Schedule) -> WorkerBuilder {
        self.schedules.push(schedule);
        self
    }

    /// Keeps finished jobs as `retention` says; replaces the default for the same state and
    /// queue. Defaults: succeeded and cancelled jobs 1 day, dead jobs 7 days.
    pub fn retention(mut self, retention: Retention) -> WorkerBuilder {
        self.retention
            .retain(|r| !(r.state == retention.state && r.queue == retention.queue));
        self.retention.push(retention);
        self
    }

    /// Never prunes.
    pub fn keep_forever(mut self) -> WorkerBuilder {
        self.retention.clear();
        self
    }

    /// Holds running jobs for `lease`, renewed every third of it. A job whose worker died is
    /// rescued once its lease is over. Defaults to 30 s.
    pub fn lease(mut self, lease: Duration) -> WorkerBuilder {
        self.lease = lease;
        self
    }

    /// Looks for expired leases every `interval`. Defaults to a sixth of the lease, at most
    /// 5 s.
    pub fn rescue_every(mut self, interval: Duration) -> WorkerBuilder {
        self.rescue_every = Some(interval);
        self
    }

    /// Checks schedules for due ticks every `interval`. Defaults to 1 s.
    pub fn schedule_every(mut self, interval: Duration) -> WorkerBuilder {
        self.schedule_every = interval;
        self
    }

    /// Prunes every `interval`. Defaults to 1 minute.
    pub fn prune_every(mut self, interval: Duration) -> WorkerBuilder {
        self.prune_every = interval;
        self
    }

    /// Publishes job counts per queue and state every `interval`. Defaults to 15 s.
    pub fn stats_every(mut self, interval: Duration) -> WorkerBuilder {
        self.stats_every = interval;
        self
    }

    /// At shutdown, lets running jobs finish for up to `timeout`, then releases them.
    /// Defaults to 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> WorkerBuilder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Reads the time from `clock` (for tests; the store should read the same one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> WorkerBuilder {
        self.clock = clock;
        self
    }

    /// The worker.
    pub fn build(mut self) -> Result<Worker, WorkerError> {
        if self.lease < Duration::from_millis(300) {
            return Err(WorkerError::Invalid(format!(
                "a lease of {:?} is too short; it must be at least 300 ms (30 s is usual)",
                self.lease
            )));
        }
        if self.queues.is_empty() {
            self.queues.push(QueueConfig::new("default"));
        }
        let mut names = HashSet::new();
        for queue in &self.queues {
            if !names.insert(queue.name.as_str()) {
                return Err(WorkerError::Invalid(format!(
                    "queue `{}` is given twice",
                    queue.name
                )));
            }
        }
        let name = self.name.unwrap_or_else(default_name);
        Ok(Worker {
            inner: Arc::new(Inner {
                store: self.store,
                name,
                queues: self.queues,
                kinds: self.kinds,
                schedules: self.schedules,
                retention: self.retention,
                lease: self.lease,
                rescue_every: self
                    .rescue_every
                    .unwrap_or_else(|| (self.lease / 6).min(Duration::from_secs(5))),
                schedule_every: self.schedule_every,
                prune_every: self.prune_every,
                stats_every: self.stats_every,
                shutdown_timeout: self.shutdown_timeout,
                clock: self.clock,
                running: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }
}

/// `HOST-PID-RANDOM`.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

/// Runs jobs. See the [module docs](self).
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    name: String,
    queues: Vec<QueueConfig>,
    kinds: HashMap<String, (Arc<dyn Handler>, KindConfig)>,
    schedules: Vec<Schedule>,
    retention: Vec<Retention>,
    lease: Duration,
    rescue_every: Duration,
    schedule_every: Duration,
    prune_every: Duration,
    stats_every: Duration,
    shutdown_timeout: Duration,
    clock: Arc<dyn Clock>,
    running: Mutex<HashMap<JobId, Running>>,
    counters: Counters,
}

impl Inner {
    /// The retention rule for `state` in `queue`: the queue's own, else the general one.
    fn retention_for(&self, queue: &str, state: JobState) -> Option<&Retention> {
        let rules = || self.retention.iter().filter(move |r| r.state == state);
        rules()
            .find(|r| r.queue.as_deref() == Some(queue))
            .or_else(|| rules().find(|r| r.queue.is_none()))
    }

    /// Whether `queue` keeps no jobs in `state`, so that they are deleted as they end.
    fn keeps_none(&self, queue: &str, state: JobState) -> bool {
        self.retention_for(queue, state)
            .is_some_and(|r| r.keep.is_zero())
    }
}

impl Worker {
    /// A worker on `store`.
    pub fn builder(store: Arc<dyn Store>) -> WorkerBuilder {
        let day = Duration::from_secs(24 * 3600);
        WorkerBuilder {
            store,
            name: None,
            queues: Vec::new(),
            kinds: HashMap::new(),
            schedules: Vec::new(),
            retention: vec![
                Retention {
                    state: JobState::Succeeded,
                    queue: None,
                    keep: day,
                },
                Retention {
                    state: JobState::Cancelled,
                    queue: None,
                    keep: day,
                },
                Retention {
                    state: JobState::Dead,
                    queue: None,
                    keep: 7 * day,
                },
            ],
            lease: Duration::from_secs(30),
            rescue_every: None,
            schedule_every: Duration::from_secs(1),
            prune_every: Duration::from_secs(60),
            stats_every: Duration::from_secs(15),
            shutdown_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }

    /// The worker's name, as recorded on the jobs it runs.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until<F: Future>(self, shutdown: F) -> WorkerReport {
        let token = CancellationToken::new();
        let stopper = {
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        };
        let (report, ()) = tokio::join!(self.run(token.clone()), async {
            tokio::select! {
                () = stopper => {}
                () = token.cancelled() => {}
            }
        });
        report
    }

    /// Runs until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> WorkerReport {
        let inner = self.inner;
        tracing::info!(worker = %inner.name, store = inner.store.kind(),
            queues = ?inner.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(), "worker started");
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let completer = tokio::spawn(complete_loop(inner.clone(), done_rx));
        let background = CancellationToken::new();
        let chores = vec![
            tokio::spawn(heartbeat_loop(inner.clone(), background.clone())),
            tokio::spawn(rescue_loop(inner.clone(), background.clone())),
            tokio::spawn(schedule_loop(inner.clone(), background.clone())),
            tokio::spawn(prune_loop(inner.clone(), background.clone())),
            tokio::spawn(stats_loop(inner.clone(), background.clone())),
        ];
        let tasks = TaskTracker::new();
        let claimers: Vec<_> = inner
            .queues
            .iter()
            .flat_map(|queue| {
                let slots = Slots {
                    held: Arc::new(Semaphore::new(queue.concurrency + queue.prefetch)),
                    running: Arc::new(Semaphore::new(queue.concurrency)),
                    recording: Arc::new(Semaphore::new(queue.concurrency)),
                };
                let two = queue.concurrency >= TWO_CLAIMERS && inner.store.concurrent_claims();
                let loops = if two { 2 } else { 1 };
                (0..loops).map(move |_| (queue, slots.clone()))
            })
            .map(|(queue, slots)| {
                tokio::spawn(claim_loop(
                    inner.clone(),
                    queue.clone(),
                    slots,
                    shutdown.clone(),
                    done_tx.clone(),
                    tasks.clone(),
                ))
            })
            .collect();
        drop(done_tx);
        shutdown.cancelled().await;
        tracing::info!(worker = %inner.name, "worker stopping: no more claims; waiting for running jobs");
        for claimer in claimers {
            let _ = claimer.await;
        }
        tasks.close();
        if tokio::time::timeout(inner.shutdown_timeout, tasks.wait())
            .await
            .is_err()
        {
            let stopped = {
                let running = inner
                    .running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for job in running.values() {
                    let _ = job.stop.set(Stop::Shutdown);
                    job.token.cancel();
                }
                running.len()
            };
            tracing::warn!(worker = %inner.name, jobs = stopped, "shutdown deadline passed; releasing running jobs");
            tasks.wait().await;
        }
        if tokio::time::timeout(inner.shutdown_timeout, completer)
            .await
            .is_err()
        {
            tracing::error!(worker = %inner.name, "the store did not take the last completions before the deadline");
        }
        background.cancel();
        for chore in chores {
            let _ = chore.await;
        }
        let c = &inner.counters;
        let report = WorkerReport {
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dead: c.dead.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            snoozed: c.snoozed.load(Ordering::Relaxed),
            released: c.released.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            unrecorded: c.unrecorded.load(Ordering::Relaxed),
        };
        tracing::info!(worker = %inner.name, ?report, "worker stopped");
        report
    }
}

/// Sleeps for `delay` unless `stop` comes first; returns whether it slept the whole time.
async fn nap(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stop.cancelled() => false,
    }
}

/// A queue's slots in one worker, shared by its claim loops.
#[derive(Clone)]
struct Slots {
    /// One per job claimed and not yet finished (waiting or running): concurrency plus
    /// prefetch.
    held: Arc<Semaphore>,
    /// One per job running: concurrency.
    running: Arc<Semaphore>,
    /// One per finished attempt not yet recorded: concurrency. When the store falls behind,
    /// finished jobs keep their held slot until one is free, and claims stop.
    recording: Arc<Semaphore>,
}

/// Claims jobs of `queue` while it has free slots and runs them.
async fn claim_loop(
    inner: Arc<Inner>,
    queue: QueueConfig,
    slots: Slots,
    stop: CancellationToken,
    done: mpsc::UnboundedSender<Finished>,
    tasks: TaskTracker,
) {
    let permits = slots.held.clone();
    let mut backoff = Reconnect::default();
    // Whether the last claim got all it asked for: the queue has a backlog.
    let mut backlog = false;
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        if let Some(rate) = &queue.rate_limit {
            tokio::select! {
                () = stop.cancelled() => return,
                () = rate.acquire() => {}
            }
        }
        if backlog {
            // Under a backlog, wait a moment for a quarter of the slots to be free, so that
            // claims come in batches rather than one job per store call.
            let quarter =
                u32::try_from((queue.concurrency + queue.prefetch) / 4).unwrap_or(u32::MAX);
            let gathered = tokio::time::timeout(
                CLAIM_GATHER,
                permits.acquire_many(quarter.saturating_sub(1)),
            )
            .await;
            drop(gathered);
        }
        let mut held = vec![first];
        while held.len() < MAX_CLAIM {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                break;
            };
            if queue
                .rate_limit
                .as_ref()
                .is_some_and(|rate| !rate.try_acquire())
            {
                break;
            }
            held.push(permit);
        }
        let params = ClaimParams {
            queue: queue.name.clone(),
            limit: u32::try_from(held.len()).unwrap_or(u32::MAX),
            worker: inner.name.clone(),
            lease: inner.lease,
            partition_limit: queue.partition_limit,
        };
        match inner.store.claim(params).await {
            Err(e) => {
                metrics::store_error("claim");
                let delay = backoff.after_failure();
                tracing::warn!(queue = %queue.name, error = %e, retry_in = ?delay, "cannot claim jobs");
                drop(held);
                if !nap(delay, &stop).await {
                    return;
                }
            }
            Ok(jobs) => {
                backoff.reset();
                let idle = jobs.is_empty();
                backlog = jobs.len() == held.len();
                for (job, permit) in jobs.into_iter().zip(held) {
                    let inner = inner.clone();
                    let done = done.clone();
                    let slots = slots.clone();
                    tasks.spawn(async move {
                        execute(&inner, job, &slots, &done).await;
                        drop(permit);
                    });
                }
                if idle {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = inner.store.wait(&queue.name, queue.poll_interval) => {}
                    }
                }
            }
        }
    }
}

/// How an attempt ended, before it is recorded.
enum Ended {
    Returned(Result<Action, HandlerError>),
    Panicked(String),
    TimedOut(Duration),
    Stopped(Stop),
    NoHandler,
}

/// A finished attempt on its way to the store, with its recording slot, given back once it is
/// recorded. A worker holds at most, per queue, twice its concurrency plus its prefetch in jobs
/// claimed, running, or finished and not yet recorded: that bounds what runs again if it is
/// killed.
type Finished = (Completion, OwnedSemaphorePermit);

/// Runs one claimed job once a running slot is free, and sends how its attempt ended.
async fn execute(inner: &Inner, job: Job, slots: &Slots, done: &mpsc::UnboundedSender<Finished>) {
    let job = Arc::new(job);
    let token = CancellationToken::new();
    let stop = Arc::new(OnceLock::new());
    let running_now = {
        let mut running = inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.insert(
            job.id,
            Running {
                token: token.clone(),
                stop: stop.clone(),
            },
        );
        running.len()
    };
    metrics::running(&job.queue, running_now);
    metrics::job_event(&job.queue, &job.kind, Event::Claimed);
    // A prefetched job waits here for a slot; a stop (shutdown deadline, cancellation, lost
    // lease) may come first.
    let slot = tokio::select! {
        biased;
        () = token.cancelled() => None,
        slot = slots.running.clone().acquire_owned() => slot.ok(),
    };
    let now = inner.clock.now();
    metrics::waited(&job.queue, (now - job.run_at).to_std().unwrap_or_default());
    let started = Instant::now();
    let config = inner.kinds.get(&job.kind);
    let ended = match (slot, config) {
        (None, _) => Ended::Stopped(stop.get().copied().unwrap_or(Stop::Shutdown)),
        (Some(_), None) => Ended::NoHandler,
        (Some(_slot), Some((handler, config))) => {
            let mut task = tokio::spawn(handler.run(JobContext::new(job.clone(), token.clone())));
            let timeout = async {
                match config.timeout {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            // A stop comes first: a handler that returns because it saw its job cancelled has
            // not finished the job.
            let ended = tokio::select! {
                biased;
                () = token.cancelled() => Ended::Stopped(stop.get().copied().unwrap_or(Stop::Shutdown)),
                result = &mut task => match result {
                    Ok(returned) => Ended::Returned(returned),
                    Err(e) if e.is_panic() => Ended::Panicked(panic_message(e.into_panic().as_ref())),
                    Err(_) => Ended::Stopped(Stop::Shutdown),
                },
                () = timeout => Ended::TimedOut(config.timeout.unwrap_or_default()),
            };
            if !task.is_finished() {
                token.cancel();
                task.abort();
            }
            ended
        }
    };
    metrics::ran(&job.queue, &job.kind, started.elapsed());
    let running_now = {
        let mut running = inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.remove(&job.id);
        running.len()
    };
    metrics::running(&job.queue, running_now);
    let Some(outcome) = outcome(inner, &job, ended, config.map(|(_, c)| c)) else {
        return;
    };
    let discard = inner.keeps_none(&job.queue, outcome.state());
    let completion = Completion {
        id: job.id,
        worker: inner.name.clone(),
        outcome,
        discard,
    };
    if let Ok(recording) = slots.recording.clone().acquire_owned().await {
        let _ = done.send((completion, recording));
    }
}

/// What to record for an attempt that ended so; `None` when the job is no longer this
/// worker's.
fn outcome(inner: &Inner, job: &Job, ended: Ended, config: Option<&KindConfig>) -> Option<Outcome> {
    let now = inner.clock.now();
    let counters = &inner.counters;
    let event = |e: Event, counter: &AtomicU64| {
        metrics::job_event(&job.queue, &job.kind, e);
        counter.fetch_add(1, Ordering::Relaxed);
    };
    let failed = |error: String, delay: Option<Duration>| {
        event(Event::Failed, &counters.failed);
        let allowed = config
            .and_then(|c| c.max_attempts)
            .map_or(job.max_attempts, |cap| cap.min(job.max_attempts));
        let retry_at = (job.attempt < allowed).then(|| {
            let delay = delay.unwrap_or_else(|| {
                config
                    .map(|c| c.backoff)
                    .unwrap_or_else(|| KindConfig::default().backoff)
                    .delay(job.attempt)
            });
            after(now, delay)
        });
        if retry_at.is_some() {
            metrics::job_event(&job.queue, &job.kind, Event::Retried);
        } else {
            event(Event::Dead, &counters.dead);
        }
        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, %error, ?retry_at, "job attempt failed");
        Outcome::Failed { error, retry_at }
    };
    Some(match ended {
        Ended::Returned(Ok(Action::Complete)) => {
            event(Event::Succeeded, &counters.succeeded);
            Outcome::Succeeded
        }
        Ended::Returned(Ok(Action::RetryAfter(delay))) => failed(
            format!("the handler asked to retry after {delay:?}"),
            Some(delay),
        ),
        Ended::Returned(Ok(Action::Snooze(delay))) => {
            event(Event::Snoozed, &counters.snoozed);
            Outcome::Snoozed {
                until: after(now, delay),
            }
        }
        Ended::Returned(Ok(Action::Cancel(reason))) => {
            event(Event::Cancelled, &counters.cancelled);
            Outcome::Cancelled { reason }
        }
        Ended::Returned(Err(error)) => failed(error_chain(error.as_ref()), None),
        Ended::Panicked(message) => failed(format!("the handler panicked: {message}"), None),
        Ended::TimedOut(limit) => failed(format!("timed out after {limit:?}"), None),
        Ended::NoHandler => failed(
            format!("this worker has no handler for kind `{}`", job.kind),
            None,
        ),
        Ended::Stopped(Stop::Cancelled) => {
            event(Event::Cancelled, &counters.cancelled);
            Outcome::Cancelled {
                reason: "cancelled by request".to_owned(),
            }
        }
        Ended::Stopped(Stop::Shutdown) => {
            event(Event::Released, &counters.released);
            Outcome::Released
        }
        Ended::Stopped(Stop::LostLease) => {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                job = job.id,
                "lost the job's lease (it was rescued); its handler was stopped"
            );
            return None;
        }
    })
}

/// An error and its sources, `outer: inner: innermost`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Sends completions to the store in batches, retrying while it is away, until every sender is
/// gone and all are recorded.
async fn complete_loop(inner: Arc<Inner>, mut done: mpsc::UnboundedReceiver<Finished>) {
    let mut batch: Vec<Completion> = Vec::new();
    let mut slots: Vec<OwnedSemaphorePermit> = Vec::new();
    let mut backoff = Reconnect::default();
    loop {
        if batch.is_empty() {
            match done.recv().await {
                Some((completion, slot)) => {
                    batch.push(completion);
                    slots.push(slot);
                }
                None => return,
            }
        }
        while batch.len() < MAX_COMPLETE {
            match done.try_recv() {
                Ok((completion, slot)) => {
                    batch.push(completion);
                    slots.push(slot);
                }
                Err(_) => break,
            }
        }
        match inner.store.complete(batch.clone()).await {
            Ok(_) => {
                batch.clear();
                slots.clear();
                backoff.reset();
            }
            Err(e) => {
                metrics::store_error("complete");
                let delay = backoff.after_failure();
                inner
                    .counters
                    .unrecorded
                    .store(batch.len() as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, pending = batch.len(), retry_in = ?delay, "cannot record finished jobs");
                tokio::time::sleep(delay).await;
                continue;
            }
        }
        inner.counters.unrecorded.store(0, Ordering::Relaxed);
    }
}

async fn heartbeat_loop(inner: Arc<Inner>, stop: CancellationToken) {
    let every = inner.lease / 3;
    while nap(every, &stop).await {
        let ids: Vec<JobId> = {
            let running = inner
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            running.keys().copied().collect()
        };
        if ids.is_empty() {
            continue;
        }
        let beat = match inner.store.heartbeat(&inner.name, &ids, inner.lease).await {
            Ok(beat) => beat,
            Err(e) => {
                metrics::store_error("heartbeat");
                tracing::warn!(error = %e, jobs = ids.len(), "cannot renew leases");
                continue;
            }
        };
        let held: HashSet<JobId> = beat.held.iter().copied().collect();
        let running = inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in beat.cancel {
            if let Some(job) = running.get(&id) {
                let _ = job.stop.set(Stop::Cancelled);
                job.token.cancel();
            }
        }
        for id in ids.iter().filter(|id| !held.contains(id)) {
            if let Some(job) = running.get(id) {
                let _ = job.stop.set(Stop::LostLease);
                job.token.cancel();
            }
        }
    }
}

async fn rescue_loop(inner: Arc<Inner>, stop: CancellationToken) {
    while nap(inner.rescue_every, &stop).await {
        match inner.store.rescue().await {
            Ok(ids) if !ids.is_empty() => {
                metrics::rescued(ids.len());
                tracing::warn!(jobs = ?ids, "rescued jobs whose worker stopped renewing its lease");
            }
            Ok(_) => {}
            Err(e) => {
                metrics::store_error("rescue");
                tracing::warn!(error = %e, "cannot rescue jobs");
            }
        }
    }
}

async fn schedule_loop(inner: Arc<Inner>, stop: CancellationToken) {
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
            match inner
                .store
                .fire(schedule.name(), tick, schedule.job().clone())
                .await
            {
                Ok(result) => {
                    *last = Some(tick);
                    if let Some(enqueued) = result {
                        tracing::info!(schedule = schedule.name(), %tick, job = enqueued.id(), "schedule fired");
                    }
                }
                Err(e) => {
                    metrics::store_error("fire");
                    tracing::warn!(schedule = schedule.name(), error = %e, "cannot fire schedule");
                }
            }
        }
        if !nap(inner.schedule_every, &stop).await {
            return;
        }
    }
}

async fn prune_loop(inner: Arc<Inner>, stop: CancellationToken) {
    if inner.retention.is_empty() {
        return;
    }
    while nap(inner.prune_every, &stop).await {
        let targets = match prune_targets(&inner).await {
            Ok(targets) => targets,
            Err(e) => {
                metrics::store_error("prune");
                tracing::warn!(error = %e, "cannot list queues to prune");
                continue;
            }
        };
        for (state, queue, keep) in targets {
            let params = PruneParams {
                states: vec![state],
                finished_before: inner.clock.now()
                    - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX),
                queue,
                limit: PRUNE_BATCH,
            };
            loop {
                match inner.store.prune(params.clone()).await {
                    Ok(n) if n >= u64::from(PRUNE_BATCH) && !stop.is_cancelled() => {}
                    Ok(_) => break,
                    Err(e) => {
                        metrics::store_error("prune");
                        tracing::warn!(error = %e, "cannot prune finished jobs");
                        break;
                    }
                }
            }
        }
    }
}

/// What to prune: `(state, queue, keep)`. Rules for every queue apply to all queues at once,
/// unless some queue has a rule of its own for that state; then each queue is pruned under
/// its own rule or the general one.
async fn prune_targets(
    inner: &Inner,
) -> Result<Vec<(JobState, Option<String>, Duration)>, crate::StoreError> {
    let overridden: HashSet<JobState> = inner
        .retention
        .iter()
        .filter(|r| r.queue.is_some())
        .map(|r| r.state)
        .collect();
    let mut targets: Vec<(JobState, Option<String>, Duration)> = inner
        .retention
        .iter()
        .filter(|r| r.queue.is_none() && !overridden.contains(&r.state))
        .map(|r| (r.state, None, r.keep))
        .collect();
    if overridden.is_empty() {
        return Ok(targets);
    }
    let queues: Vec<String> = inner
        .store
        .stats()
        .await?
        .into_iter()
        .map(|s| s.queue)
        .collect();
    for state in overridden {
        for queue in &queues {
            if let Some(rule) = inner.retention_for(queue, state) {
                targets.push((state, Some(queue.clone()), rule.keep));
            }
        }
    }
    Ok(targets)
}

async fn stats_loop(inner: Arc<Inner>, stop: CancellationToken) {
    loop {
        match inner.store.stats().await {
            Ok(stats) => metrics::states(&stats),
            Err(e) => {
                metrics::store_error("stats");
                tracing::debug!(error = %e, "cannot read job counts");
            }
        }
        if !nap(inner.stats_every, &stop).await {
            return;
        }
    }
}
